package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
)

// ListenerOpts are what a [Listener] works with besides its section.
type ListenerOpts struct {
	// NetBox is the primary NetBox; required.
	NetBox *netbox.Client
	// Secondaries receive the same writes (netbox.OpenSecondaries).
	Secondaries []*netbox.Secondary
	// Bus submits the transitions (netbox.connect) and carries the
	// events (osism.events.ironic.<event type>); required.
	Bus *osism.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Listener is the listener service (`osism service listener`): it
// consumes Ironic's versioned notifications from RabbitMQ, mirrors the
// nodes' provision state, power state and maintenance into the custom
// fields of the devices named like the nodes (in the primary NetBox and
// every secondary), submits the device transitions the events call for
// as netbox.connect tasks, publishes every event on the bus, and
// acknowledges a message only after all of that succeeded.
//
// A message that cannot be decoded goes to the dead-letter queue with the
// reason in its headers; an event the listener does not know is
// acknowledged and counted. Handling is idempotent: a field is written
// only when it differs, an event already handled by this process is not
// handled again, and a transition is submitted with a de-duplication key
// made of the notification's id.
type Listener struct {
	cfg    ListenerConfig
	url    string
	nb     *netbox.Client
	secs   []*netbox.Secondary
	bus    *osism.Client
	log    *slog.Logger
	shards []chan job
	done   *appliedSet
	// pub is the channel of the current connection that publishes to the
	// dead-letter queue.
	pub atomic.Pointer[amqp.Channel]

	stats listenerCounters
}

// ListenerStats are the listener's counters (for /metrics, later).
type ListenerStats struct {
	// Received messages, decoded or not.
	Received uint64 `json:"received"`
	// Applied events: known events handled (NetBox written or already
	// right, transition submitted) and acknowledged.
	Applied uint64 `json:"applied"`
	// Unknown events: acknowledged without effect.
	Unknown uint64 `json:"unknown"`
	// DeadLettered messages: undecodable, moved to the dead-letter queue.
	DeadLettered uint64 `json:"dead_lettered"`
	// Reconnects to RabbitMQ after a lost or failed connection.
	Reconnects uint64 `json:"reconnects"`
	// Writes are PATCH requests to NetBoxes; Unchanged events found every
	// field as wanted already.
	Writes    uint64 `json:"writes"`
	Unchanged uint64 `json:"unchanged"`
	// NoDevice events name a node without a device in the primary NetBox.
	NoDevice uint64 `json:"no_device"`
	// Submitted transitions; Duplicates are redelivered events this
	// process had handled already.
	Submitted  uint64 `json:"submitted"`
	Duplicates uint64 `json:"duplicates"`
	// Retries of a failed NetBox write or submit; Requeued messages gave
	// up after RetryAttempts and went back to the queue.
	Retries  uint64 `json:"retries"`
	Requeued uint64 `json:"requeued"`
	// Consuming tells whether the listener consumes now, since when. It
	// consumes its queue as soon as it is connected, whether Ironic's
	// exchange exists or not.
	Consuming      bool      `json:"consuming"`
	ConsumingSince time.Time `json:"consuming_since"`
	// Bound tells whether the queue is bound to the exchange on the
	// current connection, since when. Consuming but not bound, the
	// listener applies what is in its queue and probes the exchange every
	// listener.exchange_probe_max at most; nothing new arrives until it
	// binds.
	Bound      bool      `json:"bound"`
	BoundSince time.Time `json:"bound_since"`
	// ExchangeProbes are passive declarations of the exchange that found
	// it missing; Binds are the queue's bindings made (one per connection
	// once the exchange is there).
	ExchangeProbes uint64 `json:"exchange_probes"`
	Binds          uint64 `json:"binds"`
}

type listenerCounters struct {
	received, applied, unknown, dead, reconnects, writes, unchanged, noDevice,
	submitted, duplicates, retries, requeued, probes, binds atomic.Uint64
	consumingSince atomic.Int64 // unix nanoseconds; 0: not consuming
	boundSince     atomic.Int64 // unix nanoseconds; 0: not bound
}

// NewListener checks cfg and builds a listener; it connects to nothing
// until Run.
func NewListener(cfg ListenerConfig, opts ListenerOpts) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, err := cfg.amqpURL()
	if err != nil {
		return nil, err
	}
	if _, err := amqp.ParseURI(u); err != nil {
		// amqp's parse errors do not quote the URL; the URL holds the password.
		return nil, fmt.Errorf("listener: RabbitMQ URL %s: %w", osism.RedactURL(u), err)
	}
	if opts.NetBox == nil {
		return nil, errors.New("listener: no NetBox client (set netbox.url and a token, or NETBOX_URL and NETBOX_TOKEN)")
	}
	if opts.Bus == nil {
		return nil, errors.New("listener: no bus client: the listener submits transitions and publishes events on the bus")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Listener{cfg: cfg, url: u, nb: opts.NetBox, secs: opts.Secondaries, bus: opts.Bus,
		log: log.With("service", "listener"), done: newAppliedSet(1 << 16)}, nil
}

// Config is the listener's section with its defaults filled in.
func (l *Listener) Config() ListenerConfig { return l.cfg }

// Stats returns the counters.
func (l *Listener) Stats() ListenerStats {
	s := &l.stats
	st := ListenerStats{
		Received: s.received.Load(), Applied: s.applied.Load(), Unknown: s.unknown.Load(),
		DeadLettered: s.dead.Load(), Reconnects: s.reconnects.Load(), Writes: s.writes.Load(),
		Unchanged: s.unchanged.Load(), NoDevice: s.noDevice.Load(), Submitted: s.submitted.Load(),
		Duplicates: s.duplicates.Load(), Retries: s.retries.Load(), Requeued: s.requeued.Load(),
		ExchangeProbes: s.probes.Load(), Binds: s.binds.Load(),
	}
	if ns := s.consumingSince.Load(); ns != 0 {
		st.Consuming, st.ConsumingSince = true, time.Unix(0, ns)
	}
	if ns := s.boundSince.Load(); ns != 0 {
		st.Bound, st.BoundSince = true, time.Unix(0, ns)
	}
	return st
}

// job is one decoded delivery for a shard.
type job struct {
	d  amqp.Delivery
	ev IronicEvent
}

// Run consumes until ctx ends (then it returns nil). It reconnects after
// every lost connection, with backoff and jitter between ReconnectMin and
// ReconnectMax. On every connection it consumes its queue at once and
// binds the queue to the exchange as soon as the exchange exists.
func (l *Listener) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	l.shards = make([]chan job, l.cfg.Concurrency)
	per := max(l.cfg.Prefetch/l.cfg.Concurrency, 1) + 1
	for i := range l.shards {
		l.shards[i] = make(chan job, per)
		wg.Add(1)
		go func(ch chan job) {
			defer wg.Done()
			batch := make([]job, 0, l.cfg.BatchSize)
			for j := range ch {
				// Take what else is waiting, up to a batch: one NetBox
				// read and write serve them all.
				batch = append(batch[:0], j)
			fill:
				for len(batch) < l.cfg.BatchSize {
					select {
					case j, ok := <-ch:
						if !ok {
							break fill
						}
						batch = append(batch, j)
					default:
						break fill
					}
				}
				l.handleBatch(ctx, batch)
			}
		}(l.shards[i])
	}
	defer func() {
		for _, ch := range l.shards {
			close(ch)
		}
		wg.Wait()
	}()

	attempt := 0
	for {
		started := time.Now()
		err := l.session(ctx)
		l.stats.consumingSince.Store(0)
		l.stats.boundSince.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > 10*l.cfg.ReconnectMax {
			attempt = 0
		}
		wait := backoff(l.cfg.ReconnectMin, l.cfg.ReconnectMax, attempt)
		attempt++
		l.stats.reconnects.Add(1)
		l.log.Warn("RabbitMQ connection lost; reconnecting", "error", err, "in", wait.Round(time.Millisecond))
		if !sleepCtx(ctx, wait) {
			return nil
		}
	}
}

// backoff is min doubled attempt times, at most max, with jitter: a
// random duration in its upper half.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// session is one connection: it declares the queues and consumes at
// once, binds the queue to the exchange now or, while the exchange is
// missing, as soon as a probe finds it, and consumes until the connection
// or ctx ends.
//
// Ironic's exchange is declared passive only (it is Ironic's, and
// RabbitMQ 4 refuses a declaration that differs). After a restart of
// RabbitMQ, Ironic's default exchange (not durable) and with it the
// binding are gone until Ironic publishes again; what the durable queue
// holds is applied meanwhile, and the binding follows the exchange's
// return within ExchangeProbeMax.
func (l *Listener) session(ctx context.Context) error {
	conn, err := amqp.DialConfig(l.url, amqp.Config{
		Heartbeat:  5 * time.Second,
		Locale:     "en_US",
		Dial:       amqp.DefaultDial(5 * time.Second),
		Properties: amqp.Table{"connection_name": "osism-listener"},
	})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", osism.RedactURL(l.url), err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if _, err := ch.QueueDeclare(l.cfg.Queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", l.cfg.Queue, err)
	}
	if _, err := ch.QueueDeclare(l.cfg.DeadLetterQueue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare dead-letter queue %s: %w", l.cfg.DeadLetterQueue, err)
	}
	// One probe before consuming: when the exchange is there, the
	// listener is bound by the time it says it consumes.
	bound, err := l.tryBind(conn)
	if err != nil {
		return err
	}
	if err := ch.Qos(l.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("prefetch %d: %w", l.cfg.Prefetch, err)
	}
	pub, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := pub.Confirm(false); err != nil {
		return fmt.Errorf("publisher confirms: %w", err)
	}
	l.pub.Store(pub)
	deliveries, err := ch.Consume(l.cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", l.cfg.Queue, err)
	}
	l.stats.consumingSince.Store(time.Now().UnixNano())
	bindErr := make(chan error, 1)
	if bound {
		l.log.Info("consuming", "queue", l.cfg.Queue, "exchange", l.cfg.Exchange, "routing_key", l.cfg.RoutingKey)
	} else {
		l.log.Info(fmt.Sprintf("consuming %s, waiting for exchange %s to bind", l.cfg.Queue, l.cfg.Exchange),
			"queue", l.cfg.Queue, "exchange", l.cfg.Exchange, "routing_key", l.cfg.RoutingKey,
			"probe_max", l.cfg.ExchangeProbeMax)
		bctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		// The prober ends before the session does, so that it marks no
		// binding of a connection that is gone.
		defer func() { stop(); wg.Wait() }()
		wg.Add(1)
		go func() { defer wg.Done(); bindErr <- l.bindWhenThere(bctx, conn) }()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-closed:
			if e == nil {
				return errors.New("connection closed")
			}
			return e
		case err := <-bindErr:
			if err != nil {
				return err
			}
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("the broker ended the consumer")
			}
			if err := l.dispatch(ctx, d, pub); err != nil {
				return err
			}
		}
	}
}

// exchangeProbeMin is the first wait between two probes of a missing
// exchange (at most ExchangeProbeMax).
const exchangeProbeMin = 250 * time.Millisecond

// bindWhenThere probes the exchange until it exists and binds the queue
// to it; it returns nil once bound or when ctx ends, and an error when a
// probe or the bind failed otherwise than by a missing exchange (the
// session then ends and the listener connects again).
func (l *Listener) bindWhenThere(ctx context.Context, conn *amqp.Connection) error {
	waiting := time.Now()
	for attempt := 0; ; attempt++ {
		wait := backoff(min(exchangeProbeMin, l.cfg.ExchangeProbeMax), l.cfg.ExchangeProbeMax, attempt)
		l.log.Debug("exchange not there yet; probing again", "exchange", l.cfg.Exchange, "in", wait.Round(time.Millisecond))
		if !sleepCtx(ctx, wait) {
			return nil
		}
		bound, err := l.tryBind(conn)
		if err != nil {
			if ctx.Err() != nil || conn.IsClosed() {
				return nil // the session ends anyway and says why
			}
			return err
		}
		if bound {
			l.log.Info("bound", "queue", l.cfg.Queue, "exchange", l.cfg.Exchange, "routing_key", l.cfg.RoutingKey,
				"unbound_for", time.Since(waiting).Round(time.Millisecond))
			return nil
		}
	}
}

// tryBind declares the exchange passive, on a channel of its own (a
// failed passive declaration closes its channel), and binds the queue
// when the exchange is there. It reports whether the queue is bound; a
// missing exchange is no error.
func (l *Listener) tryBind(conn *amqp.Connection) (bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	err = ch.ExchangeDeclarePassive(l.cfg.Exchange, "topic", false, false, false, false, nil)
	if err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			l.stats.probes.Add(1)
			return false, nil
		}
		return false, fmt.Errorf("probe exchange %s: %w", l.cfg.Exchange, err)
	}
	defer func() { _ = ch.Close() }()
	if err := ch.QueueBind(l.cfg.Queue, l.cfg.RoutingKey, l.cfg.Exchange, false, nil); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			// The exchange went between the probe and the bind.
			l.stats.probes.Add(1)
			return false, nil
		}
		return false, fmt.Errorf("bind queue %s to exchange %s (%s): %w", l.cfg.Queue, l.cfg.Exchange, l.cfg.RoutingKey, err)
	}
	l.stats.binds.Add(1)
	l.stats.boundSince.Store(time.Now().UnixNano())
	return true, nil
}

// dispatch decodes d and hands it to the shard of its node; an
// undecodable message goes to the dead-letter queue.
func (l *Listener) dispatch(ctx context.Context, d amqp.Delivery, pub *amqp.Channel) error {
	l.stats.received.Add(1)
	ev, err := DecodeIronicNotification(d.Body)
	if err != nil {
		var de *DecodeError
		reason := err.Error()
		if errors.As(err, &de) {
			reason = de.Reason
		}
		return l.deadLetter(ctx, d, pub, reason)
	}
	key := ev.MessageID
	if ev.Node != nil && ev.Node.Name != "" {
		key = ev.Node.Name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	select {
	case l.shards[int(h.Sum32()%uint32(len(l.shards)))] <- job{d: d, ev: ev}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Headers of a dead-lettered message.
const (
	HeaderDeadReason     = "x-osism-dead-reason"
	HeaderDeadExchange   = "x-osism-original-exchange"
	HeaderDeadRoutingKey = "x-osism-original-routing-key"
	HeaderDeadAt         = "x-osism-dead-at"
)

// deadLetter publishes d to the dead-letter queue, waits for the broker's
// confirmation and only then acknowledges d: the message is never lost.
func (l *Listener) deadLetter(ctx context.Context, d amqp.Delivery, pub *amqp.Channel, reason string) error {
	if pub == nil {
		_ = d.Nack(false, true)
		return errors.New("dead-letter a message: no channel yet")
	}
	// A delivery of a connection that is gone (RabbitMQ restarted while
	// NetBox answered) cannot be acknowledged: the broker delivers it
	// again, to the new connection. Dead-lettering it now, through the
	// new connection's channel, would put it in the dead-letter queue
	// twice.
	if ch, ok := d.Acknowledger.(*amqp.Channel); ok && ch.IsClosed() {
		return errors.New("dead-letter a message: its connection is gone; RabbitMQ delivers it again")
	}
	h := amqp.Table{}
	for k, v := range d.Headers {
		h[k] = v
	}
	h[HeaderDeadReason] = reason
	h[HeaderDeadExchange] = d.Exchange
	h[HeaderDeadRoutingKey] = d.RoutingKey
	h[HeaderDeadAt] = time.Now().UTC().Format(time.RFC3339Nano)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dc, err := pub.PublishWithDeferredConfirmWithContext(pctx, "", l.cfg.DeadLetterQueue, true, false, amqp.Publishing{
		Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding, DeliveryMode: amqp.Persistent,
		MessageId: d.MessageId, Timestamp: d.Timestamp, Body: d.Body,
	})
	if err == nil {
		var ok bool
		ok, err = dc.WaitContext(pctx)
		if err == nil && !ok {
			err = errors.New("the broker refused it")
		}
	}
	if err != nil {
		_ = d.Nack(false, true)
		return fmt.Errorf("dead-letter a message to %s: %w", l.cfg.DeadLetterQueue, err)
	}
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("ack a dead-lettered message: %w", err)
	}
	l.stats.dead.Add(1)
	l.log.Warn("undecodable message dead-lettered", "queue", l.cfg.DeadLetterQueue, "reason", reason)
	return nil
}

// item is a known event of a batch with the fields it sets.
type item struct {
	job
	fields map[string]any
}

// handleBatch applies a shard's batch of events, retrying in place with
// backoff, and acks each; after RetryAttempts it requeues them. Events
// NetBox refuses for good (a 4xx answer for their device) go to the
// dead-letter queue with NetBox's answer as the reason.
func (l *Listener) handleBatch(ctx context.Context, jobs []job) {
	work := make([]item, 0, len(jobs))
	for _, j := range jobs {
		fields, known := ironicFields(j.ev)
		switch {
		case !known || j.ev.Node.Name == "":
			l.stats.unknown.Add(1)
			l.publish(ctx, j.ev)
			_ = j.d.Ack(false)
		case l.done.has(j.ev.MessageID):
			l.stats.duplicates.Add(1)
			_ = j.d.Ack(false)
		default:
			work = append(work, item{job: j, fields: fields})
		}
	}
	if len(work) == 0 {
		return
	}
	var err error
	for attempt := 0; attempt < l.cfg.RetryAttempts; attempt++ {
		if attempt > 0 {
			l.stats.retries.Add(1)
			wait := backoff(l.cfg.RetryBackoff, l.cfg.RetryMaxBackoff, attempt-1)
			l.log.Warn("events not applied; retrying", "events", len(work), "error", err, "in", wait.Round(time.Millisecond))
			if !sleepCtx(ctx, wait) {
				break
			}
		}
		var refused map[string]error
		if refused, err = l.applyBatch(ctx, work); err == nil {
			for _, it := range work {
				if rerr := refused[it.ev.Node.Name]; rerr != nil {
					if derr := l.deadLetter(ctx, it.d, l.pub.Load(), "NetBox refused the write: "+rerr.Error()); derr != nil {
						l.log.Error("event refused by NetBox and not dead-lettered; requeued", "error", derr)
					}
					continue
				}
				l.done.add(it.ev.MessageID)
				l.publish(ctx, it.ev)
				if aerr := it.d.Ack(false); aerr != nil {
					// The channel is gone: the broker redelivers the
					// message, and this process knows it handled it.
					l.log.Debug("ack failed", "error", aerr)
				}
				l.stats.applied.Add(1)
			}
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	l.stats.requeued.Add(uint64(len(work)))
	l.log.Error("events not applied; requeued", "events", len(work), "error", err)
	for _, it := range work {
		_ = it.d.Nack(false, true)
	}
}

// applyBatch writes the events' fields to every NetBox, one read and at
// most one write per NetBox for the whole batch, and submits the
// transitions they call for, in order. refused names the devices whose
// write NetBox refused for good.
func (l *Listener) applyBatch(ctx context.Context, work []item) (refused map[string]error, err error) {
	names := make([]string, 0, len(work))
	seen := map[string]bool{}
	for _, it := range work {
		if n := it.ev.Node.Name; !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	primary, refused, err := l.writeAll(ctx, l.nb, names, work)
	if err != nil {
		return nil, fmt.Errorf("primary NetBox: %w", err)
	}
	for _, s := range l.secs {
		_, sref, err := l.writeAll(ctx, s.Client, names, work)
		if err != nil {
			return nil, fmt.Errorf("secondary NetBox %s: %w", s.Config.Label(), err)
		}
		for dev, rerr := range sref {
			l.log.Error("secondary NetBox refused a write; it stays behind", "netbox", s.Config.Label(), "device", dev, "error", rerr)
		}
	}
	for _, it := range work {
		name := it.ev.Node.Name
		dev, found := primary[name]
		if !found {
			l.stats.noDevice.Add(1)
			continue
		}
		if refused[name] != nil {
			continue
		}
		current := dev.CustomFields.String(cfDeviceState)
		rule, ok := transitionFor(l.cfg.Transitions, it.ev, current)
		if !ok || rule.State == current {
			continue
		}
		res, err := l.bus.Submit(ctx, osism.NetBoxConnectArgs{Device: name, State: rule.State, Collection: l.cfg.Collection},
			&osism.SubmitOpts{DedupKey: "listener/ironic/" + it.ev.MessageID + "/" + rule.State})
		if err != nil && !errors.Is(err, osism.ErrMaybeQueued) {
			return nil, fmt.Errorf("submit netbox.connect %s -> %s: %w", name, rule.State, err)
		}
		if !res.Duplicate {
			l.stats.submitted.Add(1)
			l.log.Info("transition submitted", "device", name, "state", rule.State, "rule", rule.Name, "event", it.ev.EventType, "task", res.ID)
		}
	}
	return refused, nil
}

// writeAll reads the named devices of one NetBox, folds the events'
// fields over each device's custom fields in order and writes what
// differs: one PATCH for one device, one bulk PATCH for several. It
// returns the devices as read.
func (l *Listener) writeAll(ctx context.Context, c *netbox.Client, names []string, work []item) (map[string]netbox.Device, map[string]error, error) {
	devs, err := c.Devices(ctx, netbox.DeviceFilter{Name: names})
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]netbox.Device, len(devs))
	for _, d := range devs {
		byName[d.Name] = d
	}
	updates := map[int]map[string]any{}
	ids := map[int]string{}
	current := map[string]map[string]any{}
	for _, it := range work {
		d, ok := byName[it.ev.Node.Name]
		if !ok {
			continue
		}
		cur := current[d.Name]
		if cur == nil {
			cur = map[string]any{}
			for k := range it.fields {
				cur[k] = d.CustomFields[k]
			}
			current[d.Name] = cur
		}
		for k := range it.fields {
			if _, ok := cur[k]; !ok {
				cur[k] = d.CustomFields[k]
			}
		}
		diff := fieldsDiff(cur, it.fields)
		if len(diff) == 0 {
			l.stats.unchanged.Add(1)
			continue
		}
		if updates[d.ID] == nil {
			updates[d.ID] = map[string]any{}
			ids[d.ID] = d.Name
		}
		for k, v := range diff {
			updates[d.ID][k] = v
			cur[k] = v
		}
	}
	// Events that cancel out within the batch leave a device as it was.
	for id, f := range updates {
		orig := byName[ids[id]].CustomFields
		for k, v := range f {
			if sameValue(orig[k], v) {
				delete(f, k)
			}
		}
		if len(f) == 0 {
			delete(updates, id)
		}
	}
	refused := map[string]error{}
	switch {
	case len(updates) == 0:
	case len(updates) > 1:
		err = c.UpdateDevicesCustomFields(ctx, updates)
		if err == nil || !permanent(err) {
			break
		}
		// One device refused fails the whole bulk write: write them one
		// by one to find it.
		fallthrough
	default:
		err = nil
		for id, f := range updates {
			if werr := c.UpdateDeviceCustomFields(ctx, id, f); werr != nil {
				if !permanent(werr) {
					return nil, nil, werr
				}
				refused[ids[id]] = werr
				delete(updates, id)
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	l.stats.writes.Add(uint64(len(updates)))
	return byName, refused, nil
}

// permanent reports whether NetBox refused a write for good: a 4xx other
// than 401, 403 (the token: the operator fixes it), 408 and 429.
func permanent(err error) bool {
	var ae *netbox.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return ae.StatusCode >= 400 && ae.StatusCode < 500
}

// publish puts the event on the bus; the bus's events are at most once,
// so a failure is logged, not retried.
func (l *Listener) publish(ctx context.Context, ev IronicEvent) {
	raw, err := json.Marshal(ev)
	if err == nil {
		err = l.bus.PublishEventID(ctx, ev.MessageID, "ironic", ev.EventType, json.RawMessage(raw))
	}
	if err != nil {
		l.log.Warn("event not published on the bus", "event", ev.EventType, "error", err)
	}
}

// appliedSet remembers the ids of the last n handled events.
type appliedSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newAppliedSet(n int) *appliedSet {
	return &appliedSet{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *appliedSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *appliedSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
