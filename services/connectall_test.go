package services_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// connectBus is a bus whose netbox.connect worker prints its arguments,
// fails the devices named bad-*, and runs the devices named slow-* until
// they are cancelled.
func connectBus(t *testing.T) *osismtest.Bus {
	t.Helper()
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[osism.NetBoxConnectArgs]) error {
		a := job.Args
		fmt.Fprintf(job.Output, "connect %s to %s in %s, enforce %t\n", a.Device, a.State, a.Collection, a.Enforce)
		switch {
		case strings.HasPrefix(a.Device, "bad-"):
			return fmt.Errorf("%s: no desired state", a.Device)
		case strings.HasPrefix(a.Device, "slow-"):
			<-ctx.Done()
			return context.Cause(ctx)
		}
		return nil
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueNetBox: 4}, Handlers: reg})
	return bus
}

func TestConnectAll(t *testing.T) {
	t.Parallel()
	bus := connectBus(t)

	type progress struct{ done, total, failed int }
	cases := []struct {
		name     string
		devices  []string
		noWait   bool
		follow   bool
		wantErr  string
		failed   []string // devices whose task failed
		progress *progress
		check    func(t *testing.T, tasks []services.ConnectTask, out, errOut string)
	}{
		{name: "every device succeeds", devices: []string{"node-1", "node-2", "leaf-1"}, progress: &progress{3, 3, 0}},
		{name: "a device fails", devices: []string{"node-1", "bad-1", "node-2", "bad-2"}, failed: []string{"bad-1", "bad-2"},
			wantErr: "2 of 4 devices failed", progress: &progress{4, 4, 2},
			check: func(t *testing.T, tasks []services.ConnectTask, _, _ string) {
				require.Equal(t, "bad-1: no desired state", tasks[1].Error)
				require.Equal(t, osism.StateFailed, tasks[1].State)
			}},
		{name: "no devices", devices: nil},
		{name: "no wait", devices: []string{"node-1", "node-2"}, noWait: true,
			check: func(t *testing.T, tasks []services.ConnectTask, _, _ string) {
				for _, task := range tasks {
					require.Empty(t, task.State, "not waited for")
					done, err := bus.Client.Wait(context.Background(), task.ID)
					require.NoError(t, err)
					require.Equal(t, osism.StateSucceeded, done.State)
				}
			}},
		{name: "one device, followed", devices: []string{"node-1"}, follow: true,
			check: func(t *testing.T, tasks []services.ConnectTask, out, errOut string) {
				require.Equal(t, "connect node-1 to b in dc1, enforce true\n", out)
				require.Equal(t, "osism: task "+tasks[0].ID+": connect node-1 to b\n", errOut)
				require.Zero(t, tasks[0].ExitStatus)
			}},
		{name: "one device, followed, fails", devices: []string{"bad-1"}, follow: true, failed: []string{"bad-1"},
			check: func(t *testing.T, tasks []services.ConnectTask, out, _ string) {
				require.Contains(t, out, "connect bad-1 to b")
				require.NotZero(t, tasks[0].ExitStatus)
				require.Equal(t, "bad-1: no desired state", tasks[0].Error)
			}},
		{name: "one device, not followed, waits", devices: []string{"node-3"}, progress: &progress{1, 1, 0},
			check: func(t *testing.T, _ []services.ConnectTask, out, _ string) { require.Empty(t, out) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut lockedBuffer
			var mu sync.Mutex
			var last *progress
			opts := &services.ConnectAllOpts{NoWait: tc.noWait, Progress: func(done, total, failed int) {
				mu.Lock()
				defer mu.Unlock()
				if last != nil {
					require.Equal(t, last.done+1, done, "one call per device")
				}
				last = &progress{done, total, failed}
			}}
			if tc.follow {
				opts.Follow = &services.ConnectFollow{Out: &out, FollowOpts: services.FollowOpts{ErrOut: &errOut}}
			}
			tasks, err := services.ConnectAll(ctxT(t, time.Minute), bus.Client,
				services.ConnectAllRequest{Devices: tc.devices, State: "b", Collection: "dc1", Enforce: true}, opts)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.ErrorIs(t, err, services.ErrDevicesFailed)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, tasks, len(tc.devices))
			var failed []string
			for i, task := range tasks {
				require.Equal(t, tc.devices[i], task.Device, "in the order of the request")
				require.True(t, osism.ValidID(task.ID))
				if !tc.noWait && task.Failed() {
					failed = append(failed, task.Device)
				}
			}
			require.Equal(t, tc.failed, failed)
			require.Equal(t, tc.progress, last)
			if tc.check != nil {
				tc.check(t, tasks, out.String(), errOut.String())
			}
		})
	}
}

// An interrupt while one device's task is followed cancels it, as Ctrl-C
// on osism netbox connect DEVICE does.
func TestConnectAllInterrupt(t *testing.T) {
	t.Parallel()
	bus := connectBus(t)
	ctx := ctxT(t, time.Minute)
	sigs := make(chan os.Signal, 1)
	var out, errOut lockedBuffer
	go func() {
		if osismtest.Poll(ctx, 20*time.Second, func() bool { return strings.Contains(out.String(), "connect slow-1") }) == nil {
			sigs <- os.Interrupt
		}
	}()
	tasks, err := services.ConnectAll(ctx, bus.Client, services.ConnectAllRequest{Devices: []string{"slow-1"}, State: "b"},
		&services.ConnectAllOpts{Follow: &services.ConnectFollow{Out: &out, FollowOpts: services.FollowOpts{Interrupts: sigs, ErrOut: &errOut}}})
	var intr *services.InterruptedError
	require.True(t, errors.As(err, &intr), "err %v", err)
	require.False(t, intr.Detached)
	require.Len(t, tasks, 1)
	require.Equal(t, osism.ExitCancelled, tasks[0].ExitStatus)
	require.Contains(t, errOut.String(), "osism: task "+tasks[0].ID+" cancelled (exit status 130)")
	task, err := bus.Client.Get(ctx, tasks[0].ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
}

func TestConnectAllBadRequest(t *testing.T) {
	t.Parallel()
	_, err := services.ConnectAll(context.Background(), nil, services.ConnectAllRequest{Devices: []string{"node-1"}}, nil)
	require.EqualError(t, err, "connect: no state: expected the target state")
}
