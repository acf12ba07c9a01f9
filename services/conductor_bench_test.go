package services_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// BenchmarkSyncIronic500 syncs 500 NetBox devices (one port each) into the
// real Ironic: the first sync creates the nodes and makes them available,
// the second finds nothing to change. It reports the wall time of both and
// the Ironic and NetBox requests per node, and fails when the re-sync
// writes or needs more than 3 Ironic or 2 NetBox requests per node.
//
//	eval "$(scripts/services env)"
//	go test -run '^$' -bench BenchmarkSyncIronic500 -benchtime 1x ./services/
func BenchmarkSyncIronic500(b *testing.B) {
	const devices = 500
	ironicURL := testenv.Ironic(b)
	for range b.N {
		b.StopTimer()
		srv := netboxtest.New(b, netboxtest.WithSampleFabric())
		suffix := randSuffix()
		tag := "bench-" + suffix
		_, err := srv.Create("extras.tag", map[string]any{"name": tag, "slug": tag})
		must(b, err)
		names := make([]string, devices)
		for i := range devices {
			names[i] = fmt.Sprintf("bench-%s-%03d", suffix, i)
			id, err := srv.Create("dcim.device", map[string]any{"name": names[i], "status": "active",
				"site": srv.ID("dcim.site", "dc1"), "device_type": srv.ID("dcim.devicetype", "SYS-1029P"),
				"role": srv.ID("dcim.devicerole", "compute"), "tags": []any{srv.ID("extras.tag", tag)}})
			must(b, err)
			ifID, err := srv.Create("dcim.interface", map[string]any{"device": id, "name": "eth0", "type": "25gbase-x-sfp28", "enabled": true})
			must(b, err)
			mac, err := srv.Create("dcim.macaddress", map[string]any{"mac_address": fmt.Sprintf("02:be:%s:%s:%02x:%02x", suffix[:2], suffix[2:4], i/256, i%256),
				"assigned_object_type": "dcim.interface", "assigned_object_id": ifID})
			must(b, err)
			must(b, srv.Update("dcim.interface", ifID, map[string]any{"primary_mac_address": mac}))
		}
		nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
		must(b, err)
		proxy, proxyURL := newIronicProxy(b, ironicURL)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		bm, err := openstack.NewBareMetal(ctx, openstack.Config{Endpoint: proxyURL})
		must(b, err)
		bm.SetWaitOpts(openstack.WaitOpts{Initial: 20 * time.Millisecond, Max: 300 * time.Millisecond})
		b.Cleanup(func() { deleteNodes(b, ironicURL, names) })
		cfg := services.ConductorConfig{Filters: []map[string]any{{"tag": tag}}, Scope: tag, File: "/nonexistent/conductor.yml",
			IronicParameters: map[string]any{"driver": "fake-hardware", "properties": map[string]any{"cpu_arch": "x86_64", "cpus": 8}}}
		opts := services.SyncIronicOpts{Locker: statemachine.NewMemoryLocker()}

		srv.ResetCounters()
		b.StartTimer()
		start := time.Now()
		rep, err := services.SyncIronic(ctx, nb, bm, cfg, opts)
		first := time.Since(start)
		b.StopTimer()
		must(b, err)
		if rep.Created != devices {
			b.Fatalf("created %d nodes, want %d", rep.Created, devices)
		}
		reads, writes := proxy.counts()
		b.ReportMetric(first.Seconds(), "s/first-sync")
		b.ReportMetric(float64(reads+len(writes))/devices, "ironic-req/node-first")
		b.ReportMetric(float64(srv.TotalRequests())/devices, "netbox-req/node-first")

		proxy.reset()
		srv.ResetCounters()
		b.StartTimer()
		start = time.Now()
		rep, err = services.SyncIronic(ctx, nb, bm, cfg, opts)
		again := time.Since(start)
		b.StopTimer()
		cancel()
		must(b, err)
		reads, writes = proxy.counts()
		nbReads := srv.Requests(http.MethodGet, "/api/dcim/devices/") + srv.Requests(http.MethodGet, "/api/dcim/interfaces/")
		b.ReportMetric(again.Seconds(), "s/resync")
		b.ReportMetric(float64(reads+len(writes))/devices, "ironic-req/node-resync")
		b.ReportMetric(float64(srv.TotalRequests())/devices, "netbox-req/node-resync")
		b.ReportMetric(float64(len(writes)+srv.TotalRequests()-nbReads), "writes-resync")
		switch {
		case rep.Unchanged != devices:
			b.Fatalf("re-sync: %d unchanged of %d: %+v", rep.Unchanged, devices, rep.Nodes[:1])
		case len(writes) > 0:
			b.Fatalf("re-sync wrote to Ironic: %v", writes[:min(5, len(writes))])
		case srv.TotalRequests() != nbReads:
			b.Fatalf("re-sync sent %d NetBox requests besides %d reads", srv.TotalRequests()-nbReads, nbReads)
		case reads > 3*devices:
			b.Fatalf("re-sync: %d Ironic requests for %d nodes: more than 3 per node", reads, devices)
		case srv.TotalRequests() > 2*devices:
			b.Fatalf("re-sync: %d NetBox requests for %d nodes: more than 2 per node", srv.TotalRequests(), devices)
		}
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// deleteNodes deletes the named nodes, several at a time.
func deleteNodes(tb testing.TB, ironicURL string, names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bm, err := openstack.NewBareMetal(ctx, openstack.Config{Endpoint: ironicURL})
	if err != nil {
		tb.Errorf("cleanup: %v", err)
		return
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				if err := bm.DeleteNode(ctx, n); err != nil && !errors.Is(err, openstack.ErrNotFound) {
					tb.Errorf("cleanup %s: %v", n, err)
				}
			}
		}()
	}
	for _, n := range names {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
}
