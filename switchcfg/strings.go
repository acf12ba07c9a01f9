package switchcfg

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrControlCharacter: a string of a template context holds a control
// character (a C0 control, U+0000 to U+001F, or DEL), which a template
// would copy into the configuration: a newline in a description becomes a
// command of its own.
var ErrControlCharacter = errors.New("control character in a NetBox string")

// ContextStringError is a string of a switch's template context that
// holds a control character. It names the switch, the object (device,
// interface swp1, vlan 10, mlag, bgp) and the field as the template sees
// it (description, custom_fields.note, config_context.a.b[0]); it does not
// quote the value, which may be a secret. It matches ErrControlCharacter.
type ContextStringError struct {
	Switch string
	Object string
	Field  string
	Char   rune // the first control character
}

func (e *ContextStringError) Error() string {
	return fmt.Sprintf("switch %q: %s: field %s holds control character %U; NetBox strings must not hold control characters (a newline would become a command of its own)",
		e.Switch, e.Object, e.Field, e.Char)
}

func (e *ContextStringError) Is(target error) bool { return target == ErrControlCharacter }

// Check refuses a context with a control character in any of its strings
// (names, descriptions, labels, custom fields, config context values and
// keys) with a *ContextStringError.
func (c *Context) Check() error {
	data, err := c.templateData()
	if err != nil {
		return err
	}
	return checkStrings(c.Device.Name, data)
}

// controlChar returns the first C0 control character or DEL of s.
func controlChar(s string) (rune, bool) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	if i < 0 {
		return 0, false
	}
	return rune(s[i]), true
}

// checkStrings walks the context as the template sees it.
func checkStrings(sw string, data map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(data)) {
		v := data[k]
		switch k {
		case "interfaces", "vlans":
			list, _ := v.([]any)
			for i, item := range list {
				obj := objectName(k, i, item)
				if err := walkStrings(sw, obj, "", item); err != nil {
					return err
				}
			}
			continue
		}
		if err := walkStrings(sw, k, "", v); err != nil {
			return err
		}
	}
	return nil
}

// objectName names the i-th entry of list: "interface swp1", "vlan 10".
func objectName(list string, i int, item any) string {
	m, _ := item.(map[string]any)
	switch list {
	case "interfaces":
		if n, ok := m["name"].(string); ok {
			if _, bad := controlChar(n); !bad {
				return "interface " + n
			}
		}
		return fmt.Sprintf("interface #%d", i+1)
	default:
		if vid, ok := m["vid"]; ok {
			return fmt.Sprintf("vlan %v", vid)
		}
		return fmt.Sprintf("vlan #%d", i+1)
	}
}

func walkStrings(sw, obj, path string, v any) error {
	switch x := v.(type) {
	case string:
		if r, bad := controlChar(x); bad {
			return &ContextStringError{Switch: sw, Object: obj, Field: path, Char: r}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			field := k
			if r, bad := controlChar(k); bad {
				return &ContextStringError{Switch: sw, Object: obj, Field: join(path, fmt.Sprintf("%q", k)) + " (its key)", Char: r}
			}
			if path != "" {
				field = path + "." + k
			}
			if err := walkStrings(sw, obj, field, x[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := walkStrings(sw, obj, fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
