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
type DesiredStateHook struct {
	Client     *Client
	Dir        string
	Collection string
	// Optional, when a target state has no desired-state file: skip the
	// phase instead of failing it.
	Optional bool
}

// RunPhase applies the desired state of step.To to step.Device and reports
// how many changes it made.
func (h DesiredStateHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	ds, err := LoadDesiredState(h.Dir, h.Collection, step.Device, string(step.To))
	if errors.Is(err, ErrNoDesiredState) && h.Optional {
		step.Progress(fmt.Sprintf("no desired state for %s in collection %s", step.To, h.Collection), 0, 0)
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
