package netboxtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// BenchmarkListDevices lists 10,000 devices with their custom fields the way the project's client
// does (pages of 1,000, following next), with and without 5 ms of injected latency per request.
func BenchmarkListDevices(b *testing.B) {
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) {
			s := New(b, WithDevices(10000), WithLatency(latency))
			auth := "Token " + s.Token()
			b.ResetTimer()
			for b.Loop() {
				s.ResetCounters()
				next := s.URL() + "/api/dcim/devices/?limit=1000"
				total := 0
				for next != "" {
					req, _ := http.NewRequest(http.MethodGet, next, nil)
					req.Header.Set("Authorization", auth)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					var page struct {
						Next    *string           `json:"next"`
						Results []json.RawMessage `json:"results"`
					}
					err = json.NewDecoder(resp.Body).Decode(&page)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						b.Fatal(err)
					}
					total += len(page.Results)
					next = ""
					if page.Next != nil {
						u, err := url.Parse(*page.Next)
						if err != nil {
							b.Fatal(err)
						}
						next = u.String()
					}
				}
				if total != 10000 {
					b.Fatalf("listed %d devices, want 10000", total)
				}
			}
			b.ReportMetric(float64(s.TotalRequests()), "requests/op")
		})
	}
}
