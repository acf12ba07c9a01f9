package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osism/go-osism/statemachine"
)

// phaseKey marks a context with the phase whose hook runs in it; requests
// without one come from the state machine's records (Load and Save).
// Render rounds run on the context of the request that started them
// (without its cancellation, with its values), so they count under
// phase 2.
type phaseKey struct{}

func withPhase(ctx context.Context, p statemachine.Phase) context.Context {
	return context.WithValue(ctx, phaseKey{}, p)
}

// phaseHook runs a hook with its phase in the context.
type phaseHook struct {
	p statemachine.Phase
	h statemachine.PhaseHook
}

func (h phaseHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	return h.h.RunPhase(withPhase(ctx, h.p), step)
}

// counter is an http.RoundTripper under the NetBox client's own transport
// (retries and the in-flight limit stay the client's) that counts every
// request by phase, method, endpoint and the names of its query
// parameters.
//
// With serial set it also stands in for the double's latency: it waits
// latency (holding the client's in-flight slot, as the double's own
// latency does) and then lets the double serve one request at a time,
// answer read whole, for comparison with the double serving requests
// concurrently (the default).
type counter struct {
	next    http.RoundTripper
	serial  bool
	latency time.Duration
	smu     sync.Mutex

	mu     sync.Mutex
	on     bool
	counts map[reqKey]int
}

type reqKey struct {
	phase  statemachine.Phase // 0: state record
	method string
	path   string // endpoint: "/api/dcim/devices/" or "/api/dcim/devices/{id}/"
	query  string // sorted names of the query parameters, without limit and offset
}

func (k reqKey) endpoint() string {
	s := k.method + " " + k.path
	if k.query != "" {
		s += "?" + k.query
	}
	return s
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	p, _ := req.Context().Value(phaseKey{}).(statemachine.Phase)
	var names []string
	for k := range req.URL.Query() {
		if k != "limit" && k != "offset" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	k := reqKey{phase: p, method: req.Method, path: endpoint(req.URL.Path), query: strings.Join(names, "&")}
	c.mu.Lock()
	if c.on {
		c.counts[k]++
	}
	c.mu.Unlock()
	if !c.serial {
		return c.next.RoundTrip(req)
	}
	if err := wait(req.Context(), c.latency); err != nil {
		return nil, err
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// panics counts the double's handler panics, which net/http logs through
// the log package, and keeps the first line of the first.
type panics struct {
	mu    sync.Mutex
	n     int
	first string
}

func (p *panics) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !bytes.Contains(b, []byte("panic serving")) {
		return os.Stderr.Write(b)
	}
	p.n++
	if p.first == "" {
		p.first, _, _ = strings.Cut(string(b), "\n")
	}
	return len(b), nil
}

func (p *panics) count() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, p.first
}

func (c *counter) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on, c.counts = true, map[reqKey]int{}
}

func (c *counter) stop() map[reqKey]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.counts
}

// endpoint replaces an object id at the end of a path with {id}, as the
// NetBox double counts requests.
func endpoint(path string) string {
	trimmed := strings.TrimSuffix(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 || i == len(trimmed)-1 {
		return path
	}
	for _, r := range trimmed[i+1:] {
		if r < '0' || r > '9' {
			return path
		}
	}
	return trimmed[:i+1] + "{id}/"
}

// netboxPaths are the endpoints the benchmark asks the double about.
var netboxPaths = []string{
	"/api/dcim/devices/", "/api/dcim/interfaces/", "/api/dcim/cables/", "/api/dcim/mac-addresses/",
	"/api/dcim/device-types/", "/api/dcim/device-roles/", "/api/dcim/sites/", "/api/dcim/racks/",
	"/api/dcim/manufacturers/", "/api/dcim/platforms/", "/api/ipam/vlans/", "/api/ipam/ip-addresses/",
	"/api/extras/tags/", "/api/extras/custom-fields/",
}
