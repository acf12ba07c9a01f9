package osism

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Events are what the services saw happen (an Ironic node powered on, a
// webhook arrived), published on the bus for whoever listens, such as
// the API's event stream. They are not tasks: core NATS, at most once, no
// history; a subscriber that is away misses them.
//
// An event of service S with type T is published on the subject
// osism.events.S.T; T may hold dots (baremetal.node.power_set.end), so
// osism.events.ironic.> selects every event of the Ironic listener and
// osism.events.ironic.baremetal.node.> its node events.
const EventSubjectPrefix = "osism.events."

// Event is one published event.
type Event struct {
	// ID is unique per event (the listener uses the source message's id).
	ID      string          `json:"id"`
	Service string          `json:"service"`
	Type    string          `json:"type"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

var (
	eventServiceRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)
	eventTypeRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$`)
)

// EventSubject is the subject of events of service with type typ; typ
// ">" or "*" makes a subscription filter.
func EventSubject(service, typ string) string { return EventSubjectPrefix + service + "." + typ }

func checkEvent(service, typ string) error {
	if !eventServiceRE.MatchString(service) {
		return fmt.Errorf("event service %q: expected letters, digits, _ and - (at most 63)", service)
	}
	if len(typ) > 200 || !eventTypeRE.MatchString(typ) {
		return fmt.Errorf("event type %q: expected dot-separated words of letters, digits, _ and -", typ)
	}
	return nil
}

// PublishEvent publishes an event of service with type typ and payload
// (marshalled as JSON) on osism.events.<service>.<typ>, with a fresh id.
func (c *Client) PublishEvent(ctx context.Context, service, typ string, payload any) error {
	return c.PublishEventID(ctx, newID(), service, typ, payload)
}

// PublishEventID is PublishEvent with the event's id given, so that a
// subscriber can tell an event published again (after a redelivery of its
// source) from a new one.
func (c *Client) PublishEventID(ctx context.Context, id, service, typ string, payload any) error {
	if err := checkEvent(service, typ); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish event %s %s: %w", service, typ, err)
	}
	var raw json.RawMessage
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		raw = p
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return fmt.Errorf("publish event %s %s: encode payload: %w", service, typ, err)
		}
		raw = b
	}
	b, err := json.Marshal(Event{ID: id, Service: service, Type: typ, Time: time.Now().UTC(), Payload: raw})
	if err != nil {
		return fmt.Errorf("publish event %s %s: %w", service, typ, err)
	}
	m := &nats.Msg{Subject: EventSubject(service, typ), Data: b, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, id)
	if err := c.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("publish event %s %s: %w", service, typ, err)
	}
	return nil
}

// EventSubscription is a subscription of [Client.SubscribeEvents].
type EventSubscription struct {
	sub *nats.Subscription
}

// Unsubscribe ends the subscription; events in its buffer are dropped.
func (s *EventSubscription) Unsubscribe() error { return s.sub.Unsubscribe() }

// Dropped is how many events the subscription lost because fn was too
// slow to keep up with them.
func (s *EventSubscription) Dropped() int {
	n, _ := s.sub.Dropped()
	return n
}

// SubscribeEvents calls fn, one call at a time, for every event of service
// ("" for all services) whose type matches typ: "" or ">" for every type,
// else a NATS filter of the type (baremetal.node.>). A message that is
// no event (another publisher's) is skipped.
func (c *Client) SubscribeEvents(service, typ string, fn func(Event)) (*EventSubscription, error) {
	if fn == nil {
		return nil, errors.New("subscribe events: nil handler")
	}
	if service == "" {
		service = "*"
	} else if !eventServiceRE.MatchString(service) {
		return nil, fmt.Errorf("subscribe events: service %q: expected letters, digits, _ and -", service)
	}
	if typ == "" {
		typ = ">"
	}
	if strings.ContainsAny(typ, " \t\r\n") {
		return nil, fmt.Errorf("subscribe events: type filter %q: expected no white space", typ)
	}
	sub, err := c.nc.Subscribe(EventSubject(service, typ), func(m *nats.Msg) {
		var e Event
		if json.Unmarshal(m.Data, &e) != nil || e.Type == "" {
			return
		}
		fn(e)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe events %s %s: %w", service, typ, err)
	}
	// The subscription is known to the broker when this returns, so no
	// event published afterwards is missed.
	if err := c.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe events %s %s: %w", service, typ, err)
	}
	return &EventSubscription{sub: sub}, nil
}
