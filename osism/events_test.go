package osism_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

type eventSink struct {
	mu sync.Mutex
	ev []osism.Event
}

func (s *eventSink) add(e osism.Event) { s.mu.Lock(); s.ev = append(s.ev, e); s.mu.Unlock() }
func (s *eventSink) types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.ev))
	for i, e := range s.ev {
		out[i] = e.Service + " " + e.Type
	}
	return out
}

// Events published by one client reach the subscribers of another whose
// filters select them, with their payload and id.
func TestPublishAndSubscribeEvents(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	pub := bus.Client
	subc := bus.NewClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var all, nodes, ironic eventSink
	for _, s := range []struct {
		service, typ string
		sink         *eventSink
	}{{"", "", &all}, {"ironic", "baremetal.node.>", &nodes}, {"ironic", "", &ironic}} {
		sub, err := subc.SubscribeEvents(s.service, s.typ, s.sink.add)
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}

	require.NoError(t, pub.PublishEventID(ctx, "m-1", "ironic", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": "power on"}))
	require.NoError(t, pub.PublishEvent(ctx, "ironic", "baremetal.port.create.end", nil))
	require.NoError(t, pub.PublishEvent(ctx, "api", "webhook", json.RawMessage(`{"model":"device"}`)))

	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(all.types()) == 3 }, "three events, got %v", all.types)
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(ironic.types()) == 2 && len(nodes.types()) == 1 }, "the filtered events")
	require.ElementsMatch(t, []string{"ironic baremetal.node.power_set.end", "ironic baremetal.port.create.end", "api webhook"}, all.types())
	require.Equal(t, []string{"ironic baremetal.node.power_set.end"}, nodes.types())

	nodes.mu.Lock()
	e := nodes.ev[0]
	nodes.mu.Unlock()
	require.Equal(t, "m-1", e.ID)
	require.WithinDuration(t, time.Now(), e.Time, time.Minute)
	require.JSONEq(t, `{"name":"node-1","power_state":"power on"}`, string(e.Payload))
}

func TestPublishEventRefusesBadNames(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := context.Background()
	cases := []struct{ name, service, typ, wantErr string }{
		{"empty service", "", "x", `event service ""`},
		{"wildcard service", "*", "x", `event service "*"`},
		{"wildcard type", "ironic", "baremetal.>", `event type "baremetal.>"`},
		{"space in type", "ironic", "power set", `event type "power set"`},
		{"empty token", "ironic", "a..b", `event type "a..b"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, bus.Client.PublishEvent(ctx, tc.service, tc.typ, nil), tc.wantErr)
		})
	}
	_, err := bus.Client.SubscribeEvents("a b", "", func(osism.Event) {})
	require.ErrorContains(t, err, `service "a b"`)
	_, err = bus.Client.SubscribeEvents("ironic", "", nil)
	require.ErrorContains(t, err, "nil handler")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, bus.Client.PublishEvent(cctx, "ironic", "x", nil), context.Canceled)
}
