package netbox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
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
type Config struct {
	// URL of NetBox, e.g. https://netbox.example.com (a trailing /api is
	// accepted and dropped).
	URL string
	// Token is the API token: a v1 token (sent as "Token <v1>") or a v2
	// token "nbt_<key>.<secret>" (sent as "Bearer nbt_..."). A value that
	// already starts with "Token " or "Bearer " is sent as given.
	Token string
	// TokenFile is read when Token is empty, e.g. /run/secrets/NETBOX_TOKEN.
	TokenFile string
	// InsecureSkipVerify turns TLS certificate verification off. Only for
	// labs: it lets anyone on the path read the token.
	InsecureSkipVerify bool
	// CAFile adds a PEM bundle to the system roots, for a NetBox behind an
	// internal CA; preferable to InsecureSkipVerify.
	CAFile string
	// Timeout bounds one HTTP attempt (not the retries together).
	Timeout time.Duration
	// MaxRetries is how often an idempotent request is retried after a 429,
	// a 5xx or a connection error. 0 means DefaultMaxRetries; negative, none.
	MaxRetries int
	// RetryBackoff is the first retry's delay; it doubles per attempt up to
	// MaxBackoff, with jitter so that many clients do not retry in step.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// MaxConcurrent caps requests in flight from this client.
	MaxConcurrent int
	// PageSize of list requests.
	PageSize int
	// Transport replaces the HTTP transport (tests, proxies). TLS settings
	// of this Config do not apply to it.
	Transport http.RoundTripper
	// Logger receives retries and skipped objects at debug/warn level. Tokens
	// never reach it.
	Logger *slog.Logger
	// OnDecodeError is called for each object of a list answer that could
	// not be decoded and was skipped. Nil logs a warning.
	OnDecodeError func(*DecodeError)
	// UserAgent sent with each request.
	UserAgent string
}

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

// ConfigFromEnv reads NETBOX_URL, NETBOX_TOKEN, NETBOX_TOKEN_FILE and
// NETBOX_INSECURE (a boolean), the variables upstream OSISM uses.
func ConfigFromEnv() Config {
	c := Config{
		URL:       os.Getenv("NETBOX_URL"),
		Token:     os.Getenv("NETBOX_TOKEN"),
		TokenFile: os.Getenv("NETBOX_TOKEN_FILE"),
	}
	if v, err := strconv.ParseBool(os.Getenv("NETBOX_INSECURE")); err == nil {
		c.InsecureSkipVerify = v
	}
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
		c.Logger = slog.New(slog.DiscardHandler)
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
	t := http.DefaultTransport.(*http.Transport).Clone()
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
