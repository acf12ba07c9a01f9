package osism_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// A lock whose holder is cut off from the broker counts as lost before the
// broker expires it (a TTL after it stored the last renewal), whether the
// connection drops or goes silent, so that the holder stops before another
// can take the lock.
func TestLockLostBeforeItExpires(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cut  func(p *natsProxy)
	}{
		{name: "connection closed", cut: func(p *natsProxy) { p.Cut() }},
		{name: "silent partition", cut: func(p *natsProxy) { p.Freeze() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := osismtest.New(t, nil)
			ctx := ctxT(t, 60*time.Second)
			proxy := newNATSProxy(t, bus.URL())
			nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			holder, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: bus.Tasks})
			require.NoError(t, err)
			t.Cleanup(func() { _ = holder.Close() })

			// The broker's view: when it stored each write of the lock.
			kv, err := bus.Client.JetStream().KeyValue(ctx, osism.LockBucket)
			require.NoError(t, err)
			w, err := kv.Watch(ctx, "lock.device-1", jetstream.UpdatesOnly())
			require.NoError(t, err)
			t.Cleanup(func() { _ = w.Stop() })
			var mu sync.Mutex
			var stored []time.Time
			go func() {
				for e := range w.Updates() {
					if e != nil && e.Operation() == jetstream.KeyValuePut {
						mu.Lock()
						stored = append(stored, e.Created())
						mu.Unlock()
					}
				}
			}()
			const ttl = 3 * time.Second
			l, err := holder.Acquire(ctx, "device-1", ttl, nil)
			require.NoError(t, err)
			kctx, stop := context.WithCancel(ctx)
			t.Cleanup(stop)
			go l.KeepAlive(kctx)
			osismtest.WaitFor(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(stored) >= 2 },
				"the lock is renewed")

			tc.cut(proxy)
			select {
			case <-l.Lost():
			case <-time.After(2 * ttl):
				t.Fatal("the lock was not found lost")
			}
			lostAt := time.Now()
			mu.Lock()
			last := stored[len(stored)-1]
			mu.Unlock()
			require.True(t, lostAt.Before(last.Add(ttl)), "lost %s after the broker stored its last renewal: the TTL of %s had passed",
				lostAt.Sub(last), ttl)
			// And the broker does expire it: another takes it.
			osismtest.WaitFor(t, 3*ttl, func() bool {
				other, err := bus.Client.Acquire(ctx, "device-1", ttl, nil)
				if err != nil {
					return false
				}
				_ = other.Release(ctx)
				return true
			}, "another takes the expired lock")
		})
	}
}
