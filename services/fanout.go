package services

import (
	"context"
	"io"

	"github.com/osism/go-osism/osism"
)

// TaskOutcome is one task of many submitted at once: its id and, after a
// wait, how it ended.
type TaskOutcome struct {
	ID string `json:"task_id"`
	// State is the task's state when the wait returned (empty when the
	// caller did not wait, or when waiting for it failed).
	State osism.State `json:"state,omitempty"`
	// ExitStatus is the followed task's exit status.
	ExitStatus int `json:"exit_status"`
	// Error is why the task did not succeed: the task's error, or why
	// waiting for it failed.
	Error string `json:"error,omitempty"`
}

// Failed reports whether the task did not succeed (after a wait).
func (t TaskOutcome) Failed() bool { return t.State != osism.StateSucceeded }

// followOne follows the output of the one task t to f.Out (FollowTask,
// with its interrupts) and fills in how it ended.
func followOne(ctx context.Context, client *osism.Client, t *TaskOutcome, f *ConnectFollow) error {
	out := f.Out
	if out == nil {
		out = io.Discard
	}
	fo := f.FollowOpts
	code, err := FollowTask(ctx, client, t.ID, out, &fo)
	t.ExitStatus = code
	if err != nil {
		return err
	}
	if info, err := client.Get(ctx, t.ID); err == nil {
		t.State, t.Error = info.State, info.Error
	}
	return nil
}

// awaitAll waits for every task at once, fills in how each ended, tells
// progress (when not nil) each time one ended, and returns how many did
// not succeed.
func awaitAll(ctx context.Context, client *osism.Client, tasks []*TaskOutcome, progress func(done, total, failed int)) int {
	type done struct {
		t    *TaskOutcome
		info *osism.Task
		err  error
	}
	ch := make(chan done, len(tasks))
	for _, t := range tasks {
		go func() {
			info, err := client.Wait(ctx, t.ID)
			ch <- done{t, info, err}
		}()
	}
	failed := 0
	for n := 1; n <= len(tasks); n++ {
		d := <-ch
		if d.err != nil {
			d.t.Error = d.err.Error()
		} else {
			d.t.State, d.t.Error, d.t.ExitStatus = d.info.State, d.info.Error, d.info.ExitStatus
		}
		if d.t.Failed() {
			failed++
		}
		if progress != nil {
			progress(n, len(tasks), failed)
		}
	}
	return failed
}
