package netbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/osism/go-osism/statemachine"
)

// DesiredStateHook is phase 1 of a transition: it makes NetBox match the
// desired state of the target, read from <Dir>/<Collection>/... as
// LoadDesiredState does. Apply is idempotent, so the hook may run again
// after an interruption.
//
// A target state without a desired-state file never passes silently.
// Without Optional the phase fails with a *MissingDesiredStateError that
// names the device, the state and the files looked for. With Optional the
// phase is skipped and says so in the transition's output (a Progress
// line "no desired state for <device> in state <s> (looked for <files>)").
// Either way OnMissing, when set, receives the error, so that a caller can
// put it into the result it records.
type DesiredStateHook struct {
	Client     *Client
	Dir        string
	Collection string
	// Optional, when a target state has no desired-state file: skip the
	// phase, with a line in the output, instead of failing it.
	Optional bool
	// OnMissing, if set, is called with the context of the phase when the
	// target state has no desired-state file, before the phase is skipped
	// or fails.
	OnMissing func(context.Context, *MissingDesiredStateError)
}

// Hook is the phase-1 hook over c for collection (default c's
// Collection): it fails a transition to a state without a desired-state
// file when Require is set, and otherwise skips the phase and says so.
func (c DesiredStateConfig) Hook(client *Client, collection string) DesiredStateHook {
	if collection == "" {
		collection = c.Collection
	}
	return DesiredStateHook{Client: client, Dir: c.Dir, Collection: collection, Optional: !c.Require}
}

// RunPhase applies the desired state of step.To to step.Device and reports
// how many changes it made.
func (h DesiredStateHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	ds, err := LoadDesiredState(h.Dir, h.Collection, step.Device, string(step.To))
	if missing, ok := errors.AsType[*MissingDesiredStateError](err); ok {
		if h.OnMissing != nil {
			h.OnMissing(ctx, missing)
		}
		if !h.Optional {
			return fmt.Errorf("phase 1 (desired state in NetBox): %w", missing)
		}
		step.Progress(missing.Error(), 0, 0)
		return nil
	}
	if err != nil {
		return err
	}
	done, err := h.Client.Apply(ctx, step.Device, ds)
	for i, c := range done.Changes {
		step.Progress(c.String(), i+1, len(done.Changes))
	}
	if err != nil {
		return err
	}
	if done.Empty() {
		step.Progress("NetBox already matches the desired state", 0, 0)
	}
	return nil
}
