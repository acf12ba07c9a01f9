package netbox

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A count from the server sizes nothing: a hostile or broken NetBox that
// claims 10^12 objects costs what it actually sends.
func TestHostileCountAllocatesNothing(t *testing.T) {
	t.Parallel()
	const claimed = 1_000_000_000_000
	cases := []struct {
		name     string
		next     bool // the first page links a next page, which is empty
		minCalls int
		maxCalls int
	}{
		{name: "no next page", next: false, minCalls: 1, maxCalls: 1},
		// The count makes the client read ahead, at most MaxConcurrent
		// pages, until the empty page ends the list.
		{name: "a next page that is empty", next: true, minCalls: 2, maxCalls: 1 + DefaultMaxConcurrent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var srv *rawServer
			srv = newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
				body := map[string]any{"count": claimed, "next": nil, "previous": nil, "results": []any{}}
				if offset == 0 {
					body["results"] = []any{map[string]any{"id": 1, "name": "a"}, map[string]any{"id": 2, "name": "b"}}
					if tc.next {
						body["next"] = srv.URL + "/api/dcim/devices/?limit=2&offset=2"
					}
				}
				writeJSON(w, 200, body)
			})
			c := testClient(t, srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ds, err := c.Devices(ctx, DeviceFilter{})
			runtime.ReadMemStats(&after)
			require.NoError(t, err)
			require.Len(t, ds, 2)
			calls := srv.count("GET", "/api/dcim/devices/")
			require.GreaterOrEqual(t, calls, tc.minCalls)
			require.LessOrEqual(t, calls, tc.maxCalls)
			// Other tests run in parallel and allocate too; 64 MiB is far
			// below what sizing by the count would take (gigabytes).
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "bytes allocated")
		})
	}
}

// recordingHandler keeps the records slog hands it.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordingHandler) warnings() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.records {
		if r.Level != slog.LevelWarn {
			continue
		}
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

func badDevicesServer(t *testing.T) *rawServer {
	t.Helper()
	return newRawServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, 200, map[string]any{"count": 4, "next": nil, "previous": nil, "results": []any{
			map[string]any{"id": 1, "name": "node-1"},
			map[string]any{"id": 2, "name": 42},
			map[string]any{"id": 3, "name": "node-3"},
			map[string]any{"id": 4, "site": "not an object"},
		}})
	})
}

// Skipped objects are counted on the Client and logged at warning level
// with their id unless OnDecodeError takes them.
func TestDecodeErrorsCountedAndLogged(t *testing.T) {
	t.Parallel()
	t.Run("logged by default", func(t *testing.T) {
		t.Parallel()
		h := &recordingHandler{}
		c := testClient(t, badDevicesServer(t).URL, func(c *Config) { c.Logger = slog.New(h) })
		ds, err := c.Devices(context.Background(), DeviceFilter{})
		require.NoError(t, err)
		require.Len(t, ds, 2)
		require.Equal(t, uint64(2), c.DecodeErrors())
		w := h.warnings()
		require.Len(t, w, 2)
		require.Equal(t, "2", w[0]["id"])
		require.Equal(t, "4", w[1]["id"])
		require.Equal(t, "/api/dcim/devices/", w[0]["path"])

		_, err = c.Devices(context.Background(), DeviceFilter{})
		require.NoError(t, err)
		require.Equal(t, uint64(4), c.DecodeErrors(), "the count adds up over calls")
	})
	t.Run("counted with OnDecodeError too", func(t *testing.T) {
		t.Parallel()
		var got []int
		c := testClient(t, badDevicesServer(t).URL, func(c *Config) { c.OnDecodeError = func(e *DecodeError) { got = append(got, e.ID) } })
		_, err := c.Devices(context.Background(), DeviceFilter{})
		require.NoError(t, err)
		require.Equal(t, []int{2, 4}, got)
		require.Equal(t, uint64(2), c.DecodeErrors())
	})
}

// Without a Logger the warning goes to slog.Default(). Not parallel: it
// replaces the process's default logger.
func TestDecodeErrorsLoggedToDefaultLogger(t *testing.T) {
	orig := slog.Default()
	t.Cleanup(func() { slog.SetDefault(orig) })
	var buf bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	c := testClient(t, badDevicesServer(t).URL)
	_, err := c.Devices(context.Background(), DeviceFilter{})
	require.NoError(t, err)
	require.Contains(t, buf.String(), "level=WARN")
	require.Contains(t, buf.String(), "id=2")
	require.Contains(t, buf.String(), "id=4")
}

// A count that is too small does not stop the reading while the pages
// say that more follow.
func TestListFollowsNextPastTheCount(t *testing.T) {
	t.Parallel()
	const total, maxPage = 35, 10
	var srv *rawServer
	srv = newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit = min(limit, maxPage)
		res := []any{}
		for i := offset; i < min(offset+limit, total); i++ {
			res = append(res, map[string]any{"id": i + 1, "name": "d" + strconv.Itoa(i+1)})
		}
		body := map[string]any{"count": 5, "next": nil, "results": res}
		if offset+limit < total {
			body["next"] = srv.URL + "/api/dcim/devices/?limit=10&offset=" + strconv.Itoa(offset+limit)
		}
		writeJSON(w, 200, body)
	})
	c := testClient(t, srv.URL)
	ds, err := c.Devices(context.Background(), DeviceFilter{})
	require.NoError(t, err)
	require.Len(t, ds, total)
	for i, d := range ds {
		require.Equal(t, i+1, d.ID)
	}
	require.Equal(t, 4, srv.count("GET", "/api/dcim/devices/"))
}
