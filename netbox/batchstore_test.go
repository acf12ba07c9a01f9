package netbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
)

// Many transitions at once: their loads and saves go out together, every
// record is written, and a device that is not there is reported as such.
func TestBatchStore(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t, netboxtest.WithDevices(60))
	srv.SetLatency(20 * time.Millisecond) // requests overlap, so they batch
	store := netbox.NewBatchStore(c)
	ctx := context.Background()
	before := srv.TotalRequests()
	names := make([]string, 60)
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i := range names {
		names[i] = fmt.Sprintf("bench-%05d", i+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := store.Load(ctx, names[i]); err != nil {
				errs[i] = err
				return
			}
			for phase := 1; phase <= 4; phase++ {
				rec := statemachine.Record{State: fmt.Sprintf("b-phase_%d", phase), Transition: fmt.Sprintf("from_a-to_b-phase_%d", phase)}
				if errs[i] = store.Save(ctx, names[i], rec); errs[i] != nil {
					return
				}
			}
			errs[i] = store.Save(ctx, names[i], statemachine.Record{State: "b"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, names[i])
	}
	requests := srv.TotalRequests() - before
	t.Logf("%d devices, 1 load and 5 saves each: %d requests", len(names), requests)
	require.Less(t, requests, len(names), "loads and saves share requests")
	for _, n := range names {
		rec, err := netbox.NewStore(c).Load(ctx, n)
		require.NoError(t, err)
		require.Equal(t, statemachine.Record{State: "b"}, rec, n)
	}
	_, err := store.Load(ctx, "no-such-device")
	require.ErrorIs(t, err, statemachine.ErrDeviceNotFound)
	require.ErrorIs(t, store.Save(ctx, "no-such-device", statemachine.Record{State: "a"}), statemachine.ErrDeviceNotFound)
}
