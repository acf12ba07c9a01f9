package services_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
)

// BenchmarkAPIWebhook measures NetBox's webhook to the task submitted:
// the time from sending a signed change of a managed switch until the API
// answered 202, which it does once the broker stored the task and its
// record. Each change names another switch, so that every one is a new
// task and none is de-duplicated. It reports p50 and p99 in µs.
func BenchmarkAPIWebhook(b *testing.B) {
	e := newAPIEnv(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		body := fmt.Appendf(nil, `{"event":"updated","timestamp":"2026-05-01T10:00:00Z","model":"device","data":{"id":%d,"name":"bench-leaf-%d",
			"tags":[{"id":1,"name":"Managed by OSISM","slug":"managed-by-osism"}],"custom_fields":{"device_type":"switch"}}}`, i, i)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/webhook/netbox", bytes.NewReader(body))
		req.Header.Set(netbox.SignatureHeader, netbox.Sign(apiSecret, body))
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(start))
		if res.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook: %d", res.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAPIGetTask measures GET /v1/tasks/{id} with 32 clients on
// kept-alive connections and reports requests per second.
func BenchmarkAPIGetTask(b *testing.B) {
	e := newAPIEnv(b)
	res, err := e.bus.Client.Submit(ctxT2(b, 10*time.Second), osism.NoopArgs{}, &osism.SubmitOpts{Queue: osism.QueueOpenStack})
	require.NoError(b, err)
	url := e.srv.URL + "/v1/tasks/" + res.ID
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var failed sync.Once
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer "+apiReadTok)
			r, err := client.Do(req)
			if err != nil {
				failed.Do(func() { b.Error(err) })
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode != http.StatusOK {
				failed.Do(func() { b.Errorf("GET task: %d", r.StatusCode) })
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
