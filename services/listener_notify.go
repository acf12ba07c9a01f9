package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// NotificationResult says what [Listener.HandleNotification] did with an
// event.
type NotificationResult string

// The results of HandleNotification.
const (
	// NotificationApplied: NetBox written (or already right) and the
	// transition the event calls for submitted.
	NotificationApplied NotificationResult = "applied"
	// NotificationUnknown: an event the listener does not act on; it is
	// published on the bus and counted.
	NotificationUnknown NotificationResult = "unknown"
	// NotificationDuplicate: an event this listener handled already.
	NotificationDuplicate NotificationResult = "duplicate"
)

// NewNotificationHandler builds a listener that handles notifications
// handed to it with HandleNotification (the API's POST
// /v1/notifications/baremetal) and needs no RabbitMQ: its Run is not for
// use. cfg's transitions and collection apply as for a consuming
// listener.
func NewNotificationHandler(cfg ListenerConfig, opts ListenerOpts) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
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
	return &Listener{cfg: cfg.withDefaults(), nb: opts.NetBox, secs: opts.Secondaries, bus: opts.Bus,
		log: log.With("service", "listener"), done: newAppliedSet(1 << 16)}, nil
}

// HandleNotification handles one decoded notification as Run handles a
// delivered one, at once and without retries: it writes the node's
// fields to every NetBox, submits the transition the event calls for and
// publishes the event on the bus. A write NetBox refuses for good is an
// error naming the device.
func (l *Listener) HandleNotification(ctx context.Context, ev IronicEvent) (NotificationResult, error) {
	l.stats.received.Add(1)
	fields, known := ironicFields(ev)
	switch {
	case !known || ev.Node == nil || ev.Node.Name == "":
		l.stats.unknown.Add(1)
		l.publish(ctx, ev)
		return NotificationUnknown, nil
	case l.done.has(ev.MessageID):
		l.stats.duplicates.Add(1)
		return NotificationDuplicate, nil
	}
	refused, err := l.applyBatch(ctx, []item{{job: job{ev: ev}, fields: fields}})
	if err != nil {
		return "", err
	}
	if rerr := refused[ev.Node.Name]; rerr != nil {
		return "", fmt.Errorf("device %s: NetBox refused the write: %w", ev.Node.Name, rerr)
	}
	l.done.add(ev.MessageID)
	l.publish(ctx, ev)
	l.stats.applied.Add(1)
	return NotificationApplied, nil
}
