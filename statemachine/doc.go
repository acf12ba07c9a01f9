// Package statemachine moves devices between states in four phases and
// survives being interrupted at any of them.
//
// OSISM keeps a device's lifecycle in NetBox: 0 (new), a (unprovisioned,
// ready for introspection), b (introspected, ready for cleaning or
// provisioning) and c (provisioned). Moving a device from one state to
// another runs four phases in order:
//
//  1. change NetBox to the desired state of the target,
//  2. generate the configuration of every managed switch the device is wired to,
//  3. deploy it to those switches,
//  4. compare what each switch runs with what NetBox says.
//
// The package knows nothing of NetBox or switches: each phase is served by
// PhaseHooks that the caller supplies, several per phase if needed. The
// real ones are netbox.DesiredStateHook (phase 1) and the switchcfg hooks
// GenerateHook, DeployHook and CompareHook (phases 2 to 4), which
// services.Fabric wires together; programs add hooks of their own to any
// phase.
//
// # Recording and resuming
//
// Before a phase runs, the Store records it in the upstream encoding of the
// NetBox custom fields: device_transition "from_a-to_b-phase_2" and
// device_state "b-phase_2". After phase 4 the transition is "" and the state
// "b". A transition that stops (the process is killed, the context is
// cancelled, a hook fails, the lock is lost) leaves the phase it was in
// recorded; starting the same transition again, from any process, continues
// at that phase. Hooks must therefore be idempotent: a phase may run again
// after it did part or all of its work.
//
// A transition to the state the device is in does nothing. A device in
// transit to another target is refused unless TransitionOpts.Enforce is set.
// A target the Graph does not allow from the current state is refused with
// an error that names the allowed targets. Stored strings that are not in the
// encoding are rejected with ErrInvalidRecord, never guessed at.
//
// # Locks
//
// A Locker makes sure one transition runs per device at a time: a second
// transition of the same device fails at once with ErrLocked. MemoryLocker
// serves one process; the task bus provides a distributed Locker. A lock lost
// while a transition holds it stops the transition before its next phase.
//
// # The graph is data
//
// States and allowed transitions are a Graph, which users can Extend with
// their own states and transitions. The machine runs on looplab/fsm events
// generated from the graph (a -> "b (phase 1)" -> ... -> "b (phase 4)" -> b),
// and Graph.Dot and Graph.Mermaid draw the same events, so the picture in
// contrib/netbox-state-machine.dot is always what the machine does. Hooks
// never run inside looplab/fsm callbacks (the machine registers none), so the
// library's deadlock when an event is fired from a callback cannot occur, and
// a hook may start other transitions.
//
// # Observing
//
// Observers receive PhaseStarted, PhaseProgress (reported by hooks through
// Step.Progress), PhaseFinished, PhaseFailed and TransitionFinished events,
// for progress output and metrics: those of the Machine's Config see every
// transition, those of TransitionOpts only their own, so that a worker
// keeps one Machine and writes each task's progress to that task's output.
// LineObserver writes events as lines for people; ChannelObserver sends
// them to a channel.
package statemachine
