package netbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawServer is a tiny hand-written NetBox for what the test double cannot
// show: answers that break NetBox's schema, failures of the connection.
type rawServer struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
	auth  []string
}

func newRawServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) *rawServer {
	t.Helper()
	s := &rawServer{calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		key := r.Method + " " + r.URL.Path
		s.calls[key]++
		n := s.calls[key]
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rawServer) count(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method+" "+path]
}

func testClient(t *testing.T, url string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: url, Token: testV1, RetryBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func emptyList(w http.ResponseWriter) {
	writeJSON(w, 200, map[string]any{"count": 0, "next": nil, "previous": nil, "results": []any{}})
}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		method    string
		fail      func(w http.ResponseWriter)
		failures  int
		wantCalls int
		wantErr   bool
	}{
		{name: "GET retried after 503", method: "GET", fail: func(w http.ResponseWriter) { w.WriteHeader(503) }, failures: 2, wantCalls: 3},
		{name: "GET retried after 429 with Retry-After", method: "GET", fail: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}, failures: 1, wantCalls: 2},
		{name: "GET retried after a dropped connection", method: "GET", fail: dropConnection, failures: 2, wantCalls: 3},
		{name: "GET gives up after MaxRetries", method: "GET", fail: func(w http.ResponseWriter) { w.WriteHeader(500) }, failures: 100, wantCalls: 3, wantErr: true},
		{name: "PATCH retried after 502", method: "PATCH", fail: func(w http.ResponseWriter) { w.WriteHeader(502) }, failures: 1, wantCalls: 2},
		{name: "POST not retried after 503", method: "POST", fail: func(w http.ResponseWriter) { w.WriteHeader(503) }, failures: 1, wantCalls: 1, wantErr: true},
		{name: "POST not retried after a dropped connection", method: "POST", fail: dropConnection, failures: 1, wantCalls: 1, wantErr: true},
		{name: "GET not retried after 400", method: "GET", fail: func(w http.ResponseWriter) { w.WriteHeader(400) }, failures: 1, wantCalls: 1, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n <= tc.failures {
					tc.fail(w)
					return
				}
				writeJSON(w, 200, map[string]any{"id": 1, "name": "x", "vid": 100})
			})
			c := testClient(t, srv.URL, func(c *Config) { c.MaxRetries = 2 })
			var err error
			switch tc.method {
			case "GET":
				_, err = c.DeviceByID(context.Background(), 1)
			case "PATCH":
				err = c.UpdateDeviceCustomFields(context.Background(), 1, map[string]any{"maintenance": true})
			case "POST":
				_, err = c.CreateVLAN(context.Background(), VLANSpec{VID: 100})
			}
			if tc.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			total := 0
			for _, p := range []string{"/api/dcim/devices/1/", "/api/ipam/vlans/"} {
				total += srv.count(tc.method, p)
			}
			require.Equal(t, tc.wantCalls, total)
		})
	}
}

func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(503) })
	c := testClient(t, srv.URL, func(c *Config) {
		c.MaxRetries = 100
		c.RetryBackoff = time.Hour
		c.MaxBackoff = time.Hour
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.DeviceByID(ctx, 1); done <- err }()
	require.Eventually(t, func() bool { return srv.count("GET", "/api/dcim/devices/1/") == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the retry loop ignored the cancelled context")
	}
}

func TestTokenKindsSentAsNetBoxExpects(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, token, header string }{
		{name: "v1", token: testV1, header: "Token " + testV1},
		{name: "v2", token: testV2, header: "Bearer " + testV2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if r.URL.Path == "/api/status/" {
					writeJSON(w, 200, map[string]any{"netbox-version": "4.3.0"})
					return
				}
				emptyList(w)
			})
			c := testClient(t, srv.URL, func(c *Config) { c.Token = tc.token })
			// Both paths: this package's requests and go-netbox's.
			_, err := c.Tags(context.Background())
			require.NoError(t, err)
			_, _, err = c.API().StatusAPI.StatusRetrieve(context.Background()).Execute()
			require.NoError(t, err)
			srv.mu.Lock()
			defer srv.mu.Unlock()
			require.Equal(t, []string{tc.header, tc.header}, srv.auth)
		})
	}
}

func TestConcurrencyCap(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	srv := newRawServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		writeJSON(w, 200, map[string]any{"id": 1})
	})
	c := testClient(t, srv.URL, func(c *Config) { c.MaxConcurrent = 3 })
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { _, _ = c.DeviceByID(context.Background(), i) })
	}
	require.Eventually(t, func() bool { return inFlight.Load() == 3 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, int32(3), peak.Load())
}

// TestLenientDecoding serves what NetBox newer than 4.3, or a customised
// one, sends and go-netbox cannot decode.
func TestLenientDecoding(t *testing.T) {
	t.Parallel()
	devices := []any{
		map[string]any{"id": 1, "name": "node-1", "status": map[string]any{"value": "burning", "label": "Burning"},
			"custom_fields": map[string]any{"device_state": nil}, "airflow": nil, "site": map[string]any{"id": 1, "slug": "dc1"}},
		map[string]any{"id": 2, "name": 42}, // undecodable: reported and skipped
		map[string]any{"id": 3, "name": "node-3", "status": map[string]any{"value": "active", "label": "Active"}, "brand_new_field": []int{1}},
	}
	ifaces := []any{
		map[string]any{"id": 10, "name": "eth0", "device": map[string]any{"id": 1, "name": "node-1"},
			"type": map[string]any{"value": "1.6tbase-future", "label": "1.6T (future)"}, "mode": nil, "cable_end": nil,
			"link_peers": []any{}, "cable": nil},
	}
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/api/dcim/devices/":
			writeJSON(w, 200, map[string]any{"count": len(devices), "results": devices})
		case "/api/dcim/interfaces/":
			writeJSON(w, 200, map[string]any{"count": len(ifaces), "results": ifaces})
		default:
			w.WriteHeader(404)
		}
	})
	var mu sync.Mutex
	var skipped []*DecodeError
	c := testClient(t, srv.URL, func(c *Config) {
		c.OnDecodeError = func(e *DecodeError) { mu.Lock(); skipped = append(skipped, e); mu.Unlock() }
	})
	ds, err := c.Devices(context.Background(), DeviceFilter{})
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.Equal(t, "burning", ds[0].Status.Value)
	require.Equal(t, "", ds[0].CustomFields.String(FieldDeviceState))
	require.Len(t, skipped, 1)
	require.Equal(t, 2, skipped[0].ID)
	require.ErrorContains(t, skipped[0], "decode object 2 from /api/dcim/devices/")

	is, err := c.Interfaces(context.Background(), InterfaceFilter{DeviceID: []int{1}})
	require.NoError(t, err)
	require.Len(t, is, 1)
	require.Equal(t, "1.6tbase-future", is[0].Type.Value)
	require.Equal(t, "", is[0].Mode.Value)
}

func TestListReadsAllPages(t *testing.T) {
	t.Parallel()
	const total = 2500
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		var res []any
		for i := offset; i < min(offset+limit, total); i++ {
			res = append(res, map[string]any{"id": i + 1, "name": fmt.Sprintf("d%d", i+1)})
		}
		writeJSON(w, 200, map[string]any{"count": total, "results": res})
	})
	c := testClient(t, srv.URL)
	ds, err := c.Devices(context.Background(), DeviceFilter{})
	require.NoError(t, err)
	require.Len(t, ds, total)
	for i, d := range ds {
		require.Equal(t, i+1, d.ID)
	}
	require.Equal(t, 3, srv.count("GET", "/api/dcim/devices/"))
}
