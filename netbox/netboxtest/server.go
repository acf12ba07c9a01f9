package netboxtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
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

	checker Checker // set by Start with WithConformance

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
	conformance  bool
	devices      int
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

// WithConformance validates every answer against NetBox's OpenAPI schema and records violations.
// The checker is in package github.com/osism/go-osism/netbox/netboxtest/conformance; import it for
// its side effect, or Start fails.
func WithConformance() Option { return func(c *config) { c.conformance = true } }

// WithDevices adds n generated devices with the project's custom fields, for benchmarks.
func WithDevices(n int) Option { return func(c *config) { c.devices = n } }

// New starts a Server for a test or benchmark; tb.Cleanup closes it. With WithConformance, the test
// fails at cleanup when any answer violated the schema.
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
		if !s.cfg.conformance {
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
	if cfg.conformance {
		s.checker = registeredChecker()
		if s.checker == nil {
			return nil, errNoChecker
		}
		if err := s.checker.Load(); err != nil {
			return nil, err
		}
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

// Requests returns how many requests were served for one method and endpoint. path is a list path
// ("/api/dcim/devices/"); detail requests count under "/api/dcim/devices/{id}/" (a concrete id in
// path is normalised to that form).
func (s *Server) Requests(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[strings.ToUpper(method)+" "+pattern(path)]
}

// TotalRequests returns how many requests were served in all.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// ResetCounters sets all request counters to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
	s.total = 0
}

// SetLatency sets the delay added to every request.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// SetFailureRate makes a share of requests (0..1) fail with status before they touch any state. Status
// 0 makes them hang until the client gives up, like a timeout. The choice uses the seeded random source.
func (s *Server) SetFailureRate(rate float64, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate, s.failStatus = rate, status
}

// FailNext makes the next n requests fail with status (0: hang until the client gives up).
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failNextStatus = n, status
}

// SchemaViolations returns the violations recorded with WithConformance.
func (s *Server) SchemaViolations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Violation(nil), s.violations...)
}

// pattern maps a request path to its endpoint: list paths stay, detail paths end in "{id}/".
func pattern(path string) string {
	if _, ok := kindsByPath[path]; ok || path == "/api/status/" {
		return path
	}
	trimmed := strings.TrimSuffix(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return path
	}
	if _, ok := kindsByPath[trimmed[:i+1]]; ok {
		return trimmed[:i+1] + "{id}/"
	}
	return path
}

// route is what a request addresses.
type route struct {
	k      *kind
	id     int
	detail bool
	status bool
}

func resolveRoute(path string) (route, bool) {
	if path == "/api/status/" {
		return route{status: true}, true
	}
	if k, ok := kindsByPath[path]; ok {
		return route{k: k}, true
	}
	if !strings.HasSuffix(path, "/") {
		return route{}, false
	}
	trimmed := strings.TrimSuffix(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	k, ok := kindsByPath[trimmed[:i+1]]
	if !ok {
		return route{}, false
	}
	id, err := strconv.Atoi(trimmed[i+1:])
	if err != nil || id <= 0 {
		return route{}, false
	}
	return route{k: k, id: id, detail: true}, true
}

// recorder keeps the answer so that the conformance check can read it.
type recorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return r.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	pat := pattern(r.URL.Path)
	s.mu.Lock()
	s.counts[r.Method+" "+pat]++
	s.total++
	fail, failStatus := false, 0
	if s.failNext > 0 {
		s.failNext--
		fail, failStatus = true, s.failNextStatus
	} else if s.failRate > 0 && s.rng.Float64() < s.failRate {
		fail, failStatus = true, s.failStatus
	}
	s.mu.Unlock()

	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if fail {
		s.injectFailure(w, r, failStatus)
		return
	}

	var rec *recorder
	if s.cfg.conformance {
		rec = &recorder{ResponseWriter: w}
		w = rec
	}
	info := s.handle(w, r)
	if rec != nil {
		s.check(r, info, rec)
	}
}

func (s *Server) injectFailure(w http.ResponseWriter, r *http.Request, status int) {
	if status == 0 {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, status, detail("Request was throttled. Expected available in 1 second."))
		return
	}
	writeJSON(w, status, detail(fmt.Sprintf("%d %s (injected by netboxtest)", status, http.StatusText(status))))
}

// answerInfo tells the conformance check which schema an answer must match.
type answerInfo struct {
	tmpl       string
	brief      bool
	fields     bool
	bulkCreate bool
	k          *kind
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) answerInfo {
	rt, ok := resolveRoute(r.URL.Path)
	info := answerInfo{tmpl: pattern(r.URL.Path), k: rt.k}
	if !ok {
		writeJSON(w, http.StatusNotFound, detail("Not found."))
		return info
	}
	write, msg := s.authenticate(r)
	if msg != "" {
		writeJSON(w, http.StatusForbidden, detail(msg))
		return info
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
	if !safe && !write {
		writeJSON(w, http.StatusForbidden, detail("You do not have permission to perform this action."))
		return info
	}
	base := "http://" + r.Host
	c := &rctx{s: s.st, base: base}
	if rt.status {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("Method %q not allowed.", r.Method)))
			return info
		}
		writeJSON(w, http.StatusOK, statusBody())
		return info
	}
	q := r.URL.Query()
	info.brief = r.Method == http.MethodGet && q.Get("brief") != ""
	info.fields = r.Method == http.MethodGet && q.Get("fields") != ""

	var body any
	if !safe && r.Method != http.MethodDelete || (r.Method == http.MethodDelete && !rt.detail) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, detail("Could not read the request body: "+err.Error()))
			return info
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			body = map[string]any{}
		} else if err := json.Unmarshal(data, &body); err != nil {
			writeJSON(w, http.StatusBadRequest, detail("JSON parse error - "+err.Error()))
			return info
		}
	}

	switch {
	case !rt.detail && r.Method == http.MethodGet:
		s.list(w, c, rt.k, q, info)
	case !rt.detail && r.Method == http.MethodPost:
		info.bulkCreate = s.create(w, c, rt.k, body)
	case !rt.detail && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		s.bulkUpdate(w, c, rt.k, body, r.Method == http.MethodPatch)
	case !rt.detail && r.Method == http.MethodDelete:
		s.bulkDelete(w, rt.k, body)
	case rt.detail && r.Method == http.MethodGet:
		s.st.mu.RLock()
		o := s.st.get(rt.k.name, rt.id)
		if o == nil {
			s.st.mu.RUnlock()
			writeJSON(w, http.StatusNotFound, notFound(rt.k))
			return info
		}
		var out []byte
		if info.brief || info.fields {
			jwr := &jw{}
			c.obj(jwr, o, selectFields(rt.k, q, info.brief), false)
			out = jwr.b
		} else {
			out = c.full(o)
		}
		s.st.mu.RUnlock()
		writeJSON(w, http.StatusOK, out)
	case rt.detail && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		s.update(w, c, rt.k, rt.id, body, r.Method == http.MethodPatch)
	case rt.detail && r.Method == http.MethodDelete:
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
		o := s.st.get(rt.k.name, rt.id)
		if o == nil {
			writeJSON(w, http.StatusNotFound, notFound(rt.k))
			return info
		}
		if cf := s.st.remove(o); cf != nil {
			writeJSON(w, http.StatusConflict, detail(cf.msg))
			return info
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("Method %q not allowed.", r.Method)))
	}
	return info
}

// authenticate answers as NetBox 4.5+ does (v1 and v2 tokens). NetBox lists SessionAuthentication
// first, which has no WWW-Authenticate challenge, so Django REST framework turns every
// authentication failure into 403, never 401; LOGIN_REQUIRED is on, as it is by default since 4.0.
func (s *Server) authenticate(r *http.Request) (write bool, msg string) {
	parts := strings.Fields(r.Header.Get("Authorization"))
	if len(parts) == 0 {
		return false, "Authentication credentials were not provided."
	}
	scheme := strings.ToLower(parts[0])
	if scheme != "token" && scheme != "bearer" {
		return false, "Authentication credentials were not provided."
	}
	if len(parts) != 2 {
		return false, `Invalid authorization header: Must be in the form "Bearer <key>.<token>" or "Token <token>"`
	}
	value := parts[1]
	if !strings.HasPrefix(value, tokenPrefix) {
		t, ok := s.tokens["v1:"+value]
		if !ok {
			return false, "Invalid v1 token"
		}
		return t.write, ""
	}
	key, secret, ok := strings.Cut(strings.TrimPrefix(value, tokenPrefix), ".")
	if !ok {
		return false, "Invalid authorization header: Could not parse key from v2 token. Did you mean to use 'Token' instead of 'Bearer'?"
	}
	t, found := s.tokens["v2:"+key]
	if !found || t.secret != secret {
		return false, "Invalid v2 token"
	}
	return t.write, ""
}

func statusBody() []byte {
	return []byte(`{"django-version":"5.2.4","installed-apps":{"django_filters":"25.1","django_tables2":"2.7.5","drf_spectacular":"0.28.0","mptt":"0.17.0","rest_framework":"3.16.0","taggit":"6.1.0","timezone_field":"7.1"},` +
		`"netbox-version":"4.3.7","netbox-full-version":"4.3.7","plugins":{},"python-version":"3.12.3","rq-workers-running":1}`)
}

func detail(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"detail": msg})
	return b
}

func notFound(k *kind) []byte {
	name := k.schema
	if name == "DeviceWithConfigContext" {
		name = "Device"
	}
	return detail("No " + name + " matches the given query.")
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("API-Version", "4.3")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorsJSON(e fieldErrors) []byte {
	b, _ := json.Marshal(e)
	return b
}

func selectFields(k *kind, q url.Values, brief bool) []string {
	if f := q.Get("fields"); f != "" {
		return strings.Split(f, ",")
	}
	if brief {
		return k.briefSet
	}
	// NetBox leaves fields out of list answers on ?exclude=, which clients
	// use to skip the costly config_context of devices.
	if ex := q["exclude"]; len(ex) > 0 {
		set := make([]string, 0, len(k.fields))
		for _, f := range k.fields {
			if !slices.Contains(ex, f.name) {
				set = append(set, f.name)
			}
		}
		return set
	}
	return nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func (s *Server) list(w http.ResponseWriter, c *rctx, k *kind, q url.Values, info answerInfo) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	pred, errs := compileFilters(s.st, k, q)
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
		return
	}
	all := s.st.tables[k.name].list()
	matches := make([]*object, 0, len(all))
	for _, o := range all {
		if pred(o) {
			matches = append(matches, o)
		}
	}
	if ord := q.Get("ordering"); ord != "" {
		orderBy(matches, k, ord)
	}
	// Pagination as NetBox 4.3's OptionalLimitOffsetPagination: a bad limit means the default,
	// 0 means the maximum, larger values are capped; a bad offset means 0.
	limit := defaultPageSize
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v >= 0 {
		limit = v
		if limit == 0 || limit > maxPageSize {
			limit = maxPageSize
		}
	}
	offset := 0
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	count := len(matches)
	var page []*object
	if offset < count {
		end := offset + limit
		if end > count {
			end = count
		}
		page = matches[offset:end]
	}
	set := selectFields(k, q, info.brief)
	out := &jw{b: make([]byte, 0, 256+len(page)*2048)}
	out.raw(`{"count":`)
	out.val(count)
	out.raw(`,"next":`)
	if offset+limit < count {
		out.str(pageURL(c.base, k.path, q, limit, offset+limit))
	} else {
		out.raw("null")
	}
	out.raw(`,"previous":`)
	switch {
	case offset <= 0:
		out.raw("null")
	case offset-limit <= 0:
		out.str(pageURL(c.base, k.path, q, limit, 0))
	default:
		out.str(pageURL(c.base, k.path, q, limit, offset-limit))
	}
	out.raw(`,"results":[`)
	for i, o := range page {
		if i > 0 {
			out.b = append(out.b, ',')
		}
		if set != nil {
			c.obj(out, o, set, false)
		} else {
			out.b = append(out.b, c.full(o)...)
		}
	}
	out.raw("]}")
	writeJSON(w, http.StatusOK, out.b)
}

// pageURL builds next/previous links as Django REST framework does: absolute, the query's keys sorted,
// limit set, and offset dropped for the first page.
func pageURL(base, path string, q url.Values, limit, offset int) string {
	v := url.Values{}
	for k, vals := range q {
		v[k] = append([]string(nil), vals...)
	}
	v.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	} else {
		v.Del("offset")
	}
	return base + path + "?" + v.Encode()
}

func orderBy(list []*object, k *kind, ord string) {
	desc := strings.HasPrefix(ord, "-")
	name := strings.TrimPrefix(ord, "-")
	if name != "id" && k.field(name) == nil {
		return // DRF's OrderingFilter ignores fields it does not know
	}
	key := func(o *object) string {
		if name == "id" {
			return fmt.Sprintf("%020d", o.id)
		}
		switch v := o.f[name].(type) {
		case int:
			return fmt.Sprintf("%020d", v)
		default:
			return fmt.Sprint(v)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if desc {
			return key(list[i]) > key(list[j])
		}
		return key(list[i]) < key(list[j])
	})
}

// create answers POST on a list endpoint: one object, or a list created all or nothing.
func (s *Server) create(w http.ResponseWriter, c *rctx, k *kind, body any) (bulk bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	switch b := body.(type) {
	case map[string]any:
		o, errs := s.st.decode(k, b, nil, false)
		if errs != nil {
			writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
			return false
		}
		s.st.insert(o)
		writeJSON(w, http.StatusCreated, c.full(o))
		return false
	case []any:
		tx := s.st.begin()
		var created []*object
		errList := make([]fieldErrors, len(b))
		failed := false
		for i, item := range b {
			m, ok := item.(map[string]any)
			if !ok {
				errList[i] = fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(item) + "."}}
				failed = true
				continue
			}
			o, errs := s.st.decode(k, m, nil, false)
			if errs != nil {
				errList[i] = errs
				failed = true
				continue
			}
			errList[i] = fieldErrors{}
			s.st.insert(o)
			created = append(created, o)
		}
		if failed {
			tx.rollback()
			data, _ := json.Marshal(errList)
			writeJSON(w, http.StatusBadRequest, data)
			return true
		}
		tx.commit()
		out := &jw{}
		out.raw("[")
		for i, o := range created {
			if i > 0 {
				out.raw(",")
			}
			out.b = append(out.b, c.full(o)...)
		}
		out.raw("]")
		writeJSON(w, http.StatusCreated, out.b)
		return true
	default:
		writeJSON(w, http.StatusBadRequest, errorsJSON(fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(body) + "."}}))
		return false
	}
}

func (s *Server) update(w http.ResponseWriter, c *rctx, k *kind, id int, body any, partial bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	prev := s.st.get(k.name, id)
	if prev == nil {
		writeJSON(w, http.StatusNotFound, notFound(k))
		return
	}
	m, ok := body.(map[string]any)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorsJSON(fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(body) + "."}}))
		return
	}
	o, errs := s.st.decode(k, m, prev, partial)
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
		return
	}
	s.st.replace(o)
	writeJSON(w, http.StatusOK, c.full(o))
}

// bulkIDs validates a bulk body as NetBox's BulkOperationSerializer does: a list of objects with ids.
func bulkIDs(body any) ([]map[string]any, []byte) {
	list, ok := body.([]any)
	if !ok {
		return nil, errorsJSON(fieldErrors{"non_field_errors": {fmt.Sprintf("Expected a list of items but got type %q.", pyType(body))}})
	}
	items := make([]map[string]any, len(list))
	errList := make([]fieldErrors, len(list))
	failed := false
	for i, item := range list {
		m, ok := item.(map[string]any)
		errList[i] = fieldErrors{}
		if !ok {
			errList[i] = fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(item) + "."}}
			failed = true
			continue
		}
		raw, has := m["id"]
		if !has {
			errList[i] = fieldErrors{"id": {msgRequired}}
			failed = true
			continue
		}
		if _, ok := toInt(raw); !ok {
			errList[i] = fieldErrors{"id": {"A valid integer is required."}}
			failed = true
			continue
		}
		items[i] = m
	}
	if failed {
		data, _ := json.Marshal(errList)
		return nil, data
	}
	return items, nil
}

// bulkUpdate answers PATCH/PUT on a list endpoint. Unknown ids are skipped and objects are updated in
// id order, as NetBox does; the first invalid object rolls everything back and its errors are the answer.
func (s *Server) bulkUpdate(w http.ResponseWriter, c *rctx, k *kind, body any, partial bool) {
	items, bad := bulkIDs(body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	byID := map[int]map[string]any{}
	for _, m := range items {
		id, _ := toInt(m["id"])
		byID[id] = m
	}
	ids := make([]int, 0, len(byID))
	for id := range byID {
		if s.st.get(k.name, id) != nil {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	tx := s.st.begin()
	updated := make([]*object, 0, len(ids))
	for _, id := range ids {
		o, errs := s.st.decode(k, byID[id], s.st.get(k.name, id), partial)
		if errs != nil {
			tx.rollback()
			writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
			return
		}
		s.st.replace(o)
		updated = append(updated, o)
	}
	tx.commit()
	out := &jw{b: make([]byte, 0, len(updated)*2048)}
	out.raw("[")
	for i, o := range updated {
		if i > 0 {
			out.raw(",")
		}
		out.b = append(out.b, c.full(o)...)
	}
	out.raw("]")
	writeJSON(w, http.StatusOK, out.b)
}

func (s *Server) bulkDelete(w http.ResponseWriter, k *kind, body any) {
	items, bad := bulkIDs(body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	tx := s.st.begin()
	for _, m := range items {
		id, _ := toInt(m["id"])
		o := s.st.get(k.name, id)
		if o == nil {
			continue
		}
		if cf := s.st.remove(o); cf != nil {
			tx.rollback()
			writeJSON(w, http.StatusConflict, detail(cf.msg))
			return
		}
	}
	tx.commit()
	w.WriteHeader(http.StatusNoContent)
}
