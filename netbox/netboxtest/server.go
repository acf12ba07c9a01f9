package netboxtest

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is an in-memory NetBox 4.3 REST API on 127.0.0.1.
type Server struct {
	ts   *httptest.Server
	st   *store
	cfg  config
	done chan struct{}
	once sync.Once

	checker Checker // from WithChecker; nil: answers are not checked

	tokenV1 string
	tokenV2 string
	tokens  map[string]tokenInfo // "v1:<plaintext>" or "v2:<key>"

	mu             sync.Mutex
	counts         map[string]int
	total          int
	failRate       float64
	failStatus     int
	failNext       int
	failNextStatus int
	rng            *mrand.Rand
	violations     []Violation
	latency        atomic.Int64
}

type tokenInfo struct {
	secret string // v2 only
	write  bool
}

type config struct {
	sample       bool
	fixtures     []*Fixture
	fixtureFiles []string
	token        string
	roTokens     []string
	tokenV2      string
	latency      time.Duration
	seed         int64
	checker      Checker
	checkerSet   bool
	devices      int
	maxPageSize  int
}

// Option configures a Server.
type Option func(*config)

// WithSampleFabric seeds the server with the embedded sample fabric (see SampleFabric).
func WithSampleFabric() Option { return func(c *config) { c.sample = true } }

// WithFixture seeds the server with a fixture; several fixtures load in order.
func WithFixture(f *Fixture) Option { return func(c *config) { c.fixtures = append(c.fixtures, f) } }

// WithFixtureFile seeds the server with a YAML fixture file.
func WithFixtureFile(path string) Option {
	return func(c *config) { c.fixtureFiles = append(c.fixtureFiles, path) }
}

// WithToken sets the v1 token with write access (default: 40 random hex characters).
func WithToken(v1 string) Option { return func(c *config) { c.token = v1 } }

// WithReadOnlyToken adds a v1 token that may read but not write.
func WithReadOnlyToken(v1 string) Option {
	return func(c *config) { c.roTokens = append(c.roTokens, v1) }
}

// WithTokenV2 sets the v2 token with write access, written as "nbt_<key>.<secret>".
func WithTokenV2(token string) Option { return func(c *config) { c.tokenV2 = token } }

// WithLatency adds d to every request.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// WithSeed seeds the random source of SetFailureRate, so that a failing run can be replayed.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// WithChecker validates every answer with c and records what it reports as violations (see
// SchemaViolations). The checker against NetBox's OpenAPI schema is conformance.New(), from package
// github.com/osism/go-osism/netbox/netboxtest/conformance:
//
//	netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
//
// Start calls c.Load once and fails with its error; a nil c is an error.
func WithChecker(c Checker) Option {
	return func(cfg *config) { cfg.checker, cfg.checkerSet = c, true }
}

// WithDevices adds n generated devices with the project's custom fields, for benchmarks.
func WithDevices(n int) Option { return func(c *config) { c.devices = n } }

// WithMaxPageSize sets NetBox's MAX_PAGE_SIZE (default 1000): a list's limit above n, or a limit
// of 0, is cut to n, as NetBox does. The default page size without a limit (50) is not cut, as in
// NetBox. n < 1 keeps the default.
func WithMaxPageSize(n int) Option { return func(c *config) { c.maxPageSize = n } }

// New starts a Server for a test or benchmark; tb.Cleanup closes it. With WithChecker, the test
// fails at cleanup when the checker reported any answer.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Start(opts...)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "netboxtest: ") {
			msg = "netboxtest: " + msg
		}
		tb.Fatal(msg)
	}
	tb.Cleanup(func() {
		s.Close()
		if s.checker == nil {
			return
		}
		for _, v := range s.SchemaViolations() {
			tb.Errorf("netboxtest: schema violation: %s", v)
		}
	})
	return s
}

// Start starts a Server outside tests: the dev mode, benchmark programs, demos. Close it when done.
func Start(opts ...Option) (*Server, error) {
	cfg := config{seed: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxPageSize < 1 {
		cfg.maxPageSize = maxPageSize
	}
	s := &Server{st: newStore(), cfg: cfg, done: make(chan struct{}), counts: map[string]int{},
		tokens: map[string]tokenInfo{}, rng: mrand.New(mrand.NewSource(cfg.seed))}
	s.latency.Store(int64(cfg.latency))

	s.tokenV1 = cfg.token
	if s.tokenV1 == "" {
		s.tokenV1 = randomString("0123456789abcdef", 40)
	}
	s.tokens["v1:"+s.tokenV1] = tokenInfo{write: true}
	for _, t := range cfg.roTokens {
		s.tokens["v1:"+t] = tokenInfo{write: false}
	}
	s.tokenV2 = cfg.tokenV2
	if s.tokenV2 == "" {
		const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		s.tokenV2 = tokenPrefix + randomString(alnum, 12) + "." + randomString(alnum, 40)
	}
	key, secret, ok := splitV2(s.tokenV2)
	if !ok {
		return nil, fmt.Errorf("WithTokenV2(%q): want \"nbt_<key>.<secret>\"", s.tokenV2)
	}
	s.tokens["v2:"+key] = tokenInfo{secret: secret, write: true}

	var fixtures []*Fixture
	if cfg.sample {
		f, err := SampleFabric()
		if err != nil {
			return nil, err
		}
		fixtures = append(fixtures, f)
	}
	fixtures = append(fixtures, cfg.fixtures...)
	for _, path := range cfg.fixtureFiles {
		f, err := LoadFixtureFile(path)
		if err != nil {
			return nil, err
		}
		fixtures = append(fixtures, f)
	}
	for _, f := range fixtures {
		if err := f.apply(s.st); err != nil {
			return nil, err
		}
	}
	if cfg.devices > 0 {
		if err := generateDevices(s.st, cfg.devices); err != nil {
			return nil, err
		}
	}
	if cfg.checkerSet {
		if cfg.checker == nil {
			return nil, errNilChecker
		}
		if err := cfg.checker.Load(); err != nil {
			return nil, err
		}
		s.checker = cfg.checker
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.ts.Listener.Close()
	s.ts.Listener = ln
	s.ts.Start()
	return s, nil
}

const tokenPrefix = "nbt_"

func splitV2(t string) (key, secret string, ok bool) {
	rest, found := strings.CutPrefix(t, tokenPrefix)
	if !found {
		return "", "", false
	}
	key, secret, ok = strings.Cut(rest, ".")
	return key, secret, ok && key != "" && secret != ""
}

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// URL returns the base URL, "http://127.0.0.1:PORT", without /api.
func (s *Server) URL() string { return s.ts.URL }

// Token returns a v1 token with write access, sent as "Authorization: Token <t>".
func (s *Server) Token() string { return s.tokenV1 }

// TokenV2 returns a v2 token with write access, sent as "Authorization: Bearer nbt_<key>.<secret>".
func (s *Server) TokenV2() string { return s.tokenV2 }

// Close stops the server; requests left hanging by a fault are released first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}
