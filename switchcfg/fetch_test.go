package switchcfg

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

// TestDeviceTypesThroughNetBox: device types come through the netbox client,
// so NetBox's errors keep their status for netbox.StatusIs, and a device
// type read once is served from the renderer's cache.
func TestDeviceTypesThroughNetBox(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv := netboxtest.New(t, netboxtest.WithSampleFabric())
			nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), MaxRetries: -1, Timeout: 5 * time.Second})
			require.NoError(t, err)
			r, err := NewRenderer(nb)
			require.NoError(t, err)
			ctx := context.Background()
			devs, err := nb.Devices(ctx, netbox.DeviceFilter{Name: []string{"leaf-1", "node-1"}})
			require.NoError(t, err)
			require.Len(t, devs, 2)

			srv.FailNext(1, status)
			_, err = r.deviceTypes(ctx, devs)
			require.Error(t, err)
			require.True(t, netbox.StatusIs(err, status), "netbox.StatusIs(%v, %d)", err, status)

			srv.ResetCounters()
			types, err := r.deviceTypes(ctx, devs)
			require.NoError(t, err)
			require.Equal(t, 1, srv.TotalRequests(), "a failed read caches nothing")
			leaf := types[devs[0].DeviceType.ID]
			require.Equal(t, "AS7326-56X", leaf.Model)
			require.Equal(t, netbox.Ref{ID: 1, Name: "Edgecore", Slug: "edgecore"}, leaf.Manufacturer)

			_, err = r.deviceTypes(ctx, devs)
			require.NoError(t, err)
			require.Equal(t, 1, srv.TotalRequests(), "then from the cache")
		})
	}
}
