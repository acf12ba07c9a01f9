package services

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/osism/go-osism/ansible"
)

// WatchdogConfig is the watchdog section. In YAML:
//
//	watchdog:
//	  dir: /opt/configuration/inventory   # default the ansible inventory
//	  debounce: 2s
type WatchdogConfig struct {
	// Dir is the directory watched, with every directory below it; default
	// the ansible section's inventory (<configuration_dir>/inventory).
	Dir string `yaml:"dir" json:"dir,omitempty"`
	// Debounce is how long the directory must be quiet after a change
	// before the reconciler is asked to run; default 2s. Changes that go
	// on without a pause submit after at most ten times this long.
	Debounce time.Duration `yaml:"debounce" json:"debounce,omitempty"`
}

// The variables of WatchdogConfig.
const (
	EnvWatchdogDir      = "OSISM_WATCHDOG_DIR"
	EnvWatchdogDebounce = "OSISM_WATCHDOG_DEBOUNCE"
)

// DefaultWatchdogDebounce is the watchdog's default quiet time.
const DefaultWatchdogDebounce = 2 * time.Second

// ApplyEnv sets the fields whose variables lookup finds.
func (c *WatchdogConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvWatchdogDir); ok {
		c.Dir = v
	}
	if v, ok := lookup(EnvWatchdogDebounce); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q: expected a duration such as 2s", EnvWatchdogDebounce, v)
		}
		c.Debounce = d
	}
	return nil
}

// Validate checks the section and names the offending field.
func (c WatchdogConfig) Validate() error {
	if c.Debounce < 0 {
		return fmt.Errorf("config watchdog.debounce %s: expected 0 (the default 2s) or a positive duration", c.Debounce)
	}
	return nil
}

// WithInventory fills Dir, when empty, with the inventory of the ansible
// section.
func (c WatchdogConfig) WithInventory(a ansible.Config) WatchdogConfig {
	if c.Dir != "" {
		return c
	}
	c.Dir = a.Inventory
	if c.Dir == "" {
		dir := a.ConfigurationDir
		if dir == "" {
			dir = "/opt/configuration"
		}
		c.Dir = filepath.Join(dir, "inventory")
	}
	return c
}

func (c WatchdogConfig) withDefaults() WatchdogConfig {
	if c.Debounce == 0 {
		c.Debounce = DefaultWatchdogDebounce
	}
	return c
}
