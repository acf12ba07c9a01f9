package services

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/internal/yamljson"
	"github.com/osism/go-osism/netbox"
)

// ConductorConfig is the conductor section: which NetBox devices `sync
// ironic` registers in Ironic and the node parameters they all share.
type ConductorConfig struct {
	// Filters select the devices: the union of NetBox device filters, each
	// a mapping of NetBox filter names (name, id, tag, role, site, status,
	// q, cf_<custom field>) to a value or a list of values
	// (NETBOX_FILTER_CONDUCTOR_IRONIC, a YAML list as upstream). Empty
	// means DefaultConductorFilters.
	Filters []map[string]any `yaml:"netbox_filter" json:"netbox_filter,omitempty"`
	// IronicParameters are the node parameters every device starts from
	// (driver, driver_info, properties, instance_info, the interfaces,
	// ...); the conductor file's ironic_parameters are merged under them.
	IronicParameters map[string]any `yaml:"ironic_parameters" json:"ironic_parameters,omitempty"`
	// File is upstream's conductor file, whose ironic_parameters are read
	// at each sync (OSISM_CONDUCTOR_FILE); default /etc/conductor.yml, and
	// a missing file is no parameters.
	File string `yaml:"file" json:"file,omitempty"`
	// Scope marks the nodes sync ironic manages (extra.osism_conductor);
	// only nodes with this mark are deleted when their device is gone.
	// Default "default" (OSISM_CONDUCTOR_SCOPE).
	Scope string `yaml:"scope" json:"scope,omitempty"`
	// Workers is how many devices sync at once; default 8.
	Workers int `yaml:"workers" json:"workers,omitempty"`
	// LockDir holds the device locks of a sync without a broker; default
	// the fabric's lock directory.
	LockDir string `yaml:"lock_dir" json:"lock_dir,omitempty"`
}

// The conductor section's environment variables.
const (
	EnvConductorFilters = "NETBOX_FILTER_CONDUCTOR_IRONIC"
	EnvConductorFile    = "OSISM_CONDUCTOR_FILE"
	EnvConductorScope   = "OSISM_CONDUCTOR_SCOPE"
)

// DefaultConductorFile is where upstream keeps the conductor file.
const DefaultConductorFile = "/etc/conductor.yml"

// DefaultConductorFilters is upstream's default device set: active
// devices tagged managed-by-ironic.
func DefaultConductorFilters() []map[string]any {
	return []map[string]any{{"status": "active", "tag": []any{"managed-by-ironic"}}}
}

// ApplyEnv reads the section's environment variables. A filter list that
// is not a YAML list of mappings is an error naming the variable.
func (c *ConductorConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvConductorFilters); ok && strings.TrimSpace(v) != "" {
		fs, err := ParseConductorFilters(v)
		if err != nil {
			return err
		}
		c.Filters = fs
	}
	if v, ok := lookup(EnvConductorFile); ok {
		c.File = v
	}
	if v, ok := lookup(EnvConductorScope); ok {
		c.Scope = v
	}
	return nil
}

// ParseConductorFilters reads NETBOX_FILTER_CONDUCTOR_IRONIC: a YAML (or
// JSON) list of filter mappings.
func ParseConductorFilters(text string) ([]map[string]any, error) {
	var raw any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("%s: not YAML: expected a list of NetBox filter mappings such as [{status: active, tag: [managed-by-ironic]}]", EnvConductorFilters)
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of NetBox filter mappings such as [{status: active, tag: [managed-by-ironic]}]", EnvConductorFilters)
	}
	out := make([]map[string]any, 0, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a mapping of NetBox filter names to values", EnvConductorFilters, i)
		}
		if _, err := conductorFilter(m); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", EnvConductorFilters, i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Validate checks the filters, the scope and the workers.
func (c ConductorConfig) Validate() error {
	for i, f := range c.Filters {
		if _, err := conductorFilter(f); err != nil {
			return fmt.Errorf("config conductor.netbox_filter[%d]: %w", i, err)
		}
	}
	if c.Workers < 0 {
		return fmt.Errorf("config conductor.workers %d: expected 0 (the default) or more", c.Workers)
	}
	if strings.ContainsAny(c.Scope, "\n\t") {
		return fmt.Errorf("config conductor.scope %q: expected a single-line name", c.Scope)
	}
	return nil
}

func (c ConductorConfig) scope() string {
	if c.Scope == "" {
		return "default"
	}
	return c.Scope
}

func (c ConductorConfig) workers() int {
	if c.Workers <= 0 {
		return 8
	}
	return c.Workers
}

// deviceFilters are the section's filters as NetBox device filters.
func (c ConductorConfig) deviceFilters() ([]netbox.DeviceFilter, error) {
	raw := c.Filters
	if len(raw) == 0 {
		raw = DefaultConductorFilters()
	}
	out := make([]netbox.DeviceFilter, 0, len(raw))
	for i, m := range raw {
		f, err := conductorFilter(m)
		if err != nil {
			return nil, fmt.Errorf("conductor filter %d: %w", i, err)
		}
		f.WithConfigContext = true
		out = append(out, f)
	}
	return out, nil
}

var conductorFilterKeys = []string{"name", "id", "tag", "role", "site", "status", "q", "cf_<custom field>"}

// conductorFilter turns one filter mapping into a DeviceFilter.
func conductorFilter(m map[string]any) (netbox.DeviceFilter, error) {
	var f netbox.DeviceFilter
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals, err := filterValues(m[k])
		if err != nil {
			return f, fmt.Errorf("filter %s: %w", k, err)
		}
		switch {
		case k == "name":
			f.Name = append(f.Name, vals...)
		case k == "id":
			for _, v := range vals {
				id, err := strconv.Atoi(v)
				if err != nil {
					return f, fmt.Errorf("filter id %q: expected a number", v)
				}
				f.ID = append(f.ID, id)
			}
		case k == "tag":
			f.Tag = append(f.Tag, vals...)
		case k == "role":
			f.Role = append(f.Role, vals...)
		case k == "site":
			f.Site = append(f.Site, vals...)
		case k == "status":
			f.Status = append(f.Status, vals...)
		case k == "q":
			f.Query = strings.Join(vals, " ")
		case strings.HasPrefix(k, "cf_") && len(k) > 3:
			if len(vals) != 1 {
				return f, fmt.Errorf("filter %s: expected one value", k)
			}
			if f.CustomFields == nil {
				f.CustomFields = map[string]string{}
			}
			f.CustomFields[k[3:]] = vals[0]
		default:
			return f, fmt.Errorf("filter %q: expected one of %s", k, strings.Join(conductorFilterKeys, ", "))
		}
	}
	return f, nil
}

func filterValues(v any) ([]string, error) {
	scalar := func(x any) (string, bool) {
		switch y := x.(type) {
		case string:
			return y, true
		case bool:
			return strconv.FormatBool(y), true
		case int:
			return strconv.Itoa(y), true
		case int64:
			return strconv.FormatInt(y, 10), true
		case uint64:
			return strconv.FormatUint(y, 10), true
		case float64:
			return strconv.FormatFloat(y, 'f', -1, 64), true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("expected a value or a list of values")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := scalar(x)
		if !ok {
			return nil, errors.New("expected a list of values, not of lists or mappings")
		}
		out = append(out, s)
	}
	return out, nil
}

// baseParameters are the conductor file's ironic_parameters with the
// section's merged over them.
func (c ConductorConfig) baseParameters() (map[string]any, error) {
	path := c.File
	if path == "" {
		path = DefaultConductorFile
	}
	base := map[string]any{}
	b, err := os.ReadFile(filepath.Clean(path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("conductor file: %w", err)
	default:
		var doc map[string]any
		dec := yaml.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("conductor file %s: not YAML: expected a mapping with ironic_parameters", path)
		}
		if p, ok := doc["ironic_parameters"]; ok && p != nil {
			m, ok := yamljson.Normalize(p).(map[string]any)
			if !ok {
				return nil, fmt.Errorf("conductor file %s: ironic_parameters: expected a mapping", path)
			}
			base = m
		}
	}
	deepMerge(base, deepCopy(yamljson.Normalize(c.IronicParameters)).(map[string]any))
	return base, nil
}

// deleteSentinel removes a key in a merge, as upstream's "DELETE".
const deleteSentinel = "DELETE"

// deepMerge merges src into dst, deepest last: mappings merge, anything
// else replaces, and the value "DELETE" removes the key.
func deepMerge(dst, src map[string]any) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := src[k]
		if s, ok := v.(string); ok && s == deleteSentinel {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			deepMerge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
