package ansible

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

//go:embed roles.yaml
var defaultRoles []byte

// EnvironmentCustom is where a role that no map names runs.
const EnvironmentCustom = "custom"

// RoleMap tells which environment a role runs in.
type RoleMap struct {
	env map[string]string // role -> environment
}

// DefaultRoleMap returns the built-in map: upstream python-osism v0.3.0's.
func DefaultRoleMap() *RoleMap {
	m, err := parseRoleMap(defaultRoles, "built-in role map")
	if err != nil {
		panic("ansible: invalid built-in role map: " + err.Error())
	}
	return m
}

// parseRoleMap reads "environment: [role, ...]" YAML.
func parseRoleMap(data []byte, name string) (*RoleMap, error) {
	var doc map[string][]string
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: expected a map of environment to a list of roles: %w", name, err)
	}
	m := &RoleMap{env: make(map[string]string)}
	for env, roles := range doc {
		if err := checkName(env); err != nil {
			return nil, fmt.Errorf("%s: environment %q: %w", name, env, err)
		}
		for i, r := range roles {
			if err := checkName(r); err != nil {
				return nil, fmt.Errorf("%s: %s[%d] %q: %w", name, env, i, r, err)
			}
			m.env[r] = env
		}
	}
	return m, nil
}

// LoadRoleMap returns the built-in map with the entries of every *.yml and
// *.yaml file in dir added or overriding, in lexical file order. A missing
// dir is not an error.
func LoadRoleMap(dir string) (*RoleMap, error) {
	m := DefaultRoleMap()
	if dir == "" {
		return m, nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("role map directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yml") || strings.HasSuffix(e.Name(), ".yaml")) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		extra, err := parseRoleMap(data, path)
		if err != nil {
			return nil, err
		}
		for r, env := range extra.env {
			m.env[r] = env
		}
	}
	return m, nil
}

// Environment returns the environment of role, EnvironmentCustom for a role
// the map does not know.
func (m *RoleMap) Environment(role string) string {
	if env, ok := m.env[role]; ok {
		return env
	}
	return EnvironmentCustom
}

// Known reports whether the map names role.
func (m *RoleMap) Known(role string) bool { _, ok := m.env[role]; return ok }

// Entry is one role of the map.
type Entry struct {
	Role        string `json:"role"`
	Environment string `json:"environment"`
}

// Entries returns the map sorted by environment, then role.
func (m *RoleMap) Entries() []Entry {
	out := make([]Entry, 0, len(m.env))
	for r, e := range m.env {
		out = append(out, Entry{Role: r, Environment: e})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Environment != out[j].Environment {
			return out[i].Environment < out[j].Environment
		}
		return out[i].Role < out[j].Role
	})
	return out
}

// Environments returns the environments the map names, sorted.
func (m *RoleMap) Environments() []string {
	var out []string
	for _, e := range m.env {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	sort.Strings(out)
	return out
}

// checkName keeps roles and environments to names that are safe as path
// elements: they become file names under the configuration repository.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("expected letters, digits, '-', '_' or '.', found %q", r)
		}
	}
	if s == "." || s == ".." {
		return fmt.Errorf("expected a name, not a path")
	}
	return nil
}
