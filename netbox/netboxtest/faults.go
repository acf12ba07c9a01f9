package netboxtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

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
