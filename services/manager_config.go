package services

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// ManagerConfig is the manager's section (osism manager):
//
//	manager:
//	  grace: 30s                    # running tasks may finish this long on SIGTERM
//	  broker_listen: 127.0.0.1:4222 # the embedded broker's client address
//	  store_dir: /var/lib/osism/broker
//	  memory: false                 # keep the embedded broker's data in memory
//
// Without broker.url the manager runs the embedded broker; with it, the
// manager connects to that NATS cluster and runs no broker.
type ManagerConfig struct {
	// Grace is how long running tasks may finish once the manager stops;
	// the rest are cancelled and go back to their queue. Default 30s.
	Grace time.Duration `yaml:"grace" json:"grace,omitempty"`
	// BrokerListen is the embedded broker's client address host:port;
	// default 127.0.0.1:4222. Port -1 picks a free port.
	BrokerListen string `yaml:"broker_listen" json:"broker_listen,omitempty"`
	// StoreDir is the embedded broker's JetStream directory; default
	// DefaultStoreDir.
	StoreDir string `yaml:"store_dir" json:"store_dir,omitempty"`
	// Memory keeps the embedded broker's streams in memory (for trials):
	// queued tasks do not survive a restart.
	Memory bool `yaml:"memory" json:"memory,omitempty"`
}

// The variables of ManagerConfig.
const (
	EnvManagerGrace        = "OSISM_MANAGER_GRACE"
	EnvManagerBrokerListen = "OSISM_MANAGER_BROKER_LISTEN"
	EnvManagerStoreDir     = "OSISM_MANAGER_STORE_DIR"
)

// DefaultManagerGrace is ManagerConfig.Grace's default.
const DefaultManagerGrace = 30 * time.Second

// DefaultManagerBrokerListen is ManagerConfig.BrokerListen's default.
const DefaultManagerBrokerListen = "127.0.0.1:4222"

// ApplyEnv applies OSISM_MANAGER_*.
func (c *ManagerConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvManagerGrace); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%q: expected a positive duration such as 30s", EnvManagerGrace, v)
		}
		c.Grace = d
	}
	if v, ok := lookup(EnvManagerBrokerListen); ok {
		c.BrokerListen = v
	}
	if v, ok := lookup(EnvManagerStoreDir); ok {
		c.StoreDir = v
	}
	return nil
}

// Validate checks the section and names the offending field.
func (c ManagerConfig) Validate() error {
	if c.Grace < 0 {
		return fmt.Errorf("config manager.grace %s: expected a positive duration (0: the default %s)", c.Grace, DefaultManagerGrace)
	}
	if c.BrokerListen != "" {
		if _, _, err := splitListen(c.BrokerListen); err != nil {
			return fmt.Errorf("config manager.broker_listen: %w", err)
		}
	}
	return nil
}

// withDefaults fills the zero fields.
func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.Grace <= 0 {
		c.Grace = DefaultManagerGrace
	}
	if c.BrokerListen == "" {
		c.BrokerListen = DefaultManagerBrokerListen
	}
	if c.StoreDir == "" {
		c.StoreDir = DefaultStoreDir
	}
	return c
}

// splitListen splits host:port; port -1 picks a free port.
func splitListen(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q: expected host:port", s)
	}
	var port int
	if _, err := fmt.Sscanf(s[i+1:], "%d", &port); err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: expected a port number (-1: any free port) after the colon", s)
	}
	return s[:i], port, nil
}

// LogConfig is the log section: how the services of a process log.
//
//	log: {format: json, level: info}
type LogConfig struct {
	// Format is json or text (the default).
	Format string `yaml:"format" json:"format,omitempty"`
	// Level is debug, info (the default), warn or error.
	Level string `yaml:"level" json:"level,omitempty"`
}

// The variables of LogConfig.
const (
	EnvLogFormat = "OSISM_LOG_FORMAT"
	EnvLogLevel  = "OSISM_LOG_LEVEL"
)

// ApplyEnv applies OSISM_LOG_FORMAT and OSISM_LOG_LEVEL.
func (c *LogConfig) ApplyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup(EnvLogFormat); ok {
		c.Format = v
	}
	if v, ok := lookup(EnvLogLevel); ok {
		c.Level = v
	}
}

// Validate checks the section and names the offending field.
func (c LogConfig) Validate() error {
	switch strings.ToLower(c.Format) {
	case "", "json", "text":
	default:
		return fmt.Errorf("config log.format %q: expected json or text", c.Format)
	}
	if _, err := c.level(); err != nil {
		return err
	}
	return nil
}

func (c LogConfig) level() (slog.Level, error) {
	switch strings.ToLower(c.Level) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("config log.level %q: expected debug, info, warn or error", c.Level)
}

// NewLogger returns a logger that writes to w in the configured format
// and level.
func (c LogConfig) NewLogger(w io.Writer) (*slog.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	lvl, _ := c.level()
	o := &slog.HandlerOptions{Level: lvl}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return slog.New(slog.NewTextHandler(w, o)), nil
}

// BrokerConfigFrom is the embedded broker as cfg describes it, as osism
// service broker and osism manager build it: the admin credential of the
// broker section (user and password take the place of a token), the
// generated token's file (broker.token_file), the credentials file of
// broker_service and the bus settings of tasks. The address, store,
// TLS and cluster are the caller's.
func BrokerConfigFrom(cfg Config) BrokerConfig {
	bc := cfg.Bus.Broker
	user, password, token := bc.User, string(bc.Password), string(bc.Token)
	if user != "" {
		token = ""
	}
	return BrokerConfig{User: user, Password: password, Token: token, TokenFile: bc.TokenFile,
		CredentialsFile: cfg.BrokerService.CredentialsFile, Bus: cfg.Bus.Tasks}
}
