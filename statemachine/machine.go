package statemachine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/looplab/fsm"
)

// Config is what a Machine is built from. Only Store is required.
type Config struct {
	// Graph holds the states and allowed transitions; nil means DefaultGraph.
	Graph *Graph
	// Store persists each device's state; required.
	Store Store
	// Locker serialises transitions per device; nil means a MemoryLocker
	// (enough for one process).
	Locker Locker
	// Hooks serve the phases, keyed by phase 1 to 4. A phase without hooks
	// only records its progress.
	Hooks map[Phase][]PhaseHook
	// Observers receive phase and transition events.
	Observers []Observer
	// Logger receives one line per phase; nil means no logging.
	Logger *slog.Logger
}

// Machine moves devices between states in four phases, recording each phase
// in the Store before it runs so that an interrupted transition resumes where
// it stopped. A Machine is safe for concurrent use.
type Machine struct {
	graph     *Graph
	store     Store
	locker    Locker
	hooks     [NumPhases + 1][]PhaseHook
	observers observers
	log       *slog.Logger
	fsms      sync.Pool
}

// New returns a Machine for cfg.
func New(cfg Config) (*Machine, error) {
	if cfg.Store == nil {
		return nil, errors.New("statemachine: Config.Store is required")
	}
	m := &Machine{graph: cfg.Graph, store: cfg.Store, locker: cfg.Locker, observers: slices.Clip(cfg.Observers), log: cfg.Logger}
	if m.graph == nil {
		m.graph = DefaultGraph()
	}
	if m.locker == nil {
		m.locker = NewMemoryLocker()
	}
	for p, hs := range cfg.Hooks {
		if p < 1 || p > NumPhases {
			return nil, fmt.Errorf("statemachine: Config.Hooks: phase %d: expected 1 to %d", p, NumPhases)
		}
		for i, h := range hs {
			if h == nil {
				return nil, fmt.Errorf("statemachine: Config.Hooks: phase %d, hook %d is nil", p, i+1)
			}
		}
		m.hooks[p] = append([]PhaseHook(nil), hs...)
	}
	m.fsms.New = func() any { return m.graph.newFSM(string(StateNew)) }
	return m, nil
}

// Graph returns the states and transitions the machine runs on.
func (m *Machine) Graph() *Graph { return m.graph }

// Status reads where device is.
func (m *Machine) Status(ctx context.Context, device string) (Status, error) {
	rec, err := m.store.Load(ctx, device)
	if err != nil {
		return Status{}, err
	}
	st, err := m.graph.Parse(rec)
	if err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			re.Device = device
		}
		return Status{}, err
	}
	return st, nil
}

// TransitionOpts are the options of one transition; nil means the defaults.
type TransitionOpts struct {
	// Enforce starts a transition although the device is in transit. A
	// device in transit to X is then treated as being in X: the transition
	// runs from X (all four phases). Enforcing the target the device is
	// already moving to restarts that transition at phase 1.
	Enforce bool
	// Locked, when set, runs once the device's lock is held and before its
	// state is read; an error stops the transition and is returned as it
	// is. A task handler uses it to re-read its task under the lock and
	// skip work that another delivery of the task already finished.
	Locked func(ctx context.Context) error
	// WaitLock waits while the device's lock is held, with backoff, until
	// ctx ends, instead of failing at once with ErrLocked: a redelivered
	// task waits for the lease of the delivery before it (whose worker may
	// have died) and then, in Locked, finds out whether that delivery
	// finished.
	WaitLock bool
	// OnLockWait, when set with WaitLock, receives each ErrLocked before
	// the wait that follows it, for example to say whom the caller waits
	// for.
	OnLockWait func(error)
	// Observers receive the events of this transition, after those of
	// the Machine's Config: a worker keeps one Machine and gives each
	// task's transition the observer that writes to its output.
	Observers []Observer
}

// Result says what a transition did.
type Result struct {
	Device string
	From   State
	To     State
	// NoOp is true when the device already was in the target state.
	NoOp bool
	// ResumedAt is the phase an interrupted transition continued at; 0 when
	// the transition started at phase 1.
	ResumedAt Phase
}

// ErrNotAllowed reports a target that is not allowed from the current state.
var ErrNotAllowed = errors.New("transition not allowed")

// ErrInTransit reports a device that is in transit to another target.
var ErrInTransit = errors.New("device in transit")

// NotAllowedError names the device, the states and the allowed targets.
type NotAllowedError struct {
	Device  string
	From    State
	To      State
	Allowed []State
}

func (e *NotAllowedError) Error() string {
	allowed := "none"
	if len(e.Allowed) > 0 {
		names := make([]string, len(e.Allowed))
		for i, s := range e.Allowed {
			names[i] = string(s)
		}
		allowed = strings.Join(names, ", ")
	}
	return fmt.Sprintf("device %q: transition %s -> %s is not allowed: allowed targets from %s: %s", e.Device, e.From, e.To, e.From, allowed)
}

func (e *NotAllowedError) Is(target error) bool { return target == ErrNotAllowed }

// InTransitError names the transition a device is in.
type InTransitError struct {
	Device  string
	Transit Transit
	Target  State
}

func (e *InTransitError) Error() string {
	return fmt.Sprintf("device %q is in transit %s -> %s (phase %d): refusing target %s without enforce",
		e.Device, e.Transit.From, e.Transit.To, e.Transit.Phase, e.Target)
}

func (e *InTransitError) Is(target error) bool { return target == ErrInTransit }

// PhaseError reports a phase that did not complete. The store still records
// the phase, so the transition resumes there when started again.
type PhaseError struct {
	Device string
	From   State
	To     State
	Phase  Phase
	Err    error
}

func (e *PhaseError) Error() string {
	return fmt.Sprintf("device %q: transition %s -> %s, phase %d: %v", e.Device, e.From, e.To, e.Phase, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// LockKey is the Locker key of a device's transitions.
func LockKey(device string) string { return "device/" + device }

// Transition moves device to target, running phases 1 to 4 and recording
// each in the Store before it runs.
//
//   - A device already in target is left alone (Result.NoOp).
//   - A device whose last transition to target was interrupted at phase N
//     continues at phase N.
//   - A device in transit to another target is refused (ErrInTransit) unless
//     opts.Enforce is set.
//   - A target not allowed from the current state is refused
//     (ErrNotAllowed, naming the allowed targets).
//   - A device whose lock is held fails at once (ErrLocked), or with
//     opts.WaitLock is waited for until ctx ends. A lock lost
//     during the transition cancels the context the hooks run with (its
//     cause is ErrLockLost), and nothing is recorded after the loss: the
//     transition stops with ErrLockLost at the phase it was in, and a new
//     run resumes there.
func (m *Machine) Transition(ctx context.Context, device string, target State, opts *TransitionOpts) (Result, error) {
	if opts == nil {
		opts = &TransitionOpts{}
	}
	res := Result{Device: device, To: target}
	if device == "" {
		return res, errors.New("transition: empty device name")
	}
	if !m.graph.Has(target) {
		return res, fmt.Errorf("device %q: target state %q: unknown state: expected one of %s", device, target, m.graph.names())
	}
	var lease Lease
	var err error
	if opts.WaitLock {
		lease, err = AcquireWait(ctx, m.locker, LockKey(device), opts.OnLockWait)
	} else {
		lease, err = m.locker.Acquire(ctx, LockKey(device))
	}
	if err != nil {
		return res, fmt.Errorf("device %q: %w", device, err)
	}
	defer func() {
		// The lock must be released even when ctx is cancelled.
		_ = lease.Release(context.WithoutCancel(ctx))
	}()

	if opts.Locked != nil {
		if err := opts.Locked(ctx); err != nil {
			return res, err
		}
	}
	st, err := m.Status(ctx, device)
	if err != nil {
		return res, err
	}

	from, start, resumed := st.State, Phase(1), false
	switch {
	case st.Transit == nil:
		res.From = from
		if from == target {
			res.NoOp = true
			return res, nil
		}
	case st.Transit.To == target && !opts.Enforce:
		from, start, resumed = st.Transit.From, st.Transit.Phase, true
		res.ResumedAt = start
	case st.Transit.To == target: // enforced restart
		from = st.Transit.From
	case !opts.Enforce:
		return res, &InTransitError{Device: device, Transit: *st.Transit, Target: target}
	default: // enforced: the device counts as being in the state it was moving to
		from = st.Transit.To
	}
	res.From = from
	if start == 1 && !m.graph.allows(from, target) {
		return res, &NotAllowedError{Device: device, From: from, To: target, Allowed: m.graph.Allowed(from)}
	}
	obs := m.observers
	if len(opts.Observers) > 0 {
		obs = append(slices.Clip(obs), opts.Observers...)
	}
	hctx, stop := lostContext(ctx, device, lease)
	defer stop()
	return res, m.run(hctx, device, from, target, start, resumed, lease.Lost(), obs)
}

func (m *Machine) run(ctx context.Context, device string, from, to State, start Phase, resumed bool, lost <-chan struct{}, obs observers) error {
	strs := m.graph.strs[Edge{from, to}]
	f := m.fsms.Get().(*fsm.FSM)
	defer m.fsms.Put(f)
	// Enter the FSM where the transition stands: at the settled state, or at
	// the node of the phase before the one that resumes.
	if start == 1 {
		f.SetState(string(from))
	} else {
		f.SetState(strs.nodes[start-1])
	}
	var began time.Time
	if len(obs) > 0 {
		began = time.Now()
	}
	for p := start; p <= NumPhases; p++ {
		select {
		case <-lost:
			return &PhaseError{Device: device, From: from, To: to, Phase: p, Err: fmt.Errorf("%w before the phase started", ErrLockLost)}
		default:
		}
		if err := ctx.Err(); err != nil {
			return &PhaseError{Device: device, From: from, To: to, Phase: p, Err: err}
		}
		rec := strs.records[p]
		if err := m.store.Save(ctx, device, rec); err != nil {
			return &PhaseError{Device: device, From: from, To: to, Phase: p, Err: fmt.Errorf("record phase: %w", err)}
		}
		if err := m.fire(ctx, f, rec.Transition); err != nil {
			return &PhaseError{Device: device, From: from, To: to, Phase: p, Err: err}
		}
		if err := m.runPhase(ctx, device, from, to, p, resumed && p == start, obs); err != nil {
			return err
		}
	}
	// The final record only while the lock holds: a transition whose lock
	// was lost in phase 4 leaves the phase recorded, to be run again.
	select {
	case <-lost:
		return &PhaseError{Device: device, From: from, To: to, Phase: NumPhases, Err: fmt.Errorf("%w before the state was recorded", ErrLockLost)}
	default:
	}
	if err := m.store.Save(ctx, device, Record{State: string(to)}); err != nil {
		return &PhaseError{Device: device, From: from, To: to, Phase: NumPhases, Err: fmt.Errorf("record state %s: %w", to, err)}
	}
	if err := m.fire(ctx, f, strs.settle); err != nil {
		return &PhaseError{Device: device, From: from, To: to, Phase: NumPhases, Err: err}
	}
	if len(obs) > 0 {
		obs.emit(Event{Kind: TransitionFinished, Device: device, From: from, To: to, Resumed: resumed, Duration: time.Since(began), Time: time.Now()})
	}
	return nil
}

// fire moves the FSM by one event. The FSM checks that each step follows the
// graph; it has no callbacks, so no hook ever runs inside it.
func (m *Machine) fire(ctx context.Context, f *fsm.FSM, event string) error {
	if err := f.Event(ctx, event); err != nil {
		return fmt.Errorf("state machine step %q from %q: %w", event, f.Current(), err)
	}
	return nil
}

func (m *Machine) runPhase(ctx context.Context, device string, from, to State, p Phase, resumed bool, obs observers) error {
	step := Step{Device: device, From: from, To: to, Phase: p, Resumed: resumed}
	observed := len(obs) > 0
	if observed {
		step.report = obs.emit
	}
	// Clock reads only when someone looks: the benchmark's hot path has
	// neither observers nor a logger.
	var began time.Time
	if observed || m.log != nil {
		began = time.Now()
	}
	if observed {
		obs.emit(Event{Kind: PhaseStarted, Device: device, From: from, To: to, Phase: p, Resumed: resumed, Time: began})
	}
	for _, h := range m.hooks[p] {
		if err := h.RunPhase(ctx, step); err != nil {
			if cause := context.Cause(ctx); ctx.Err() != nil && errors.Is(cause, ErrLockLost) && !errors.Is(err, ErrLockLost) {
				err = fmt.Errorf("%w: %w", cause, err)
			}
			d := time.Since(began)
			if observed {
				obs.emit(Event{Kind: PhaseFailed, Device: device, From: from, To: to, Phase: p, Resumed: resumed, Err: err, Duration: d, Time: time.Now()})
			}
			if m.log != nil {
				m.log.LogAttrs(ctx, slog.LevelError, "phase failed", slog.String("device", device), slog.String("from", string(from)),
					slog.String("to", string(to)), slog.Int("phase", int(p)), slog.Duration("duration", d), slog.String("error", err.Error()))
			}
			return &PhaseError{Device: device, From: from, To: to, Phase: p, Err: err}
		}
	}
	if observed || m.log != nil {
		d := time.Since(began)
		if observed {
			obs.emit(Event{Kind: PhaseFinished, Device: device, From: from, To: to, Phase: p, Resumed: resumed, Duration: d, Time: time.Now()})
		}
		if m.log != nil {
			m.log.LogAttrs(ctx, slog.LevelInfo, "phase finished", slog.String("device", device), slog.String("from", string(from)),
				slog.String("to", string(to)), slog.Int("phase", int(p)), slog.Duration("duration", d))
		}
	}
	return nil
}

// lostContext is ctx, cancelled with ErrLockLost as its cause when lost
// closes, so that a hook stops the work the lock guarded. stop ends the
// watch.
func lostContext(ctx context.Context, device string, lease Lease) (context.Context, func()) {
	lost := lease.Lost()
	if lost == nil {
		return ctx, func() {}
	}
	hctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lost:
			cancel(fmt.Errorf("device %q: %w", device, ErrLockLost))
		case <-hctx.Done():
		}
	}()
	return hctx, func() { cancel(nil) }
}

// observers are the observers of one transition.
type observers []Observer

func (obs observers) emit(e Event) {
	for _, o := range obs {
		o(e)
	}
}
