package services

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/switchcfg"
)

// Config is the whole configuration of the manager, composed of the
// sections the packages own. In YAML:
//
//	broker:  {url: nats://manager:4222, token: ...}   # osism.Config
//	tasks:   {retention_days: 7, ack_wait: 30s}
//	queues:  {kolla-ansible: {concurrency: 2}}
//	ansible: {configuration_dir: /opt/configuration}  # ansible.Config
//	netbox:  {url: https://netbox.example, token_file: /run/secrets/NETBOX_TOKEN}  # netbox.Config
//	fabric:                                           # FabricConfig
//	  desired_state_dir: /opt/configuration/netbox
//	  collection: dc1
//	  credentials_file: /etc/osism/switches.yaml
//	broker_service:                                   # BrokerServiceConfig
//	  credentials_file: /etc/osism/broker.yaml
//
// The zero value is valid: standalone mode with every default.
type Config struct {
	// Bus is the bus section: broker, tasks and queues at the top level.
	Bus     osism.Config   `yaml:",inline" json:"bus"`
	Ansible ansible.Config `yaml:"ansible" json:"ansible"`
	NetBox  netbox.Config  `yaml:"netbox" json:"netbox"`
	Fabric  FabricConfig   `yaml:"fabric" json:"fabric"`
	// BrokerService is the server side of the broker (osism service
	// broker); the broker section above is the client side.
	BrokerService BrokerServiceConfig `yaml:"broker_service" json:"broker_service"`
	// OpenStack is how the bare-metal service is reached (clouds.yaml,
	// OS_*, or a noauth endpoint).
	OpenStack openstack.Config `yaml:"openstack" json:"openstack"`
	// Listener is the listener service's section (osism service
	// listener): RabbitMQ, its queue and the transition rules.
	Listener ListenerConfig `yaml:"listener" json:"listener"`
	// Beat is the beat's section (osism service beat): the periodic
	// tasks and the leader's lock.
	Beat BeatConfig `yaml:"beat" json:"beat"`
	// Watchdog is the watchdog's section (osism service watchdog): the
	// inventory directory watched and the debounce.
	Watchdog WatchdogConfig `yaml:"watchdog" json:"watchdog"`
	// Conductor is the conductor's section: the devices sync ironic
	// registers and their node parameters.
	Conductor ConductorConfig `yaml:"conductor" json:"conductor"`
	// Reconciler is the reconciler's section: the devices and groups of
	// the Ansible inventory it builds, and where it writes it.
	Reconciler ReconcilerConfig `yaml:"reconciler" json:"reconciler"`
	// API is the API service's section (osism service api).
	API APIConfig `yaml:"api" json:"api"`
	// Manager is osism manager's section: the grace period and the
	// embedded broker's address and store.
	Manager ManagerConfig `yaml:"manager" json:"manager"`
	// Log is how the services log: json or text, and the level.
	Log LogConfig `yaml:"log" json:"log"`
}

// BrokerServiceConfig is the section of the broker service: the secrets
// of the server side, which come from files or the environment, never
// from flags.
type BrokerServiceConfig struct {
	// CredentialsFile holds the users by role and the route credentials
	// (LoadBrokerCredentials), mode 0600.
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file,omitempty"`
	// ClusterPassword is the route password of a cluster node whose route
	// user is given without a credentials file.
	ClusterPassword osism.Secret `yaml:"cluster_password" json:"cluster_password,omitempty"`
}

// The variables of BrokerServiceConfig.
const (
	EnvBrokerCredentialsFile = "OSISM_BROKER_CREDENTIALS_FILE"
	EnvBrokerClusterPassword = "OSISM_BROKER_CLUSTER_PASSWORD"
)

// FabricConfig is the fabric section: the desired states of phase 1 (owned
// by package netbox) and the switch settings of phases 2 to 4 (owned by
// package switchcfg), side by side under one key.
type FabricConfig struct {
	DesiredState netbox.DesiredStateConfig `yaml:",inline" json:"desired_state"`
	Switches     switchcfg.Config          `yaml:",inline" json:"switches"`
	// LockDir holds the file locks of devices and switches that processes
	// of this host share when no broker is configured (standalone mode);
	// default the state directory with ".locks" appended.
	LockDir string `yaml:"lock_dir" json:"lock_dir,omitempty"`
}

// EnvLockDir names FabricConfig.LockDir in the environment.
const EnvLockDir = "OSISM_LOCK_DIR"

// lockDir is LockDir or its default.
func (c FabricConfig) lockDir() string {
	if c.LockDir != "" {
		return c.LockDir
	}
	dir := c.Switches.StateDir
	if dir == "" {
		dir = switchcfg.DefaultStateDir
	}
	return filepath.Clean(dir) + ".locks"
}

// DefaultConfig returns the defaults of every section.
func DefaultConfig() Config { return Config{Bus: osism.DefaultConfig()} }

// The files [LoadOptsFromEnv] names.
const (
	// EnvConfigFile names a configuration file that replaces the user
	// file.
	EnvConfigFile = "OSISM_CONFIG"
	// SystemConfigPath is read first.
	SystemConfigPath   = "/etc/osism/osism.yaml"
	userConfigRelative = "osism/osism.yaml"
)

// LoadOpts say where [LoadConfig] looks. The zero value reads nothing but
// the defaults.
type LoadOpts struct {
	// SystemPath and UserPath are YAML files read in this order; the later
	// wins field by field. A missing file is skipped.
	SystemPath, UserPath string
	// Environ is the environment as "KEY=value" lines (os.Environ()); its
	// variables win over the files.
	Environ []string
}

// LoadOptsFromEnv are the places of an osism program: /etc/osism/osism.yaml,
// then $OSISM_CONFIG or $XDG_CONFIG_HOME/osism/osism.yaml
// (~/.config/osism/osism.yaml), then the process environment.
func LoadOptsFromEnv() LoadOpts {
	o := LoadOpts{SystemPath: SystemConfigPath, Environ: os.Environ()}
	if p := os.Getenv(EnvConfigFile); p != "" {
		o.UserPath = p
	} else if dir, err := os.UserConfigDir(); err == nil {
		o.UserPath = filepath.Join(dir, userConfigRelative)
	}
	return o
}

// LoadConfig reads the defaults, then the system file, then the user
// file, then the environment, each later source winning field by field,
// and checks the result. Unknown keys in a file are errors naming the
// file and the line. The variables are those upstream OSISM uses:
// OSISM_BROKER_*, OSISM_TASK_* (osism), OSISM_CONFIGURATION_DIR and the
// other ansible ones (ansible), NETBOX_URL or NETBOX_API, NETBOX_TOKEN,
// NETBOX_TOKEN_FILE, NETBOX_INSECURE (netbox), OSISM_DESIRED_STATE_DIR,
// OSISM_COLLECTION (netbox), OSISM_SWITCH_* (switchcfg), OSISM_LOCK_DIR,
// OSISM_BROKER_CREDENTIALS_FILE and OSISM_BROKER_CLUSTER_PASSWORD (the
// broker service).
func LoadConfig(o LoadOpts) (Config, error) {
	cfg := DefaultConfig()
	for _, p := range []string{o.SystemPath, o.UserPath} {
		if p == "" {
			continue
		}
		if err := mergeFile(&cfg, p); err != nil {
			return Config{}, err
		}
	}
	env := make(map[string]string, len(o.Environ))
	for _, kv := range o.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ApplyEnv applies the variables of every section that lookup finds.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	c.Ansible.ApplyEnv(lookup)
	c.Fabric.DesiredState.ApplyEnv(lookup)
	c.Fabric.Switches.ApplyEnv(lookup)
	if v, ok := lookup(EnvLockDir); ok {
		c.Fabric.LockDir = v
	}
	if v, ok := lookup(EnvBrokerCredentialsFile); ok {
		c.BrokerService.CredentialsFile = v
	}
	if v, ok := lookup(EnvBrokerClusterPassword); ok {
		c.BrokerService.ClusterPassword = osism.Secret(v)
	}
	c.Listener.ApplyEnv(lookup)
	c.Log.ApplyEnv(lookup)
	if err := errors.Join(c.Beat.ApplyEnv(lookup), c.Watchdog.ApplyEnv(lookup), c.Manager.ApplyEnv(lookup)); err != nil {
		return err
	}
	return errors.Join(c.API.ApplyEnv(lookup), c.Conductor.ApplyEnv(lookup), c.Reconciler.ApplyEnv(lookup), c.Bus.ApplyEnv(lookup), c.NetBox.ApplyEnv(lookup), c.OpenStack.ApplyEnv(lookup))
}

// Validate checks every section and names the offending field.
func (c Config) Validate() error {
	if err := c.Bus.Validate(); err != nil {
		return err
	}
	if err := c.Ansible.Validate(); err != nil {
		return err
	}
	if c.Fabric.Switches.MaxSessions < 0 {
		return fmt.Errorf("config fabric.max_sessions %d: expected 0 (the default) or more", c.Fabric.Switches.MaxSessions)
	}
	if err := c.Listener.Validate(); err != nil {
		return err
	}
	if err := errors.Join(c.Beat.Validate(), c.Watchdog.Validate()); err != nil {
		return err
	}
	if err := c.Conductor.Validate(); err != nil {
		return err
	}
	if err := c.Reconciler.Validate(); err != nil {
		return err
	}
	if err := c.API.Validate(); err != nil {
		return err
	}
	return errors.Join(c.Manager.Validate(), c.Log.Validate())
}

// LogValue keeps secrets out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("bus", c.Bus),
		slog.Any("netbox", c.NetBox),
		slog.String("ansible.configuration_dir", c.Ansible.ConfigurationDir),
		slog.String("ansible.playbooks_dir", c.Ansible.PlaybooksDir),
		slog.String("fabric.desired_state_dir", c.Fabric.DesiredState.Dir),
		slog.String("fabric.state_dir", c.Fabric.Switches.StateDir),
		slog.String("broker_service.credentials_file", c.BrokerService.CredentialsFile),
		slog.Any("openstack", c.OpenStack),
	)
}

func mergeFile(cfg *Config, path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Decoding over cfg keeps the fields the file does not mention.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
