package services

import (
	"context"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
)

// taskMetrics are the collectors of tasks: submitted (seen on the bus),
// running and finished by kind, queue and outcome, with durations.
type taskMetrics struct {
	submitted *prometheus.CounterVec
	running   *prometheus.GaugeVec
	finished  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// taskSubjectPrefix starts the subject of every task message
// (osism.TaskSubject).
const taskSubjectPrefix = "osism.tasks."

// taskBuckets reach from a noop to a long playbook run.
var taskBuckets = []float64{0.01, 0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600}

func newTaskMetrics(reg prometheus.Registerer) *taskMetrics {
	return &taskMetrics{
		submitted: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_tasks_submitted_total",
			Help: "Tasks published to the bus, by kind and queue."}, []string{"kind", "queue"})),
		running: registerCollector(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "osism_tasks_running",
			Help: "Tasks the manager's workers run now, by kind and queue."}, []string{"kind", "queue"})),
		finished: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_tasks_finished_total",
			Help: "Task runs ended on the manager's workers, by kind, queue and outcome (succeeded, failed, cancelled; queued: handed back on shutdown)."},
			[]string{"kind", "queue", "outcome"})),
		duration: registerCollector(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "osism_task_duration_seconds",
			Help: "How long task handlers ran, by kind, queue and outcome.", Buckets: taskBuckets}, []string{"kind", "queue", "outcome"})),
	}
}

// observe is an osism.RunnerConfig.OnTask.
func (m *taskMetrics) observe(e osism.TaskEvent) {
	q := string(e.Queue)
	switch e.Event {
	case osism.TaskStarted:
		m.running.WithLabelValues(e.Kind, q).Inc()
	case osism.TaskFinished:
		m.running.WithLabelValues(e.Kind, q).Dec()
		outcome := string(e.State)
		m.finished.WithLabelValues(e.Kind, q, outcome).Inc()
		m.duration.WithLabelValues(e.Kind, q, outcome).Observe(e.Duration.Seconds())
	}
}

// onSubmit counts a task message published on the bus; its subject is
// osism.tasks.<queue>.<id>, its kind a header.
func (m *taskMetrics) onSubmit(msg *nats.Msg) {
	rest, ok := strings.CutPrefix(msg.Subject, taskSubjectPrefix)
	if !ok {
		return
	}
	q, _, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	kind := msg.Header.Get("Osism-Kind")
	if kind == "" {
		kind = "unknown"
	}
	m.submitted.WithLabelValues(kind, q).Inc()
}

// transitionMetrics are the collectors of device transitions.
type transitionMetrics struct {
	phases   *prometheus.HistogramVec
	failures *prometheus.CounterVec
	done     *prometheus.HistogramVec
}

var transitionBuckets = []float64{0.05, 0.25, 1, 5, 15, 60, 300}

func newTransitionMetrics(reg prometheus.Registerer) *transitionMetrics {
	m := &transitionMetrics{
		phases: registerCollector(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "osism_transition_phase_duration_seconds",
			Help:    "How long a phase of a device transition took, by phase (1 NetBox, 2 generate, 3 deploy, 4 compare) and outcome (finished, failed).",
			Buckets: transitionBuckets}, []string{"phase", "outcome"})),
		failures: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_transition_phase_failures_total",
			Help: "Phases of device transitions that failed, by phase."}, []string{"phase"})),
		done: registerCollector(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "osism_transition_duration_seconds",
			Help: "How long whole device transitions took, by target state.", Buckets: transitionBuckets}, []string{"to"})),
	}
	// Every phase's failures start at zero, so that a rate is defined
	// before the first failure and the series exists from the start.
	for p := 1; p <= statemachine.NumPhases; p++ {
		m.failures.WithLabelValues(strconv.Itoa(p))
	}
	return m
}

// observe is a statemachine.Observer.
func (m *transitionMetrics) observe(e statemachine.Event) {
	phase := strconv.Itoa(int(e.Phase))
	switch e.Kind {
	case statemachine.PhaseFinished:
		m.phases.WithLabelValues(phase, "finished").Observe(e.Duration.Seconds())
	case statemachine.PhaseFailed:
		m.phases.WithLabelValues(phase, "failed").Observe(e.Duration.Seconds())
		m.failures.WithLabelValues(phase).Inc()
	case statemachine.TransitionFinished:
		m.done.WithLabelValues(string(e.To)).Observe(e.Duration.Seconds())
	}
}

// transitionObserversKey is the context key of WithTransitionObserver.
type transitionObserversKey struct{}

// WithTransitionObserver returns ctx with obs added to the observers of
// every transition [Fabric.Connect] runs under it. A worker started with
// such a context hands it to its netbox.connect tasks: that is how the
// manager's metrics see the phases.
func WithTransitionObserver(ctx context.Context, obs statemachine.Observer) context.Context {
	prev := transitionObservers(ctx)
	all := make([]statemachine.Observer, 0, len(prev)+1)
	return context.WithValue(ctx, transitionObserversKey{}, append(append(all, prev...), obs))
}

// transitionObservers are the observers WithTransitionObserver put in
// ctx.
func transitionObservers(ctx context.Context) []statemachine.Observer {
	obs, _ := ctx.Value(transitionObserversKey{}).([]statemachine.Observer)
	return obs
}

// listenerCollector exposes a listener's counters, which it keeps
// itself, as osism_listener_messages_total by outcome.
type listenerCollector struct {
	l     *Listener
	desc  *prometheus.Desc
	up    *prometheus.Desc
	bound *prometheus.Desc
}

func newListenerCollector(l *Listener) *listenerCollector {
	return &listenerCollector{l: l,
		desc: prometheus.NewDesc("osism_listener_messages_total",
			"Messages of Ironic's notifications the listener handled, by outcome.", []string{"outcome"}, nil),
		up: prometheus.NewDesc("osism_listener_consuming", "1 while the listener consumes from RabbitMQ.", nil, nil),
		bound: prometheus.NewDesc("osism_listener_bound",
			"1 while the listener's queue is bound to Ironic's exchange (0: consuming, waiting for the exchange).", nil, nil)}
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.up
	ch <- c.bound
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	for _, v := range []struct {
		outcome string
		n       uint64
	}{
		{"received", s.Received}, {"applied", s.Applied}, {"unknown", s.Unknown}, {"dead_lettered", s.DeadLettered},
		{"unchanged", s.Unchanged}, {"no_device", s.NoDevice}, {"submitted", s.Submitted}, {"duplicate", s.Duplicates},
		{"retried", s.Retries}, {"requeued", s.Requeued}, {"reconnect", s.Reconnects}, {"netbox_write", s.Writes},
		{"exchange_missing", s.ExchangeProbes}, {"bound", s.Binds},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), v.outcome)
	}
	up := 0.0
	if s.Consuming {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	bound := 0.0
	if s.Bound {
		bound = 1
	}
	ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, bound)
}

// listenerEvents counts the events the listener publishes on the bus
// (osism.events.ironic.<type>) once it applied them, by type.
type listenerEvents struct{ c *prometheus.CounterVec }

func newListenerEvents(reg prometheus.Registerer) *listenerEvents {
	return &listenerEvents{c: registerCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osism_listener_events_total",
		Help: "Ironic events the listener applied and published on the bus, by event type and outcome."}, []string{"type", "outcome"}))}
}

func (l *listenerEvents) onEvent(msg *nats.Msg) {
	typ := strings.TrimPrefix(msg.Subject, osism.EventSubjectPrefix+"ironic.")
	l.c.WithLabelValues(typ, "applied").Inc()
}
