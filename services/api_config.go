package services

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/osism/go-osism/osism"
)

// APIConfig is the section of the API service (osism service api). Its
// secrets (the tokens and the webhook secret) come from files or the
// environment, never from flags:
//
//	api:
//	  listen: 127.0.0.1:8000
//	  read_token_file: /run/secrets/osism-api-read
//	  operator_token_file: /run/secrets/osism-api-operator
//	  webhook_secret_file: /run/secrets/netbox-webhook
//	  tls_cert: /etc/osism/api.crt
//	  tls_key: /etc/osism/api.key
type APIConfig struct {
	// Listen is host:port; default 127.0.0.1:8000. An address that is not
	// loopback needs TLS and both tokens.
	Listen string `yaml:"listen" json:"listen,omitempty"`
	// ReadToken lets a client read (tasks, devices, events, inventory);
	// OperatorToken lets it read and also submit and cancel. Each comes
	// from its file when the file is set.
	ReadToken         osism.Secret `yaml:"read_token" json:"read_token,omitempty"`
	ReadTokenFile     string       `yaml:"read_token_file" json:"read_token_file,omitempty"`
	OperatorToken     osism.Secret `yaml:"operator_token" json:"operator_token,omitempty"`
	OperatorTokenFile string       `yaml:"operator_token_file" json:"operator_token_file,omitempty"`
	// TokenFile is where the API keeps the operator token it generates
	// when neither token is configured (mode 0600, created once and
	// reused); default DefaultAPITokenFile. The API never answers
	// without a token.
	TokenFile string `yaml:"token_file" json:"token_file,omitempty"`
	// WebhookSecret is NetBox's webhook secret (HMAC-SHA512 of the body
	// in X-Hook-Signature); without one the webhook answers 503.
	WebhookSecret     osism.Secret `yaml:"webhook_secret" json:"webhook_secret,omitempty"`
	WebhookSecretFile string       `yaml:"webhook_secret_file" json:"webhook_secret_file,omitempty"`
	// MaxBody is the largest request body in bytes; default 1 MiB. A
	// larger one gets 413.
	MaxBody int64 `yaml:"max_body" json:"max_body,omitempty"`
	// ReadTimeout bounds reading a request (headers and body), default
	// 30s; WriteTimeout bounds writing an answer that is not a stream of
	// events, default 60s; ShutdownTimeout bounds the graceful shutdown,
	// default 10s.
	ReadTimeout     time.Duration `yaml:"read_timeout" json:"read_timeout,omitempty"`
	WriteTimeout    time.Duration `yaml:"write_timeout" json:"write_timeout,omitempty"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout,omitempty"`
	// TLSCert and TLSKey (PEM files) make the API serve HTTPS.
	TLSCert string `yaml:"tls_cert" json:"tls_cert,omitempty"`
	TLSKey  string `yaml:"tls_key" json:"tls_key,omitempty"`
	// InventoryDir is where the reconciler writes hosts.yml and
	// host_vars/; default the reconciler's output_dir
	// (DefaultReconcilerOutputDir).
	InventoryDir string `yaml:"inventory_dir" json:"inventory_dir,omitempty"`
}

// The variables of APIConfig.
const (
	EnvAPIListen            = "OSISM_API_LISTEN"
	EnvAPIReadToken         = "OSISM_API_READ_TOKEN"
	EnvAPIReadTokenFile     = "OSISM_API_READ_TOKEN_FILE"
	EnvAPIOperatorToken     = "OSISM_API_OPERATOR_TOKEN"
	EnvAPIOperatorTokenFile = "OSISM_API_OPERATOR_TOKEN_FILE"
	EnvAPITokenFile         = "OSISM_API_TOKEN_FILE"
	EnvAPIWebhookSecret     = "OSISM_API_WEBHOOK_SECRET"
	EnvAPIWebhookSecretFile = "OSISM_API_WEBHOOK_SECRET_FILE"
	EnvAPIMaxBody           = "OSISM_API_MAX_BODY"
	EnvAPITLSCert           = "OSISM_API_TLS_CERT"
	EnvAPITLSKey            = "OSISM_API_TLS_KEY"
	EnvAPIInventoryDir      = "OSISM_API_INVENTORY_DIR"
)

// Defaults of APIConfig.
const (
	DefaultAPIListen          = "127.0.0.1:8000"
	DefaultAPIMaxBody         = 1 << 20
	DefaultAPIReadTimeout     = 30 * time.Second
	DefaultAPIWriteTimeout    = 60 * time.Second
	DefaultAPIShutdownTimeout = 10 * time.Second
	// DefaultAPITokenFile holds the generated operator token of an API
	// with no token configured.
	DefaultAPITokenFile = "/var/lib/osism/api/token"
)

// ApplyEnv applies the OSISM_API_* variables lookup finds.
func (c *APIConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	str := map[string]*string{
		EnvAPIListen: &c.Listen, EnvAPIReadTokenFile: &c.ReadTokenFile, EnvAPIOperatorTokenFile: &c.OperatorTokenFile,
		EnvAPIWebhookSecretFile: &c.WebhookSecretFile, EnvAPITLSCert: &c.TLSCert, EnvAPITLSKey: &c.TLSKey,
		EnvAPIInventoryDir: &c.InventoryDir, EnvAPITokenFile: &c.TokenFile,
	}
	for k, p := range str {
		if v, ok := lookup(k); ok {
			*p = v
		}
	}
	sec := map[string]*osism.Secret{EnvAPIReadToken: &c.ReadToken, EnvAPIOperatorToken: &c.OperatorToken, EnvAPIWebhookSecret: &c.WebhookSecret}
	for k, p := range sec {
		if v, ok := lookup(k); ok {
			*p = osism.Secret(v)
		}
	}
	if v, ok := lookup(EnvAPIMaxBody); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%s %q: expected a number of bytes", EnvAPIMaxBody, v)
		}
		c.MaxBody = n
	}
	return nil
}

func (c APIConfig) withDefaults() APIConfig {
	if c.Listen == "" {
		c.Listen = DefaultAPIListen
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultAPIMaxBody
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultAPIReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultAPIWriteTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultAPIShutdownTimeout
	}
	if c.TokenFile == "" {
		c.TokenFile = DefaultAPITokenFile
	}
	return c
}

// Validate checks the section without reading its files and names the
// offending field.
func (c APIConfig) Validate() error {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("config api.listen %q: expected host:port", c.Listen)
		}
	}
	if c.MaxBody < 0 {
		return fmt.Errorf("config api.max_body %d: expected a number of bytes (0: the default 1 MiB)", c.MaxBody)
	}
	for name, d := range map[string]time.Duration{"read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout, "shutdown_timeout": c.ShutdownTimeout} {
		if d < 0 {
			return fmt.Errorf("config api.%s %s: expected a positive duration (0: the default)", name, d)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("config api.tls_cert and api.tls_key: expected both or neither")
	}
	return nil
}

// secrets reads the tokens and the webhook secret, each from its file
// when one is set; the errors name the file, never its content.
func (c APIConfig) secrets() (read, operator, webhook string, err error) {
	get := func(field string, v osism.Secret, file string) (string, error) {
		if file == "" {
			return strings.TrimSpace(string(v)), nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("config api.%s_file: %w", field, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("config api.%s_file %s: the file is empty", field, file)
		}
		return s, nil
	}
	if read, err = get("read_token", c.ReadToken, c.ReadTokenFile); err != nil {
		return
	}
	if operator, err = get("operator_token", c.OperatorToken, c.OperatorTokenFile); err != nil {
		return
	}
	webhook, err = get("webhook_secret", c.WebhookSecret, c.WebhookSecretFile)
	return
}

// loopback reports whether host:port listens on loopback only.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
