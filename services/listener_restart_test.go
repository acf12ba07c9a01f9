package services_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
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

// durablePublisher publishes persistent messages with publisher confirms
// and, like oslo.messaging in Ironic, connects again and publishes again
// what the broker has not confirmed when the connection is lost. A
// message published again may reach the queue twice.
type durablePublisher struct {
	url  string
	conn *amqp.Connection
	ch   *amqp.Channel

	dialFailures atomic.Int64 // connection attempts that failed
	again        atomic.Int64 // messages published again after a lost connection
}

func (p *durablePublisher) connect(ctx context.Context) error {
	for {
		conn, err := amqp.DialConfig(p.url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second), Heartbeat: 5 * time.Second})
		if err == nil {
			var ch *amqp.Channel
			if ch, err = conn.Channel(); err == nil {
				if err = ch.Confirm(false); err == nil {
					p.conn, p.ch = conn, ch
					return nil
				}
			}
			_ = conn.Close()
		}
		p.dialFailures.Add(1)
		// Poll until the broker is back, bounded by ctx.
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("connect to RabbitMQ: %w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (p *durablePublisher) close() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.conn, p.ch = nil, nil
}

// publish publishes bodies to exchange with Ironic's routing key, 25 at a
// time, each batch confirmed before the next.
func (p *durablePublisher) publish(ctx context.Context, exchange string, bodies ...[]byte) error {
	const batch = 25
	for i := 0; i < len(bodies); {
		if p.ch == nil {
			if err := p.connect(ctx); err != nil {
				return err
			}
		}
		end := min(i+batch, len(bodies))
		if err := p.publishBatch(ctx, exchange, bodies[i:end]); err != nil {
			p.close()
			if ctx.Err() != nil {
				return err
			}
			p.again.Add(int64(end - i))
			continue
		}
		i = end
	}
	return nil
}

func (p *durablePublisher) publishBatch(ctx context.Context, exchange string, bodies [][]byte) error {
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	dcs := make([]*amqp.DeferredConfirmation, 0, len(bodies))
	for _, b := range bodies {
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(wctx, exchange, services.DefaultListenerRoutingKey, false, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: b})
		if err != nil {
			return err
		}
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		ok, err := dc.WaitContext(wctx)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not confirmed (nack or connection lost)")
		}
	}
	return nil
}

// queueMessages counts the queue's ready messages, on a connection of its own.
func queueMessages(t testing.TB, url, queue string) (int, error) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	return q.Messages, err
}

// tlogWriter writes a test's log lines (the listener's warnings).
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// A real RabbitMQ (a private node of this test: the shared one serves
// Ironic and other tests) is stopped and started again while 1,000 events
// flow, cleanly (SIGTERM) and as a crash (SIGKILL): none is lost, none is
// applied twice, and the listener consumes again within 5 s of the node
// accepting logins again (the figures are logged as MEASURE lines).
//
// Ironic's exchange `ironic` is declared durable in the first two cases
// (oslo.messaging's amqp_durable_queues = true), so that it and the
// queue's binding outlive the restart; the messages are persistent and
// published with confirms, so that the listener's durable queue keeps
// them. In the third Ironic's exchange is transient (oslo.messaging's
// default) and gone after the restart: the listener consumes its queue at
// once all the same, applies every event queued before the restart while
// the exchange is missing, and binds within about
// listener.exchange_probe_max of the exchange's return.
func TestListenerSurvivesRabbitMQRestart(t *testing.T) {
	t.Parallel()
	node := testenv.StartRabbitNode(t)
	cases := []struct {
		name    string
		stop    func() error
		durable bool // Ironic's exchange
	}{
		{"clean stop", node.Stop, true},
		{"crash", node.Kill, true},
		{"clean stop, transient exchange", node.Stop, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testListenerRestart(t, node, tc.stop, tc.durable)
		})
	}
}

func testListenerRestart(t *testing.T, node *testenv.RabbitNode, stop func() error, durable bool) {
	const devices, rounds = 50, 20 // 1,000 events
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	srv := netboxtest.New(t, netboxtest.WithDevices(devices))
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), MaxConcurrent: 64, RetryBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e := &listenerEnv{srv: srv, nb: nb, bus: osismtest.New(t, nil)}
	e.cfg = services.ListenerConfig{URL: osism.Secret(node.URL()), Exchange: services.DefaultListenerExchange,
		Queue: uniqueName(t, "osism-test-q-"), Prefetch: 64,
		// One event per NetBox write, so that the double's request
		// counter counts the events applied.
		BatchSize:    1,
		RetryBackoff: 20 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond}

	// Ironic's exchange, durable, and the listener's queue bound to it
	// ahead of the listener, so that what is published first is kept.
	setup, err := amqp.Dial(node.URL())
	require.NoError(t, err)
	sch, err := setup.Channel()
	require.NoError(t, err)
	// The node is the test's: the exchange of an earlier case goes.
	require.NoError(t, sch.ExchangeDelete(e.cfg.Exchange, false, false))
	require.NoError(t, sch.ExchangeDeclare(e.cfg.Exchange, "topic", durable, false, false, false, nil))
	_, err = sch.QueueDeclare(e.cfg.Queue, true, false, false, false, nil)
	require.NoError(t, err)
	require.NoError(t, sch.QueueBind(e.cfg.Queue, services.DefaultListenerRoutingKey, e.cfg.Exchange, false, nil))
	_ = setup.Close()

	// Event k sets power_state of device k%50 to on in even rounds and
	// off in odd ones: every event changes its device, so exactly one
	// write per event applied once.
	prefix := randSuffix()
	events := make([][]byte, 0, devices*rounds)
	for r := range rounds {
		for d := 1; d <= devices; d++ {
			state := "power on"
			if r%2 == 1 {
				state = "power off"
			}
			events = append(events, oslo(fmt.Sprintf("restart-%s-%d-%d", prefix, r, d), "baremetal.node.power_set.end",
				map[string]any{"name": fmt.Sprintf("bench-%05d", d), "power_state": state}))
		}
	}
	patches := func() int { return srv.Requests(http.MethodPatch, "/api/dcim/devices/1/") }

	pub := &durablePublisher{url: node.URL()}
	t.Cleanup(pub.close)
	srv.SetLatency(time.Millisecond)
	require.NoError(t, pub.publish(ctx, e.cfg.Exchange, events[:500]...))
	l := e.start(t, services.ListenerOpts{Logger: slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})

	// The restart comes while events flow: some applied, 550 or more
	// waiting in the queue or in flight, 300 still to be published.
	osismtest.WaitFor(t, 60*time.Second, func() bool { return l.Stats().Applied >= 150 }, "events flowing")
	require.NoError(t, pub.publish(ctx, e.cfg.Exchange, events[500:700]...))
	pub.close()
	stopAt := time.Now()
	require.NoError(t, stop())
	stopped := time.Now()
	require.False(t, node.Running())
	osismtest.WaitFor(t, 20*time.Second, func() bool { return !l.Stats().Consuming }, "the listener notices")
	before := l.Stats()
	require.Less(t, before.Applied, uint64(len(events)), "the restart hit while events were in flight")

	published := make(chan error, 1)
	if durable {
		// Ironic goes on publishing while the node is down: the
		// publisher fails to connect until it is back.
		go func() { published <- pub.publish(ctx, e.cfg.Exchange, events[700:]...) }()
		osismtest.WaitFor(t, 20*time.Second, func() bool { return pub.dialFailures.Load() > 0 }, "the publisher finds the node down")
	}

	require.NoError(t, node.Start())
	ready := node.ReadyAt()
	if !durable {
		// The transient exchange and with it the queue's binding are
		// gone until Ironic declares its exchange again (oslo.messaging
		// does on its next publish). The listener consumes its queue
		// meanwhile: every event queued before the restart is applied
		// with the exchange still missing. What Ironic publishes between
		// its declaration and the listener's bind is dropped; the test
		// publishes after the bind.
		ch, err := amqp.Dial(node.URL())
		require.NoError(t, err)
		xch, err := ch.Channel()
		require.NoError(t, err)
		_, err = xch.QueueDeclarePassive(e.cfg.Queue, true, false, false, false, nil)
		require.NoError(t, err, "the durable queue survives the restart")
		require.Error(t, xch.ExchangeDeclarePassive(e.cfg.Exchange, "topic", false, false, false, false, nil), "the transient exchange is gone")
		osismtest.WaitFor(t, 120*time.Second, func() bool { s := l.Stats(); return s.Applied == 700 && s.ConsumingSince.After(stopped) },
			"the events queued before the restart applied without the exchange: %+v", lazy(func() any { return l.Stats() }))
		drained := time.Now()
		st := l.Stats()
		require.False(t, st.Bound, "no exchange, no binding")
		require.NotZero(t, st.ExchangeProbes)
		xch, err = ch.Channel()
		require.NoError(t, err)
		require.Error(t, xch.ExchangeDeclarePassive(e.cfg.Exchange, "topic", false, false, false, false, nil),
			"the events were applied before the exchange came back")
		// Ironic declares its exchange once the probes are at their
		// longest interval (exchange_probe_max): the window measured is
		// the one of a long wait, not of the first quick probes.
		osismtest.WaitFor(t, 30*time.Second, func() bool { return l.Stats().ExchangeProbes >= st.ExchangeProbes+4 }, "probing on")
		xch, err = ch.Channel()
		require.NoError(t, err)
		require.NoError(t, xch.ExchangeDeclare(e.cfg.Exchange, "topic", false, false, false, false, nil))
		declared := time.Now()
		_ = ch.Close()
		osismtest.WaitFor(t, 10*time.Second, func() bool { s := l.Stats(); return s.Bound && s.BoundSince.After(declared) }, "bound again")
		window := l.Stats().BoundSince.Sub(declared)
		t.Logf("MEASURE transient exchange: the %d events queued before the restart applied %s after the node accepted logins, the exchange still missing; the listener bound %s after Ironic's exchange was declared again (exchange_probe_max %s; Ironic's events of that window are dropped)",
			700, drained.Sub(ready).Round(time.Millisecond), window.Round(time.Millisecond), l.Config().ExchangeProbeMax)
		require.Less(t, window, l.Config().ExchangeProbeMax+2*time.Second, "the unbound window is about exchange_probe_max at most")
		go func() { published <- pub.publish(ctx, e.cfg.Exchange, events[700:]...) }()
	}
	osismtest.WaitFor(t, 20*time.Second, func() bool { s := l.Stats(); return s.Consuming && s.ConsumingSince.After(stopped) },
		"consuming again")
	reconnect := l.Stats().ConsumingSince.Sub(ready)
	t.Logf("MEASURE rabbitmq restart: stop %s, start %s (node down %s); listener consuming again %s after the node accepted logins (%d reconnect attempts)",
		stopped.Sub(stopAt).Round(time.Millisecond), ready.Sub(stopped).Round(time.Millisecond), ready.Sub(stopAt).Round(time.Millisecond),
		reconnect.Round(time.Millisecond), l.Stats().Reconnects-before.Reconnects)
	// Consuming again does not wait for the exchange.
	require.Less(t, reconnect, 5*time.Second)

	select {
	case err := <-published:
		require.NoError(t, err, "the rest published after the restart")
	case <-ctx.Done():
		t.Fatal("the publisher did not finish")
	}

	osismtest.WaitFor(t, 120*time.Second, func() bool { return l.Stats().Applied == uint64(len(events)) }, "every event applied: %+v", lazy(func() any { return l.Stats() }))
	// Settled: nothing in flight, nothing left in the queue.
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		s := l.Stats()
		n, err := queueMessages(t, node.URL(), e.cfg.Queue)
		return err == nil && n == 0 && s.Received == s.Applied+s.Duplicates+s.Requeued
	}, "the queue drained: %+v", lazy(func() any { return l.Stats() }))
	st := l.Stats()
	t.Logf("MEASURE restart run: publisher refused %d times while the node was down, published again %d; listener duplicates %d; %+v",
		pub.dialFailures.Load(), pub.again.Load(), st.Duplicates, st)
	require.Equal(t, len(events), patches(), "one NetBox write per event: none lost, none applied twice")
	require.EqualValues(t, len(events), st.Writes)
	require.EqualValues(t, len(events), st.Applied)
	require.Zero(t, st.DeadLettered)
	for d := 1; d <= devices; d++ {
		require.Equal(t, "power off", e.field(t, fmt.Sprintf("bench-%05d", d), "power_state"), "the last event of each device wins")
	}
}

// gatedNetBox is a reverse proxy in front of the NetBox double that holds
// every PATCH until release is closed; arrived gets a value for each held
// PATCH.
func gatedNetBox(t testing.TB, target string) (url string, arrived <-chan struct{}, release func()) {
	t.Helper()
	u, err := neturl.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	in := make(chan struct{}, 16)
	open := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			select {
			case in <- struct{}{}:
			default:
			}
			select {
			case <-open:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	release = func() { once.Do(func() { close(open) }) }
	t.Cleanup(srv.Close)
	t.Cleanup(release)
	return srv.URL, in, release
}

// An event NetBox refuses for good goes to the dead-letter queue once,
// even when RabbitMQ restarts while NetBox answers: the delivery of the
// connection the restart ended is delivered again, so the listener does
// not dead-letter it through the new connection as well.
func TestListenerDeadLettersOnceAcrossRabbitMQRestart(t *testing.T) {
	t.Parallel()
	node := testenv.StartRabbitNode(t)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	// NetBox refuses a maintenance write: the custom field does not exist.
	require.NoError(t, srv.Delete("extras.customfield", srv.ID("extras.customfield", "maintenance")))
	gate, arrived, release := gatedNetBox(t, srv.URL())
	nb, err := netbox.New(netbox.Config{URL: gate, Token: srv.Token(), Timeout: 2 * time.Minute, RetryBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e := &listenerEnv{srv: srv, nb: nb, bus: osismtest.New(t, nil)}
	e.cfg = services.ListenerConfig{URL: osism.Secret(node.URL()), Exchange: services.DefaultListenerExchange,
		Queue: uniqueName(t, "osism-test-q-"), Concurrency: 1, BatchSize: 1,
		RetryBackoff: 20 * time.Millisecond, RetryMaxBackoff: 200 * time.Millisecond}
	conn, err := amqp.Dial(node.URL())
	require.NoError(t, err)
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.ExchangeDeclare(e.cfg.Exchange, "topic", true, false, false, false, nil))
	_ = conn.Close()

	pub := &durablePublisher{url: node.URL()}
	t.Cleanup(pub.close)
	l := e.start(t, services.ListenerOpts{Logger: slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	e.waitConsuming(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, pub.publish(ctx, e.cfg.Exchange,
		oslo("refused-"+randSuffix(), "baremetal.node.maintenance_set.end", map[string]any{"name": "node-2", "maintenance": true})))
	pub.close()

	// NetBox holds the write while RabbitMQ restarts.
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("no NetBox write")
	}
	require.NoError(t, node.Stop())
	stopped := time.Now()
	osismtest.WaitFor(t, 20*time.Second, func() bool { return !l.Stats().Consuming }, "the listener notices")
	require.NoError(t, node.Start())
	osismtest.WaitFor(t, 20*time.Second, func() bool { s := l.Stats(); return s.Consuming && s.ConsumingSince.After(stopped) },
		"consuming again")
	osismtest.WaitFor(t, 20*time.Second, func() bool { return l.Stats().Received == 2 }, "the event delivered again")
	release()

	osismtest.WaitFor(t, 60*time.Second, func() bool {
		n, err := queueMessages(t, node.URL(), e.cfg.Queue)
		return err == nil && n == 0 && l.Stats().DeadLettered == 1
	}, "the event dead-lettered: %+v", lazy(func() any { return l.Stats() }))
	n, err := queueMessages(t, node.URL(), e.cfg.Queue+".dead")
	require.NoError(t, err)
	require.Equal(t, 1, n, "the refused event is in the dead-letter queue once")
}
