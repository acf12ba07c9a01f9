package services_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// The device lock on the bus, taken away mid-phase (as an operator's
// `osism lock` break or an expiry would): the phase's hook is cancelled,
// nothing is recorded after the loss, and a fresh run converges.
func TestLostBusLockStopsThePhase(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	for _, phase := range []statemachine.Phase{1, 2, 3, 4} {
		t.Run(strconv.Itoa(int(phase)), func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, time.Minute)
			device := "node-lost-" + strconv.Itoa(int(phase))
			store := statemachine.NewMemoryStore()
			require.NoError(t, store.Save(ctx, device, statemachine.Record{State: "a"}))
			broken := false
			hooks := map[statemachine.Phase][]statemachine.PhaseHook{phase: {statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
				if broken {
					return nil
				}
				broken = true
				require.NoError(t, bus.Client.BreakLock(ctx, osism.LockKey(statemachine.LockKey(s.Device))))
				select {
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-time.After(30 * time.Second):
					return errors.New("the hook ran on after its lock was lost")
				}
			})}}
			m, err := statemachine.New(statemachine.Config{Store: store, Locker: services.StateLocker(bus.Client, time.Second), Hooks: hooks})
			require.NoError(t, err)
			_, err = m.Transition(ctx, device, "b", nil)
			require.ErrorIs(t, err, statemachine.ErrLockLost)
			rec, err := store.Load(ctx, device)
			require.NoError(t, err)
			require.Equal(t, "b-phase_"+strconv.Itoa(int(phase)), rec.State, "nothing recorded after the loss")

			res, err := m.Transition(ctx, device, "b", nil)
			require.NoError(t, err)
			require.Equal(t, phase, res.ResumedAt)
			rec, err = store.Load(ctx, device)
			require.NoError(t, err)
			require.Equal(t, statemachine.Record{State: "b"}, rec)
		})
	}
}
