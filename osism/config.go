package osism

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is what every osism program reads: where the broker is, how to
// authenticate to it, and how the bus keeps tasks. The zero value is valid
// and means standalone mode with the defaults.
type Config struct {
	Broker  BrokerConfig  `yaml:"broker" json:"broker"`
	Tasks   TaskConfig    `yaml:"tasks" json:"tasks"`
	Ansible AnsibleConfig `yaml:"ansible" json:"ansible"`
	Fabric  FabricConfig  `yaml:"fabric" json:"fabric"`
}

// FabricConfig says where the netbox workers find the desired states and
// the switch templates, where they keep rendered switch configurations, and
// how they reach the switches. NetBox itself is configured as upstream
// does, with NETBOX_URL and NETBOX_TOKEN.
type FabricConfig struct {
	// DesiredStateDir holds <collection>/<state>.yaml and
	// <collection>/<device>/<state>.yaml (phase 1).
	DesiredStateDir string `yaml:"desired_state_dir" json:"desired_state_dir,omitempty"`
	// Collection is the default desired-state collection.
	Collection string `yaml:"collection" json:"collection,omitempty"`
	// TemplatesDir holds the switch templates; empty: the built-in ones.
	TemplatesDir string `yaml:"templates_dir" json:"templates_dir,omitempty"`
	// StateDir is the git repository of rendered switch configurations
	// (/var/lib/osism/switches).
	StateDir string `yaml:"state_dir" json:"state_dir,omitempty"`
	// CredentialsFile says how to reach the switches over SSH.
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file,omitempty"`
	// MaxSessions bounds concurrent SSH sessions (8).
	MaxSessions int `yaml:"max_sessions" json:"max_sessions,omitempty"`
}

// AnsibleConfig says where the workers of the Ansible queues find the
// configuration repository and the playbooks; empty fields take the
// defaults of OSISM's container layout (package ansible).
type AnsibleConfig struct {
	// ConfigurationDir is the configuration repository (/opt/configuration).
	ConfigurationDir string `yaml:"configuration_dir" json:"configuration_dir,omitempty"`
	// PlaybooksDir holds <env>/<role>.yml (/ansible).
	PlaybooksDir string `yaml:"playbooks_dir" json:"playbooks_dir,omitempty"`
	// Inventory is passed with -i (<configuration_dir>/inventory).
	Inventory string `yaml:"inventory" json:"inventory,omitempty"`
	// VaultPasswordFile is passed with --vault-password-file when set.
	VaultPasswordFile string `yaml:"vault_password_file" json:"vault_password_file,omitempty"`
	// Playbook is the ansible-playbook binary (from PATH).
	Playbook string `yaml:"playbook" json:"playbook,omitempty"`
	// HistoryFile receives one JSON line per run; empty: no history.
	HistoryFile string `yaml:"history_file" json:"history_file,omitempty"`
	// RoleMapDir holds YAML files that add to or override the role ->
	// environment map.
	RoleMapDir string `yaml:"role_map_dir" json:"role_map_dir,omitempty"`
}

// BrokerConfig says how to reach the NATS broker. An empty URL means
// standalone mode: the command runs a broker and a worker of its own.
type BrokerConfig struct {
	// URL is one or more comma-separated NATS URLs (nats://host:4222).
	URL string `yaml:"url" json:"url,omitempty"`
	// User and Password authenticate with a user name and password.
	User     string `yaml:"user" json:"user,omitempty"`
	Password Secret `yaml:"password" json:"password,omitempty"`
	// Token authenticates with a bearer token.
	Token Secret `yaml:"token" json:"token,omitempty"`
	// NKeySeedFile names a file holding an nkey seed (SU...).
	NKeySeedFile string `yaml:"nkey_seed_file" json:"nkey_seed_file,omitempty"`
	// CredsFile names a NATS credentials file (JWT and seed).
	CredsFile string `yaml:"creds_file" json:"creds_file,omitempty"`
	// TLS configures a TLS connection; it is used when a file is set or the
	// URL scheme is tls://.
	TLS TLSConfig `yaml:"tls" json:"tls"`
	// Name is the connection name the broker shows; defaults to the program.
	Name string `yaml:"name" json:"name,omitempty"`
}

// TLSConfig names the files of a TLS connection to the broker.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file" json:"ca_file,omitempty"`
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`
}

// Enabled reports whether any TLS file is configured.
func (t TLSConfig) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Storage is where JetStream keeps the bus's streams.
type Storage string

// The storages.
const (
	StorageFile   Storage = "file"   // on disk, survives a restart (the default)
	StorageMemory Storage = "memory" // in memory, for tests and standalone mode
)

// TaskConfig says how the bus keeps and delivers tasks. Zero fields take the
// defaults of [DefaultTaskConfig].
type TaskConfig struct {
	// RetentionDays is how long task records are kept after their last
	// change.
	RetentionDays int `yaml:"retention_days" json:"retention_days"`
	// MaxDeliveries bounds how often a task is handed to a worker. A task
	// whose worker died that many times is recorded as failed.
	MaxDeliveries int `yaml:"max_deliveries" json:"max_deliveries"`
	// AckWait is how long a worker may stay silent about a task before the
	// task is given to another worker. Workers heartbeat at a third of it.
	AckWait time.Duration `yaml:"ack_wait" json:"ack_wait"`
	// Replicas is the number of copies of every stream and bucket; 3 in a
	// cluster of three or more brokers.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Storage is file (default) or memory.
	Storage Storage `yaml:"storage" json:"storage"`
	// DedupWindow is how long a de-duplication key of a finished task still
	// refuses a new task with the same key.
	DedupWindow time.Duration `yaml:"dedup_window" json:"dedup_window"`
}

// DefaultTaskConfig returns the defaults of the bus.
func DefaultTaskConfig() TaskConfig {
	return TaskConfig{
		RetentionDays: 7,
		MaxDeliveries: 3,
		AckWait:       30 * time.Second,
		Replicas:      1,
		Storage:       StorageFile,
	}
}

// withDefaults fills the zero fields.
func (t TaskConfig) withDefaults() TaskConfig {
	d := DefaultTaskConfig()
	if t.RetentionDays <= 0 {
		t.RetentionDays = d.RetentionDays
	}
	if t.MaxDeliveries <= 0 {
		t.MaxDeliveries = d.MaxDeliveries
	}
	if t.AckWait <= 0 {
		t.AckWait = d.AckWait
	}
	if t.Replicas <= 0 {
		t.Replicas = d.Replicas
	}
	if t.Storage == "" {
		t.Storage = d.Storage
	}
	return t
}

// Standalone reports whether no broker is configured, so that a command runs
// a broker and a worker of its own.
func (c Config) Standalone() bool { return strings.TrimSpace(c.Broker.URL) == "" }

// Validate checks the configuration and names the offending field.
func (c Config) Validate() error {
	b := c.Broker
	n := 0
	if b.User != "" || b.Password != "" {
		n++
		if b.User == "" || b.Password == "" {
			return errors.New("config broker: user and password must be given together")
		}
	}
	if b.Token != "" {
		n++
	}
	if b.NKeySeedFile != "" {
		n++
	}
	if b.CredsFile != "" {
		n++
	}
	if n > 1 {
		return errors.New("config broker: give one of user/password, token, nkey_seed_file or creds_file, not several")
	}
	if (b.TLS.CertFile == "") != (b.TLS.KeyFile == "") {
		return errors.New("config broker.tls: cert_file and key_file must be given together")
	}
	t := c.Tasks
	switch t.Storage {
	case "", StorageFile, StorageMemory:
	default:
		return fmt.Errorf("config tasks.storage %q: expected file or memory", t.Storage)
	}
	if t.RetentionDays < 0 || t.MaxDeliveries < 0 || t.AckWait < 0 || t.Replicas < 0 || t.DedupWindow < 0 {
		return errors.New("config tasks: retention_days, max_deliveries, ack_wait, replicas and dedup_window must not be negative")
	}
	if t.AckWait > 0 && t.AckWait < 300*time.Millisecond {
		return fmt.Errorf("config tasks.ack_wait %s: expected at least 300ms", t.AckWait)
	}
	return nil
}

// LogValue keeps secrets out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("broker.url", c.Broker.URL),
		slog.String("broker.user", c.Broker.User),
		slog.Any("broker.password", c.Broker.Password),
		slog.Any("broker.token", c.Broker.Token),
		slog.String("broker.nkey_seed_file", c.Broker.NKeySeedFile),
		slog.String("broker.creds_file", c.Broker.CredsFile),
		slog.Bool("broker.tls", c.Broker.TLS.Enabled()),
		slog.Int("tasks.retention_days", c.Tasks.RetentionDays),
		slog.Int("tasks.max_deliveries", c.Tasks.MaxDeliveries),
		slog.Duration("tasks.ack_wait", c.Tasks.AckWait),
		slog.Int("tasks.replicas", c.Tasks.Replicas),
		slog.String("tasks.storage", string(c.Tasks.Storage)),
		slog.String("ansible.configuration_dir", c.Ansible.ConfigurationDir),
		slog.String("ansible.playbooks_dir", c.Ansible.PlaybooksDir),
	)
}

// Secret is a string that prints as "******" so that it never reaches a log
// or an error message by accident. Convert it with string() where the
// value itself is needed.
type Secret string

const redacted = "******"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue keeps slog from printing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) from writing the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the secret as is.
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// The environment variables [LoadConfig] reads; they win over the files.
const (
	EnvConfigFile       = "OSISM_CONFIG" // a config file that replaces the user file
	EnvBrokerURL        = "OSISM_BROKER_URL"
	EnvBrokerUser       = "OSISM_BROKER_USER"
	EnvBrokerPassword   = "OSISM_BROKER_PASSWORD"
	EnvBrokerToken      = "OSISM_BROKER_TOKEN"
	EnvBrokerNKeySeed   = "OSISM_BROKER_NKEY_SEED_FILE"
	EnvBrokerCredsFile  = "OSISM_BROKER_CREDS_FILE"
	EnvBrokerTLSCA      = "OSISM_BROKER_TLS_CA_FILE"
	EnvBrokerTLSCert    = "OSISM_BROKER_TLS_CERT_FILE"
	EnvBrokerTLSKey     = "OSISM_BROKER_TLS_KEY_FILE"
	EnvTaskRetention    = "OSISM_TASK_RETENTION_DAYS"
	EnvTaskMaxDeliver   = "OSISM_TASK_MAX_DELIVERIES"
	EnvTaskAckWait      = "OSISM_TASK_ACK_WAIT"
	EnvTaskReplicas     = "OSISM_TASK_REPLICAS"
	EnvTaskStorage      = "OSISM_TASK_STORAGE"
	EnvTaskDedupWindow  = "OSISM_TASK_DEDUP_WINDOW"
	EnvConfigurationDir = "OSISM_CONFIGURATION_DIR"
	EnvPlaybooksDir     = "OSISM_PLAYBOOKS_DIR"
	EnvInventory        = "OSISM_INVENTORY"
	EnvVaultPassword    = "OSISM_VAULT_PASSWORD_FILE"
	EnvAnsiblePlaybook  = "OSISM_ANSIBLE_PLAYBOOK"
	EnvHistoryFile      = "OSISM_HISTORY_FILE"
	EnvRoleMapDir       = "OSISM_ROLE_MAP_DIR"
	EnvDesiredStateDir  = "OSISM_DESIRED_STATE_DIR"
	EnvCollection       = "OSISM_COLLECTION"
	EnvSwitchTemplates  = "OSISM_SWITCH_TEMPLATES"
	EnvSwitchStateDir   = "OSISM_SWITCH_STATE_DIR"
	EnvSwitchSecrets    = "OSISM_SWITCH_CREDENTIALS"
	SystemConfigPath    = "/etc/osism/osism.yaml"
	userConfigRelative  = "osism/osism.yaml"
)

// LoadOpts says where [LoadConfigFrom] looks. The zero value reads nothing
// but the defaults.
type LoadOpts struct {
	// SystemPath and UserPath are YAML files read in this order; the later
	// wins field by field. A missing file is skipped.
	SystemPath, UserPath string
	// Environ is the environment as "KEY=value" lines (os.Environ()).
	Environ []string
}

// DefaultLoadOpts are the places [LoadConfig] reads: /etc/osism/osism.yaml,
// then $OSISM_CONFIG or $XDG_CONFIG_HOME/osism/osism.yaml (~/.config/...),
// then the environment.
func DefaultLoadOpts() LoadOpts {
	o := LoadOpts{SystemPath: SystemConfigPath, Environ: os.Environ()}
	if p := os.Getenv(EnvConfigFile); p != "" {
		o.UserPath = p
	} else if dir, err := os.UserConfigDir(); err == nil {
		o.UserPath = filepath.Join(dir, userConfigRelative)
	}
	return o
}

// LoadConfig reads the configuration from the default places.
func LoadConfig() (Config, error) { return LoadConfigFrom(DefaultLoadOpts()) }

// LoadConfigFrom reads defaults, then the system file, then the user file,
// then the environment; each later source wins field by field.
func LoadConfigFrom(o LoadOpts) (Config, error) {
	cfg := Config{Tasks: DefaultTaskConfig()}
	for _, p := range []string{o.SystemPath, o.UserPath} {
		if p == "" {
			continue
		}
		if err := mergeFile(&cfg, p); err != nil {
			return Config{}, err
		}
	}
	if err := mergeEnv(&cfg, o.Environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
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

func mergeEnv(cfg *Config, environ []string) error {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	str := func(key string, dst *string) {
		if v, ok := env[key]; ok {
			*dst = v
		}
	}
	sec := func(key string, dst *Secret) {
		if v, ok := env[key]; ok {
			*dst = Secret(v)
		}
	}
	num := func(key string, dst *int) error {
		v, ok := env[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return fmt.Errorf("environment %s=%q: expected a non-negative integer", key, v)
		}
		*dst = n
		return nil
	}
	dur := func(key string, dst *time.Duration) error {
		v, ok := env[key]
		if !ok {
			return nil
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("environment %s=%q: expected a duration such as 30s", key, v)
		}
		*dst = d
		return nil
	}
	b := &cfg.Broker
	str(EnvBrokerURL, &b.URL)
	str(EnvBrokerUser, &b.User)
	sec(EnvBrokerPassword, &b.Password)
	sec(EnvBrokerToken, &b.Token)
	str(EnvBrokerNKeySeed, &b.NKeySeedFile)
	str(EnvBrokerCredsFile, &b.CredsFile)
	str(EnvBrokerTLSCA, &b.TLS.CAFile)
	str(EnvBrokerTLSCert, &b.TLS.CertFile)
	str(EnvBrokerTLSKey, &b.TLS.KeyFile)
	a := &cfg.Ansible
	str(EnvConfigurationDir, &a.ConfigurationDir)
	str(EnvPlaybooksDir, &a.PlaybooksDir)
	str(EnvInventory, &a.Inventory)
	str(EnvVaultPassword, &a.VaultPasswordFile)
	str(EnvAnsiblePlaybook, &a.Playbook)
	str(EnvHistoryFile, &a.HistoryFile)
	str(EnvRoleMapDir, &a.RoleMapDir)
	f := &cfg.Fabric
	str(EnvDesiredStateDir, &f.DesiredStateDir)
	str(EnvCollection, &f.Collection)
	str(EnvSwitchTemplates, &f.TemplatesDir)
	str(EnvSwitchStateDir, &f.StateDir)
	str(EnvSwitchSecrets, &f.CredentialsFile)
	t := &cfg.Tasks
	if v, ok := env[EnvTaskStorage]; ok {
		t.Storage = Storage(v)
	}
	return errors.Join(
		num(EnvTaskRetention, &t.RetentionDays),
		num(EnvTaskMaxDeliver, &t.MaxDeliveries),
		num(EnvTaskReplicas, &t.Replicas),
		dur(EnvTaskAckWait, &t.AckWait),
		dur(EnvTaskDedupWindow, &t.DedupWindow),
	)
}
