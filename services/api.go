package services

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
)

// APIOpts are what an [API] works with besides its section.
type APIOpts struct {
	// Bus submits, reads and cancels tasks and carries the events;
	// required.
	Bus *osism.Client
	// NetBox answers device states, the webhook's look-ups and the join
	// of bare-metal nodes; without it those routes answer 503.
	NetBox *netbox.Client
	// BareMetal is Ironic; without it GET /v1/baremetal/nodes answers 503.
	BareMetal *openstack.BareMetal
	// Notifications handles POST /v1/notifications/baremetal (see
	// NewNotificationHandler); without it the route answers 503.
	Notifications *Listener
	// Ansible gives the secret pattern that masks host variables.
	Ansible ansible.Config
	// Registerer takes the API's collectors; default a new registry.
	// GET /metrics serves Gatherer, default the Registerer when it is
	// also a Gatherer.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// API is the HTTP API service (osism service api): NetBox's webhook,
// tasks, device states and transitions, bare-metal nodes, Ironic
// notifications, the bus's events, the reconciler's inventory, health
// and metrics, and its own OpenAPI document, all under net/http. Every
// route but /healthz, /readyz and the webhook (which has its signature)
// needs a bearer token: the read token reads, the operator token also
// submits and cancels.
type API struct {
	cfg       APIConfig
	readTok   string
	opTok     string
	hookKey   string
	tokenFile string // the generated operator token's file, when no token is configured
	bus       *osism.Client
	nb        *netbox.Client
	bm        *openstack.BareMetal
	notes     *Listener
	invDir    string
	secretRE  *regexp.Regexp
	log       *slog.Logger
	gatherer  prometheus.Gatherer
	metrics   apiMetrics
	handler   http.Handler
	readyzNB  func(ctx context.Context) error
	eventsBuf int
}

type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
	dropped  prometheus.Counter
}

// NewAPI checks cfg, reads its secrets and builds the API; it listens on
// nothing until Run. An address that is not loopback needs TLS and both
// tokens.
func NewAPI(cfg APIConfig, opts APIOpts) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if opts.Bus == nil {
		return nil, errors.New("api: no bus client: the API submits and reads tasks on the bus (set broker.url)")
	}
	read, op, hook, err := cfg.secrets()
	if err != nil {
		return nil, err
	}
	if !loopback(cfg.Listen) {
		if cfg.TLSCert == "" {
			return nil, fmt.Errorf("config api.listen %s: an address that is not loopback needs TLS (api.tls_cert and api.tls_key)", cfg.Listen)
		}
		if read == "" || op == "" {
			return nil, fmt.Errorf("config api.listen %s: an address that is not loopback needs both tokens (api.read_token_file and api.operator_token_file)", cfg.Listen)
		}
	}
	var tokenFile string
	generated := false
	if read == "" && op == "" {
		// Nothing configured: an operator token of its own, kept in a
		// file only root (or the API's user) can read, as the broker does.
		tok, created, err := loadOrCreateToken(cfg.TokenFile, "api token")
		if err != nil {
			return nil, fmt.Errorf("config api: no token configured (api.read_token_file, api.operator_token_file) and the generated one: %w", err)
		}
		op, tokenFile, generated = tok, cfg.TokenFile, created
	}
	if read != "" && read == op {
		return nil, errors.New("config api: the read token and the operator token are the same: expected two different tokens")
	}
	re, err := opts.Ansible.SecretRegexp()
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	inv := cfg.InventoryDir
	if inv == "" {
		inv = DefaultReconcilerOutputDir
	}
	a := &API{cfg: cfg, readTok: read, opTok: op, hookKey: hook, tokenFile: tokenFile,
		bus: opts.Bus, nb: opts.NetBox, bm: opts.BareMetal, notes: opts.Notifications, invDir: inv,
		secretRE: re, log: log.With("service", "api"), eventsBuf: 256}
	if generated {
		a.log.Info("API operator token generated: clients of this host read it from its file (api.token_file)", "file", tokenFile)
	}
	reg := opts.Registerer
	gat := opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, gat = r, r
	}
	if gat == nil {
		g, ok := reg.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("api: the Registerer is no Gatherer: give APIOpts.Gatherer for /metrics")
		}
		gat = g
	}
	a.gatherer = gat
	a.metrics = apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_api_requests_total",
			Help: "HTTP requests answered by the API, by route and status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "osism_api_request_duration_seconds",
			Help: "Time to answer an API request (to the start of a stream), by route.", Buckets: prometheus.DefBuckets}, []string{"route"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_api_webhooks_total",
			Help: "NetBox webhooks by outcome: generate, reconcile, ignored, unauthorized, invalid."}, []string{"result"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "osism_api_events_dropped_total",
			Help: "Bus events an event stream dropped because its client read too slowly."}),
	}
	for _, c := range []prometheus.Collector{a.metrics.requests, a.metrics.duration, a.metrics.webhooks, a.metrics.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api metrics: %w", err)
		}
	}
	if a.nb != nil {
		a.readyzNB = func(ctx context.Context) error {
			_, err := a.nb.Device(ctx, "osism-readyz-probe")
			if errors.Is(err, netbox.ErrNotFound) {
				return nil
			}
			return err
		}
	}
	a.handler = a.routes()
	return a, nil
}

// Handler is the API's HTTP handler, for a server of the caller's.
func (a *API) Handler() http.Handler { return a.handler }

// Run listens on the configured address and serves until ctx ends, then
// shuts down gracefully within the shutdown timeout.
func (a *API) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", a.cfg.Listen, err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's; it closes ln.
func (a *API) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.ReadTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       2 * a.cfg.ReadTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	scheme := "http"
	if a.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("api: TLS certificate %s and key %s: %w", a.cfg.TLSCert, a.cfg.TLSKey, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	if a.tokenFile != "" {
		a.log.Info("no API token configured: clients send the operator token the API generated", "file", a.tokenFile)
	}
	a.log.Info("API listening", "url", scheme+"://"+ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// access is what a route needs of its caller.
type access int

const (
	accessNone access = iota
	accessRead
	accessOperate
)

func (a *API) routes() http.Handler {
	mux := http.NewServeMux()
	type route struct {
		pattern string
		need    access
		h       http.HandlerFunc
	}
	for _, r := range []route{
		{"GET /healthz", accessNone, a.healthz},
		{"GET /readyz", accessNone, a.readyz},
		{"GET /metrics", accessRead, promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{}).ServeHTTP},
		{"GET /v1/openapi.json", accessRead, a.openapi},
		{"POST /v1/webhook/netbox", accessNone, a.webhook},
		{"GET /v1/tasks", accessRead, a.listTasks},
		{"GET /v1/tasks/{id}", accessRead, a.getTask},
		{"GET /v1/tasks/{id}/output", accessRead, a.taskOutput},
		{"POST /v1/tasks/{id}/cancel", accessOperate, a.cancelTask},
		{"GET /v1/devices/{name}/state", accessRead, a.deviceState},
		{"POST /v1/devices/{name}/transition", accessOperate, a.deviceTransition},
		{"GET /v1/baremetal/nodes", accessRead, a.baremetalNodes},
		{"POST /v1/notifications/baremetal", accessOperate, a.baremetalNotification},
		{"GET /v1/events", accessRead, a.events},
		{"GET /v1/inventory/hosts", accessRead, a.inventoryHosts},
		{"GET /v1/inventory/hosts/{host}/hostvars", accessRead, a.inventoryHostVars},
	} {
		mux.Handle(r.pattern, a.instrument(r.pattern, a.guard(r.need, r.h)))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("API handler panicked", "method", req.Method, "path", req.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		if _, pattern := mux.Handler(req); pattern == "" {
			// The mux's own 404 and 405 are text; answer JSON with its
			// status and Allow header.
			cw := &codeWriter{h: w.Header()}
			mux.ServeHTTP(cw, req)
			a.metrics.requests.WithLabelValues("unmatched", fmt.Sprint(cw.code)).Inc()
			if cw.code == http.StatusMethodNotAllowed {
				writeError(w, cw.code, fmt.Sprintf("%s %s: method not allowed (allowed: %s)", req.Method, req.URL.Path, w.Header().Get("Allow")))
				return
			}
			writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such route (see /v1/openapi.json)", req.Method, req.URL.Path))
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// codeWriter keeps the status of the mux's error answer and drops its
// text.
type codeWriter struct {
	h    http.Header
	code int
}

func (c *codeWriter) Header() http.Header { return c.h }
func (c *codeWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
}
func (c *codeWriter) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return len(p), nil
}

// statusWriter records the status of an answer, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		a.metrics.requests.WithLabelValues(route, fmt.Sprint(sw.code)).Inc()
		a.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// guard checks the bearer token a route needs, comparing it with both
// tokens in constant time.
func (a *API) guard(need access, h http.HandlerFunc) http.Handler {
	if need == accessNone {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="osism"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		tok = strings.TrimSpace(tok)
		isRead := a.readTok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.readTok)) == 1
		isOp := a.opTok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.opTok)) == 1
		switch {
		case isOp:
		case isRead && need == accessRead:
		case isRead:
			writeError(w, http.StatusForbidden, "the read token may not submit or cancel: use the operator token")
			return
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="osism", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		h(w, r)
	})
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// apiError is every error answer: {"error": "..."}.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(apiError{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody reads a request body of at most the configured size; it
// answers 413 (too large) or 400 itself and returns false then.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > a.cfg.MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes: expected at most %d (api.max_body)", r.ContentLength, a.cfg.MaxBody))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: expected at most %d bytes (api.max_body)", a.cfg.MaxBody))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return nil, false
	}
	return b, true
}

// decodeBody reads the body as JSON into v, refusing unknown fields; it
// answers the error itself and returns false then.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := a.readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("request body: expected a JSON object as /v1/openapi.json describes: %v", err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "request body: expected one JSON object, found more after it")
		return false
	}
	return true
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz checks that the bus and NetBox answer.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	if err := a.bus.Conn().FlushWithContext(ctx); err != nil {
		checks["bus"] = "unreachable: " + err.Error()
		ready = false
	} else {
		checks["bus"] = "ok"
	}
	switch {
	case a.readyzNB == nil:
		checks["netbox"] = "not configured"
	default:
		if err := a.readyzNB(ctx); err != nil {
			checks["netbox"] = "unreachable: " + err.Error()
			ready = false
		} else {
			checks["netbox"] = "ok"
		}
	}
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}
