package netbox_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

func TestInventoryDevices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pageSize int
		filters  []netbox.DeviceFilter
		want     []string
		requests int
	}{
		{
			name: "union of two filters, each device once",
			filters: []netbox.DeviceFilter{{Tag: []string{"managed-by-osism"}},
				{Name: []string{"node-1", "leaf-1"}}},
			want: []string{"leaf-1", "leaf-2", "node-1"}, requests: 2,
		},
		{
			name: "no filter is every device", want: []string{"leaf-1", "leaf-2", "node-1", "node-2", "node-3", "node-4"},
			requests: 1,
		},
		{
			name: "pages, not a request per device", pageSize: 2,
			want:     []string{"leaf-1", "leaf-2", "node-1", "node-2", "node-3", "node-4"},
			requests: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []netboxtest.Option
			if tc.pageSize > 0 {
				opts = append(opts, netboxtest.WithMaxPageSize(tc.pageSize))
			}
			srv, c := fabric(t, opts...)
			require.NoError(t, srv.Update("dcim.device", srv.ID("dcim.device", "node-1"),
				map[string]any{"local_context_data": map[string]any{"ansible_user": "dragon", "nested": map[string]any{"a": 1}}}))
			srv.ResetCounters()
			ds, err := c.InventoryDevices(context.Background(), tc.filters)
			require.NoError(t, err)
			var got []string
			for _, d := range ds {
				got = append(got, d.Name)
				require.NotNil(t, d.ConfigContext, d.Name)
				require.Nil(t, d.ConfigContextJSON, "decoded once, the raw form is dropped")
				if d.Name == "node-1" {
					require.Equal(t, "dragon", d.ConfigContext["ansible_user"])
					require.Equal(t, map[string]any{"a": float64(1)}, d.ConfigContext["nested"])
				}
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.requests, srv.Requests("GET", "/api/dcim/devices/"))
			require.Equal(t, tc.requests, srv.TotalRequests())
		})
	}
}

func TestInventoryDevicePrimaryAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dev  netbox.InventoryDevice
		want string
	}{
		{"ipv4 without its prefix length", netbox.InventoryDevice{Device: netbox.Device{PrimaryIP4: &netbox.IPRef{Address: "10.0.0.1/24"}}}, "10.0.0.1"},
		{"ipv6 when there is no ipv4", netbox.InventoryDevice{Device: netbox.Device{PrimaryIP6: &netbox.IPRef{Address: "fd00::1/64"}}}, "fd00::1"},
		{"ipv4 first", netbox.InventoryDevice{Device: netbox.Device{PrimaryIP4: &netbox.IPRef{Address: "10.0.0.1/32"}, PrimaryIP6: &netbox.IPRef{Address: "fd00::1/64"}}}, "10.0.0.1"},
		{"none", netbox.InventoryDevice{}, ""},
		{"not an address", netbox.InventoryDevice{Device: netbox.Device{PrimaryIP4: &netbox.IPRef{Address: "bogus"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.dev.PrimaryAddress())
		})
	}
}
