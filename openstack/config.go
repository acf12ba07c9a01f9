package openstack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Secret is a string that prints as "******" so that a password never
// reaches a log, an error or a task record; its value is string(s).
type Secret string

const masked = "******"

// String masks a set secret; an empty one prints empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// GoString masks like String, for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue masks for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks, so that JSON and YAML encodings never hold the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText takes the value as is.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Config is the openstack section: where the bare-metal service is and how
// to authenticate. Three ways, tried in this order:
//
//   - Endpoint set: noauth, the Ironic API at that URL (Bifrost and a
//     standalone Ironic); nothing else is needed;
//   - Cloud set: the cloud of that name in clouds.yaml (CloudsFile, or the
//     usual search path: ./clouds.yaml, $XDG_CONFIG_HOME/openstack or
//     ~/.config/openstack, /etc/openstack); the other fields, when set,
//     win over the file's;
//   - AuthURL set: Keystone with a password (Username, Password, project
//     and domains) or an application credential.
//
// In YAML:
//
//	openstack:
//	  cloud: admin            # OS_CLOUD
//	  endpoint: http://bifrost:6385   # OS_ENDPOINT, noauth
type Config struct {
	Cloud      string `yaml:"cloud" json:"cloud,omitempty"`
	CloudsFile string `yaml:"clouds_file" json:"clouds_file,omitempty"`

	AuthURL           string `yaml:"auth_url" json:"auth_url,omitempty"`
	Username          string `yaml:"username" json:"username,omitempty"`
	Password          Secret `yaml:"password" json:"password,omitempty"`
	ProjectName       string `yaml:"project_name" json:"project_name,omitempty"`
	ProjectID         string `yaml:"project_id" json:"project_id,omitempty"`
	UserDomainName    string `yaml:"user_domain_name" json:"user_domain_name,omitempty"`
	ProjectDomainName string `yaml:"project_domain_name" json:"project_domain_name,omitempty"`
	RegionName        string `yaml:"region_name" json:"region_name,omitempty"`
	// Interface is the catalog interface: public (default), internal or
	// admin.
	Interface string `yaml:"interface" json:"interface,omitempty"`
	// CACert is a PEM file of the CAs to trust; Insecure skips the check.
	CACert   string `yaml:"cacert" json:"cacert,omitempty"`
	Insecure bool   `yaml:"insecure" json:"insecure,omitempty"`

	ApplicationCredentialID     string `yaml:"application_credential_id" json:"application_credential_id,omitempty"`
	ApplicationCredentialName   string `yaml:"application_credential_name" json:"application_credential_name,omitempty"`
	ApplicationCredentialSecret Secret `yaml:"application_credential_secret" json:"application_credential_secret,omitempty"`

	// Endpoint is a noauth bare-metal API (http://host:6385, with or
	// without /v1).
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`

	// ConfigHome is $XDG_CONFIG_HOME, where clouds.yaml is looked for
	// (openstack/clouds.yaml under it); default ~/.config.
	ConfigHome string `yaml:"-" json:"-"`

	// Timeout bounds each HTTP request; default 60s.
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// The variables ApplyEnv reads, as the OpenStack clients name them.
const (
	EnvCloud                       = "OS_CLOUD"
	EnvCloudsFile                  = "OS_CLIENT_CONFIG_FILE"
	EnvAuthURL                     = "OS_AUTH_URL"
	EnvUsername                    = "OS_USERNAME"
	EnvPassword                    = "OS_PASSWORD"
	EnvProjectName                 = "OS_PROJECT_NAME"
	EnvProjectID                   = "OS_PROJECT_ID"
	EnvUserDomainName              = "OS_USER_DOMAIN_NAME"
	EnvProjectDomainName           = "OS_PROJECT_DOMAIN_NAME"
	EnvRegionName                  = "OS_REGION_NAME"
	EnvInterface                   = "OS_INTERFACE"
	EnvCACert                      = "OS_CACERT"
	EnvInsecure                    = "OS_INSECURE"
	EnvApplicationCredentialID     = "OS_APPLICATION_CREDENTIAL_ID"
	EnvApplicationCredentialName   = "OS_APPLICATION_CREDENTIAL_NAME"
	EnvApplicationCredentialSecret = "OS_APPLICATION_CREDENTIAL_SECRET"
	// EnvEndpoint is the noauth endpoint (Bifrost's OS_ENDPOINT); Ironic's
	// own clients also read IRONIC_URL.
	EnvEndpoint  = "OS_ENDPOINT"
	EnvIronicURL = "IRONIC_URL"
	// EnvConfigHome moves the user's clouds.yaml as it moves every
	// user configuration.
	EnvConfigHome = "XDG_CONFIG_HOME"
)

// ApplyEnv sets the fields whose variables lookup finds (os.LookupEnv in a
// program, a map in tests). A set variable wins over the file; OS_INSECURE
// that is not a boolean is an error naming it.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	str := func(key string, dst *string) {
		if v, ok := lookup(key); ok {
			*dst = strings.TrimSpace(v)
		}
	}
	sec := func(key string, dst *Secret) {
		if v, ok := lookup(key); ok {
			*dst = Secret(v)
		}
	}
	str(EnvConfigHome, &c.ConfigHome)
	str(EnvCloud, &c.Cloud)
	str(EnvCloudsFile, &c.CloudsFile)
	str(EnvAuthURL, &c.AuthURL)
	str(EnvUsername, &c.Username)
	sec(EnvPassword, &c.Password)
	str(EnvProjectName, &c.ProjectName)
	str(EnvProjectID, &c.ProjectID)
	str(EnvUserDomainName, &c.UserDomainName)
	str(EnvProjectDomainName, &c.ProjectDomainName)
	str(EnvRegionName, &c.RegionName)
	str(EnvInterface, &c.Interface)
	str(EnvCACert, &c.CACert)
	str(EnvApplicationCredentialID, &c.ApplicationCredentialID)
	str(EnvApplicationCredentialName, &c.ApplicationCredentialName)
	sec(EnvApplicationCredentialSecret, &c.ApplicationCredentialSecret)
	str(EnvIronicURL, &c.Endpoint)
	str(EnvEndpoint, &c.Endpoint)
	if v, ok := lookup(EnvInsecure); ok && strings.TrimSpace(v) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("openstack: %s=%q: expected true or false", EnvInsecure, v)
		}
		c.Insecure = b
	}
	return nil
}

// Configured reports whether c names any way to reach the bare-metal
// service.
func (c Config) Configured() bool {
	return c.Endpoint != "" || c.Cloud != "" || c.AuthURL != ""
}

// ErrNoCredentials matches the error of a Config that names no way to
// reach the bare-metal service.
var ErrNoCredentials = errors.New("openstack: no credentials: set OS_CLOUD (a cloud of clouds.yaml), OS_AUTH_URL with OS_USERNAME and OS_PASSWORD or an application credential, or openstack.endpoint (OS_ENDPOINT) for a noauth Ironic")

// Validate checks c without reading a file or the network.
func (c Config) Validate() error {
	if !c.Configured() {
		return ErrNoCredentials
	}
	if c.Endpoint != "" {
		if err := checkURL("openstack.endpoint (OS_ENDPOINT)", c.Endpoint); err != nil {
			return err
		}
	}
	if c.AuthURL != "" {
		if err := checkURL("openstack.auth_url (OS_AUTH_URL)", c.AuthURL); err != nil {
			return err
		}
	}
	switch c.Interface {
	case "", "public", "publicURL", "internal", "internalURL", "admin", "adminURL":
	default:
		return fmt.Errorf("openstack.interface (OS_INTERFACE) %q: expected public, internal or admin", c.Interface)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("openstack.timeout %s: expected a positive duration", c.Timeout)
	}
	return nil
}

func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: expected an http:// or https:// URL", what, raw)
	}
	return nil
}

// LogValue keeps the secrets out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cloud", c.Cloud),
		slog.String("auth_url", c.AuthURL),
		slog.String("username", c.Username),
		slog.Any("password", c.Password),
		slog.String("project_name", c.ProjectName),
		slog.String("region_name", c.RegionName),
		slog.String("endpoint", c.Endpoint),
		slog.Any("application_credential_secret", c.ApplicationCredentialSecret),
	)
}

// CloudsSearchPath returns where clouds.yaml is looked for, in order:
// ./clouds.yaml, $XDG_CONFIG_HOME/openstack (or ~/.config/openstack),
// /etc/openstack. xdgConfigHome and home may be empty.
func CloudsSearchPath(xdgConfigHome, home string) []string {
	paths := []string{"clouds.yaml"}
	switch {
	case xdgConfigHome != "":
		paths = append(paths, filepath.Join(xdgConfigHome, "openstack", "clouds.yaml"))
	case home != "":
		paths = append(paths, filepath.Join(home, ".config", "openstack", "clouds.yaml"))
	}
	return append(paths, "/etc/openstack/clouds.yaml")
}

// cloudEntry is one cloud of clouds.yaml: the keys OSISM's and Bifrost's
// files use.
type cloudEntry struct {
	AuthType string `yaml:"auth_type"`
	Auth     struct {
		AuthURL                     string `yaml:"auth_url"`
		Username                    string `yaml:"username"`
		Password                    string `yaml:"password"`
		ProjectName                 string `yaml:"project_name"`
		ProjectID                   string `yaml:"project_id"`
		UserDomainName              string `yaml:"user_domain_name"`
		ProjectDomainName           string `yaml:"project_domain_name"`
		DomainName                  string `yaml:"domain_name"`
		ApplicationCredentialID     string `yaml:"application_credential_id"`
		ApplicationCredentialName   string `yaml:"application_credential_name"`
		ApplicationCredentialSecret string `yaml:"application_credential_secret"`
		Endpoint                    string `yaml:"endpoint"`
	} `yaml:"auth"`
	RegionName                string `yaml:"region_name"`
	Interface                 string `yaml:"interface"`
	CACert                    string `yaml:"cacert"`
	Verify                    *bool  `yaml:"verify"`
	BaremetalEndpointOverride string `yaml:"baremetal_endpoint_override"`
}

// ResolveCloud returns c with the cloud c.Cloud of clouds.yaml filled in
// under the fields c sets. The file is c.CloudsFile, or the first of
// search (CloudsSearchPath) that exists. A cloud with auth_type none (or
// none with a baremetal_endpoint_override, as Bifrost writes) becomes a
// noauth Endpoint. Errors name the file and the cloud.
func (c Config) ResolveCloud(search []string) (Config, error) {
	if c.Cloud == "" {
		return c, nil
	}
	path := c.CloudsFile
	if path == "" {
		for _, p := range search {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return c, fmt.Errorf("openstack: cloud %q: no clouds.yaml in %s", c.Cloud, strings.Join(search, ", "))
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("openstack: cloud %q: %w", c.Cloud, err)
	}
	var file struct {
		Clouds map[string]cloudEntry `yaml:"clouds"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		return c, fmt.Errorf("openstack: %s: %w", path, err)
	}
	e, ok := file.Clouds[c.Cloud]
	if !ok {
		names := make([]string, 0, len(file.Clouds))
		for n := range file.Clouds {
			names = append(names, n)
		}
		return c, fmt.Errorf("openstack: %s: no cloud %q (it has %s)", path, c.Cloud, strings.Join(slices.Sorted(slices.Values(names)), ", "))
	}
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	switch e.AuthType {
	case "none", "noauth":
		set(&c.Endpoint, e.BaremetalEndpointOverride)
		set(&c.Endpoint, e.Auth.Endpoint)
		if c.Endpoint == "" {
			return c, fmt.Errorf("openstack: %s: cloud %q has auth_type %s but no baremetal_endpoint_override", path, c.Cloud, e.AuthType)
		}
	case "", "password", "v3password", "v3applicationcredential":
	default:
		return c, fmt.Errorf("openstack: %s: cloud %q: auth_type %q: expected password, v3applicationcredential or none", path, c.Cloud, e.AuthType)
	}
	set(&c.AuthURL, e.Auth.AuthURL)
	set(&c.Username, e.Auth.Username)
	if c.Password == "" {
		c.Password = Secret(e.Auth.Password)
	}
	set(&c.ProjectName, e.Auth.ProjectName)
	set(&c.ProjectID, e.Auth.ProjectID)
	set(&c.UserDomainName, e.Auth.UserDomainName)
	set(&c.UserDomainName, e.Auth.DomainName)
	set(&c.ProjectDomainName, e.Auth.ProjectDomainName)
	set(&c.ProjectDomainName, e.Auth.DomainName)
	set(&c.ApplicationCredentialID, e.Auth.ApplicationCredentialID)
	set(&c.ApplicationCredentialName, e.Auth.ApplicationCredentialName)
	if c.ApplicationCredentialSecret == "" {
		c.ApplicationCredentialSecret = Secret(e.Auth.ApplicationCredentialSecret)
	}
	set(&c.RegionName, e.RegionName)
	set(&c.Interface, e.Interface)
	set(&c.CACert, e.CACert)
	if e.Verify != nil && !*e.Verify {
		c.Insecure = true
	}
	if c.Endpoint == "" && c.AuthURL == "" {
		return c, fmt.Errorf("openstack: %s: cloud %q has no auth.auth_url", path, c.Cloud)
	}
	return c, nil
}

// checkKeystone names what a Keystone login lacks.
func (c Config) checkKeystone() error {
	var missing []string
	if c.ApplicationCredentialSecret != "" {
		if c.ApplicationCredentialID == "" && (c.ApplicationCredentialName == "" || c.Username == "") {
			missing = append(missing, "OS_APPLICATION_CREDENTIAL_ID (or _NAME with OS_USERNAME)")
		}
	} else {
		if c.Username == "" {
			missing = append(missing, "OS_USERNAME")
		}
		if c.Password == "" {
			missing = append(missing, "OS_PASSWORD")
		}
		if c.ProjectName == "" && c.ProjectID == "" {
			missing = append(missing, "OS_PROJECT_NAME")
		}
	}
	if len(missing) > 0 {
		where := "OS_AUTH_URL " + c.AuthURL
		if c.Cloud != "" {
			where = "cloud " + strconv.Quote(c.Cloud)
		}
		return fmt.Errorf("openstack: %s: missing %s", where, strings.Join(missing, ", "))
	}
	return nil
}
