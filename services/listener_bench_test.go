package services_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// BenchmarkListener measures events per second end to end: b.N power
// events queued in the real RabbitMQ, each read, decoded, checked against
// the device in the NetBox double (1 ms per request), written (every
// event changes its device: a GET and a PATCH), published on the bus and
// acknowledged after the write. Waiting events of different nodes share
// one NetBox read and one bulk write (ListenerConfig.BatchSize).
//
//	go test -run '^$' -bench BenchmarkListener -benchtime 5000x ./services/
func BenchmarkListener(b *testing.B) {
	const devices = 500
	e := newListenerEnv(b, true, netboxtest.WithDevices(devices))
	e.rabbit.declareQueue(b, e.cfg.Queue, e.cfg.Exchange)
	events := make([][]byte, b.N)
	for i := range b.N {
		state := "power on"
		if (i/devices)%2 == 1 {
			state = "power off"
		}
		events[i] = oslo(fmt.Sprintf("bench-%d", i), "baremetal.node.power_set.end",
			map[string]any{"name": fmt.Sprintf("bench-%05d", i%devices+1), "power_state": state})
	}
	for i := 0; i < len(events); i += 1000 {
		e.rabbit.publish(b, e.cfg.Exchange, events[i:min(i+1000, len(events))]...)
	}
	e.srv.SetLatency(time.Millisecond)
	e.srv.ResetCounters()

	b.ResetTimer()
	start := time.Now()
	l := e.start(b, services.ListenerOpts{})
	osismtest.WaitFor(b, 10*time.Minute, func() bool { return l.Stats().Applied == uint64(b.N) }, "%d events applied", b.N)
	elapsed := time.Since(start)
	b.StopTimer()

	st := l.Stats()
	require.Zero(b, st.Requeued+st.DeadLettered)
	patches := e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/") + e.srv.Requests(http.MethodPatch, "/api/dcim/devices/")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(e.srv.TotalRequests())/float64(b.N), "netbox-requests/event")
	b.ReportMetric(float64(st.Writes)/float64(b.N), "device-writes/event")
	b.ReportMetric(float64(patches), "patch-requests")
}
