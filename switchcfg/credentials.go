package switchcfg

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
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

// LoadCredentials reads a secrets file; unknown keys are errors.
func LoadCredentials(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("switch credentials: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var c Credentials
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("switch credentials %s: %w", path, err)
	}
	return &c, nil
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
