package netbox

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults chosen for a NetBox behind a reverse proxy in the same site.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMaxRetries    = 4
	DefaultRetryBackoff  = 250 * time.Millisecond
	DefaultMaxBackoff    = 10 * time.Second
	DefaultMaxConcurrent = 8
	// DefaultPageSize is NetBox's default MAX_PAGE_SIZE: larger pages are
	// silently cut to it, so asking for more only confuses paging.
	DefaultPageSize = 1000
)

// Config says how to reach NetBox. The zero value of every field but URL and
// the token has a working default.
//
// It can be a section of a YAML or JSON configuration file, with the keys
// of the tags (url, token_file, insecure, timeout: 30s, ...). Marshalling
// it never writes the token: MarshalJSON and MarshalYAML leave Token out
// (TokenFile, a path, stays), and String, GoString and LogValue redact it.
type Config struct {
	// URL of NetBox, e.g. https://netbox.example.com (a trailing /api is
	// accepted and dropped).
	URL string `yaml:"url" json:"url"`
	// Token is the API token: a v1 token (sent as "Token <v1>") or a v2
	// token "nbt_<key>.<secret>" (sent as "Bearer nbt_..."). A value that
	// already starts with "Token " or "Bearer " is sent as given. It is
	// read from a configuration file but never written to one.
	Token string `yaml:"token,omitempty" json:"token,omitempty"`
	// TokenFile is read when Token is empty, e.g. /run/secrets/NETBOX_TOKEN.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// InsecureSkipVerify turns TLS certificate verification off. Only for
	// labs: it lets anyone on the path read the token.
	InsecureSkipVerify bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
	// CAFile adds a PEM bundle to the system roots, for a NetBox behind an
	// internal CA; preferable to InsecureSkipVerify.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Timeout bounds one HTTP attempt (not the retries together).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// MaxRetries is how often an idempotent request is retried after a 429,
	// a 5xx or a connection error. 0 means DefaultMaxRetries; negative, none.
	MaxRetries int `yaml:"max_retries,omitempty" json:"max_retries,omitempty"`
	// RetryBackoff is the first retry's delay; it doubles per attempt up to
	// MaxBackoff, with jitter so that many clients do not retry in step.
	RetryBackoff time.Duration `yaml:"retry_backoff,omitempty" json:"retry_backoff,omitempty"`
	MaxBackoff   time.Duration `yaml:"max_backoff,omitempty" json:"max_backoff,omitempty"`
	// MaxConcurrent caps requests in flight from this client.
	MaxConcurrent int `yaml:"max_concurrent,omitempty" json:"max_concurrent,omitempty"`
	// PageSize of list requests.
	PageSize int `yaml:"page_size,omitempty" json:"page_size,omitempty"`
	// Transport replaces the HTTP transport (tests, proxies). TLS settings
	// of this Config do not apply to it. Without it the client uses its
	// own *http.Transport, a copy of http.DefaultTransport when that is
	// one, so a RoundTripper an embedding program put into
	// http.DefaultTransport is not used.
	Transport http.RoundTripper `yaml:"-" json:"-"`
	// Logger receives retries (debug level) and skipped objects (warning
	// level, with their id). Nil means slog.Default(). Tokens never reach
	// it.
	Logger *slog.Logger `yaml:"-" json:"-"`
	// OnDecodeError is called for each object of a list answer that could
	// not be decoded and was skipped. Nil logs a warning to Logger.
	// Client.DecodeErrors counts them either way.
	OnDecodeError func(*DecodeError) `yaml:"-" json:"-"`
	// UserAgent sent with each request.
	UserAgent string `yaml:"user_agent,omitempty" json:"user_agent,omitempty"`
	// Secondaries are further NetBoxes that mirrored writes also go to
	// (NETBOX_SECONDARIES); OpenSecondaries makes their clients.
	Secondaries []SecondaryConfig `yaml:"secondaries,omitempty" json:"secondaries,omitempty"`
}

// configFields is Config without its methods, so that marshalling it does
// not recurse.
type configFields Config

// withoutToken is what MarshalJSON and MarshalYAML write.
func (c Config) withoutToken() configFields {
	f := configFields(c)
	f.Token = ""
	return f
}

// MarshalJSON writes the configuration without the token.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.withoutToken()) }

// MarshalYAML writes the configuration without the token (go.yaml.in/yaml
// and gopkg.in/yaml.v3 both call it).
func (c Config) MarshalYAML() (any, error) { return c.withoutToken(), nil }

// String keeps the token out of fmt output.
func (c Config) String() string {
	tok := "unset"
	if c.Token != "" {
		tok = "set"
	} else if c.TokenFile != "" {
		tok = "file " + c.TokenFile
	}
	return fmt.Sprintf("netbox.Config{URL: %q, Token: %s, InsecureSkipVerify: %t}", c.URL, tok, c.InsecureSkipVerify)
}

// GoString keeps the token out of %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the token out of slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.Bool("token_set", c.Token != "" || c.TokenFile != ""),
		slog.Bool("insecure", c.InsecureSkipVerify),
	)
}

// ConfigFromEnv is ConfigFromEnviron(os.Environ()): the configuration from
// the process environment.
func ConfigFromEnv() Config { return ConfigFromEnviron(os.Environ()) }

// ConfigFromEnviron reads the variables upstream OSISM uses from environ,
// "KEY=value" entries as os.Environ returns them (of a key given twice the
// last wins, as for exec.Cmd.Env): NETBOX_URL (NETBOX_API when environ has
// no NETBOX_URL), NETBOX_TOKEN, NETBOX_TOKEN_FILE, NETBOX_INSECURE (a
// boolean as strconv.ParseBool reads it; anything else leaves TLS
// verification on) and NETBOX_SECONDARIES (a value that does not parse
// leaves no secondaries). Every other field is zero, that is its default.
func ConfigFromEnviron(environ []string) Config {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var c Config
	// A NETBOX_INSECURE that does not parse leaves verification on, as
	// it always did here; services.LoadConfig reports it instead.
	_ = c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c
}

// TokenKind tells how a token is presented to NetBox.
type TokenKind int

const (
	// TokenV1 is NetBox's classic 40-character token: "Authorization: Token <v1>".
	TokenV1 TokenKind = iota + 1
	// TokenV2 is NetBox 4.5+'s "nbt_<key>.<secret>": "Authorization: Bearer nbt_...".
	TokenV2
)

func (k TokenKind) String() string {
	switch k {
	case TokenV1:
		return "v1"
	case TokenV2:
		return "v2"
	}
	return "unknown"
}

// Token is a parsed API token. Its String never shows the secret.
type Token struct {
	kind   TokenKind
	secret string
	header string
}

// ParseToken decides the token's kind by its form: "nbt_" starts a v2
// token, anything else is v1. An explicit "Token " or "Bearer " prefix is
// honoured. Surrounding white space (a file's trailing newline) is dropped.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "Bearer "):
		s = strings.TrimSpace(strings.TrimPrefix(s, "Bearer "))
		if err := checkTokenChars(s); err != nil {
			return Token{}, err
		}
		return Token{kind: TokenV2, secret: s, header: "Bearer " + s}, nil
	case strings.HasPrefix(s, "Token "):
		s = strings.TrimSpace(strings.TrimPrefix(s, "Token "))
		if err := checkTokenChars(s); err != nil {
			return Token{}, err
		}
		return Token{kind: TokenV1, secret: s, header: "Token " + s}, nil
	}
	if err := checkTokenChars(s); err != nil {
		return Token{}, err
	}
	if strings.HasPrefix(s, "nbt_") {
		if !strings.Contains(s, ".") || len(s) < len("nbt_x.y") {
			return Token{}, errors.New("parse token: a v2 token has the form nbt_<key>.<secret>")
		}
		return Token{kind: TokenV2, secret: s, header: "Bearer " + s}, nil
	}
	return Token{kind: TokenV1, secret: s, header: "Token " + s}, nil
}

// checkTokenChars refuses what would break or smuggle into a header; the
// message never repeats the token.
func checkTokenChars(s string) error {
	if s == "" {
		return errors.New("parse token: empty token")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("parse token: invalid character at position %d (want printable ASCII without spaces)", i)
		}
	}
	return nil
}

// Kind is the token's kind.
func (t Token) Kind() TokenKind { return t.kind }

// Header is the value of the Authorization header.
func (t Token) Header() string { return t.header }

// String shows the kind, never the secret.
func (t Token) String() string { return "netbox token (" + t.kind.String() + ", redacted)" }

// GoString keeps the secret out of %#v.
func (t Token) GoString() string { return t.String() }

// LogValue keeps the secret out of slog.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// resolveToken reads the token from Config, the value winning over the file.
func (c Config) resolveToken() (Token, error) {
	if c.Token != "" {
		return ParseToken(c.Token)
	}
	if c.TokenFile == "" {
		return Token{}, fmt.Errorf("%w: no token: set Token or TokenFile (NETBOX_TOKEN, NETBOX_TOKEN_FILE)", ErrInvalidConfig)
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return Token{}, fmt.Errorf("%w: read token file: %w", ErrInvalidConfig, err)
	}
	t, err := ParseToken(string(b))
	if err != nil {
		return Token{}, fmt.Errorf("%w: token file %s: %w", ErrInvalidConfig, c.TokenFile, err)
	}
	return t, nil
}

// baseURL normalizes URL to scheme://host[/prefix] without /api.
func (c Config) baseURL() (*url.URL, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("%w: no URL (NETBOX_URL)", ErrInvalidConfig)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: URL %q: %w", ErrInvalidConfig, c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: URL %q: scheme must be http or https", ErrInvalidConfig, c.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q: no host", ErrInvalidConfig, c.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: URL must not carry credentials; use the token", ErrInvalidConfig)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api")
	u.Path = p
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u, nil
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.PageSize <= 0 || c.PageSize > DefaultPageSize {
		c.PageSize = DefaultPageSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.UserAgent == "" {
		c.UserAgent = "go-osism-netbox"
	}
	return c
}

func (c Config) baseTransport() (http.RoundTripper, error) {
	if c.Transport != nil {
		return c.Transport, nil
	}
	t := newHTTPTransport()
	t.MaxIdleConnsPerHost = c.MaxConcurrent
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // explicit opt-out
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrInvalidConfig, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s: no PEM certificates", ErrInvalidConfig, c.CAFile)
		}
		tc.RootCAs = pool
	}
	t.TLSClientConfig = tc
	return t, nil
}

// newHTTPTransport is a copy of http.DefaultTransport when it is still an
// *http.Transport, and otherwise one with net/http's defaults: an
// embedding program may have replaced http.DefaultTransport with any
// RoundTripper, and this package needs an *http.Transport for its TLS
// settings. A program that wants its own RoundTripper used sets
// Config.Transport.
func newHTTPTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}
