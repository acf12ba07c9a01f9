package statemachine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Status is where a device is: settled in a state, or in transit between two
// states at a phase.
type Status struct {
	// State is the settled state; while in transit it is the state the
	// transition started from.
	State State `json:"state"`
	// Transit is set while a transition runs (or was interrupted).
	Transit *Transit `json:"transit,omitempty"`
}

// Transit is a transition that runs or was interrupted.
type Transit struct {
	From  State `json:"from"`
	To    State `json:"to"`
	Phase Phase `json:"phase"`
}

// InTransit reports whether a transition runs or was interrupted.
func (s Status) InTransit() bool { return s.Transit != nil }

func (s Status) String() string {
	if s.Transit == nil {
		return string(s.State)
	}
	return fmt.Sprintf("%s -> %s (phase %d)", s.Transit.From, s.Transit.To, s.Transit.Phase)
}

// Record returns the stored form of s, in the upstream encoding.
func (s Status) Record() Record {
	if s.Transit == nil {
		return Record{State: string(s.State)}
	}
	t := s.Transit
	return Record{
		State:      string(t.To) + "-phase_" + strconv.Itoa(int(t.Phase)),
		Transition: phaseEvent(t.From, t.To, t.Phase),
	}
}

// ErrInvalidRecord reports a stored device_state or device_transition that
// is not in the upstream encoding or names a state the graph does not have.
var ErrInvalidRecord = errors.New("invalid stored state")

// RecordError says which stored field of which device could not be parsed.
type RecordError struct {
	Device string
	Field  string // "device_state" or "device_transition"
	Value  string
	Reason string
}

func (e *RecordError) Error() string {
	dev := ""
	if e.Device != "" {
		dev = fmt.Sprintf("device %q: ", e.Device)
	}
	return fmt.Sprintf("%s%s %q: %s", dev, e.Field, e.Value, e.Reason)
}

func (e *RecordError) Is(target error) bool { return target == ErrInvalidRecord }

// Parse reads a stored record back into a Status. An empty or "0"
// device_transition means settled; an empty device_state means the new state
// "0". Any other value must be in the upstream encoding and name states of g:
// device_state "<state>" or "<to>-phase_<n>", device_transition
// "from_<from>-to_<to>-phase_<n>" with the same <to> and <n>.
func (g *Graph) Parse(rec Record) (Status, error) {
	stateErr := func(reason string) error {
		return &RecordError{Field: "device_state", Value: rec.State, Reason: reason}
	}
	if rec.Transition == "" || rec.Transition == "0" {
		if rec.State == "" {
			return Status{State: StateNew}, nil
		}
		if strings.Contains(rec.State, "-phase_") {
			return Status{}, stateErr("a phase is recorded but device_transition is empty: expected a settled state, one of " + g.names())
		}
		if !g.Has(State(rec.State)) {
			return Status{}, stateErr("unknown state: expected one of " + g.names())
		}
		return Status{State: State(rec.State)}, nil
	}

	tr, err := g.parseTransition(rec.Transition)
	if err != nil {
		return Status{}, &RecordError{Field: "device_transition", Value: rec.Transition, Reason: err.Error()}
	}
	want := Status{State: tr.From, Transit: &tr}.Record().State
	if rec.State != want {
		return Status{}, stateErr(fmt.Sprintf("does not match device_transition %q: expected %q", rec.Transition, want))
	}
	return Status{State: tr.From, Transit: &tr}, nil
}

func (g *Graph) parseTransition(s string) (Transit, error) {
	const expected = `expected "from_<state>-to_<state>-phase_<1-4>"`
	rest, ok := strings.CutPrefix(s, "from_")
	if !ok {
		return Transit{}, errors.New(expected)
	}
	from, rest, ok := strings.Cut(rest, "-to_")
	if !ok {
		return Transit{}, errors.New(expected)
	}
	to, phase, ok := strings.Cut(rest, "-phase_")
	if !ok {
		return Transit{}, errors.New(expected)
	}
	n, err := strconv.Atoi(phase)
	if err != nil || n < 1 || n > NumPhases || strconv.Itoa(n) != phase {
		return Transit{}, fmt.Errorf("phase %q: expected 1 to %d", phase, NumPhases)
	}
	for _, st := range []string{from, to} {
		if !g.Has(State(st)) {
			return Transit{}, fmt.Errorf("unknown state %q: expected one of %s", st, g.names())
		}
	}
	if !g.allows(State(from), State(to)) {
		return Transit{}, fmt.Errorf("%s -> %s is not an allowed transition", from, to)
	}
	return Transit{From: State(from), To: State(to), Phase: Phase(n)}, nil
}
