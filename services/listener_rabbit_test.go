package services_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// Each event reaches the device's custom fields in the primary NetBox and
// in a secondary; a redelivered event writes nothing more.
func TestListenerMirrorsEventsToNetBoxes(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	secondary := netboxtest.New(t, netboxtest.WithSampleFabric())
	secs, err := netbox.OpenSecondaries(netbox.Config{Secondaries: []netbox.SecondaryConfig{{Name: "dr", URL: secondary.URL(), Token: secondary.Token()}}})
	require.NoError(t, err)
	var events []osism.Event
	evc := make(chan osism.Event, 100)
	sub, err := e.bus.Client.SubscribeEvents("ironic", "", func(ev osism.Event) { evc <- ev })
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	e.start(t, services.ListenerOpts{Secondaries: secs})
	e.waitConsuming(t)

	on, off := "power on", "power off"
	cases := []struct {
		name  string
		event string
		data  map[string]any
		want  map[string]any
	}{
		{"power set", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": on}, map[string]any{"power_state": on}},
		{"power corrected", "baremetal.node.power_state_corrected.success", map[string]any{"name": "node-1", "power_state": off},
			map[string]any{"power_state": off}},
		{"maintenance on", "baremetal.node.maintenance_set.end", map[string]any{"name": "node-1", "maintenance": true}, map[string]any{"maintenance": true}},
		{"maintenance off", "baremetal.node.maintenance_set.end", map[string]any{"name": "node-1", "maintenance": false}, map[string]any{"maintenance": false}},
		{"provision start", "baremetal.node.provision_set.start", map[string]any{"name": "node-1", "provision_state": "cleaning"},
			map[string]any{"provision_state": "cleaning"}},
		{"provision end", "baremetal.node.provision_set.end", map[string]any{"name": "node-1", "provision_state": "manageable"},
			map[string]any{"provision_state": "manageable"}},
		{"create", "baremetal.node.create.end", map[string]any{"name": "node-2", "provision_state": "enroll", "power_state": nil},
			map[string]any{"provision_state": "enroll", "power_state": nil}},
		{"delete", "baremetal.node.delete.end", map[string]any{"name": "node-3", "provision_state": "available", "power_state": on},
			map[string]any{"provision_state": nil, "power_state": "n/a"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.data["uuid"] = "uuid-" + tc.name
			body := oslo("mirror-"+tc.name, tc.event, tc.data)
			before := e.listener.Stats().Applied
			e.rabbit.publish(t, e.cfg.Exchange, body)
			osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Applied > before }, "event %d applied", i)
			dev := tc.data["name"].(string)
			for k, v := range tc.want {
				require.Equal(t, v, e.field(t, dev, k), "primary %s.%s", dev, k)
				require.Equal(t, v, secondary.CustomField("dcim.device", secondary.ID("dcim.device", dev), k), "secondary %s.%s", dev, k)
			}
			// Redelivered: nothing is written again.
			writes := e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/") + e.srv.Requests(http.MethodPatch, "/api/dcim/devices/")
			st := e.listener.Stats()
			e.rabbit.publish(t, e.cfg.Exchange, body)
			osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Duplicates > st.Duplicates }, "the redelivery seen")
			require.Equal(t, writes, e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/")+e.srv.Requests(http.MethodPatch, "/api/dcim/devices/"))
			require.Equal(t, st.Writes, e.listener.Stats().Writes)
		})
	}
	// An unknown event is acknowledged and counted; a node without a
	// device is acknowledged too.
	st := e.listener.Stats()
	e.rabbit.publish(t, e.cfg.Exchange,
		oslo("u-1", "baremetal.node.update.end", map[string]any{"name": "node-1"}),
		oslo("u-2", "baremetal.port.create.end", map[string]any{"address": "02:00:00:00:00:01"}),
		oslo("u-3", "baremetal.node.power_set.end", map[string]any{"name": "not-in-netbox", "power_state": on}))
	osismtest.WaitFor(t, 20*time.Second, func() bool {
		s := e.listener.Stats()
		return s.Unknown == st.Unknown+2 && s.NoDevice == st.NoDevice+1
	}, "two unknown events and one without a device")

	// Every event was also published on the bus.
	deadline := time.After(10 * time.Second)
	for len(events) < len(cases)+3 {
		select {
		case ev := <-evc:
			events = append(events, ev)
		case <-deadline:
			t.Fatalf("%d events on the bus, want %d", len(events), len(cases)+3)
		}
	}
	var payload services.IronicEvent
	require.NoError(t, json.Unmarshal(events[0].Payload, &payload))
	require.Equal(t, "baremetal.node.power_set.end", events[0].Type)
	require.Equal(t, "node-1", payload.Node.Name)
	require.Equal(t, "mirror-power set", events[0].ID)
}

// A message that cannot be decoded lands in the dead-letter queue with
// the reason in its headers, and the listener goes on.
func TestListenerDeadLettersPoison(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)
	e.rabbit.publish(t, e.cfg.Exchange, []byte(`{"oslo.version":"2.0","oslo.message":"{not json"}`),
		oslo("after-poison", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": "power on"}))
	osismtest.WaitFor(t, 20*time.Second, func() bool { s := e.listener.Stats(); return s.DeadLettered == 1 && s.Applied == 1 },
		"the poison dead-lettered and the next event applied")
	require.Equal(t, "power on", e.field(t, "node-1", "power_state"))

	d, ok, err := e.rabbit.ch.Get(e.cfg.Queue+".dead", true)
	require.NoError(t, err)
	require.True(t, ok, "the poison message is in the dead-letter queue")
	require.Equal(t, `{"oslo.version":"2.0","oslo.message":"{not json"}`, string(d.Body))
	require.Equal(t, "oslo.message is not a notification: invalid JSON at offset 2", d.Headers[services.HeaderDeadReason])
	require.Equal(t, e.cfg.Exchange, d.Headers[services.HeaderDeadExchange])
	require.Equal(t, services.DefaultListenerRoutingKey, d.Headers[services.HeaderDeadRoutingKey])
	q, err := e.rabbit.ch.QueueDeclarePassive(e.cfg.Queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.Zero(t, q.Messages, "nothing is left unacknowledged in the queue")
}

// A NetBox that fails is retried with backoff; the message is acked only
// once the write went through.
func TestListenerRetriesNetBoxFailures(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)
	e.srv.FailNext(12, http.StatusServiceUnavailable) // more than the client's own retries of one request
	e.rabbit.publish(t, e.cfg.Exchange, oslo("retry-1", "baremetal.node.power_set.end", map[string]any{"name": "node-4", "power_state": "power on"}))
	osismtest.WaitFor(t, 60*time.Second, func() bool { return e.listener.Stats().Applied == 1 }, "the event applied after the failures")
	require.Equal(t, "power on", e.field(t, "node-4", "power_state"))
	require.NotZero(t, e.listener.Stats().Retries, "the listener retried")
	q, err := e.rabbit.ch.QueueDeclarePassive(e.cfg.Queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.Zero(t, q.Messages)
}

// The listener consumes its queue before Ironic's exchange exists: what
// is in the queue is applied while the exchange is missing, and the
// listener says it waits to bind. The exchange is probed (every
// listener.exchange_probe_max at most) and the queue bound once it
// appears; what is published to the exchange from then on arrives.
func TestListenerWaitsForExchange(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, false)
	e.cfg.Exchange = uniqueName(t, "osism-test-late-")
	var logs lockedBuffer
	l := e.start(t, services.ListenerOpts{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.Equal(t, services.DefaultListenerExchangeProbeMax, l.Config().ExchangeProbeMax)
	osismtest.WaitFor(t, 30*time.Second, func() bool { return l.Stats().Consuming }, "consuming without the exchange")
	require.False(t, l.Stats().Bound, "no exchange, no binding")
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(),
			fmt.Sprintf("consuming %s, waiting for exchange %s to bind", e.cfg.Queue, e.cfg.Exchange))
	}, "the log says it waits to bind: %s", lazy(func() any { return logs.String() }))

	// Straight to the queue (the default exchange): applied while
	// Ironic's exchange is missing.
	e.rabbit.publishKey(t, "", e.cfg.Queue, oslo("queued-1", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": "power on"}))
	osismtest.WaitFor(t, 20*time.Second, func() bool { return l.Stats().Applied == 1 }, "the queued event applied: %+v", lazy(func() any { return l.Stats() }))
	require.Equal(t, "power on", e.field(t, "node-1", "power_state"))
	st := l.Stats()
	require.False(t, st.Bound)
	require.NotZero(t, st.ExchangeProbes, "the exchange was probed")
	probe, err := e.rabbit.conn.Channel()
	require.NoError(t, err)
	require.Error(t, probe.ExchangeDeclarePassive(e.cfg.Exchange, "topic", false, false, false, false, nil), "the exchange is still missing")

	require.NoError(t, e.rabbit.ch.ExchangeDeclare(e.cfg.Exchange, "topic", false, false, false, false, nil))
	declared := time.Now()
	t.Cleanup(func() { _ = e.rabbit.cleanupChannel(t).ExchangeDelete(e.cfg.Exchange, false, false) })
	e.waitConsuming(t)
	window := l.Stats().BoundSince.Sub(declared)
	t.Logf("MEASURE exchange declared -> queue bound: %s (exchange_probe_max %s)", window.Round(time.Millisecond), l.Config().ExchangeProbeMax)
	require.Less(t, window, l.Config().ExchangeProbeMax+2*time.Second, "bound within about exchange_probe_max")
	require.EqualValues(t, 1, l.Stats().Binds)
	require.Contains(t, logs.String(), "msg=bound")

	e.rabbit.publish(t, e.cfg.Exchange, oslo("late-1", "baremetal.node.maintenance_set.end", map[string]any{"name": "node-2", "maintenance": true}))
	osismtest.WaitFor(t, 20*time.Second, func() bool { return l.Stats().Applied == 2 }, "the event applied")
	require.Equal(t, true, e.field(t, "node-2", "maintenance"))
}

// The transition rules submit netbox.connect tasks, once per event even
// when the event comes again.
func TestListenerSubmitsTransitions(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-3"), "device_state", "c"))
	require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-2"), "device_state", "0"))
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)
	undeployed := oslo("undeploy-1", "baremetal.node.provision_set.end", map[string]any{"name": "node-3", "provision_state": "available",
		"previous_provision_state": "cleaning"})
	e.rabbit.publish(t, e.cfg.Exchange,
		oslo("create-1", "baremetal.node.create.end", map[string]any{"name": "node-2", "provision_state": "enroll"}),
		undeployed,
		// node-1 is in a: a provide of a node never deployed starts nothing
		oslo("provide-1", "baremetal.node.provision_set.end", map[string]any{"name": "node-1", "provision_state": "available",
			"previous_provision_state": "cleaning"}))
	osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Applied == 3 }, "three events applied")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tasks, err := e.bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindNetBoxConnect})
	require.NoError(t, err)
	got := map[string]string{}
	for _, tk := range tasks {
		var a osism.NetBoxConnectArgs
		require.NoError(t, json.Unmarshal(tk.Args, &a))
		got[a.Device] = a.State
	}
	require.Equal(t, map[string]string{"node-2": "a", "node-3": "b"}, got)
	require.EqualValues(t, 2, e.listener.Stats().Submitted)

	// A second listener (a restart: no memory of what the first handled)
	// gets the same event again: the de-duplication key holds.
	e.stop()
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)
	e.rabbit.publish(t, e.cfg.Exchange, undeployed)
	osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Applied == 1 }, "the event applied again")
	require.Zero(t, e.listener.Stats().Submitted, "no second task")
	tasks, err = e.bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindNetBoxConnect})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
}

// A write NetBox refuses for good (here: the custom field maintenance
// does not exist) sends that event to the dead-letter queue with NetBox's
// answer; the other events of its batch are applied.
func TestListenerDeadLettersWritesNetBoxRefuses(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	require.NoError(t, e.srv.Delete("extras.customfield", e.srv.ID("extras.customfield", "maintenance")))
	e.cfg.Concurrency = 1
	e.rabbit.declareQueue(t, e.cfg.Queue, e.cfg.Exchange)
	e.rabbit.publish(t, e.cfg.Exchange,
		oslo("refused-1", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": "power on"}),
		oslo("refused-2", "baremetal.node.maintenance_set.end", map[string]any{"name": "node-2", "maintenance": true}),
		oslo("refused-3", "baremetal.node.power_set.end", map[string]any{"name": "node-3", "power_state": "power on"}))
	e.start(t, services.ListenerOpts{})
	osismtest.WaitFor(t, 30*time.Second, func() bool { s := e.listener.Stats(); return s.Applied == 2 && s.DeadLettered == 1 },
		"two applied, one dead-lettered")
	require.Equal(t, "power on", e.field(t, "node-1", "power_state"))
	require.Equal(t, "power on", e.field(t, "node-3", "power_state"))
	d, ok, err := e.rabbit.ch.Get(e.cfg.Queue+".dead", true)
	require.NoError(t, err)
	require.True(t, ok)
	require.Contains(t, string(d.Body), "refused-2")
	require.Contains(t, d.Headers[services.HeaderDeadReason], "NetBox refused the write")
	require.Contains(t, d.Headers[services.HeaderDeadReason], "maintenance")
}

// An event that comes again after a later event of its node (a
// redelivery after a lost ack) is not applied again: it would set the
// node's older state.
func TestListenerSkipsRedeliveredEvent(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)
	require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-2"), "power_state", "n/a"))
	on := oslo("again-1", "baremetal.node.power_set.end", map[string]any{"name": "node-2", "power_state": "power on"})
	off := oslo("again-2", "baremetal.node.power_set.end", map[string]any{"name": "node-2", "power_state": "power off"})
	e.rabbit.publish(t, e.cfg.Exchange, on, off)
	osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Applied == 2 }, "both applied")
	require.Equal(t, "power off", e.field(t, "node-2", "power_state"))
	writes := e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/") + e.srv.Requests(http.MethodPatch, "/api/dcim/devices/")
	e.rabbit.publish(t, e.cfg.Exchange, on)
	osismtest.WaitFor(t, 20*time.Second, func() bool { return e.listener.Stats().Duplicates == 1 }, "the redelivery recognised")
	require.Equal(t, "power off", e.field(t, "node-2", "power_state"))
	require.Equal(t, writes, e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/")+e.srv.Requests(http.MethodPatch, "/api/dcim/devices/"))
}
