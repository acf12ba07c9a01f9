package statemachine

import (
	"context"
	"fmt"
	"io"
	"time"
)

// PhaseHook does the work of one phase of a transition. Several hooks may
// serve one phase; they run in the order they were given, and the first error
// fails the phase.
//
// Hooks must be idempotent: a transition interrupted in phase N (a crash, a
// cancelled context, a hook error, a lost lock) runs phase N again, from its
// first hook, when the transition is started again.
type PhaseHook interface {
	RunPhase(ctx context.Context, step Step) error
}

// PhaseHookFunc adapts a function to a PhaseHook.
type PhaseHookFunc func(ctx context.Context, step Step) error

// RunPhase calls f.
func (f PhaseHookFunc) RunPhase(ctx context.Context, step Step) error { return f(ctx, step) }

// Step is what a hook sees of the transition it serves.
type Step struct {
	Device string
	From   State
	To     State
	Phase  Phase
	// Resumed is true when this phase runs again after an interruption.
	Resumed bool

	report func(Event)
}

// Progress reports how far the hook is, for progress output and metrics:
// observers receive it as a PhaseProgress event. total may be 0 when unknown.
func (s Step) Progress(message string, done, total int) {
	if s.report == nil {
		return
	}
	s.report(Event{
		Kind: PhaseProgress, Device: s.Device, From: s.From, To: s.To, Phase: s.Phase, Resumed: s.Resumed,
		Message: message, Done: done, Total: total, Time: time.Now(),
	})
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event, in the order a phase produces them.
const (
	PhaseStarted EventKind = iota + 1
	PhaseProgress
	PhaseFinished
	PhaseFailed
	TransitionFinished
)

func (k EventKind) String() string {
	switch k {
	case PhaseStarted:
		return "phase started"
	case PhaseProgress:
		return "phase progress"
	case PhaseFinished:
		return "phase finished"
	case PhaseFailed:
		return "phase failed"
	case TransitionFinished:
		return "transition finished"
	}
	return "unknown"
}

// Event is what observers receive.
type Event struct {
	Kind    EventKind
	Device  string
	From    State
	To      State
	Phase   Phase // 0 for TransitionFinished
	Resumed bool
	Message string // PhaseProgress
	Done    int    // PhaseProgress
	Total   int    // PhaseProgress
	Err     error  // PhaseFailed
	// Duration is how long the phase (PhaseFinished, PhaseFailed) or the
	// whole run (TransitionFinished) took.
	Duration time.Duration
	Time     time.Time
}

// Observer receives the events of every transition of a Machine, on the
// goroutine that runs the transition: it must return quickly.
type Observer func(Event)

// ChannelObserver sends every event to ch. The send blocks, so nothing is
// lost: the reader must keep draining ch while transitions run.
func ChannelObserver(ch chan<- Event) Observer {
	return func(e Event) { ch <- e }
}

// LineObserver writes the events of every transition as lines for people:
//
//	node-1: a -> b: phase 2 started
//	node-1: phase 2: leaf-1: rendered, changed, revision 3f2a9c01d2b4
//	node-1: phase 2 finished in 12ms
//	node-1: now in state b (85ms)
//
// Writes to w happen on the transitions' goroutines: w must be safe for
// concurrent use when several transitions share the observer.
func LineObserver(w io.Writer) Observer {
	return func(e Event) {
		switch e.Kind {
		case PhaseStarted:
			resumed := ""
			if e.Resumed {
				resumed = " (resumed)"
			}
			fmt.Fprintf(w, "%s: %s -> %s: phase %d started%s\n", e.Device, e.From, e.To, e.Phase, resumed)
		case PhaseProgress:
			fmt.Fprintf(w, "%s: phase %d: %s\n", e.Device, e.Phase, e.Message)
		case PhaseFinished:
			fmt.Fprintf(w, "%s: phase %d finished in %s\n", e.Device, e.Phase, e.Duration.Round(time.Millisecond))
		case PhaseFailed:
			fmt.Fprintf(w, "%s: phase %d failed: %v\n", e.Device, e.Phase, e.Err)
		case TransitionFinished:
			fmt.Fprintf(w, "%s: now in state %s (%s)\n", e.Device, e.To, e.Duration.Round(time.Millisecond))
		}
	}
}
