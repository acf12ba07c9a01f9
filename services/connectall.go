package services

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/osism/go-osism/osism"
)

// ConnectAllRequest is what `osism netbox connect` asks: move each device
// to State with the desired states of Collection.
type ConnectAllRequest struct {
	Devices    []string
	State      string
	Collection string
	// Enforce runs a transition even when the device is in transit or the
	// graph does not allow it.
	Enforce bool
}

// ConnectAllOpts are the knobs of [ConnectAll]; nil means defaults.
type ConnectAllOpts struct {
	// NoWait returns once every task is submitted.
	NoWait bool
	// Follow, when not nil and there is one device, follows that task's
	// output to Out with FollowTask instead of waiting silently.
	Follow *ConnectFollow
	// Progress, when not nil, is told each time a device's task ended:
	// done of total have ended, failed of them did not succeed.
	Progress func(done, total, failed int)
}

// ConnectFollow is how [ConnectAll] follows the task of one device.
type ConnectFollow struct {
	// Out receives the task's output.
	Out io.Writer
	FollowOpts
}

// ConnectTask is the task of one device.
type ConnectTask struct {
	Device string `json:"device"`
	TaskOutcome
}

// ErrDevicesFailed matches the error of a ConnectAll some of whose
// devices failed.
var ErrDevicesFailed = errors.New("devices failed")

// ConnectAll submits one netbox.connect task per device, in order, and
// waits for them all, telling opts.Progress as they end; with one device
// and opts.Follow it follows that task's output instead (an interrupt
// ends it with an *InterruptedError, as FollowTask does). It returns the
// tasks in the order of req.Devices (none for no devices). The error is a submit or follow that
// failed, or, after a wait, "N of M devices failed" (ErrDevicesFailed),
// with the tasks that say which.
func ConnectAll(ctx context.Context, client *osism.Client, req ConnectAllRequest, opts *ConnectAllOpts) ([]ConnectTask, error) {
	if opts == nil {
		opts = &ConnectAllOpts{}
	}
	if req.State == "" {
		return nil, errors.New("connect: no state: expected the target state")
	}
	tasks := make([]ConnectTask, 0, len(req.Devices))
	for _, d := range req.Devices {
		res, err := client.Submit(ctx, osism.NetBoxConnectArgs{Device: d, State: req.State, Collection: req.Collection, Enforce: req.Enforce}, nil)
		if err != nil {
			return tasks, err
		}
		tasks = append(tasks, ConnectTask{Device: d, TaskOutcome: TaskOutcome{ID: res.ID}})
	}
	if opts.NoWait {
		return tasks, nil
	}
	if len(tasks) == 1 && opts.Follow != nil {
		t := &tasks[0]
		errOut := opts.Follow.ErrOut
		if errOut == nil {
			errOut = io.Discard
		}
		fmt.Fprintf(errOut, "osism: task %s: connect %s to %s\n", t.ID, t.Device, req.State)
		return tasks, followOne(ctx, client, &t.TaskOutcome, opts.Follow)
	}
	outs := make([]*TaskOutcome, len(tasks))
	for i := range tasks {
		outs[i] = &tasks[i].TaskOutcome
	}
	if failed := awaitAll(ctx, client, outs, opts.Progress); failed > 0 {
		return tasks, fmt.Errorf("%d of %d %w", failed, len(tasks), ErrDevicesFailed)
	}
	return tasks, nil
}
