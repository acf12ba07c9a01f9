package osism_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/osism/go-osism/internal/proc"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/stretchr/testify/require"
)

// startHelper runs a worker in a child process; the returned function kills
// it with SIGKILL.
func startHelper(t *testing.T, bus *osismtest.Bus) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelperURL+"="+bus.URL(), envHelperAckWait+"="+bus.Tasks.AckWait.String())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	var once atomic.Bool
	kill = func() {
		if once.CompareAndSwap(false, true) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	return kill
}

func getTask(t *testing.T, c *osism.Client, id string) *osism.Task {
	t.Helper()
	task, err := c.Get(context.Background(), id)
	require.NoError(t, err)
	return task
}

func TestKilledWorkerTaskRedelivered(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		maxDeliveries int
		state         osism.State
		reason        string
	}{
		{name: "completed by another worker", maxDeliveries: 3, state: osism.StateSucceeded},
		{name: "failed past max deliveries", maxDeliveries: 1, state: osism.StateFailed, reason: "delivered 2 times without finishing, more than max_deliveries 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: time.Second, MaxDeliveries: tc.maxDeliveries}})
			ctx := ctxT(t, 60*time.Second)
			kill := startHelper(t, bus)
			res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"second worker"}}, nil)
			require.NoError(t, err)
			osismtest.WaitFor(t, 20*time.Second, func() bool {
				task := getTask(t, bus.Client, res.ID)
				return task.State == osism.StateRunning && task.Worker == helperID
			}, "the helper runs task %s", res.ID)
			kill()

			w := bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
			task, err := bus.Client.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, tc.state, task.State, "error: %s", task.Error)
			require.Equal(t, 2, task.Attempt)
			require.Equal(t, w.ID(), task.Worker)
			require.Contains(t, task.Error, tc.reason)
			if tc.state == osism.StateSucceeded {
				var out strings.Builder
				code, err := bus.Client.Follow(ctx, res.ID, &out, nil)
				require.NoError(t, err)
				require.Equal(t, 0, code)
				require.Equal(t, "helper took it\nosism: attempt 2 of task "+res.ID+", on worker "+w.ID()+"\nsecond worker\n", out.String())
			}
		})
	}
}

func TestLongTaskNotRedelivered(t *testing.T) {
	t.Parallel()
	// AckWait 1s, a task of 3s: only heartbeats keep it on its worker.
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: time.Second}})
	ctx := ctxT(t, 30*time.Second)
	var runs atomic.Int32
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		runs.Add(1)
		return echo(ctx, job)
	}))
	for range 2 {
		bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: ws})
	}
	res, err := bus.Client.Submit(ctx, echoArgs{Sleep: 3 * time.Second}, nil)
	require.NoError(t, err)
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	require.Equal(t, 1, task.Attempt)
	require.Equal(t, int32(1), runs.Load())
}

// shellArgs runs a shell script in its own process group.
type shellArgs struct {
	Script string `json:"script"`
}

func (shellArgs) Kind() string       { return "test.shell" }
func (shellArgs) Queue() osism.Queue { return "test" }

func shell(ctx context.Context, job *osism.Job[shellArgs]) error {
	cmd := proc.Command(ctx, 200*time.Millisecond, "sh", "-c", job.Args.Script)
	cmd.Stdout, cmd.Stderr = job.Output, job.Output
	if err := proc.Run(ctx, cmd); err != nil {
		return &osism.ExitError{Status: proc.ExitCode(err), Err: err}
	}
	return nil
}

func TestCancelKillsRunningProcessGroup(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, shell))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws})
	ctx := ctxT(t, 30*time.Second)

	res, err := bus.Client.Submit(ctx, shellArgs{Script: `sleep 300 & echo $!; sh -c 'sleep 300' & echo $!; echo $$; wait`}, nil)
	require.NoError(t, err)
	pr, pw := io.Pipe()
	followed := make(chan int, 1)
	go func() {
		code, _ := bus.Client.Follow(ctx, res.ID, pw, nil)
		pw.Close()
		followed <- code
	}()
	sc := bufio.NewScanner(pr)
	var pids []int
	for len(pids) < 3 && sc.Scan() {
		pid, err := strconv.Atoi(sc.Text())
		require.NoError(t, err, "line %q", sc.Text())
		pids = append(pids, pid)
	}
	require.Len(t, pids, 3)
	for _, p := range pids {
		require.True(t, proc.Alive(p), "pid %d runs", p)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	require.NoError(t, bus.Client.Cancel(ctx, res.ID))
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
	require.Equal(t, osism.ExitCancelled, task.ExitStatus)
	require.Equal(t, osism.ExitCancelled, <-followed)
	osismtest.WaitFor(t, 5*time.Second, func() bool {
		for _, p := range pids {
			if proc.Alive(p) {
				return false
			}
		}
		return true
	}, "pids %v gone after cancel", pids)
	require.ErrorIs(t, bus.Client.Cancel(ctx, res.ID), osism.ErrFinished)
}

func TestCancelQueuedTaskNeverRuns(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"must not run"}}, nil)
	require.NoError(t, err)
	require.NoError(t, bus.Client.Cancel(ctx, res.ID))
	task := getTask(t, bus.Client, res.ID)
	require.Equal(t, osism.StateCancelled, task.State)

	var runs atomic.Int32
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		runs.Add(1)
		return nil
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws})
	// A task behind it runs, so the queue was read past the cancelled one.
	next, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	nt, err := bus.Client.Wait(ctx, next.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, nt.State)
	require.Equal(t, int32(1), runs.Load())
	require.Equal(t, osism.StateCancelled, getTask(t, bus.Client, res.ID).State)
}

func TestBadMessagesFailWithoutBlockingTheQueue(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	ctx := ctxT(t, 30*time.Second)
	nc, err := nats.Connect(bus.URL())
	require.NoError(t, err)
	defer nc.Close()
	js := bus.Client.JetStream()

	publish := func(t *testing.T, id, kind string, data []byte) {
		t.Helper()
		m := &nats.Msg{Subject: osism.TaskSubject("test", id), Data: data, Header: nats.Header{}}
		if kind != "" {
			m.Header.Set("Osism-Kind", kind)
		}
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	newID := func(t *testing.T) string {
		t.Helper()
		// An id from a real submission on a queue nobody serves.
		r, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{Queue: "nobody"})
		require.NoError(t, err)
		return r.ID
	}
	cases := []struct {
		name   string
		kind   string
		data   string
		reason string
	}{
		{name: "arguments not JSON", kind: "test.echo", data: "{not json", reason: "undecodable task message: arguments are not JSON"},
		{name: "arguments of the wrong type", kind: "test.echo", data: `{"lines": 42}`, reason: "undecodable task message: arguments of kind test.echo do not decode"},
		{name: "no kind", data: `{}`, reason: `undecodable task message: header Osism-Kind: task kind ""`},
		{name: "unknown kind", kind: "test.nobody-handles-this", data: `{}`, reason: "no handler for kind test.nobody-handles-this"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			publish(t, id, tc.kind, []byte(tc.data))
			task, err := bus.Client.Wait(ctx, id)
			require.NoError(t, err)
			require.Equal(t, osism.StateFailed, task.State)
			require.Contains(t, task.Error, tc.reason)
		})
	}
	t.Run("not a task subject, then a good task", func(t *testing.T) {
		_, err := js.Publish(ctx, "osism.tasks.test.garbage", []byte("x"))
		require.NoError(t, err)
		res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"ok"}}, nil)
		require.NoError(t, err)
		task, err := bus.Client.Wait(ctx, res.ID)
		require.NoError(t, err)
		require.Equal(t, osism.StateSucceeded, task.State)
	})
	t.Run("unknown kind submitted normally", func(t *testing.T) {
		res, err := bus.Client.Submit(ctx, unknownArgs{}, nil)
		require.NoError(t, err)
		task, err := bus.Client.Wait(ctx, res.ID)
		require.NoError(t, err)
		require.Equal(t, osism.StateFailed, task.State)
		require.Contains(t, task.Error, "no handler for kind test.unknown")
		require.Equal(t, osism.ExitFailure, task.ExitStatus)
	})
}

type unknownArgs struct{}

func (unknownArgs) Kind() string       { return "test.unknown" }
func (unknownArgs) Queue() osism.Queue { return "test" }

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		sleep   time.Duration
		grace   time.Duration
		state   osism.State
		attempt int
	}{
		{name: "running task finishes within grace", sleep: 300 * time.Millisecond, grace: 10 * time.Second, state: osism.StateSucceeded, attempt: 1},
		{name: "task past grace goes back to the queue", sleep: time.Hour, grace: 200 * time.Millisecond, state: osism.StateQueued, attempt: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := osismtest.New(t, nil)
			ctx := ctxT(t, 30*time.Second)
			w := bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t), Grace: tc.grace})
			res, err := bus.Client.Submit(ctx, echoArgs{Sleep: tc.sleep}, nil)
			require.NoError(t, err)
			osismtest.WaitFor(t, 10*time.Second, func() bool { return getTask(t, bus.Client, res.ID).State == osism.StateRunning }, "task runs")
			require.NoError(t, w.Stop())
			task := getTask(t, bus.Client, res.ID)
			require.Equal(t, tc.state, task.State, "error %s", task.Error)

			// The stopped worker takes nothing more.
			res2, err := bus.Client.Submit(ctx, echoArgs{}, nil)
			require.NoError(t, err)
			require.Equal(t, osism.StateQueued, getTask(t, bus.Client, res2.ID).State)
			ws, err := bus.Client.Runners(ctx)
			require.NoError(t, err)
			require.Empty(t, ws, "the stopped worker left the list")

			if tc.state == osism.StateQueued {
				// Another worker finishes both.
				fast := osism.NewRegistry()
				require.NoError(t, osism.RegisterFunc(fast, func(ctx context.Context, job *osism.Job[echoArgs]) error { return nil }))
				bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: fast})
				task, err := bus.Client.Wait(ctx, res.ID)
				require.NoError(t, err)
				require.Equal(t, osism.StateSucceeded, task.State)
				require.Equal(t, 2, task.Attempt)
			}
		})
	}
}

func TestGlobalHold(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	require.NoError(t, bus.Client.SetHold(ctx, "maintenance"))
	h, err := bus.Client.HoldStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, "maintenance", h.Reason)
	w := bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	res, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		ws, err := bus.Client.Runners(ctx)
		return err == nil && len(ws) == 1 && ws[0].ID == w.ID() && ws[0].Held
	}, "the worker reports it waits for the hold")
	require.Equal(t, osism.StateQueued, getTask(t, bus.Client, res.ID).State)

	require.NoError(t, bus.Client.ReleaseHold(ctx))
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	h, err = bus.Client.HoldStatus(ctx)
	require.NoError(t, err)
	require.Nil(t, h)
}

func TestLocks(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	a := bus.Client
	b := bus.NewClient(t)

	la, err := a.Acquire(ctx, "device/node-1", time.Second, &osism.LockOpts{Owner: "a"})
	require.NoError(t, err)
	t.Run("contention", func(t *testing.T) {
		_, err := b.Acquire(ctx, "device/node-1", time.Second, &osism.LockOpts{Owner: "b"})
		require.ErrorIs(t, err, osism.ErrLocked)
		require.ErrorContains(t, err, "held by a")
	})
	t.Run("renew keeps it", func(t *testing.T) {
		rev := la.Revision()
		require.NoError(t, la.Renew(ctx))
		require.Greater(t, la.Revision(), rev)
		locks, err := a.Locks(ctx)
		require.NoError(t, err)
		require.Len(t, locks, 1)
		require.Equal(t, "a", locks[0].Owner)
	})
	var lb *osism.Lock
	t.Run("expiry", func(t *testing.T) {
		osismtest.WaitFor(t, 10*time.Second, func() bool {
			lb, err = b.Acquire(ctx, "device/node-1", 5*time.Second, &osism.LockOpts{Owner: "b"})
			return err == nil
		}, "the lock expires and b takes it")
		require.ErrorIs(t, la.Renew(ctx), osism.ErrLockLost)
		<-la.Lost()
		require.ErrorIs(t, la.Release(ctx), osism.ErrLockLost)
		_, err := a.Acquire(ctx, "device/node-1", time.Second, nil)
		require.ErrorIs(t, err, osism.ErrLocked, "a's stale release removed nothing")
	})
	t.Run("release", func(t *testing.T) {
		require.NoError(t, lb.Release(ctx))
		l, err := a.Acquire(ctx, "device/node-1", time.Second, nil)
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
	})
	t.Run("keepalive outlives the ttl, break is noticed", func(t *testing.T) {
		l, err := a.Acquire(ctx, "switch/leaf-1", time.Second, nil)
		require.NoError(t, err)
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go l.KeepAlive(kctx)
		// Three TTLs later the lock is still held.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			_, err := b.Acquire(ctx, "switch/leaf-1", time.Second, nil)
			require.ErrorIs(t, err, osism.ErrLocked)
			time.Sleep(100 * time.Millisecond)
		}
		require.NoError(t, b.BreakLock(ctx, "switch/leaf-1"))
		select {
		case <-l.Lost():
		case <-time.After(5 * time.Second):
			t.Fatal("a broken lock was not noticed")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		_, err := a.Acquire(ctx, "has space", time.Second, nil)
		require.ErrorContains(t, err, `lock key "has space"`)
		_, err = a.Acquire(ctx, "ok", 10*time.Millisecond, nil)
		require.ErrorContains(t, err, "expected at least 1s")
	})
}

func TestDedupKey(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	first, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{DedupKey: "reconciler"})
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	second, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{DedupKey: "reconciler"})
	require.NoError(t, err)
	require.True(t, second.Duplicate)
	require.Equal(t, first.ID, second.ID)
	other, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{DedupKey: "other"})
	require.NoError(t, err)
	require.NotEqual(t, first.ID, other.ID)

	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	_, err = bus.Client.Wait(ctx, first.ID)
	require.NoError(t, err)
	third, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{DedupKey: "reconciler"})
	require.NoError(t, err)
	require.False(t, third.Duplicate, "a finished task no longer holds its key")
}

func TestTimeoutAndList(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: echoWorkers(t)})
	ctx := ctxT(t, 30*time.Second)
	slow, err := bus.Client.Submit(ctx, echoArgs{Sleep: time.Hour}, &osism.SubmitOpts{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	task, err := bus.Client.Wait(ctx, slow.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateFailed, task.State)
	require.Contains(t, task.Error, "timed out after 200ms")
	var te *osism.TaskError
	require.ErrorAs(t, task.Err(), &te)

	ok, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, ok.ID)
	require.NoError(t, err)
	queued, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{Queue: "idle"})
	require.NoError(t, err)

	cases := []struct {
		name string
		opts *osism.ListOpts
		want []string
	}{
		{name: "all, newest first", opts: nil, want: []string{queued.ID, ok.ID, slow.ID}},
		{name: "by state", opts: &osism.ListOpts{States: []osism.State{osism.StateFailed}}, want: []string{slow.ID}},
		{name: "by queue", opts: &osism.ListOpts{Queue: "idle"}, want: []string{queued.ID}},
		{name: "by kind", opts: &osism.ListOpts{Kind: "other"}, want: nil},
		{name: "by time", opts: &osism.ListOpts{Since: task.CreatedAt.Add(time.Nanosecond)}, want: []string{queued.ID, ok.ID}},
		{name: "limit", opts: &osism.ListOpts{Limit: 1}, want: []string{queued.ID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := bus.Client.List(ctx, tc.opts)
			require.NoError(t, err)
			var got []string
			for _, x := range ts {
				got = append(got, x.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestWorkersListed(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	w := bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1, "netbox": 1}, Handlers: echoWorkers(t), ID: "w1"})
	res, err := bus.Client.Submit(ctx, echoArgs{Sleep: time.Hour}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 15*time.Second, func() bool {
		ws, err := bus.Client.Runners(ctx)
		return err == nil && len(ws) == 1 && len(ws[0].Running) == 1 && ws[0].Running[0] == res.ID
	}, "the worker lists its running task")
	ws, err := bus.Client.Runners(ctx)
	require.NoError(t, err)
	require.Equal(t, "w1", ws[0].ID)
	require.Equal(t, []osism.Queue{"netbox", "test"}, ws[0].Queues)
	require.Equal(t, os.Getpid(), ws[0].PID)
	require.GreaterOrEqual(t, ws[0].Uptime(), time.Duration(0))
	require.NoError(t, bus.Client.Cancel(ctx, res.ID))
	_ = w
}

func TestSubmitBadInput(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	cases := []struct {
		name string
		args osism.Args
		opts *osism.SubmitOpts
		want string
	}{
		{name: "nil args", args: nil, want: "nil task arguments"},
		{name: "bad queue", args: echoArgs{}, opts: &osism.SubmitOpts{Queue: "a b"}, want: `queue "a b"`},
		{name: "negative timeout", args: echoArgs{}, opts: &osism.SubmitOpts{Timeout: -time.Second}, want: "expected a positive duration"},
		{name: "bad kind", args: badKind{}, want: `task kind "bad kind"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bus.Client.Submit(ctx, tc.args, tc.opts)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := bus.Client.Get(ctx, "nope")
	require.ErrorContains(t, err, `task id "nope"`)
	_, err = bus.Client.Get(ctx, "01hzzzzzzzzzzzzzzzzzzzzzzz")
	require.ErrorIs(t, err, osism.ErrNotFound)
	require.ErrorContains(t, osism.RegisterFunc(echoWorkers(t), echo), "kind test.echo already has a handler")
}

type badKind struct{}

func (badKind) Kind() string       { return "bad kind" }
func (badKind) Queue() osism.Queue { return "test" }

// The task stream keeps finished tasks until the retention removes them; a
// consumer created anew (an operator deleted it) must not run them again,
// while a task queued before any consumer existed runs once.
func TestRecreatedConsumerRunsNoFinishedTask(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, &osismtest.Options{StoreDir: t.TempDir()})
	ctx := ctxT(t, 60*time.Second)
	var runs sync.Map // task id -> *atomic.Int32
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		n, _ := runs.LoadOrStore(job.ID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return echo(ctx, job)
	}))
	cfg := func() osism.RunnerConfig {
		return osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 4}, Handlers: ws}
	}

	// Queued before any worker of the queue, so before its consumer.
	early, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"early"}}, nil)
	require.NoError(t, err)
	w := bus.NewRunner(t, cfg())
	var done []string
	for i := range 20 {
		res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{strconv.Itoa(i)}}, nil)
		require.NoError(t, err)
		done = append(done, res.ID)
	}
	for _, id := range append(done, early.ID) {
		task, err := bus.Client.Wait(ctx, id)
		require.NoError(t, err)
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	}
	require.NoError(t, w.Stop())

	st, err := bus.Client.JetStream().Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(21), info.State.Msgs, "finished tasks stay in the stream until the retention removes them")
	require.NoError(t, st.DeleteConsumer(ctx, "osism-test"))

	late, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"late"}}, nil)
	require.NoError(t, err)
	bus.NewRunner(t, cfg())
	task, err := bus.Client.Wait(ctx, late.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	// The new consumer has passed every stored task by now.
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		ci, err := st.Consumer(ctx, "osism-test")
		if err != nil {
			return false
		}
		info, err := ci.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "the new consumer acks every stored task")
	for _, id := range append(done, early.ID, late.ID) {
		n, ok := runs.Load(id)
		require.True(t, ok, "task %s ran", id)
		require.EqualValues(t, 1, n.(*atomic.Int32).Load(), "task %s runs once", id)
	}
}

// A task stream that an earlier version created with work-queue retention
// keeps it: the server refuses to change it, and tasks still flow.
func TestWorkQueueStreamKept(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	js := bus.Client.JetStream()
	require.NoError(t, js.DeleteStream(ctx, osism.TaskStream))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: osism.TaskStream, Subjects: []string{"osism.tasks.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	c := bus.NewClient(t)
	st, err := js.Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	require.Equal(t, jetstream.WorkQueuePolicy, st.CachedInfo().Config.Retention)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	res, err := c.Submit(ctx, echoArgs{Lines: []string{"x"}}, nil)
	require.NoError(t, err)
	task, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
}
