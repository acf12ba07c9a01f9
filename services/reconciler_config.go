package services

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/netbox"
)

// ReconcilerConfig is the reconciler section: which NetBox devices become
// inventory hosts, how they are grouped, which config-context keys become
// host variables, and where the inventory is written. In YAML:
//
//	reconciler:
//	  netbox_filter: [{status: active, tag: [managed-by-osism]}]
//	  output_dir: /ansible/inventory
//	  group_custom_field: inventory_groups
//	  host_vars: [network_interfaces]
//	  precedence: static
type ReconcilerConfig struct {
	// Filters select the devices, in the conductor's format (the union of
	// NetBox device filters; NETBOX_FILTER_INVENTORY, a YAML list). Empty
	// means DefaultReconcilerFilters.
	Filters []map[string]any `yaml:"netbox_filter" json:"netbox_filter,omitempty"`
	// OutputDir receives hosts.yml and host_vars/ (OSISM_RECONCILER_OUTPUT_DIR);
	// default DefaultReconcilerOutputDir.
	OutputDir string `yaml:"output_dir" json:"output_dir,omitempty"`
	// GroupCustomField names a device custom field whose value (a group
	// name, a comma-separated list of them, or a JSON list) puts the host
	// in those groups, as written (OSISM_RECONCILER_GROUP_CUSTOM_FIELD).
	// Empty: no such groups.
	GroupCustomField string `yaml:"group_custom_field" json:"group_custom_field,omitempty"`
	// HostVars are config-context keys copied into the host variables
	// besides the ansible_* keys, which are always copied.
	HostVars []string `yaml:"host_vars" json:"host_vars,omitempty"`
	// Precedence says who wins when NetBox and the static inventory set the
	// same host variable differently: "static" (the default: the
	// configuration repository overrides NetBox) or "netbox".
	Precedence string `yaml:"precedence" json:"precedence,omitempty"`
}

// The reconciler section's environment variables.
const (
	EnvReconcilerFilters          = "NETBOX_FILTER_INVENTORY"
	EnvReconcilerOutputDir        = "OSISM_RECONCILER_OUTPUT_DIR"
	EnvReconcilerGroupCustomField = "OSISM_RECONCILER_GROUP_CUSTOM_FIELD"
)

// DefaultReconcilerOutputDir is where upstream's reconciler writes the
// inventory the playbooks read.
const DefaultReconcilerOutputDir = "/ansible/inventory"

// The values of ReconcilerConfig.Precedence.
const (
	PrecedenceStatic = "static"
	PrecedenceNetBox = "netbox"
)

// DefaultReconcilerFilters is upstream's default device set of the
// inventory: active devices tagged managed-by-osism.
func DefaultReconcilerFilters() []map[string]any {
	return []map[string]any{{"status": "active", "tag": []any{"managed-by-osism"}}}
}

// ApplyEnv reads the section's environment variables. A filter list that
// is not a YAML list of filter mappings is an error naming the variable.
func (c *ReconcilerConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvReconcilerFilters); ok && strings.TrimSpace(v) != "" {
		fs, err := parseReconcilerFilters(v)
		if err != nil {
			return err
		}
		c.Filters = fs
	}
	if v, ok := lookup(EnvReconcilerOutputDir); ok {
		c.OutputDir = v
	}
	if v, ok := lookup(EnvReconcilerGroupCustomField); ok {
		c.GroupCustomField = v
	}
	return nil
}

// parseReconcilerFilters reads NETBOX_FILTER_INVENTORY: a YAML (or JSON)
// list of filter mappings in the conductor's format.
func parseReconcilerFilters(text string) ([]map[string]any, error) {
	var raw any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("%s: not YAML: expected a list of NetBox filter mappings such as [{status: active, tag: [managed-by-osism]}]", EnvReconcilerFilters)
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of NetBox filter mappings such as [{status: active, tag: [managed-by-osism]}]", EnvReconcilerFilters)
	}
	out := make([]map[string]any, 0, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a mapping of NetBox filter names to values", EnvReconcilerFilters, i)
		}
		if _, err := conductorFilter(m); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", EnvReconcilerFilters, i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Validate checks the filters, the precedence and the names.
func (c ReconcilerConfig) Validate() error {
	for i, f := range c.Filters {
		if _, err := conductorFilter(f); err != nil {
			return fmt.Errorf("config reconciler.netbox_filter[%d]: %w", i, err)
		}
	}
	switch c.Precedence {
	case "", PrecedenceStatic, PrecedenceNetBox:
	default:
		return fmt.Errorf("config reconciler.precedence %q: expected %q (the default) or %q", c.Precedence, PrecedenceStatic, PrecedenceNetBox)
	}
	for _, k := range c.HostVars {
		if !validVarName(k) {
			return fmt.Errorf("config reconciler.host_vars %q: expected a valid Ansible variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	return nil
}

func (c ReconcilerConfig) outputDir() string {
	if c.OutputDir == "" {
		return DefaultReconcilerOutputDir
	}
	return c.OutputDir
}

// deviceFilters are the section's filters as NetBox device filters.
func (c ReconcilerConfig) deviceFilters() ([]netbox.DeviceFilter, error) {
	raw := c.Filters
	if len(raw) == 0 {
		raw = DefaultReconcilerFilters()
	}
	out := make([]netbox.DeviceFilter, 0, len(raw))
	for i, m := range raw {
		f, err := conductorFilter(m)
		if err != nil {
			return nil, fmt.Errorf("reconciler filter %d: %w", i, err)
		}
		f.WithConfigContext = true
		out = append(out, f)
	}
	return out, nil
}
