package netbox_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
)

func TestDeviceTypes(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()

	got, err := c.DeviceTypes(ctx, []int{2, 1, 99})
	require.NoError(t, err)
	require.Equal(t, []netbox.DeviceType{
		{ID: 1, Model: "AS7326-56X", Slug: "as7326-56x", Manufacturer: netbox.Ref{ID: 1, Name: "Edgecore", Slug: "edgecore"}},
		{ID: 2, Model: "SYS-1029P", Slug: "sys-1029p", Manufacturer: netbox.Ref{ID: 2, Name: "Supermicro", Slug: "supermicro"}},
	}, got, "by id, unknown ids left out")
	require.Equal(t, 1, srv.Requests(http.MethodGet, "/api/dcim/device-types/"))

	got, err = c.DeviceTypes(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, 1, srv.Requests(http.MethodGet, "/api/dcim/device-types/"), "no ids, no request")
}

func TestDeviceTypesErrors(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv, _ := fabric(t)
			c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), MaxRetries: -1, Timeout: 5 * time.Second})
			require.NoError(t, err)
			srv.FailNext(1, status)
			_, err = c.DeviceTypes(context.Background(), []int{1})
			require.Error(t, err)
			require.True(t, netbox.StatusIs(err, status), "%v", err)
			require.ErrorContains(t, err, "list device types [1]: GET /api/dcim/device-types/")
		})
	}
}
