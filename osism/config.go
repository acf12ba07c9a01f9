package osism

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the bus section of the configuration: where the broker is and
// how to authenticate to it, how the bus keeps tasks, and how many tasks of
// each queue a worker runs at once. The zero value is valid and means
// standalone mode with the defaults. The other sections belong to their
// packages; services.Config composes them all.
type Config struct {
	Broker ConnConfig   `yaml:"broker" json:"broker"`
	Tasks  TaskConfig   `yaml:"tasks" json:"tasks"`
	Queues QueueConfigs `yaml:"queues" json:"queues,omitempty"`
}

// QueueConfigs are the settings of queues, by name.
type QueueConfigs map[Queue]QueueConfig

// QueueConfig are the settings of one queue.
type QueueConfig struct {
	// Concurrency is how many tasks of the queue a worker runs at once
	// (1).
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
}

// Concurrency returns the concurrency of q: its setting, else def.
func (qs QueueConfigs) Concurrency(q Queue, def int) int {
	if n := qs[q].Concurrency; n > 0 {
		return n
	}
	return def
}

// DefaultConfig returns the defaults of the bus.
func DefaultConfig() Config { return Config{Tasks: DefaultTaskConfig()} }

// ConnConfig says how to reach the NATS broker. An empty URL means
// standalone mode: the command runs a broker and a worker of its own.
type ConnConfig struct {
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
	// TokenFile names a file holding the token (such as the one a broker
	// generates, see DefaultBrokerTokenFile). Without any credential
	// configured, a client of this host reads DefaultBrokerTokenFile when
	// it exists and is readable.
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	// TLS configures a TLS connection; it is used when a file is set or the
	// URL scheme is tls://.
	TLS TLSConfig `yaml:"tls" json:"tls"`
	// Name is the connection name the broker shows; defaults to the program.
	Name string `yaml:"name" json:"name,omitempty"`
}

// DefaultBrokerTokenFile is where a broker with the default store
// (/var/lib/osism/broker) keeps the token it generates when started
// without credentials. Its mode is 0600: only the broker's user (and root)
// may read it, and so connect with it.
const DefaultBrokerTokenFile = "/var/lib/osism/broker/token"

// RedactedURL is URL with the user information of every URL hidden:
// nats://user:pass@host becomes nats://******@host, and so does a token
// in the user part (nats://token@host). It is what errors and logs print.
func (b ConnConfig) RedactedURL() string { return RedactURL(b.URL) }

// RedactURL hides the user information of the comma-separated NATS URLs
// in s, as [ConnConfig.RedactedURL]: everything from a URL's "://" (its
// start, without a scheme) to its last "@". It works on the text alone,
// so a URL that does not parse is redacted too.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		at := strings.LastIndexByte(p, '@')
		if at < 0 {
			continue
		}
		start := schemeEnd(p)
		if start > at {
			start = 0
		}
		parts[i] = p[:start] + redacted + p[at:]
	}
	return strings.Join(parts, ",")
}

// schemeEnd returns the index after the "://" of a URL that begins with a
// scheme (letters, digits, +, - and ., after a letter), else 0: a "://"
// inside a password is no scheme.
func schemeEnd(p string) int {
	j := strings.Index(p, "://")
	if j <= 0 {
		return 0
	}
	scheme := strings.TrimLeft(p[:j], " \t")
	if scheme == "" {
		return 0
	}
	for k, c := range scheme {
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (k == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return 0
		}
	}
	return j + 3
}

// checkURLs checks the comma-separated broker URLs as the NATS client
// will read them; its errors show them redacted, never quoted whole (a
// parse error quotes the URL, password and all).
func checkURLs(s string) error {
	for i, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return fmt.Errorf("config broker.url: URL %d of %q is empty: expected scheme://[user:password@]host:port, comma-separated", i+1, RedactURL(s))
		}
		full := p
		if !strings.Contains(p, "://") {
			full = "nats://" + p
		}
		u, err := url.Parse(full)
		if err != nil || u.Host == "" {
			return fmt.Errorf("config broker.url: URL %d (%s) is not a valid URL: expected scheme://[user:password@]host:port", i+1, RedactURL(p))
		}
	}
	return nil
}

// redactedError is an error whose text had broker URLs' user information
// taken out; it still matches what it wraps.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrubURLs takes the user information of the URLs of s out of err's text.
func scrubURLs(err error, s string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, p := range strings.Split(s, ",") {
		at := strings.LastIndexByte(p, '@')
		if at < 0 {
			continue
		}
		start := schemeEnd(p)
		if start > at {
			start = 0
		}
		userinfo := strings.TrimLeft(p[start:at], " \t")
		if userinfo == "" {
			continue
		}
		for _, form := range []string{userinfo, url.PathEscape(userinfo), url.QueryEscape(userinfo)} {
			if strings.Contains(msg, form) {
				msg, changed = strings.ReplaceAll(msg, form, redacted), true
			}
		}
		// A password alone, as a library may print it.
		if k := strings.IndexByte(userinfo, ':'); k >= 0 && len(userinfo) >= k+5 && strings.Contains(msg, userinfo[k+1:]) {
			msg, changed = strings.ReplaceAll(msg, userinfo[k+1:], redacted), true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
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
	// task is given to another worker. It is the ack wait a queue's
	// consumer is created with; once the consumer exists, its ack wait is
	// the one every worker of the queue follows (heartbeats at a third of
	// it), whatever their own setting, so that workers with different
	// settings do not take each other's tasks. Change it on the consumer
	// (osism-<queue> on stream OSISM_TASKS), then restart the workers.
	AckWait time.Duration `yaml:"ack_wait" json:"ack_wait"`
	// Replicas is the number of copies of every stream and bucket; 3 in a
	// cluster of three or more brokers.
	Replicas int `yaml:"replicas" json:"replicas"`
	// Storage is file (default) or memory.
	Storage Storage `yaml:"storage" json:"storage"`
	// DedupWindow is how long a de-duplication key of a finished task still
	// refuses a new task with the same key.
	DedupWindow time.Duration `yaml:"dedup_window" json:"dedup_window"`
	// MaxTaskBytes caps the task stream and the task records' bucket, each.
	// A full task stream refuses new tasks (Submit fails, the task is not
	// queued) rather than drop queued ones. Default 1 GiB, 256 MiB with
	// memory storage.
	MaxTaskBytes int64 `yaml:"max_task_bytes" json:"max_task_bytes"`
	// MaxOutputBytes caps the output stream; when full, the oldest lines
	// go first. Default 8 GiB, 1 GiB with memory storage.
	MaxOutputBytes int64 `yaml:"max_output_bytes" json:"max_output_bytes"`
}

// The default byte caps of the streams, by storage.
const (
	defaultMaxTaskBytes      = 1 << 30
	defaultMaxOutputBytes    = 8 << 30
	defaultMemMaxTaskBytes   = 256 << 20
	defaultMemMaxOutputBytes = 1 << 30
)

// DefaultTaskConfig returns the defaults of the bus.
func DefaultTaskConfig() TaskConfig {
	return TaskConfig{
		RetentionDays:  7,
		MaxDeliveries:  3,
		AckWait:        30 * time.Second,
		Replicas:       1,
		Storage:        StorageFile,
		MaxTaskBytes:   defaultMaxTaskBytes,
		MaxOutputBytes: defaultMaxOutputBytes,
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
	if t.MaxTaskBytes <= 0 {
		t.MaxTaskBytes = d.MaxTaskBytes
		if t.Storage == StorageMemory {
			t.MaxTaskBytes = defaultMemMaxTaskBytes
		}
	}
	if t.MaxOutputBytes <= 0 {
		t.MaxOutputBytes = d.MaxOutputBytes
		if t.Storage == StorageMemory {
			t.MaxOutputBytes = defaultMemMaxOutputBytes
		}
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
	if b.TokenFile != "" {
		n++
	}
	if n > 1 {
		return errors.New("config broker: give one of user/password, token, token_file, nkey_seed_file or creds_file, not several")
	}
	if strings.TrimSpace(b.URL) != "" {
		if err := checkURLs(b.URL); err != nil {
			return err
		}
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
	if t.MaxTaskBytes < 0 || t.MaxOutputBytes < 0 {
		return errors.New("config tasks: max_task_bytes and max_output_bytes must not be negative")
	}
	if t.AckWait > 0 && t.AckWait < 300*time.Millisecond {
		return fmt.Errorf("config tasks.ack_wait %s: expected at least 300ms", t.AckWait)
	}
	for _, q := range slices.Sorted(maps.Keys(c.Queues)) {
		if err := q.Validate(); err != nil {
			return fmt.Errorf("config queues: %w", err)
		}
		if n := c.Queues[q].Concurrency; n < 0 {
			return fmt.Errorf("config queues.%s.concurrency %d: expected 1 or more", q, n)
		}
	}
	return nil
}

// LogValue keeps secrets out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("broker.url", c.Broker.RedactedURL()),
		slog.String("broker.user", c.Broker.User),
		slog.Any("broker.password", c.Broker.Password),
		slog.Any("broker.token", c.Broker.Token),
		slog.String("broker.nkey_seed_file", c.Broker.NKeySeedFile),
		slog.String("broker.creds_file", c.Broker.CredsFile),
		slog.String("broker.token_file", c.Broker.TokenFile),
		slog.Bool("broker.tls", c.Broker.TLS.Enabled()),
		slog.Int("tasks.retention_days", c.Tasks.RetentionDays),
		slog.Int("tasks.max_deliveries", c.Tasks.MaxDeliveries),
		slog.Duration("tasks.ack_wait", c.Tasks.AckWait),
		slog.Int("tasks.replicas", c.Tasks.Replicas),
		slog.String("tasks.storage", string(c.Tasks.Storage)),
		slog.Int64("tasks.max_task_bytes", c.Tasks.MaxTaskBytes),
		slog.Int64("tasks.max_output_bytes", c.Tasks.MaxOutputBytes),
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

// The environment variables [Config.ApplyEnv] reads.
const (
	EnvBrokerURL       = "OSISM_BROKER_URL"
	EnvBrokerUser      = "OSISM_BROKER_USER"
	EnvBrokerPassword  = "OSISM_BROKER_PASSWORD"
	EnvBrokerToken     = "OSISM_BROKER_TOKEN"
	EnvBrokerNKeySeed  = "OSISM_BROKER_NKEY_SEED_FILE"
	EnvBrokerCredsFile = "OSISM_BROKER_CREDS_FILE"
	EnvBrokerTokenFile = "OSISM_BROKER_TOKEN_FILE"
	EnvBrokerTLSCA     = "OSISM_BROKER_TLS_CA_FILE"
	EnvBrokerTLSCert   = "OSISM_BROKER_TLS_CERT_FILE"
	EnvBrokerTLSKey    = "OSISM_BROKER_TLS_KEY_FILE"
	EnvTaskRetention   = "OSISM_TASK_RETENTION_DAYS"
	EnvTaskMaxDeliver  = "OSISM_TASK_MAX_DELIVERIES"
	EnvTaskAckWait     = "OSISM_TASK_ACK_WAIT"
	EnvTaskReplicas    = "OSISM_TASK_REPLICAS"
	EnvTaskStorage     = "OSISM_TASK_STORAGE"
	EnvTaskDedupWindow = "OSISM_TASK_DEDUP_WINDOW"

	EnvTaskMaxTaskBytes   = "OSISM_TASK_MAX_TASK_BYTES"
	EnvTaskMaxOutputBytes = "OSISM_TASK_MAX_OUTPUT_BYTES"
)

// ConfigFromEnv returns the defaults with the OSISM_BROKER_* and
// OSISM_TASK_* variables of the process environment applied, checked: the
// bus configuration of a program that reads no configuration file.
// Programs with a file use services.LoadConfig.
func ConfigFromEnv() (Config, error) {
	cfg := DefaultConfig()
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// ApplyEnv sets the fields whose variables lookup finds (os.LookupEnv, or
// a map of an injected environment). A value that does not parse is an
// error naming the variable and what was expected.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	str := func(key string, dst *string) {
		if v, ok := lookup(key); ok {
			*dst = v
		}
	}
	sec := func(key string, dst *Secret) {
		if v, ok := lookup(key); ok {
			*dst = Secret(v)
		}
	}
	num := func(key string, dst *int) error {
		v, ok := lookup(key)
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
	num64 := func(key string, dst *int64) error {
		v, ok := lookup(key)
		if !ok {
			return nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("environment %s=%q: expected a non-negative integer (bytes)", key, v)
		}
		*dst = n
		return nil
	}
	dur := func(key string, dst *time.Duration) error {
		v, ok := lookup(key)
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
	b := &c.Broker
	str(EnvBrokerURL, &b.URL)
	str(EnvBrokerUser, &b.User)
	sec(EnvBrokerPassword, &b.Password)
	sec(EnvBrokerToken, &b.Token)
	str(EnvBrokerNKeySeed, &b.NKeySeedFile)
	str(EnvBrokerCredsFile, &b.CredsFile)
	str(EnvBrokerTokenFile, &b.TokenFile)
	str(EnvBrokerTLSCA, &b.TLS.CAFile)
	str(EnvBrokerTLSCert, &b.TLS.CertFile)
	str(EnvBrokerTLSKey, &b.TLS.KeyFile)
	t := &c.Tasks
	if v, ok := lookup(EnvTaskStorage); ok {
		t.Storage = Storage(v)
	}
	return errors.Join(
		num(EnvTaskRetention, &t.RetentionDays),
		num(EnvTaskMaxDeliver, &t.MaxDeliveries),
		num(EnvTaskReplicas, &t.Replicas),
		dur(EnvTaskAckWait, &t.AckWait),
		dur(EnvTaskDedupWindow, &t.DedupWindow),
		num64(EnvTaskMaxTaskBytes, &t.MaxTaskBytes),
		num64(EnvTaskMaxOutputBytes, &t.MaxOutputBytes),
	)
}
