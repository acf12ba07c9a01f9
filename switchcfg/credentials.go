package switchcfg

import (
	"fmt"
	"net"
	"os"
	"time"

	"go.yaml.in/yaml/v4"
)

// TargetSpec is how to reach a switch, as a secrets file or a device's
// config context (key osism_ssh) gives it; empty fields are taken from the
// next source.
type TargetSpec struct {
	Host                  string        `yaml:"host" json:"host"`
	Port                  int           `yaml:"port" json:"port"`
	User                  string        `yaml:"user" json:"user"`
	KeyFile               string        `yaml:"key_file" json:"key_file"`
	Password              string        `yaml:"password" json:"-"`
	KnownHosts            string        `yaml:"known_hosts" json:"known_hosts"`
	InsecureIgnoreHostKey bool          `yaml:"insecure_ignore_host_key" json:"insecure_ignore_host_key"`
	Timeout               time.Duration `yaml:"timeout" json:"timeout"`
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
	return s
}

// Credentials are the secrets file: per-switch entries and defaults for
// all switches.
//
//	defaults: {user: osism, key_file: /etc/osism/switch_key, known_hosts: /etc/osism/known_hosts}
//	switches:
//	  leaf-1: {host: 192.0.2.11, port: 22}
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

// ConfigContextKey is the key of a device's config context that may hold a
// TargetSpec.
const ConfigContextKey = "osism_ssh"

// target resolves how to reach the switch of c: the secrets file's entry,
// then the config context, then the secrets file's defaults; the host
// defaults to the primary IPv4 address.
func (cr *Credentials) target(c *Context) (Target, error) {
	var spec TargetSpec
	if cr != nil {
		spec = cr.Switches[c.Device.Name]
	}
	if v, ok := c.Device.ConfigContext[ConfigContextKey]; ok {
		b, err := yaml.Marshal(v)
		if err != nil {
			return Target{}, err
		}
		var cc TargetSpec
		if err := yaml.Unmarshal(b, &cc); err != nil {
			return Target{}, fmt.Errorf("switch %s: config context %s: %w", c.Device.Name, ConfigContextKey, err)
		}
		spec = spec.merge(cc)
	}
	if cr != nil {
		spec = spec.merge(cr.Defaults)
	}
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
