package services

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// inventory is an Ansible inventory being built: hosts with their
// variables, groups with their hosts, children and variables.
type inventory struct {
	hosts  map[string]*invHost
	groups map[string]*invGroup
}

type invHost struct {
	vars map[string]any
	// varWhere names where a static variable was set (file and line).
	varWhere map[string]string
	// where names the host's origin in errors: a NetBox device or a
	// file and line of the static inventory.
	where string
}

type invGroup struct {
	hosts    map[string]bool
	children map[string]bool
	vars     map[string]any
	where    string
}

func newInventory() *inventory {
	return &inventory{hosts: map[string]*invHost{}, groups: map[string]*invGroup{}}
}

func (inv *inventory) host(name, where string) *invHost {
	h := inv.hosts[name]
	if h == nil {
		h = &invHost{vars: map[string]any{}, varWhere: map[string]string{}, where: where}
		inv.hosts[name] = h
	}
	return h
}

func (inv *inventory) group(name, where string) *invGroup {
	g := inv.groups[name]
	if g == nil {
		g = &invGroup{hosts: map[string]bool{}, children: map[string]bool{}, vars: map[string]any{}, where: where}
		inv.groups[name] = g
	}
	return g
}

// staticFile reports whether a file of the inventory directory is an
// inventory source: not hidden, not a backup, not documentation.
func staticFile(name string) bool {
	switch {
	case strings.HasPrefix(name, "."), strings.HasSuffix(name, "~"),
		strings.HasSuffix(name, ".retry"), strings.HasSuffix(name, ".md"),
		strings.HasSuffix(name, ".orig"), strings.HasSuffix(name, ".bak"):
		return false
	}
	return true
}

// loadStatic reads the static inventory: every file directly under dir
// (sub-directories such as group_vars and host_vars are Ansible's own and
// left alone), in name order, YAML for .yml and .yaml, INI for the rest.
// A missing dir is an empty inventory.
func loadStatic(dir string) (*inventory, error) {
	inv := newInventory()
	if dir == "" {
		return inv, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return inv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("static inventory %s: %w", dir, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		if !e.Type().IsRegular() || !staticFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("static inventory %s: %w", path, err)
		}
		switch filepath.Ext(e.Name()) {
		case ".yml", ".yaml":
			err = parseYAMLInventory(inv, path, b)
		default:
			err = parseINIInventory(inv, path, b)
		}
		if err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// parseYAMLInventory reads Ansible's YAML inventory format: top-level
// groups (usually all), each with hosts (name -> variables), children
// (name -> group) and vars.
func parseYAMLInventory(inv *inventory, path string, b []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("static inventory %s: not YAML: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("static inventory %s:%d: expected a mapping of group names to groups", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if err := yamlGroup(inv, path, root.Content[i].Value, root.Content[i+1], root.Content[i].Line); err != nil {
			return err
		}
	}
	return nil
}

func yamlGroup(inv *inventory, path, name string, n *yaml.Node, line int) error {
	where := fmt.Sprintf("%s:%d", path, line)
	g := inv.group(name, where)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("static inventory %s: group %q: expected a mapping with hosts, children or vars", where, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		kw := fmt.Sprintf("%s:%d", path, key.Line)
		if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			continue
		}
		switch key.Value {
		case "hosts":
			if val.Kind != yaml.MappingNode {
				return fmt.Errorf("static inventory %s: group %q hosts: expected a mapping of host names to variables", kw, name)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				hn, hv := val.Content[j], val.Content[j+1]
				hw := fmt.Sprintf("%s:%d", path, hn.Line)
				names, err := expandHostPattern(hn.Value)
				if err != nil {
					return fmt.Errorf("static inventory %s: %w", hw, err)
				}
				var vars map[string]any
				if !(hv.Kind == yaml.ScalarNode && hv.Tag == "!!null") {
					if err := hv.Decode(&vars); err != nil {
						return fmt.Errorf("static inventory %s: host %q: expected a mapping of variables", hw, hn.Value)
					}
				}
				for _, h := range names {
					ho := inv.host(h, hw)
					for k, v := range vars {
						ho.vars[k] = v
						ho.varWhere[k] = hw
					}
					if name != "all" {
						g.hosts[h] = true
					}
				}
			}
		case "children":
			if val.Kind != yaml.MappingNode {
				return fmt.Errorf("static inventory %s: group %q children: expected a mapping of group names to groups", kw, name)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				cn := val.Content[j]
				if name != "all" {
					g.children[cn.Value] = true
				}
				if err := yamlGroup(inv, path, cn.Value, val.Content[j+1], cn.Line); err != nil {
					return err
				}
			}
		case "vars":
			var vars map[string]any
			if err := val.Decode(&vars); err != nil {
				return fmt.Errorf("static inventory %s: group %q vars: expected a mapping of variables", kw, name)
			}
			for k, v := range vars {
				g.vars[k] = v
			}
		default:
			return fmt.Errorf("static inventory %s: group %q: unknown key %q, expected hosts, children or vars", kw, name, key.Value)
		}
	}
	return nil
}

var hostRange = regexp.MustCompile(`^(.*)\[([0-9]+):([0-9]+)\](.*)$`)

// expandHostPattern expands Ansible's numeric host ranges (node[01:10]);
// other names are returned as they are.
func expandHostPattern(p string) ([]string, error) {
	m := hostRange.FindStringSubmatch(p)
	if m == nil {
		return []string{p}, nil
	}
	lo, err1 := strconv.Atoi(m[2])
	hi, err2 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || hi < lo || hi-lo > 100000 {
		return nil, fmt.Errorf("host range %q: expected [first:last] with first <= last", p)
	}
	width := 0
	if strings.HasPrefix(m[2], "0") && len(m[2]) > 1 {
		width = len(m[2])
	}
	out := make([]string, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, fmt.Sprintf("%s%0*d%s", m[1], width, i, m[4]))
	}
	return out, nil
}

// parseINIInventory reads Ansible's INI inventory format: [group] with
// host lines (name and key=value variables), [group:children] with group
// names, [group:vars] with key=value lines. Hosts before any section are
// ungrouped.
func parseINIInventory(inv *inventory, path string, b []byte) error {
	group, kind := "ungrouped", "hosts"
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		where := fmt.Sprintf("%s:%d", path, line)
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		if text[0] == '[' {
			if !strings.HasSuffix(text, "]") {
				return fmt.Errorf("static inventory %s: section %q: expected [group], [group:children] or [group:vars]", where, text)
			}
			sec := text[1 : len(text)-1]
			group, kind = sec, "hosts"
			if g, k, ok := strings.Cut(sec, ":"); ok {
				group, kind = g, k
				if k != "children" && k != "vars" {
					return fmt.Errorf("static inventory %s: section %q: expected [group], [group:children] or [group:vars]", where, text)
				}
			}
			inv.group(group, where)
			continue
		}
		switch kind {
		case "children":
			child := strings.Fields(text)[0]
			inv.group(child, where)
			if group != "all" {
				inv.group(group, where).children[child] = true
			}
		case "vars":
			k, v, ok := strings.Cut(text, "=")
			if !ok {
				return fmt.Errorf("static inventory %s: [%s:vars]: expected key=value, got %q", where, group, text)
			}
			inv.group(group, where).vars[strings.TrimSpace(k)] = iniValue(strings.TrimSpace(v))
		default:
			fields, err := splitINI(text)
			if err != nil {
				return fmt.Errorf("static inventory %s: %w", where, err)
			}
			names, err := expandHostPattern(fields[0])
			if err != nil {
				return fmt.Errorf("static inventory %s: %w", where, err)
			}
			vars := map[string]any{}
			for _, f := range fields[1:] {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					return fmt.Errorf("static inventory %s: host %q: expected key=value variables, got %q", where, fields[0], f)
				}
				vars[k] = iniValue(v)
			}
			for _, h := range names {
				ho := inv.host(h, where)
				for k, v := range vars {
					ho.vars[k] = v
					ho.varWhere[k] = where
				}
				if group != "ungrouped" && group != "all" {
					inv.group(group, where).hosts[h] = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("static inventory %s: %w", path, err)
	}
	return nil
}

// splitINI splits a host line at blanks outside quotes, keeping the
// quotes for iniValue to read; a # outside quotes starts a comment.
func splitINI(s string) ([]string, error) {
	var (
		out   []string
		cur   strings.Builder
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0:
			cur.WriteRune(r)
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
			cur.WriteRune(r)
		case r == '#' && cur.Len() == 0:
			if len(out) == 0 {
				return nil, fmt.Errorf("host line %q: expected a host name", s)
			}
			return out, nil
		case r == ' ' || r == '\t':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("host line %q: unterminated quote", s)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("host line %q: expected a host name", s)
	}
	return out, nil
}

// iniValue reads a value as Ansible's INI plugin does for the common
// cases: quoted strings unquoted, Python's True and False, integers and
// decimals as numbers, anything else a string.
func iniValue(v string) any {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	switch v {
	case "True":
		return true
	case "False":
		return false
	}
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return int(i)
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && strings.ContainsAny(v, ".") {
		return f
	}
	return v
}
