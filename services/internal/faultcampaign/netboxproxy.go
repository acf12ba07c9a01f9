package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// netboxProxy stands between the worker and the NetBox double and injects
// faults while enabled: a share of requests answered 5xx without reaching
// NetBox, a share that hang until the client gives up (its per-attempt
// timeout), of which some reach NetBox first and only lose their answer.
type netboxProxy struct {
	backend string // the double's URL
	srv     *http.Server
	ln      net.Listener
	client  *http.Client
	done    chan struct{}

	mu      sync.Mutex
	enabled bool
	picker  faultPicker
	next5xx int

	requests, injected5xx, hangsBefore, hangsAfter atomic.Int64
}

func newNetBoxProxy(backend string, seed uint64, rate5xx, rateTimeout, afterShare float64) (*netboxProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &netboxProxy{backend: strings.TrimRight(backend, "/"), ln: ln, done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		picker: faultPicker{rng: rand.New(rand.NewPCG(seed, 11)), Rate5xx: rate5xx, RateTimeout: rateTimeout, AfterShare: afterShare}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is where the worker finds NetBox.
func (p *netboxProxy) URL() string { return "http://" + p.ln.Addr().String() }

// SetFaults turns the faults on or off.
func (p *netboxProxy) SetFaults(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
}

func (p *netboxProxy) Close() {
	close(p.done)
	_ = p.srv.Close()
}

func (p *netboxProxy) decide() (fault, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		return faultNone, 0
	}
	f := p.picker.pick()
	status := 0
	if f == fault5xx {
		status = statuses5xx[p.next5xx%len(statuses5xx)]
		p.next5xx++
	}
	return f, status
}

func (p *netboxProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f, status := p.decide()
	switch f {
	case fault5xx:
		p.injected5xx.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"detail": "%d %s (injected by the fault campaign)"}`, status, http.StatusText(status))
		return
	case faultHangBefore:
		p.hangsBefore.Add(1)
		p.hang(r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.backend+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if f == faultHangAfter {
		p.hangsAfter.Add(1)
		p.hang(r)
		return
	}
	// List links and locations name the double; the client must keep
	// talking to the proxy.
	out = bytes.ReplaceAll(out, []byte(p.backend), []byte(p.URL()))
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, strings.ReplaceAll(v, p.backend, p.URL()))
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// hang holds the request until the client gives up or the proxy closes.
func (p *netboxProxy) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.done:
	}
}
