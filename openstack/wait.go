package openstack

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"
)

// WaitOpts is how WaitFor polls: the first pause, growing by half each
// time up to Max. The zero value means 50ms up to 2s.
type WaitOpts struct {
	Initial, Max time.Duration
}

func (o WaitOpts) pauses() (time.Duration, time.Duration) {
	first, most := o.Initial, o.Max
	if first <= 0 {
		first = 50 * time.Millisecond
	}
	if most <= 0 {
		most = 2 * time.Second
	}
	return first, max(first, most)
}

// SetWaitOpts changes how this client polls in WaitFor.
func (bm *BareMetal) SetWaitOpts(o WaitOpts) { bm.wait = o }

// WaitFor reads node ref until cond says done, pausing with backoff in
// between, and returns the node that satisfied cond. It ends with cond's
// error, a failed read, or ctx's error (naming the node and its last
// provision state).
func (bm *BareMetal) WaitFor(ctx context.Context, ref string, cond func(*Node) (bool, error)) (*Node, error) {
	pause, most := bm.wait.pauses()
	var timer *time.Timer
	var last *Node
	ended := func(n *Node) error {
		if n == nil {
			return fmt.Errorf("openstack: waiting for node %s: %w", ref, ctx.Err())
		}
		return fmt.Errorf("openstack: waiting for node %s (provision state %q, target %q, power %q): %w",
			n.Ref(), n.ProvisionState, n.TargetProvisionState, n.PowerState, ctx.Err())
	}
	for {
		n, err := bm.Node(ctx, ref)
		if err != nil {
			if ctx.Err() != nil {
				return last, ended(last)
			}
			return last, err
		}
		last = n
		done, err := cond(n)
		if err != nil {
			return n, err
		}
		if done {
			return n, nil
		}
		if timer == nil {
			timer = time.NewTimer(pause)
			defer timer.Stop()
		} else {
			timer.Reset(pause)
		}
		select {
		case <-ctx.Done():
			return n, ended(n)
		case <-timer.C:
		}
		pause = min(pause+pause/2, most)
	}
}

// WaitProvisionState waits until node ref rests in one of targets: no
// provision change pending and no conductor holding its lock, so that the
// next change is not refused with 409 Conflict. A failed state that is not a target ends the
// wait with a *NodeStateError naming the node, the state and last_error.
func (bm *BareMetal) WaitProvisionState(ctx context.Context, ref string, targets ...ProvisionState) (*Node, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("openstack: wait for node %s: no target provision state", ref)
	}
	return bm.WaitFor(ctx, ref, func(n *Node) (bool, error) {
		if slices.Contains(targets, n.ProvisionState) {
			return (n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.Reservation == "", nil
		}
		if n.ProvisionState.Failed() {
			return false, &NodeStateError{Node: n.Ref(), State: n.ProvisionState, Waiting: targets, LastError: n.LastError}
		}
		return false, nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
