package switchcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// TargetSpec is how to reach a switch, as a secrets file gives it; empty
// fields are taken from the next source.
type TargetSpec struct {
	Host                  string        `yaml:"host" json:"host"`
	Port                  int           `yaml:"port" json:"port"`
	User                  string        `yaml:"user" json:"user"`
	KeyFile               string        `yaml:"key_file" json:"key_file"`
	Password              string        `yaml:"password" json:"-"`
	KnownHosts            string        `yaml:"known_hosts" json:"known_hosts"`
	InsecureIgnoreHostKey bool          `yaml:"insecure_ignore_host_key" json:"insecure_ignore_host_key"`
	Timeout               time.Duration `yaml:"timeout" json:"timeout"`
	// AllowConfigContextHost lets the device's config context (key
	// osism_ssh) set host and port. Only the secrets file says so: a
	// switch's entry overrides the defaults; unset in both is false.
	AllowConfigContextHost *bool `yaml:"allow_config_context_host" json:"allow_config_context_host,omitempty"`
}

// merge fills the empty fields of s from o.
func (s TargetSpec) merge(o TargetSpec) TargetSpec {
	if s.Host == "" {
		s.Host = o.Host
	}
	if s.Port == 0 {
		s.Port = o.Port
	}
	if s.User == "" {
		s.User = o.User
	}
	if s.KeyFile == "" && s.Password == "" {
		s.KeyFile, s.Password = o.KeyFile, o.Password
	}
	if s.KnownHosts == "" {
		s.KnownHosts = o.KnownHosts
	}
	s.InsecureIgnoreHostKey = s.InsecureIgnoreHostKey || o.InsecureIgnoreHostKey
	if s.Timeout == 0 {
		s.Timeout = o.Timeout
	}
	if s.AllowConfigContextHost == nil {
		s.AllowConfigContextHost = o.AllowConfigContextHost
	}
	return s
}

// Credentials are the secrets file: per-switch entries and defaults for
// all switches.
//
//	defaults: {user: osism, key_file: /etc/osism/switch_key, known_hosts: /etc/osism/known_hosts}
//	switches:
//	  leaf-1: {host: 192.0.2.11, port: 22}
//	  leaf-2: {allow_config_context_host: true}
type Credentials struct {
	Defaults TargetSpec            `yaml:"defaults"`
	Switches map[string]TargetSpec `yaml:"switches"`
}

// LoadCredentials reads a secrets file; unknown keys are errors. An error
// names the file, the line and, for an unknown key, the key, and never
// quotes a value: a password typed in the wrong place must not reach a log
// (the YAML library's own errors quote the value they could not take).
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("switch credentials: %w", err)
	}
	c, err := parseCredentials(b)
	if err != nil {
		return nil, fmt.Errorf("switch credentials %s: %w", path, err)
	}
	return c, nil
}

// parseCredentials checks the secrets file's structure itself, key by
// key, and decodes it only when it fits.
func parseCredentials(b []byte) (*Credentials, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlSyntaxError(err)
	}
	var c Credentials
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty; want a mapping with defaults and switches")
	}
	root := doc.Content[0]
	if err := checkMapping(root, "the file", func(key, value *yaml.Node) error {
		switch key.Value {
		case "defaults":
			return checkTargetSpec(value, "defaults")
		case "switches":
			return checkMapping(value, "switches", func(name, spec *yaml.Node) error {
				return checkTargetSpec(spec, "switches."+name.Value)
			})
		}
		return unknownKey(key, "the file", "defaults", "switches")
	}); err != nil {
		return nil, err
	}
	if err := root.Decode(&c); err != nil {
		// The checks above should have caught it; still, no value.
		return nil, fmt.Errorf("line %d: the file does not fit the secrets file's structure", root.Line)
	}
	return &c, nil
}

// yamlSyntaxError is a YAML syntax error by line, without the library's
// message when it quotes the input.
func yamlSyntaxError(err error) error {
	line, msg := 0, ""
	if le, ok := errors.AsType[*yaml.LoadError](err); ok {
		line, msg = le.Mark.Line, le.Message
	} else if les, ok := errors.AsType[*yaml.LoadErrors](err); ok && len(les.Errors) > 0 {
		line, msg = les.Errors[0].Mark.Line, les.Errors[0].Message
	}
	if msg == "" || strings.ContainsAny(msg, "'\"`") {
		msg = "not valid YAML"
	} else {
		msg = "not valid YAML: " + msg
	}
	if line > 0 {
		return fmt.Errorf("line %d: %s", line, msg)
	}
	return errors.New(msg)
}

// checkMapping runs f for each key and value of n, which must be a
// mapping of plain keys; what names n in errors.
func checkMapping(n *yaml.Node, what string, f func(key, value *yaml.Node) error) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want a mapping", n.Line, what)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: want a plain key", key.Line, what)
		}
		if err := f(key, value); err != nil {
			return err
		}
	}
	return nil
}

// targetSpecFields are TargetSpec's YAML keys and their types.
var targetSpecFields = func() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	t := reflect.TypeFor[TargetSpec]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out[name] = t.Field(i).Type
		}
	}
	return out
}()

// checkTargetSpec checks that n is a TargetSpec: known keys, each value
// of its key's type.
func checkTargetSpec(n *yaml.Node, what string) error {
	return checkMapping(n, what, func(key, value *yaml.Node) error {
		typ, ok := targetSpecFields[key.Value]
		if !ok {
			return unknownKey(key, what, slices.Sorted(maps.Keys(targetSpecFields))...)
		}
		if err := value.Decode(reflect.New(typ).Interface()); err != nil {
			want := typ.String()
			switch typ.Kind() {
			case reflect.Int:
				want = "a number"
			case reflect.String:
				want = "a string"
			case reflect.Bool, reflect.Pointer:
				want = "true or false"
			}
			if typ == reflect.TypeFor[time.Duration]() {
				want = "a duration such as 30s"
			}
			return fmt.Errorf("line %d: %s.%s: want %s (the value is not quoted: it may be a secret)", value.Line, what, key.Value, want)
		}
		return nil
	})
}

// unknownKey names an unknown key by name and line, and the keys
// expected.
func unknownKey(key *yaml.Node, what string, known ...string) error {
	return fmt.Errorf("line %d: %s: unknown key %q; expected one of %s", key.Line, what, key.Value, strings.Join(known, ", "))
}

// ConfigContextKey is the key of a device's config context that may say
// where the switch is: {host, port}, taken only where the secrets file
// allows it (allow_config_context_host).
const ConfigContextKey = "osism_ssh"

// The fields of the config context's osism_ssh that the secrets file may
// let it set; every other field (password, key_file, known_hosts,
// insecure_ignore_host_key, user, timeout, ...) is ignored.
const (
	configContextHost = "host"
	configContextPort = "port"
)

// target resolves how to reach the switch of c: the secrets file's entry,
// then the config context's host and port where the secrets file allows
// it, then the secrets file's defaults; the host defaults to the primary
// IPv4 address. Security fields (password, key file, known_hosts, the
// host-key switch) and the user come from the secrets file only: a config
// context field that is not taken is logged at warning level on log,
// naming the switch and the field.
func (cr *Credentials) target(c *Context, log *slog.Logger) (Target, error) {
	if log == nil {
		log = slog.Default()
	}
	var spec, defaults TargetSpec
	if cr != nil {
		spec, defaults = cr.Switches[c.Device.Name], cr.Defaults
	}
	allowed := spec.merge(defaults).AllowConfigContextHost
	if v, ok := c.Device.ConfigContext[ConfigContextKey]; ok && v != nil {
		fields, ok := v.(map[string]any)
		if !ok {
			return Target{}, fmt.Errorf("switch %s: config context %s: want a mapping with host and port, got %T", c.Device.Name, ConfigContextKey, v)
		}
		cc, err := fromConfigContext(c.Device.Name, fields, allowed != nil && *allowed, log)
		if err != nil {
			return Target{}, err
		}
		spec = spec.merge(cc)
	}
	spec = spec.merge(defaults)
	if spec.Host == "" && c.Device.PrimaryIP4 != "" {
		ip, _, err := net.ParseCIDR(c.Device.PrimaryIP4)
		if err == nil {
			spec.Host = ip.String()
		}
	}
	return Target{Switch: c.Device.Name, DeploymentType: c.Device.DeploymentType, Host: spec.Host, Port: spec.Port,
		User: spec.User, KeyFile: spec.KeyFile, Password: spec.Password, KnownHosts: spec.KnownHosts,
		InsecureIgnoreHostKey: spec.InsecureIgnoreHostKey, Timeout: spec.Timeout}, nil
}

// fromConfigContext takes host and port of a config context's osism_ssh
// when allowed, and says at warning level which fields it ignores. A host
// or port it takes must be valid.
func fromConfigContext(sw string, fields map[string]any, allowed bool, log *slog.Logger) (TargetSpec, error) {
	var out TargetSpec
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		field := ConfigContextKey + "." + k
		switch {
		case (k == configContextHost || k == configContextPort) && !allowed:
			log.Warn("switch config context field ignored: the secrets file does not allow it (allow_config_context_host)",
				"switch", sw, "field", field)
			continue
		case k == configContextHost:
			h, ok := v.(string)
			if !ok || h == "" || strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return TargetSpec{}, fmt.Errorf("switch %s: config context %s: want a host name or address", sw, field)
			}
			out.Host = h
		case k == configContextPort:
			p, ok := intOf(v)
			if !ok || p < 1 || p > 65535 {
				return TargetSpec{}, fmt.Errorf("switch %s: config context %s: want a port number from 1 to 65535", sw, field)
			}
			out.Port = int(p)
		default:
			log.Warn("switch config context field ignored: it comes from the secrets file only",
				"switch", sw, "field", field)
		}
	}
	return out, nil
}
