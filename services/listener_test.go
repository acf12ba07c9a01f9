package services_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// randSuffix is a short random hex string for unique names.
func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// uniqueName is prefix, the test's name in lower case and a random
// suffix: objects on the shared RabbitMQ and Ironic never collide.
func uniqueName(t testing.TB, prefix string) string {
	n := strings.ToLower(t.Name())
	n = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 40 {
		n = n[:40]
	}
	return prefix + n + "-" + randSuffix()
}

// rabbit is a test's connection to the shared RabbitMQ.
type rabbit struct {
	url  string
	conn *amqp.Connection
	ch   *amqp.Channel
}

func newRabbit(t testing.TB) *rabbit {
	t.Helper()
	url := testenv.RabbitMQ(t)
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	return &rabbit{url: url, conn: conn, ch: ch}
}

// exchange declares a topic exchange of the test and deletes it at the end.
func (r *rabbit) exchange(t testing.TB) string {
	t.Helper()
	name := uniqueName(t, "osism-test-x-")
	require.NoError(t, r.ch.ExchangeDeclare(name, "topic", false, false, false, false, nil))
	t.Cleanup(func() { _ = r.cleanupChannel(t).ExchangeDelete(name, false, false) })
	return name
}

// queues deletes the listener's queues of cfg at the end of the test.
func (r *rabbit) deleteQueuesAtCleanup(t testing.TB, queue string) {
	t.Cleanup(func() {
		ch := r.cleanupChannel(t)
		_, _ = ch.QueueDelete(queue, false, false, false)
		_, _ = ch.QueueDelete(queue+".dead", false, false, false)
	})
}

// cleanupChannel is a channel of a connection of its own: the test's may
// be closed by then.
func (r *rabbit) cleanupChannel(t testing.TB) *amqp.Channel {
	conn, err := amqp.Dial(r.url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return nil
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("cleanup: %v", err)
	}
	return ch
}

// publish publishes body to exchange with Ironic's routing key and waits
// for the broker's confirmation.
func (r *rabbit) publish(t testing.TB, exchange string, bodies ...[]byte) {
	t.Helper()
	r.publishKey(t, exchange, services.DefaultListenerRoutingKey, bodies...)
}

// publishKey publishes bodies to exchange with routing key key (the
// default exchange "" and a queue's name: straight to that queue) and
// waits for the broker's confirmations.
func (r *rabbit) publishKey(t testing.TB, exchange, key string, bodies ...[]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dcs := make([]*amqp.DeferredConfirmation, 0, len(bodies))
	for _, b := range bodies {
		dc, err := r.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false,
			amqp.Publishing{ContentType: "application/json", Body: b})
		require.NoError(t, err)
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		ok, err := dc.WaitContext(ctx)
		require.NoError(t, err)
		require.True(t, ok, "the broker confirms the message")
	}
}

// declareQueue creates the listener's queue bound to exchange ahead of
// the listener, so that messages published before it starts are kept.
func (r *rabbit) declareQueue(t testing.TB, queue, exchange string) {
	t.Helper()
	_, err := r.ch.QueueDeclare(queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.NoError(t, r.ch.QueueBind(queue, services.DefaultListenerRoutingKey, exchange, false, nil))
	r.deleteQueuesAtCleanup(t, queue)
}

// oslo wraps a notification of eventType about node data in the
// oslo.messaging 2.0 envelope, as Ironic sends it.
func oslo(id, eventType string, data map[string]any) []byte {
	inner, _ := json.Marshal(map[string]any{
		"message_id": id, "publisher_id": "ironic-conductor.test", "event_type": eventType, "priority": "INFO",
		"payload": map[string]any{"ironic_object.name": "NodePayload", "ironic_object.namespace": "ironic",
			"ironic_object.version": "1.0", "ironic_object.data": data},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05.000000"),
	})
	b, _ := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(inner)})
	return b
}

// listenerEnv is a listener with its NetBox double, bus and RabbitMQ.
type listenerEnv struct {
	rabbit   *rabbit
	srv      *netboxtest.Server
	nb       *netbox.Client
	bus      *osismtest.Bus
	cfg      services.ListenerConfig
	listener *services.Listener
	stop     func()
}

// newListenerEnv sets up a listener on its own exchange and queue; the
// NetBox double holds opts (the sample fabric if none).
func newListenerEnv(t testing.TB, exchange bool, nbOpts ...netboxtest.Option) *listenerEnv {
	t.Helper()
	r := newRabbit(t)
	if len(nbOpts) == 0 {
		nbOpts = []netboxtest.Option{netboxtest.WithSampleFabric()}
	}
	srv := netboxtest.New(t, nbOpts...)
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), MaxConcurrent: 64, RetryBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e := &listenerEnv{rabbit: r, srv: srv, nb: nb, bus: osismtest.New(t, nil)}
	e.cfg = services.ListenerConfig{URL: osism.Secret(r.url), Queue: uniqueName(t, "osism-test-q-"),
		RetryBackoff: 20 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond}
	if exchange {
		e.cfg.Exchange = r.exchange(t)
	}
	r.deleteQueuesAtCleanup(t, e.cfg.Queue)
	return e
}

// start runs the listener until the test ends (or stop).
func (e *listenerEnv) start(t testing.TB, opts services.ListenerOpts) *services.Listener {
	t.Helper()
	if opts.NetBox == nil {
		opts.NetBox = e.nb
	}
	if opts.Bus == nil {
		opts.Bus = e.bus.Client
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := services.NewListener(e.cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(e.stop)
	e.listener = l
	return l
}

// waitConsuming waits until the listener consumes and its queue is bound
// to the exchange: what is published to the exchange from then on
// reaches it.
func (e *listenerEnv) waitConsuming(t testing.TB) {
	t.Helper()
	osismtest.WaitFor(t, 30*time.Second, func() bool { s := e.listener.Stats(); return s.Consuming && s.Bound },
		"the listener consumes and its queue is bound")
}

func (e *listenerEnv) field(t testing.TB, device, name string) any {
	t.Helper()
	id := e.srv.ID("dcim.device", device)
	require.NotZero(t, id, "device %s", device)
	return e.srv.CustomField("dcim.device", id, name)
}

func TestDecodeIronicNotification(t *testing.T) {
	t.Parallel()
	good := oslo("m-1", "baremetal.node.power_set.end", map[string]any{"uuid": "u-1", "name": "node-1", "power_state": "power on",
		"provision_state": "active", "maintenance": false})
	cases := []struct {
		name      string
		body      string
		wantType  string
		wantNode  bool
		wantError string
	}{
		{name: "oslo 2.0 node event", body: string(good), wantType: "baremetal.node.power_set.end", wantNode: true},
		{name: "bare notification (messaging v1)", body: `{"message_id":"m","event_type":"baremetal.node.create.end","payload":{"ironic_object.data":{"uuid":"u","name":"n"}}}`,
			wantType: "baremetal.node.create.end", wantNode: true},
		{name: "port event", body: `{"oslo.version":"2.0","oslo.message":"{\"event_type\":\"baremetal.port.create.end\",\"payload\":{\"ironic_object.data\":{\"address\":\"02:00:00:00:00:01\"}}}"}`,
			wantType: "baremetal.port.create.end"},
		{name: "not JSON", body: `this is not json`, wantError: "body is not a JSON object: invalid JSON at offset 2"},
		{name: "JSON list", body: `[1,2]`, wantError: "body is not a JSON object"},
		{name: "other oslo version", body: `{"oslo.version":"1.0","oslo.message":"{}"}`, wantError: `oslo.version "1.0": expected "2.0"`},
		{name: "oslo.message not a string", body: `{"oslo.version":"2.0","oslo.message":{"event_type":"x"}}`, wantError: "oslo.message is not a JSON string"},
		{name: "oslo.message not JSON", body: `{"oslo.version":"2.0","oslo.message":"{broken"}`, wantError: "oslo.message is not a notification: invalid JSON"},
		{name: "no event type", body: `{"oslo.version":"2.0","oslo.message":"{\"payload\":{}}"}`, wantError: "no event_type"},
		{name: "node event without data", body: `{"oslo.version":"2.0","oslo.message":"{\"event_type\":\"baremetal.node.power_set.end\",\"payload\":{}}"}`,
			wantError: "baremetal.node.power_set.end: payload has no ironic_object.data"},
		{name: "node data of the wrong type", body: `{"oslo.version":"2.0","oslo.message":"{\"event_type\":\"baremetal.node.power_set.end\",\"payload\":{\"ironic_object.data\":{\"maintenance\":\"yes\"}}}"}`,
			wantError: "field maintenance is a JSON string, expected bool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := services.DecodeIronicNotification([]byte(tc.body))
			if tc.wantError != "" {
				var de *services.DecodeError
				require.ErrorAs(t, err, &de)
				require.Contains(t, de.Reason, tc.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantType, ev.EventType)
			require.NotEmpty(t, ev.MessageID, "every event has an id, its own or its body's hash")
			require.Equal(t, tc.wantNode, ev.Node != nil)
		})
	}
	ev, err := services.DecodeIronicNotification(good)
	require.NoError(t, err)
	require.Equal(t, "m-1", ev.MessageID)
	require.Equal(t, "node-1", ev.Node.Name)
	require.Equal(t, "power on", *ev.Node.PowerState)
	require.False(t, *ev.Node.Maintenance)
}

func TestListenerConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{services.EnvListenerBrokerURI: "amqp://u:upstream@rabbit:5672/ironic"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var c services.ListenerConfig
	c.ApplyEnv(lookup)
	require.Equal(t, osism.Secret("amqp://u:upstream@rabbit:5672/ironic"), c.URL, "upstream's BROKER_URI")
	env[services.EnvListenerURL] = "amqp://u:ours@rabbit:5672/ironic"
	c.ApplyEnv(lookup)
	require.Equal(t, osism.Secret("amqp://u:ours@rabbit:5672/ironic"), c.URL, "OSISM_LISTENER_AMQP_URL wins")
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.NotContains(t, string(b), "ours", "the URL is a secret")
	require.NotContains(t, fmt.Sprintf("%v %+v", c, c), "ours")

	cases := []struct {
		name    string
		cfg     services.ListenerConfig
		wantErr string
	}{
		{"no URL", services.ListenerConfig{}, "no RabbitMQ URL: set listener.url or listener.url_file"},
		{"bad URL", services.ListenerConfig{URL: "http://u:secretpw@rabbit/"}, "RabbitMQ URL http://"},
		{"bad prefetch", services.ListenerConfig{URL: "amqp://rabbit/", Prefetch: 70000}, "listener.prefetch 70000"},
		{"rule without events", services.ListenerConfig{URL: "amqp://rabbit/", Transitions: []services.ListenerTransition{{State: "b"}}},
			"listener.transitions[0]: events"},
		{"rule without state", services.ListenerConfig{URL: "amqp://rabbit/", Transitions: []services.ListenerTransition{{Events: []string{"x"}}}},
			"listener.transitions[0]: state"},
		{"bad state", services.ListenerConfig{URL: "amqp://rabbit/", Transitions: []services.ListenerTransition{{Events: []string{"x"}, State: "b c"}}},
			`state "b c": expected letters and digits only`},
		{"probe max too short", services.ListenerConfig{URL: "amqp://rabbit/", ExchangeProbeMax: time.Millisecond},
			"config listener.exchange_probe_max 1ms: expected 10ms to 1m (0: the default 1s)"},
		{"probe max too long", services.ListenerConfig{URL: "amqp://rabbit/", ExchangeProbeMax: time.Hour},
			"config listener.exchange_probe_max 1h0m0s: expected 10ms to 1m"},
		{"negative probe max", services.ListenerConfig{URL: "amqp://rabbit/", ExchangeProbeMax: -time.Second},
			"config listener.exchange_probe_max -1s"},
		{"star inside", services.ListenerConfig{URL: "amqp://rabbit/", Transitions: []services.ListenerTransition{{Events: []string{"a*b"}, State: "b"}}},
			`event "a*b"`},
	}
	nb, err := netbox.New(netbox.Config{URL: "http://netbox.invalid", Token: "0123456789abcdef0123456789abcdef01234567"})
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := services.NewListener(tc.cfg, services.ListenerOpts{NetBox: nb, Bus: &osism.Client{}})
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "secretpw")
		})
	}
}

// The listener section comes from the configuration file and the
// environment; a bad rule is an error naming it.
func TestListenerSectionLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/osism.yaml"
	require.NoError(t, os.WriteFile(file, []byte(`
listener:
  queue: my-queue
  prefetch: 64
  transitions:
    - {name: deployed, events: [baremetal.node.provision_set.end], to: [active], state: c}
netbox:
  url: https://nb.example
  secondaries:
    - {name: dr, url: https://nb-dr.example, token_file: /run/secrets/dr}
`), 0o600))
	cfg, err := services.LoadConfig(services.LoadOpts{UserPath: file, Environ: []string{"BROKER_URI=amqp://u:pw@rabbit:5672/ironic"}})
	require.NoError(t, err)
	require.Equal(t, "my-queue", cfg.Listener.Queue)
	require.Equal(t, 64, cfg.Listener.Prefetch)
	require.Equal(t, []services.ListenerTransition{{Name: "deployed", Events: []string{"baremetal.node.provision_set.end"},
		To: []string{"active"}, State: "c"}}, cfg.Listener.Transitions)
	require.Equal(t, osism.Secret("amqp://u:pw@rabbit:5672/ironic"), cfg.Listener.URL)
	require.Equal(t, "dr", cfg.NetBox.Secondaries[0].Name)

	require.NoError(t, os.WriteFile(file, []byte("listener:\n  transitions:\n    - {events: [x]}\n"), 0o600))
	_, err = services.LoadConfig(services.LoadOpts{UserPath: file})
	require.ErrorContains(t, err, "listener.transitions[0]: state")
}

// lazy formats what f returns when a failure message is printed (a
// function given to WaitFor's format would print as an address).
type lazy func() any

func (f lazy) String() string { return fmt.Sprintf("%+v", f()) }
