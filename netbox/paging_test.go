package netbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/netbox/netboxtest/conformance"
)

// A NetBox whose MAX_PAGE_SIZE is below the client's page size answers
// shorter pages than asked for; every object must still arrive, whether
// the pages after the first are fetched concurrently or one by one.
func TestListsCompleteBelowMaxPageSize(t *testing.T) {
	t.Parallel()
	const devices = 2500
	srv := netboxtest.New(t, netboxtest.WithDevices(devices), netboxtest.WithMaxPageSize(50), netboxtest.WithChecker(conformance.New()))
	cases := []struct {
		name          string
		pageSize      int
		maxConcurrent int
	}{
		{name: "default page size, concurrent pages", maxConcurrent: 8},
		{name: "default page size, one page at a time", maxConcurrent: 1},
		{name: "page size above the maximum, not a multiple of it", pageSize: 70, maxConcurrent: 4},
		{name: "page size at the maximum", pageSize: 50, maxConcurrent: 8},
		{name: "page size below the maximum", pageSize: 33, maxConcurrent: 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), PageSize: tc.pageSize,
				MaxConcurrent: tc.maxConcurrent, RetryBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			require.NoError(t, err)
			ds, err := c.Devices(context.Background(), netbox.DeviceFilter{})
			require.NoError(t, err)
			got := make(map[string]bool, len(ds))
			for _, d := range ds {
				got[d.Name] = true
			}
			require.Equal(t, devices, len(ds), "devices listed")
			require.Equal(t, generatedNames(devices), got)
		})
	}
}

// generatedNames are the names WithDevices(n) gives.
func generatedNames(n int) map[string]bool {
	out := make(map[string]bool, n)
	for i := 1; i <= n; i++ {
		out[fmt.Sprintf("bench-%05d", i)] = true
	}
	return out
}
