package netbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// EnvSecondaries is upstream OSISM's variable for the secondary NetBoxes:
// a YAML list of mappings with the keys NETBOX_URL and NETBOX_TOKEN
// (required), IGNORE_SSL_ERRORS, NETBOX_NAME and NETBOX_SITE.
const EnvSecondaries = "NETBOX_SECONDARIES"

// The keys of one element of NETBOX_SECONDARIES, as upstream names them.
const (
	secKeyURL      = "NETBOX_URL"
	secKeyToken    = "NETBOX_TOKEN"
	secKeyInsecure = "IGNORE_SSL_ERRORS"
	secKeyName     = "NETBOX_NAME"
	secKeySite     = "NETBOX_SITE"
)

var secondaryKeys = []string{secKeyURL, secKeyToken, secKeyInsecure, secKeyName, secKeySite}

// SecondaryConfig is one secondary NetBox: the writes that mirror Ironic
// into NetBox (the listener, sync netbox) go to the primary and to every
// secondary. In the netbox section of the configuration:
//
//	netbox:
//	  url: https://netbox.example
//	  secondaries:
//	    - {name: dr, site: fra1, url: https://netbox-dr.example, token_file: /run/secrets/NETBOX_DR_TOKEN}
//
// or in the environment as upstream: NETBOX_SECONDARIES='[{NETBOX_URL:
// https://netbox-dr.example, NETBOX_TOKEN: ..., NETBOX_NAME: dr}]'.
// Marshalling it never writes the token.
type SecondaryConfig struct {
	// Name and Site describe the secondary (upstream NETBOX_NAME and
	// NETBOX_SITE); a filter may select secondaries by them (Matches).
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	Site string `yaml:"site,omitempty" json:"site,omitempty"`
	// URL of the secondary NetBox.
	URL string `yaml:"url" json:"url"`
	// Token or TokenFile authenticate as for the primary.
	Token     string `yaml:"token,omitempty" json:"token,omitempty"`
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// InsecureSkipVerify turns TLS verification off (upstream
	// IGNORE_SSL_ERRORS). Unlike upstream, which ignores certificate
	// errors unless told otherwise, verification is on by default.
	InsecureSkipVerify bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
	// CAFile adds a PEM bundle to the system roots for this secondary.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
}

type secondaryFields SecondaryConfig

// MarshalJSON writes the secondary without its token.
func (s SecondaryConfig) MarshalJSON() ([]byte, error) {
	f := secondaryFields(s)
	f.Token = ""
	return json.Marshal(f)
}

// MarshalYAML writes the secondary without its token.
func (s SecondaryConfig) MarshalYAML() (any, error) {
	f := secondaryFields(s)
	f.Token = ""
	return f, nil
}

// Label names the secondary in logs and errors: its name, else its URL.
func (s SecondaryConfig) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.URL
}

// String keeps the token out of fmt output.
func (s SecondaryConfig) String() string {
	return fmt.Sprintf("netbox.SecondaryConfig{Name: %q, Site: %q, URL: %q, Token: %s}", s.Name, s.Site, s.URL, tokenState(s.Token, s.TokenFile))
}

// GoString keeps the token out of %#v.
func (s SecondaryConfig) GoString() string { return s.String() }

// LogValue keeps the token out of slog.
func (s SecondaryConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("site", s.Site), slog.String("url", s.URL),
		slog.Bool("token_set", s.Token != "" || s.TokenFile != ""), slog.Bool("insecure", s.InsecureSkipVerify))
}

func tokenState(token, file string) string {
	switch {
	case token != "":
		return "set"
	case file != "":
		return "file " + file
	}
	return "unset"
}

// Config is the client configuration of the secondary: its URL, token and
// TLS settings, and the primary's timeouts, retries, limits and logger.
func (s SecondaryConfig) Config(primary Config) Config {
	c := primary
	c.URL, c.Token, c.TokenFile = s.URL, s.Token, s.TokenFile
	c.InsecureSkipVerify, c.CAFile = s.InsecureSkipVerify, s.CAFile
	c.Transport = nil // the primary's transport carries the primary's TLS settings
	c.Secondaries = nil
	return c
}

// Matches reports whether filter selects the secondary, as upstream's
// netbox filter does: a case-insensitive substring of its URL, name or
// site. The empty filter selects every secondary.
func (s SecondaryConfig) Matches(filter string) bool {
	if filter == "" {
		return true
	}
	f := strings.ToLower(filter)
	for _, v := range []string{s.URL, s.Name, s.Site} {
		if v != "" && strings.Contains(strings.ToLower(v), f) {
			return true
		}
	}
	return false
}

// ParseSecondaries reads the value of NETBOX_SECONDARIES: a YAML (or
// JSON) list of mappings with the keys NETBOX_URL and NETBOX_TOKEN
// (required), IGNORE_SSL_ERRORS (a boolean, or "True"/"False"),
// NETBOX_NAME and NETBOX_SITE. Blank text is no secondaries. Errors name
// the element and the key, never a token.
func ParseSecondaries(text string) ([]SecondaryConfig, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var raw any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		// The YAML error may quote the text, token included.
		return nil, fmt.Errorf("%s: not YAML: expected a list of mappings with the keys %s", EnvSecondaries, strings.Join(secondaryKeys, ", "))
	}
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of mappings with the keys %s, got a %s", EnvSecondaries, strings.Join(secondaryKeys, ", "), yamlKind(raw))
	}
	var out []SecondaryConfig
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a mapping with the keys %s, got a %s", EnvSecondaries, i, strings.Join(secondaryKeys, ", "), yamlKind(el))
		}
		s, err := secondaryFromMap(m)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", EnvSecondaries, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func secondaryFromMap(m map[string]any) (SecondaryConfig, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s SecondaryConfig
	for _, k := range keys {
		v := m[k]
		switch k {
		case secKeyURL, secKeyName, secKeySite:
			str, ok := scalarString(v)
			if !ok {
				return s, fmt.Errorf("%s: expected a string, got a %s", k, yamlKind(v))
			}
			switch k {
			case secKeyURL:
				s.URL = strings.TrimSpace(str)
			case secKeyName:
				s.Name = str
			default:
				s.Site = str
			}
		case secKeyToken:
			str, ok := scalarString(v)
			if !ok {
				return s, fmt.Errorf("%s: expected a string, got a %s", k, yamlKind(v))
			}
			s.Token = strings.TrimSpace(str)
		case secKeyInsecure:
			switch b := v.(type) {
			case bool:
				s.InsecureSkipVerify = b
			case string:
				p, err := strconv.ParseBool(strings.TrimSpace(b))
				if err != nil {
					return s, fmt.Errorf("%s %q: expected true or false", k, b)
				}
				s.InsecureSkipVerify = p
			default:
				return s, fmt.Errorf("%s: expected true or false, got a %s", k, yamlKind(v))
			}
		default:
			return s, fmt.Errorf("unknown key %q: expected one of %s", k, strings.Join(secondaryKeys, ", "))
		}
	}
	if s.URL == "" {
		return s, fmt.Errorf("%s is missing or empty: expected the secondary's URL", secKeyURL)
	}
	if s.Token == "" {
		return s, fmt.Errorf("%s is missing or empty (secondary %s): expected its API token", secKeyToken, s.Label())
	}
	return s, nil
}

// scalarString reads a YAML scalar as text: a token of digits only is
// read by YAML as a number.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case nil:
		return "", true
	}
	return "", false
}

func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "number"
}

// Secondary is a client of one secondary NetBox.
type Secondary struct {
	*Client
	Config SecondaryConfig
}

// OpenSecondaries builds a client for every secondary of cfg; each takes
// its URL, token and TLS settings from its SecondaryConfig and the rest
// from cfg. It contacts no NetBox. An error names the secondary (by name
// or URL), never its token.
func OpenSecondaries(cfg Config) ([]*Secondary, error) {
	out := make([]*Secondary, 0, len(cfg.Secondaries))
	var errs []error
	for i, s := range cfg.Secondaries {
		c, err := New(s.Config(cfg))
		if err != nil {
			errs = append(errs, fmt.Errorf("secondary NetBox %d (%s): %w", i, s.Label(), err))
			continue
		}
		out = append(out, &Secondary{Client: c, Config: s})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
