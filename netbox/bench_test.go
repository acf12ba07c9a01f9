package netbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

// BenchmarkListDevices10k lists 10,000 devices with their custom fields
// through a NetBox answering each request after 5 ms.
func BenchmarkListDevices10k(b *testing.B) {
	srv := netboxtest.New(b, netboxtest.WithDevices(10000), netboxtest.WithLatency(5*time.Millisecond))
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(b, err)
	ctx := context.Background()
	srv.ResetCounters()
	b.ResetTimer()
	for b.Loop() {
		ds, err := c.Devices(ctx, netbox.DeviceFilter{})
		if err != nil || len(ds) < 10000 {
			b.Fatalf("%d devices, %v", len(ds), err)
		}
		if ds[len(ds)-1].CustomFields == nil {
			b.Fatal("no custom fields")
		}
	}
	b.ReportMetric(float64(srv.TotalRequests())/float64(b.N), "requests/op")
}

// BenchmarkBulkCustomField sets a custom field on 1,000 devices.
func BenchmarkBulkCustomField(b *testing.B) {
	srv := netboxtest.New(b, netboxtest.WithDevices(1000))
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(b, err)
	ctx := context.Background()
	ds, err := c.Devices(ctx, netbox.DeviceFilter{})
	require.NoError(b, err)
	require.GreaterOrEqual(b, len(ds), 1000)
	srv.ResetCounters()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		up := make(map[int]map[string]any, len(ds))
		for _, d := range ds {
			up[d.ID] = map[string]any{"maintenance": i%2 == 0}
		}
		if err := c.UpdateDevicesCustomFields(ctx, up); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.TotalRequests())/float64(b.N), "requests/op")
}
