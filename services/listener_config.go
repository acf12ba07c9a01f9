package services

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/osism/go-osism/osism"
)

// listenerStateRE is what a device state may be (statemachine's rule).
var listenerStateRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// ListenerConfig is the listener section: where Ironic's notifications
// come from, how they are consumed, and which device transitions they
// start. In YAML:
//
//	listener:
//	  url_file: /run/secrets/osism-listener-amqp-url   # or url, OSISM_LISTENER_AMQP_URL, BROKER_URI
//	  queue: osism-listener-ironic
//	  prefetch: 256
//	  transitions:                                      # replace the defaults
//	    - {events: [baremetal.node.create.end], state: a}
//
// The zero value takes every default but the URL.
type ListenerConfig struct {
	// URL of RabbitMQ, amqp://user:password@host:5672/vhost. A secret:
	// never printed, logged or marshalled.
	URL osism.Secret `yaml:"url" json:"url,omitempty"`
	// URLFile holds the URL when URL is empty (a file of mode 0600).
	URLFile string `yaml:"url_file" json:"url_file,omitempty"`
	// Exchange is Ironic's notification exchange, declared passive (it is
	// Ironic's, and RabbitMQ 4 refuses a declaration that differs). The
	// listener consumes its queue whether the exchange exists or not, and
	// binds the queue as soon as it appears. Default "ironic".
	Exchange string `yaml:"exchange" json:"exchange,omitempty"`
	// RoutingKey binds the queue; default
	// "ironic_versioned_notifications.info".
	RoutingKey string `yaml:"routing_key" json:"routing_key,omitempty"`
	// Queue is the listener's durable queue; default
	// "osism-listener-ironic". Its type is the broker's default (quorum
	// with RabbitMQ 4 when so configured).
	Queue string `yaml:"queue" json:"queue,omitempty"`
	// DeadLetterQueue receives the messages that cannot be decoded, with
	// the reason in the header x-osism-dead-reason; default Queue + ".dead".
	DeadLetterQueue string `yaml:"dead_letter_queue" json:"dead_letter_queue,omitempty"`
	// Prefetch bounds the unacknowledged messages in flight; default 256.
	Prefetch int `yaml:"prefetch" json:"prefetch,omitempty"`
	// Concurrency is how many batches of events are handled at once; the
	// events of one node go to the same batches, one after the other, in
	// order. Default 4.
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
	// BatchSize bounds the events handled together: waiting events of
	// different nodes share one NetBox read and one (bulk) write per
	// NetBox. Default 64; 1 handles each event on its own.
	BatchSize int `yaml:"batch_size" json:"batch_size,omitempty"`
	// ReconnectMin and ReconnectMax bound the backoff between connection
	// attempts (with jitter); defaults 100ms and 2s, so that the listener
	// consumes again within a few seconds of RabbitMQ's return.
	ReconnectMin time.Duration `yaml:"reconnect_min" json:"reconnect_min,omitempty"`
	ReconnectMax time.Duration `yaml:"reconnect_max" json:"reconnect_max,omitempty"`
	// ExchangeProbeMax is the longest wait between two probes of a missing
	// exchange (the first waits are shorter: from 250ms, doubling, with
	// jitter); default 1s. It bounds the time Ironic's re-declared
	// exchange has no binding to the listener's queue, whose events
	// RabbitMQ drops. 10ms to 1m.
	ExchangeProbeMax time.Duration `yaml:"exchange_probe_max" json:"exchange_probe_max,omitempty"`
	// RetryAttempts is how often an event whose NetBox write or submit
	// failed is tried in place, with backoff from RetryBackoff to
	// RetryMaxBackoff, before it is requeued; defaults 5, 200ms, 5s.
	RetryAttempts   int           `yaml:"retry_attempts" json:"retry_attempts,omitempty"`
	RetryBackoff    time.Duration `yaml:"retry_backoff" json:"retry_backoff,omitempty"`
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff" json:"retry_max_backoff,omitempty"`
	// Collection is the desired-state collection of the submitted
	// transitions; default the fabric's.
	Collection string `yaml:"collection" json:"collection,omitempty"`
	// Transitions map events to device states; the first that matches an
	// event starts a transition. Nil means DefaultListenerTransitions.
	Transitions []ListenerTransition `yaml:"transitions" json:"transitions,omitempty"`
}

// ListenerTransition starts a transition of the node's device to State
// when an event matches every condition given.
type ListenerTransition struct {
	// Name says what the rule is for, in logs.
	Name string `yaml:"name" json:"name,omitempty"`
	// Events are event types; a trailing "*" matches a prefix
	// (baremetal.node.provision_set.*). Required.
	Events []string `yaml:"events" json:"events"`
	// From are provision states the node left (the payload's
	// previous_provision_state); To are states it reached
	// (provision_state).
	From []string `yaml:"from" json:"from,omitempty"`
	To   []string `yaml:"to" json:"to,omitempty"`
	// Inspected requires the node's inspection_finished_at to be set.
	Inspected bool `yaml:"inspected" json:"inspected,omitempty"`
	// DeviceStates are the device's current device_state values ("0" for
	// unset) for which the rule applies.
	DeviceStates []string `yaml:"device_states" json:"device_states,omitempty"`
	// State is the device state to move to. Required.
	State string `yaml:"state" json:"state"`
}

// DefaultListenerTransitions are the device states Ironic's lifecycle
// drives by default:
//   - node enrolled (created, or moved to enroll) -> a;
//   - inspection finished (inspecting or inspect wait to manageable) -> b;
//     Ironic 21.4 sends no notification at the end of a synchronous
//     inspection, so the first provision event of an inspected node
//     (inspection_finished_at set) whose device is still in a counts too;
//   - deploy finished (deploying or wait call-back to active) -> c;
//   - undeployed back to available (from deleting or cleaning) while the
//     device is in c -> b.
func DefaultListenerTransitions() []ListenerTransition {
	provision := []string{"baremetal.node.provision_set.*"}
	return []ListenerTransition{
		{Name: "enrolled", Events: []string{"baremetal.node.create.end"}, State: "a"},
		{Name: "enrolled", Events: provision, To: []string{"enroll"}, State: "a"},
		{Name: "inspected", Events: provision, From: []string{"inspecting", "inspect wait"}, To: []string{"manageable"}, State: "b"},
		{Name: "inspected", Events: provision, Inspected: true, DeviceStates: []string{"a"}, State: "b"},
		{Name: "deployed", Events: provision, From: []string{"deploying", "wait call-back"}, To: []string{"active"}, State: "c"},
		{Name: "undeployed", Events: provision, From: []string{"deleting", "cleaning", "clean wait"}, To: []string{"available"},
			DeviceStates: []string{"c"}, State: "b"},
	}
}

// The listener's defaults (upstream's names).
const (
	DefaultListenerExchange   = "ironic"
	DefaultListenerRoutingKey = "ironic_versioned_notifications.info"
	DefaultListenerQueue      = "osism-listener-ironic"
	// DefaultListenerExchangeProbeMax is listener.exchange_probe_max's
	// default.
	DefaultListenerExchangeProbeMax = time.Second
)

// The variables of ListenerConfig. BROKER_URI is upstream's name of the
// URL; OSISM_LISTENER_AMQP_URL wins over it.
const (
	EnvListenerURL       = "OSISM_LISTENER_AMQP_URL"
	EnvListenerURLFile   = "OSISM_LISTENER_AMQP_URL_FILE"
	EnvListenerBrokerURI = "BROKER_URI"
	EnvListenerQueue     = "OSISM_LISTENER_QUEUE"
)

// ApplyEnv sets the fields whose variables lookup finds.
func (c *ListenerConfig) ApplyEnv(lookup func(string) (string, bool)) {
	if v, ok := lookup(EnvListenerURL); ok && v != "" {
		c.URL = osism.Secret(v)
	} else if v, ok := lookup(EnvListenerBrokerURI); ok && v != "" {
		c.URL = osism.Secret(v)
	}
	if v, ok := lookup(EnvListenerURLFile); ok {
		c.URLFile = v
	}
	if v, ok := lookup(EnvListenerQueue); ok {
		c.Queue = v
	}
}

// withDefaults fills the zero fields.
func (c ListenerConfig) withDefaults() ListenerConfig {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Exchange, DefaultListenerExchange)
	def(&c.RoutingKey, DefaultListenerRoutingKey)
	def(&c.Queue, DefaultListenerQueue)
	def(&c.DeadLetterQueue, c.Queue+".dead")
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.ReconnectMin, 100*time.Millisecond)
	dur(&c.ReconnectMax, 2*time.Second)
	dur(&c.ExchangeProbeMax, DefaultListenerExchangeProbeMax)
	dur(&c.RetryBackoff, 200*time.Millisecond)
	dur(&c.RetryMaxBackoff, 5*time.Second)
	if c.Prefetch <= 0 {
		c.Prefetch = 256
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.RetryAttempts <= 0 {
		c.RetryAttempts = 5
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.Transitions == nil {
		c.Transitions = DefaultListenerTransitions()
	}
	return c
}

// Validate checks the section and names the offending field.
func (c ListenerConfig) Validate() error {
	if c.Prefetch < 0 || c.Prefetch > 65535 {
		return fmt.Errorf("config listener.prefetch %d: expected 1 to 65535 (0: the default 256)", c.Prefetch)
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("config listener.concurrency %d: expected 1 or more (0: the default 4)", c.Concurrency)
	}
	if c.BatchSize < 0 || c.BatchSize > 1000 {
		return fmt.Errorf("config listener.batch_size %d: expected 1 to 1000 (0: the default 64)", c.BatchSize)
	}
	if c.RetryAttempts < 0 {
		return fmt.Errorf("config listener.retry_attempts %d: expected 1 or more (0: the default 5)", c.RetryAttempts)
	}
	if c.ReconnectMin > 0 && c.ReconnectMax > 0 && c.ReconnectMin > c.ReconnectMax {
		return fmt.Errorf("config listener.reconnect_min %s: expected at most reconnect_max %s", c.ReconnectMin, c.ReconnectMax)
	}
	if c.ExchangeProbeMax != 0 && (c.ExchangeProbeMax < 10*time.Millisecond || c.ExchangeProbeMax > time.Minute) {
		return fmt.Errorf("config listener.exchange_probe_max %s: expected 10ms to 1m (0: the default %s)",
			c.ExchangeProbeMax, DefaultListenerExchangeProbeMax)
	}
	for i, t := range c.Transitions {
		where := fmt.Sprintf("config listener.transitions[%d]", i)
		if len(t.Events) == 0 {
			return fmt.Errorf("%s: events: expected at least one event type such as baremetal.node.create.end", where)
		}
		for _, e := range t.Events {
			if e == "" || strings.ContainsAny(e, " \t") || strings.Contains(strings.TrimSuffix(e, "*"), "*") {
				return fmt.Errorf("%s: event %q: expected an event type, optionally ending in * (baremetal.node.provision_set.*)", where, e)
			}
		}
		if t.State == "" {
			return fmt.Errorf("%s: state: expected the device state to move to (a, b, c, ...)", where)
		}
		if !listenerStateRE.MatchString(t.State) {
			return fmt.Errorf("%s: state %q: expected letters and digits only", where, t.State)
		}
	}
	return nil
}

// amqpURL is URL, else the content of URLFile.
func (c ListenerConfig) amqpURL() (string, error) {
	if c.URL != "" {
		return strings.TrimSpace(string(c.URL)), nil
	}
	if c.URLFile == "" {
		return "", fmt.Errorf("listener: no RabbitMQ URL: set listener.url or listener.url_file (%s, %s or %s)",
			EnvListenerURL, EnvListenerURLFile, EnvListenerBrokerURI)
	}
	b, err := os.ReadFile(c.URLFile)
	if err != nil {
		return "", fmt.Errorf("listener: RabbitMQ URL file: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if u == "" {
		return "", fmt.Errorf("listener: RabbitMQ URL file %s is empty", c.URLFile)
	}
	return u, nil
}

// matchEvent reports whether pattern (an event type, or a prefix ending
// in *) matches typ.
func matchEvent(pattern, typ string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(typ, p)
	}
	ok, err := path.Match(pattern, typ)
	return err == nil && ok
}
