package osism_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/stretchr/testify/require"
)

// startRunner runs a runner over its own client of nc with tasks; it
// stops with the test.
func startRunner(t *testing.T, nc *nats.Conn, tasks osism.TaskConfig, cfg osism.RunnerConfig) *osism.Runner {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: tasks})
	require.NoError(t, err)
	r, err := c.NewRunner(cfg)
	require.NoError(t, err)
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	stopped := false
	t.Cleanup(func() {
		stop()
		if !stopped {
			<-done
		}
	})
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		rs, err := c.Runners(ctx)
		if err != nil {
			return false
		}
		for _, ri := range rs {
			if ri.ID == r.ID() {
				return true
			}
		}
		return false
	}, "runner %s announces itself", r.ID())
	return r
}

// The workers of a queue follow the ack wait of its consumer, whatever
// their own settings say: a worker with a longer setting than the
// consumer's heartbeats often enough, and one with a shorter setting
// does not shorten the consumer's.
func TestRunnersFollowTheConsumersAckWait(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		first, second time.Duration // the ack wait settings, in start order
	}{
		{name: "long then short", first: 6 * time.Second, second: time.Second},
		{name: "short then long", first: time.Second, second: 6 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: tc.first}})
			ctx := ctxT(t, 60*time.Second)
			var runs sync.Map
			ws := countingRegistry(t, &runs)
			nc1, err := nats.Connect(bus.URL())
			require.NoError(t, err)
			t.Cleanup(nc1.Close)
			first := startRunner(t, nc1, bus.Tasks, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: ws, ID: "first"})

			// The second runner starts, and stops, so that the first runs
			// the task.
			nc2, err := nats.Connect(bus.URL())
			require.NoError(t, err)
			t.Cleanup(nc2.Close)
			tasks2 := bus.Tasks
			tasks2.AckWait = tc.second
			c2, err := osism.NewClient(ctx, nc2, &osism.ClientOpts{Tasks: tasks2})
			require.NoError(t, err)
			second, err := c2.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: ws, ID: "second"})
			require.NoError(t, err)
			sctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- second.Run(sctx) }()
			osismtest.WaitFor(t, 10*time.Second, func() bool {
				rs, err := c2.Runners(ctx)
				return err == nil && len(rs) == 2
			}, "the second runner announces itself")
			stop()
			require.NoError(t, <-done)

			cons, err := bus.Client.JetStream().Consumer(ctx, osism.TaskStream, "osism-test")
			require.NoError(t, err)
			require.Equal(t, tc.first, cons.CachedInfo().Config.AckWait, "the consumer keeps the ack wait it was created with")
			require.Equal(t, tc.first, first.AckWait("test"))
			require.Equal(t, tc.first, second.AckWait("test"), "the second runner follows the consumer, not its setting")

			// A task longer than the shorter ack wait runs once.
			res, err := bus.Client.Submit(ctx, echoArgs{Sleep: 3 * time.Second}, nil)
			require.NoError(t, err)
			task, err := bus.Client.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, osism.StateSucceeded, task.State, task.Error)
			require.Equal(t, "first", task.Worker)
			require.Equal(t, 1, task.Attempt)
			require.Equal(t, int32(1), runsOf(&runs, res.ID))
		})
	}
}

// A worker cut off from the broker for longer than the ack wait stops the
// handler of its task (the broker has given the task to another worker),
// and records nothing when it is back.
func TestDisconnectedWorkerCancelsItsTask(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: time.Second}})
	ctx := ctxT(t, 60*time.Second)
	proxy := newNATSProxy(t, bus.URL())
	var cause atomic.Value
	cancelled := make(chan struct{})
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		if job.Worker != "cut-off" {
			return job.SetResult("elsewhere")
		}
		<-ctx.Done()
		cause.Store(context.Cause(ctx))
		close(cancelled)
		return context.Cause(ctx)
	}))
	nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	startRunner(t, nc, bus.Tasks, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "cut-off"})
	res, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		task := getTask(t, bus.Client, res.ID)
		return task.State == osism.StateRunning && task.Worker == "cut-off"
	}, "the task runs on the worker to be cut off")
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "other"})

	proxy.Cut()
	select {
	case <-cancelled:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler of the cut-off worker was not cancelled")
	}
	require.True(t, errors.Is(cause.Load().(error), osism.ErrDisconnected), "cause %v", cause.Load())
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	require.Equal(t, "other", task.Worker)

	proxy.Heal()
	osismtest.WaitFor(t, 10*time.Second, nc.IsConnected, "the cut-off worker reconnects")
	// Another task through the healed worker's connection shows that it is
	// back; by then it would have written anything it had pending.
	next, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, next.ID)
	require.NoError(t, err)
	final := getTask(t, bus.Client, res.ID)
	require.Equal(t, task.Revision, final.Revision, "the cut-off worker recorded nothing")
	require.Equal(t, "other", final.Worker)
}

// A worker behind a silent partition (its connection looks up, nothing
// arrives either way) stops the handler of its task before the broker
// hands the task to another worker: its heartbeats go unconfirmed.
func TestSilentlyPartitionedWorkerCancelsItsTask(t *testing.T) {
	t.Parallel()
	const ackWait = 3 * time.Second
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: ackWait}})
	ctx := ctxT(t, 60*time.Second)
	proxy := newNATSProxy(t, bus.URL())
	var cause atomic.Value
	var cancelledAt, redeliveredAt atomic.Int64
	var first atomic.Bool
	cancelled := make(chan struct{})
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		if job.Worker != "frozen" {
			redeliveredAt.CompareAndSwap(0, time.Now().UnixNano())
			return job.SetResult("elsewhere")
		}
		if !first.CompareAndSwap(false, true) {
			return job.SetResult("after the partition")
		}
		<-ctx.Done()
		cancelledAt.Store(time.Now().UnixNano())
		cause.Store(context.Cause(ctx))
		close(cancelled)
		return context.Cause(ctx)
	}))
	nc, err := nats.Connect(proxy.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	startRunner(t, nc, bus.Tasks, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "frozen"})
	res, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		task := getTask(t, bus.Client, res.ID)
		return task.State == osism.StateRunning && task.Worker == "frozen"
	}, "the task runs on the worker to be partitioned")
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "other"})

	proxy.Freeze()
	select {
	case <-cancelled:
	case <-time.After(4 * ackWait):
		t.Fatal("the handler of the partitioned worker was not cancelled")
	}
	require.True(t, nc.IsConnected(), "the partition is silent: the connection looks up")
	require.True(t, errors.Is(cause.Load().(error), osism.ErrDisconnected), "cause %v", cause.Load())
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	require.Equal(t, "other", task.Worker)
	require.NotZero(t, redeliveredAt.Load())
	require.Less(t, cancelledAt.Load(), redeliveredAt.Load(), "the partitioned worker stopped before the task ran elsewhere")

	proxy.Thaw()
	// A task through the thawed worker's connection shows that its
	// traffic flows again; by then it would have written anything pending.
	next, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, next.ID)
	require.NoError(t, err)
	final := getTask(t, bus.Client, res.ID)
	require.Equal(t, task.Revision, final.Revision, "the partitioned worker recorded nothing")
	require.Equal(t, "other", final.Worker)
}
