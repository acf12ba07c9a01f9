package netbox

import (
	"fmt"
	"strconv"
	"strings"
)

// The environment variables [Config.ApplyEnv] reads, as upstream OSISM
// names them.
const (
	EnvURL       = "NETBOX_URL"
	EnvAPI       = "NETBOX_API" // upstream's older name of NETBOX_URL
	EnvToken     = "NETBOX_TOKEN"
	EnvTokenFile = "NETBOX_TOKEN_FILE"
	EnvInsecure  = "NETBOX_INSECURE"
)

// ApplyEnv sets the fields whose variables lookup finds (os.LookupEnv, or
// a map of an injected environment): NETBOX_URL (else NETBOX_API),
// NETBOX_TOKEN, NETBOX_TOKEN_FILE, NETBOX_INSECURE and NETBOX_SECONDARIES
// (ParseSecondaries). A value that does not parse is an error naming the
// variable, never quoting a token.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvURL); ok {
		c.URL = v
	} else if v, ok := lookup(EnvAPI); ok {
		c.URL = v
	}
	if v, ok := lookup(EnvToken); ok {
		c.Token = v
	}
	if v, ok := lookup(EnvTokenFile); ok {
		c.TokenFile = v
	}
	if v, ok := lookup(EnvInsecure); ok && strings.TrimSpace(v) != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("environment %s=%q: expected true or false", EnvInsecure, v)
		}
		c.InsecureSkipVerify = b
	}
	if v, ok := lookup(EnvSecondaries); ok {
		s, err := ParseSecondaries(v)
		if err != nil {
			return fmt.Errorf("environment %w", err)
		}
		c.Secondaries = s
	}
	return nil
}

// DesiredStateConfig says where phase 1 finds the desired states:
// <Dir>/<collection>/<state>.yaml and <Dir>/<collection>/<device>/<state>.yaml.
type DesiredStateConfig struct {
	// Dir is the desired-state directory of the configuration repository.
	Dir string `yaml:"desired_state_dir" json:"desired_state_dir,omitempty"`
	// Collection is the default collection.
	Collection string `yaml:"collection" json:"collection,omitempty"`
	// Require makes a transition to a state without a desired-state file
	// fail in phase 1 (naming the files looked for); without it phase 1 is
	// skipped and says so in the transition's output. See Hook.
	Require bool `yaml:"require_desired_state" json:"require_desired_state,omitempty"`
}

// The environment variables [DesiredStateConfig.ApplyEnv] reads.
const (
	EnvDesiredStateDir = "OSISM_DESIRED_STATE_DIR"
	EnvCollection      = "OSISM_COLLECTION"
)

// ApplyEnv sets the fields whose variables lookup finds.
func (c *DesiredStateConfig) ApplyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup(EnvDesiredStateDir); ok {
		c.Dir = v
	}
	if v, ok := lookup(EnvCollection); ok {
		c.Collection = v
	}
}
