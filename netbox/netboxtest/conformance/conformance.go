// Package conformance checks the answers of the NetBox test double (package netboxtest) against
// NetBox's OpenAPI schema. New returns the checker; a test passes it to the double as an option:
//
//	s := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
//
// and fails at cleanup if any answer violated the schema. The checker is a package of its own so
// that programs which start the double outside tests (osism demo) do not link the OpenAPI and JSON
// Schema libraries, whose initialisation costs milliseconds at every start.
//
// The schema is the api/openapi.yaml of the go-netbox module the project requires (found with
// go list -m). NewWithSchema(path) checks against another file, and NewFromEnv against the file the
// environment variable named by SchemaEnv points at; New reads no environment. Each schema is loaded
// once per process, by the first server started with a checker of it, and loosened by exactly the ways real NetBox departs from it, see netboxtest's package
// documentation.
package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/osism/go-osism/netbox/netboxtest"
)

// New returns the checker for netboxtest.WithChecker, against the api/openapi.yaml of the go-netbox
// module the project requires (found with go list -m). It reads no environment variable. Every
// checker of the same schema shares it, loaded once per process.
func New() netboxtest.Checker { return checker{} }

// NewWithSchema returns a checker against the OpenAPI schema at path instead of the one in the
// go-netbox module; an empty path is New's schema. The file is read when the first server with this
// checker starts (or at Load), and a path that cannot be read or parsed fails that start with an
// error naming the path.
func NewWithSchema(path string) netboxtest.Checker { return checker{path: path} }

// NewFromEnv returns the checker of the schema the environment variable named by SchemaEnv points
// at, or New() when it is unset or empty.
func NewFromEnv() netboxtest.Checker { return NewWithSchema(os.Getenv(SchemaEnv)) }

// checker is the netboxtest.Checker of this package; path is its schema file, "" for the go-netbox
// module's.
type checker struct{ path string }

func (c checker) Load() error {
	_, _, err := loadSchema(c.path)
	return err
}

func (c checker) Check(a netboxtest.Answer) ([]string, string) {
	doc, _, err := loadSchema(c.path)
	if err != nil {
		return []string{"NetBox OpenAPI schema: " + err.Error()}, ""
	}
	return validateAnswer(doc, a)
}

// SchemaEnv names the environment variable that NewFromEnv reads: the path of an openapi.yaml to use
// instead of the one in the go-netbox module.
const SchemaEnv = "NETBOXTEST_OPENAPI"

// schema is one loaded OpenAPI document, loaded at most once per process.
type schema struct {
	once sync.Once
	doc  *openapi3.T
	dur  time.Duration
	err  error
}

var (
	schemasMu sync.Mutex
	schemas   = map[string]*schema{}
)

// SchemaLoadTime returns how long loading and preparing the go-netbox module's OpenAPI schema (New's)
// took; it is loaded once per process, by the first server started with such a checker (or by this
// call).
func SchemaLoadTime() time.Duration {
	_, d, _ := loadSchema("")
	return d
}

// loadSchema returns the schema at path ("" is the go-netbox module's), loading it on first use.
func loadSchema(path string) (*openapi3.T, time.Duration, error) {
	schemasMu.Lock()
	s, ok := schemas[path]
	if !ok {
		s = &schema{}
		schemas[path] = s
	}
	schemasMu.Unlock()
	s.once.Do(func() {
		start := time.Now()
		file := path
		if file == "" {
			var err error
			if file, err = modulePath(); err != nil {
				s.err = err
				return
			}
		}
		doc, err := openapi3.NewLoader().LoadFromFile(file)
		if err != nil {
			s.err = fmt.Errorf("load NetBox OpenAPI schema %s: %w", file, err)
			return
		}
		allowDepartures(doc)
		s.doc, s.dur = doc, time.Since(start)
	})
	return s.doc, s.dur, s.err
}

// modulePath finds api/openapi.yaml in the go-netbox module the project requires.
func modulePath() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/netbox-community/go-netbox/v4").Output()
	if err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return filepath.Join(dir, "api", "openapi.yaml"), nil
		}
	}
	cache, err2 := exec.Command("go", "env", "GOMODCACHE").Output()
	if err2 == nil {
		p := filepath.Join(strings.TrimSpace(string(cache)), "github.com", "netbox-community", "go-netbox", "v4@v4.3.0", "api", "openapi.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("find go-netbox's api/openapi.yaml (go list -m github.com/netbox-community/go-netbox/v4: %v); pass its path to NewWithSchema", err)
}

// allowDepartures loosens the schema by exactly the ways real NetBox departs from it (DESIGN.md,
// "NetBox facts"), and tightens it so that a field the schema does not know is reported:
//   - an unset choice field ({value, label}) is null;
//   - cable_end is null on an uncabled object;
//   - a blank optional string is "" even where the schema gives a pattern;
//   - unset custom fields are null (custom_fields admits any value already).
func allowDepartures(doc *openapi3.T) {
	for _, ref := range doc.Components.Schemas {
		s := ref.Value
		if s == nil || len(s.Properties) == 0 {
			continue
		}
		if s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for name, pref := range s.Properties {
			p := pref.Value
			if p == nil || pref.Ref != "" {
				continue
			}
			switch {
			case name == "custom_fields" && p.AdditionalProperties.Schema != nil && p.AdditionalProperties.Schema.Value != nil:
				p.AdditionalProperties.Schema.Value.Nullable = true
			case isChoice(p):
				p.Nullable = true
			case name == "cable_end" && p.Type.Is("string"):
				p.Nullable = true
			case p.Type.Is("string") && p.Pattern != "" && !slices.Contains(s.Required, name):
				p.Pattern = "^$|" + "(?:" + p.Pattern + ")"
			}
		}
	}
}

func isChoice(p *openapi3.Schema) bool {
	if !p.Type.Is("object") || len(p.Properties) != 2 {
		return false
	}
	_, v := p.Properties["value"]
	_, l := p.Properties["label"]
	return v && l
}

// validateAnswer checks one answer against the operation's response schema. Answers the schema does
// not describe are checked against NetBox's own shapes: brief answers against the Brief* component,
// a list POST item by item against the single-object answer, and errors as {"detail": "..."} or
// field errors.
func validateAnswer(doc *openapi3.T, a netboxtest.Answer) ([]string, string) {
	method, status, body := a.Method, a.Status, a.Body
	item := doc.Paths.Value(a.Template)
	if item == nil {
		if status == http.StatusNotFound {
			return checkError(body), ""
		}
		return []string{"path " + a.Template + " is not in the schema"}, ""
	}
	op := item.GetOperation(method)
	if op == nil {
		return []string{"method " + method + " is not in the schema for " + a.Template}, ""
	}
	resp := op.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		if status >= 400 {
			return checkError(body), op.OperationID
		}
		return []string{fmt.Sprintf("status %d is not declared", status)}, op.OperationID
	}
	mt := resp.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		if len(strings.TrimSpace(string(body))) != 0 {
			return []string{fmt.Sprintf("status %d declares no body, got %d bytes", status, len(body))}, op.OperationID
		}
		return nil, op.OperationID
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{"answer is not JSON: " + err.Error()}, op.OperationID
	}
	schema := mt.Schema.Value
	switch {
	case a.Brief && a.Kind != nil:
		itemSchema := briefSchema(doc, a.Kind)
		if isList(v) {
			return validateList(schema, itemSchema, v), op.OperationID
		}
		return visit(itemSchema, v, ""), op.OperationID
	case a.BulkCreate:
		list, ok := v.([]any)
		if !ok {
			return []string{"a list POST must answer a list"}, op.OperationID
		}
		var msgs []string
		for i, e := range list {
			msgs = append(msgs, visit(schema, e, "/"+strconv.Itoa(i))...)
		}
		return msgs, op.OperationID
	}
	return visit(schema, v, ""), op.OperationID
}

func isList(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["results"]
	return ok
}

// validateList checks a paginated answer whose items follow another schema than the declared one.
func validateList(page, itemSchema *openapi3.Schema, v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{"a list answer must be an object"}
	}
	var msgs []string
	for _, k := range []string{"count", "next", "previous"} {
		if p := page.Properties[k]; p != nil && p.Value != nil {
			msgs = append(msgs, visit(p.Value, m[k], "/"+k)...)
		}
	}
	results, ok := m["results"].([]any)
	if !ok {
		return append(msgs, "/results: must be a list")
	}
	for i, e := range results {
		msgs = append(msgs, visit(itemSchema, e, "/results/"+strconv.Itoa(i))...)
	}
	return msgs
}

var derivedBrief sync.Map // kind name -> *openapi3.Schema

// briefSchema is the model's Brief* component, or, where NetBox's schema has none (custom fields),
// the full component cut down to the brief fields.
func briefSchema(doc *openapi3.T, k *netboxtest.KindSchema) *openapi3.Schema {
	if k.Brief != "" {
		if ref := doc.Components.Schemas[k.Brief]; ref != nil {
			return ref.Value
		}
	}
	if v, ok := derivedBrief.Load(k.Name); ok {
		return v.(*openapi3.Schema)
	}
	full := doc.Components.Schemas[k.Schema].Value
	cut := &openapi3.Schema{Type: full.Type, Properties: openapi3.Schemas{}, AdditionalProperties: full.AdditionalProperties}
	for _, name := range k.BriefFields {
		if p := full.Properties[name]; p != nil {
			cut.Properties[name] = p
		}
		if slices.Contains(full.Required, name) {
			cut.Required = append(cut.Required, name)
		}
	}
	derivedBrief.Store(k.Name, cut)
	return cut
}

func visit(schema *openapi3.Schema, v any, prefix string) []string {
	err := schema.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse())
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				walk(e)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			out = append(out, fmt.Sprintf("at %s/%s: %s", prefix, strings.Join(se.JSONPointer(), "/"), se.Reason))
			return
		}
		out = append(out, prefix+": "+err.Error())
	}
	walk(err)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... and %d more", len(out)-20))
	}
	return out
}

// checkError accepts NetBox's error shapes: {"detail": "..."}, {"field": ["..."]}, or a list of
// such objects for bulk writes.
func checkError(body []byte) []string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return []string{"error answer is not JSON: " + err.Error()}
	}
	var check func(v any, top bool) []string
	check = func(v any, top bool) []string {
		switch x := v.(type) {
		case map[string]any:
			if d, ok := x["detail"]; ok {
				if _, isStr := d.(string); !isStr || len(x) != 1 {
					return []string{`error "detail" must be the only key and a string`}
				}
				return nil
			}
			for k, msgs := range x {
				list, ok := msgs.([]any)
				if !ok {
					return []string{fmt.Sprintf("field error %q must be a list of messages", k)}
				}
				for _, m := range list {
					if _, ok := m.(string); !ok {
						return []string{fmt.Sprintf("field error %q must hold strings", k)}
					}
				}
			}
			return nil
		case []any:
			if !top {
				return []string{"nested error lists are not NetBox's shape"}
			}
			var out []string
			for _, e := range x {
				out = append(out, check(e, false)...)
			}
			return out
		}
		return []string{"error answer must be an object or a list"}
	}
	return check(v, true)
}
