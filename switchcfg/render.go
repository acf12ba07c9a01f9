package switchcfg

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"

	"github.com/osism/go-osism/netbox"
)

// TemplateSuffix ends every template file name.
const TemplateSuffix = ".cfg.j2"

// DefaultTemplate is the last template tried for a switch.
const DefaultTemplate = "default" + TemplateSuffix

//go:embed templates/*.j2
var builtin embed.FS

// BuiltinTemplates are the templates shipped with the package: default.cfg.j2
// renders FRR (vtysh) configuration for a leaf.
func BuiltinTemplates() fs.FS {
	sub, err := fs.Sub(builtin, "templates")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

const builtinName = "built-in templates"

// Renderer renders switch configurations from NetBox and Jinja2 templates.
// It is safe for concurrent use. It caches the manufacturer and model of
// each device type it has seen for its lifetime; everything else is read
// from NetBox on each call.
type Renderer struct {
	nb        *netbox.Client
	templates fs.FS
	where     string // the templates' directory for messages
	env       *exec.Environment

	mu    sync.Mutex
	types map[int]deviceType
}

// Option configures a Renderer.
type Option func(*Renderer) error

// WithTemplateDir reads templates from dir instead of the built-in ones.
// The built-in templates are then not a fallback: a switch without a
// template in dir is an error.
func WithTemplateDir(dir string) Option {
	return func(r *Renderer) error {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("templates directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("templates directory %s: not a directory", dir)
		}
		r.templates, r.where = os.DirFS(dir), dir
		return nil
	}
}

// WithTemplateFS reads templates from fsys; name says where they are in
// messages.
func WithTemplateFS(fsys fs.FS, name string) Option {
	return func(r *Renderer) error {
		if fsys == nil {
			return errors.New("templates: nil file system")
		}
		r.templates, r.where = fsys, name
		return nil
	}
}

// NewRenderer builds a renderer reading from c; the built-in templates
// unless an option says otherwise. c may be nil for a renderer that only
// renders contexts built elsewhere (RenderContext).
func NewRenderer(c *netbox.Client, opts ...Option) (*Renderer, error) {
	r := &Renderer{
		nb:        c,
		templates: BuiltinTemplates(),
		where:     builtinName,
		env:       environment(),
		types:     map[int]deviceType{},
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Rendered is one switch's rendered configuration.
type Rendered struct {
	Switch   string
	Template string // the template file used, e.g. "leaf-1.cfg.j2"
	Config   []byte
}

// Contexts reads the named switches (every managed switch if none is named)
// from NetBox and returns their template contexts in the order named
// (by name for all). Five requests (four once the device types are cached)
// for up to 40 switches named and 1000 objects per list.
func (r *Renderer) Contexts(ctx context.Context, switches ...string) ([]*Context, error) {
	ins, err := r.load(ctx, switches)
	if err != nil {
		return nil, err
	}
	out := make([]*Context, 0, len(ins))
	for _, in := range ins {
		c, err := build(in)
		if err == nil {
			err = c.Check()
		}
		if err != nil {
			return nil, fmt.Errorf("switch %q: %w", in.dev.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// Render reads the named switches (every managed switch if none is named)
// from NetBox and renders each with its template. It stops at the first
// switch that fails, naming it.
func (r *Renderer) Render(ctx context.Context, switches ...string) ([]Rendered, error) {
	cs, err := r.Contexts(ctx, switches...)
	if err != nil {
		return nil, err
	}
	out := make([]Rendered, 0, len(cs))
	for _, c := range cs {
		res, err := r.RenderContext(c)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// Template returns the file name of the template for c's switch:
// <device-name>.cfg.j2, else <manufacturer-slug>.cfg.j2, else
// default.cfg.j2. A name that cannot be a file name in the directory (a
// device name with a slash) is not tried. None existing is a
// *NoTemplateError.
func (r *Renderer) Template(c *Context) (string, error) {
	names := candidates(c)
	for _, n := range names {
		if fi, err := fs.Stat(r.templates, n); err == nil && !fi.IsDir() {
			return n, nil
		}
	}
	return "", &NoTemplateError{Switch: c.Device.Name, Dir: r.where, Tried: names}
}

func candidates(c *Context) []string {
	var out []string
	for _, base := range []string{c.Device.Name, c.Device.Manufacturer.Slug} {
		n := base + TemplateSuffix
		if base != "" && fs.ValidPath(n) && !strings.ContainsAny(n, `/\`) {
			out = append(out, n)
		}
	}
	return append(out, DefaultTemplate)
}

// RenderContext renders a context with its switch's template, without
// NetBox. The same context renders the same bytes.
//
// A string of the context that holds a control character is refused with
// a *ContextStringError: NetBox names, descriptions and labels never need
// one, and a newline would smuggle commands into the configuration. A
// panic of the template engine is a *PanicError of the switch.
func (r *Renderer) RenderContext(c *Context) (res Rendered, err error) {
	if c == nil {
		return Rendered{}, errors.New("render: nil context")
	}
	defer recoverAs(&err, "render switch "+strconv.Quote(c.Device.Name))
	name, err := r.Template(c)
	if err != nil {
		return Rendered{}, err
	}
	data, err := c.templateData()
	if err != nil {
		return Rendered{}, err
	}
	if err := checkStrings(c.Device.Name, data); err != nil {
		return Rendered{}, err
	}
	out, err := r.execute(name, data)
	if err != nil {
		return Rendered{}, fmt.Errorf("render switch %q: %w", c.Device.Name, err)
	}
	return Rendered{Switch: c.Device.Name, Template: name, Config: out}, nil
}

func (r *Renderer) execute(name string, data map[string]any) ([]byte, error) {
	shown := r.shown(name)
	src, err := fs.ReadFile(r.templates, name)
	if err != nil {
		return nil, &TemplateError{Template: shown, Err: err}
	}
	loader := &fsLoader{fsys: r.templates, main: name, src: src}
	tpl, err := exec.NewTemplate(name, engineConfig(), loader, r.env)
	if err != nil {
		return nil, templateError(shown, string(src), err)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, exec.NewContext(data)); err != nil {
		return nil, templateError(shown, string(src), err)
	}
	return buf.Bytes(), nil
}

// shown is how messages name a template file.
func (r *Renderer) shown(name string) string {
	if r.where == builtinName {
		return "built-in " + name
	}
	return path.Join(filepath.ToSlash(r.where), name)
}

// engineConfig is Jinja2's configuration with trim_blocks on and
// lstrip_blocks off, as in Ansible's template module (gonja's lstrip_blocks
// would also strip spaces before a block tag in mid-line, unlike Jinja2's),
// undefined names as errors, and the template's final newline kept, so a
// configuration ends in one.
func engineConfig() *config.Config {
	c := config.New()
	c.TrimBlocks = true
	c.LeftStripBlocks = false
	c.StrictUndefined = true
	c.KeepTrailingNewline = true
	return c
}

// environment is gonja's default environment with control structures that
// report the line of the block they fail in (gonja leaves it out of some
// parse errors, such as "{% if %}").
func environment() *exec.Environment {
	def := gonja.DefaultEnvironment
	wrapped := map[string]parser.ControlStructureParser{}
	for _, name := range []string{"autoescape", "block", "extends", "filter", "for", "from", "if", "import",
		"include", "macro", "raw", "set", "with", "do", "break", "continue", "trans", "call"} {
		if p, ok := def.ControlStructures.Get(name); ok {
			wrapped[name] = withLine(p)
		}
	}
	return &exec.Environment{
		Context:           def.Context,
		Filters:           def.Filters,
		Tests:             def.Tests,
		ControlStructures: exec.NewControlStructureSet(wrapped),
		Methods:           def.Methods,
	}
}

func withLine(inner parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		line := blockEndLine(p)
		cs, err := inner(p, args)
		if err == nil || line == 0 {
			return cs, err
		}
		var se *parser.SyntaxError
		switch {
		case !errors.As(err, &se):
			err = &parser.SyntaxError{Message: err.Error(), Line: line}
		case se.Line == 0:
			se.Line = line
		}
		return cs, err
	}
}

// blockEndLine is the line of the "%}" the parser has just read: gonja
// hands a control structure its parser positioned after it. The stream
// steps back one token and forward again; a stream that cannot step back
// (no token read yet) gives 0.
func blockEndLine(p *parser.Parser) (line int) {
	s := p.Stream()
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	s.Backup()
	if t := s.Current(); t != nil {
		line = t.Line
	}
	s.Next()
	return line
}

var (
	atLine    = regexp.MustCompile(`at line (\d+): `)
	structPos = regexp.MustCompile(`^\w+ControlStructure\(.*?Line=(\d+) Col=(\d+)\)`)
	posNoise  = regexp.MustCompile(` ?Line=\d+ Col=\d+`)
	bareBlock = regexp.MustCompile(`^\w+ControlStructure\(\): `)
)

// templateError names the file and the line of a gonja error, with gonja's
// message cut to its innermost part (gonja's parse errors also quote the
// whole template source). src is the template's text, to find the line of a
// block tag whose execution failed.
func templateError(file, src string, err error) error {
	te := &TemplateError{Template: file}
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		te.Line = se.Line
		te.Err = errors.New(se.Message)
		if se.Raw != "" {
			te.Err = fmt.Errorf("%s (near %q)", se.Message, se.Raw)
		}
		return te
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "failed to parse template") {
		err = inner
	}
	msg := strings.TrimPrefix(err.Error(), "unable to execute template: ")
	// Nested blocks each add "at line N: ": the last is the innermost.
	if m := atLine.FindAllStringSubmatchIndex(msg, -1); len(m) > 0 {
		last := m[len(m)-1]
		te.Line, _ = strconv.Atoi(msg[last[2]:last[3]])
		msg = msg[last[1]:]
		// gonja places a block at the token after its "%}", the next
		// line when trim_blocks removed the newline.
		if p := structPos.FindStringSubmatch(msg); p != nil {
			l, _ := strconv.Atoi(p[1])
			c, _ := strconv.Atoi(p[2])
			te.Line = tagLine(src, l, c)
		}
		msg = bareBlock.ReplaceAllString(posNoise.ReplaceAllString(msg, ""), "")
	}
	te.Err = errors.New(msg)
	return te
}

// tagLine is the line of the block tag whose "%}" the token at line:col
// follows, or line if no block tag ends right before it.
func tagLine(src string, line, col int) int {
	s := tokens.LexAll(src, engineConfig())
	begin, afterEnd := 0, false
	for t := s.Current(); t != nil; t = s.Current() {
		if t.Line == line && t.Col == col && afterEnd {
			return begin
		}
		if t.Type == tokens.BlockBegin {
			begin = t.Line
		}
		afterEnd = t.Type == tokens.BlockEnd
		if s.End() {
			break
		}
		s.Next()
	}
	return line
}

// fsLoader serves templates, includes and imports from one fs.FS; names are
// relative to its root. The main template is served from the copy read
// first, so that error lines refer to the text that ran.
type fsLoader struct {
	fsys fs.FS
	main string
	src  []byte
}

func (l *fsLoader) Read(name string) (io.Reader, error) {
	p, err := l.Resolve(name)
	if err != nil {
		return nil, err
	}
	if p == l.main {
		return bytes.NewReader(l.src), nil
	}
	b, err := fs.ReadFile(l.fsys, p)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

func (l *fsLoader) Resolve(name string) (string, error) {
	p := path.Clean(strings.TrimPrefix(name, "/"))
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("template name %q: not a path inside the templates directory", name)
	}
	return p, nil
}

func (l *fsLoader) Inherit(string) (loaders.Loader, error) { return l, nil }
