package osismtest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// echoArgs is a task kind of the tests: its handler writes Lines.
type echoArgs struct {
	Lines []string `json:"lines"`
}

func (echoArgs) Kind() string       { return "osismtest.echo" }
func (echoArgs) Queue() osism.Queue { return "osismtest" }

func echo(_ context.Context, job *osism.Job[echoArgs]) error {
	for _, l := range job.Args.Lines {
		fmt.Fprintln(job.Output, l)
	}
	return job.SetResult(len(job.Args.Lines))
}

func echoRegistry(t *testing.T) *osism.Registry {
	t.Helper()
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, echo))
	return reg
}

func echoRunner(t *testing.T) osism.RunnerConfig {
	t.Helper()
	return osism.RunnerConfig{Handlers: echoRegistry(t), Queues: map[osism.Queue]int{"osismtest": 2}}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runEcho submits an echo task with submit, follows it with follow and
// waits for its record.
func runEcho(t *testing.T, ctx context.Context, submit, follow *osism.Client, lines ...string) *osism.Task {
	t.Helper()
	res, err := submit.Submit(ctx, echoArgs{Lines: lines}, nil)
	require.NoError(t, err)
	var out strings.Builder
	code, err := follow.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, strings.Join(lines, "\n")+"\n", out.String())
	task, err := follow.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	return task
}

func TestStartDialRunnerClose(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	bus, err := osismtest.Start(nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bus.Close() })

	require.True(t, strings.HasPrefix(bus.URL(), "nats://127.0.0.1:"), bus.URL())
	require.Equal(t, osism.StorageMemory, bus.Tasks.Storage, "memory without a store directory")
	require.Equal(t, 2*time.Second, bus.Tasks.AckWait)
	cfg := bus.Config()
	require.Equal(t, bus.URL(), cfg.Broker.URL)
	require.Equal(t, bus.Tasks, cfg.Tasks)
	require.False(t, cfg.Standalone())

	// A client of its own, closed with the bus; and one from Config, as a
	// program would dial it, closed by the test.
	dialed, err := bus.Dial(ctx)
	require.NoError(t, err)
	other, err := osism.Dial(ctx, cfg)
	require.NoError(t, err)

	r, err := bus.StartRunner(echoRunner(t))
	require.NoError(t, err)
	require.NotSame(t, bus.Client, r.Client, "the runner has a client of its own")
	runners, err := bus.Client.Runners(ctx)
	require.NoError(t, err)
	require.Len(t, runners, 1, "StartRunner returns once the runner announced itself")
	require.Equal(t, r.ID(), runners[0].ID)

	task := runEcho(t, ctx, dialed, bus.Client, "one", "two")
	require.Equal(t, r.ID(), task.Worker)
	require.JSONEq(t, "2", string(task.Result))
	runEcho(t, ctx, other, other, "three")
	require.NoError(t, other.Close())

	require.NoError(t, r.Stop())
	require.NoError(t, r.Stop(), "a second Stop returns what the first did")
	require.Eventually(t, func() bool {
		rs, err := bus.Client.Runners(ctx)
		return err == nil && len(rs) == 0
	}, 10*time.Second, 5*time.Millisecond, "a stopped runner withdraws its announcement")

	require.NoError(t, bus.Close())
	for name, c := range map[string]*osism.Client{"bus": bus.Client, "dialed": dialed, "runner": r.Client} {
		require.True(t, c.Conn().IsClosed(), "Close closes the %s client", name)
	}
	require.NoError(t, bus.Close(), "a second Close returns nil")
	require.NoError(t, r.Stop(), "Stop after Close")
}

// New and NewRunner tie the bus and the runner to the test that made them.
func TestNewAndNewRunnerStopWithTheTest(t *testing.T) {
	t.Parallel()
	var (
		bus *osismtest.Bus
		r   *osismtest.Runner
	)
	t.Run("inner", func(t *testing.T) {
		bus = osismtest.New(t, nil)
		r = bus.NewRunner(t, echoRunner(t))
		c := bus.NewClient(t)
		runEcho(t, ctxT(t), c, bus.Client, "hello")
		require.False(t, r.Client.Conn().IsClosed())
	})
	require.True(t, bus.Client.Conn().IsClosed(), "the bus closed at the end of the test that made it")
	require.True(t, r.Client.Conn().IsClosed(), "the runner stopped with it")
	require.NoError(t, r.Stop())
	require.NoError(t, bus.Close())
}

// A runner whose task ignores its cancellation does not stop in time:
// every Stop, and the bus's Close, report it; a second Close is nil.
func TestStopReportsAStuckTaskOnce(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	bus, err := osismtest.Start(nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bus.Close() })

	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		<-release // ignores ctx
		return nil
	}))
	r, err := bus.StartRunner(osism.RunnerConfig{Handlers: reg, Queues: map[osism.Queue]int{"osismtest": 1}, Grace: 20 * time.Millisecond})
	require.NoError(t, err)
	res, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		task, err := bus.Client.Get(ctx, res.ID)
		return err == nil && task.State == osism.StateRunning
	}, "task %s to run", res.ID)

	first := r.Stop()
	require.ErrorContains(t, first, "did not stop within 20ms of being cancelled")
	require.ErrorContains(t, first, res.ID)
	second := r.Stop()
	require.True(t, first == second, "a second Stop returns the same error: %v, %v", first, second)
	releaseOnce.Do(func() { close(release) })

	err = bus.Close()
	require.ErrorIs(t, err, first, "Close reports what the runner's Stop returned")
	require.NoError(t, bus.Close(), "a second Close returns nil")
}

// A bus on a store directory keeps its records and queues there: a second
// bus on the same directory, started after the first closed, sees them.
func TestStoreDirOutlivesTheBus(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := t.TempDir()

	first, err := osismtest.Start(&osismtest.Options{StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = first.Close() })
	require.Equal(t, osism.StorageFile, first.Tasks.Storage, "file storage with a store directory")
	_, err = first.StartRunner(echoRunner(t))
	require.NoError(t, err)
	done := runEcho(t, ctx, first.Client, first.Client, "kept", "on disk")
	// A task of a queue no runner of the first bus serves stays queued.
	queued, err := first.Client.Submit(ctx, echoArgs{Lines: []string{"later"}}, &osism.SubmitOpts{Queue: "osismtest-later"})
	require.NoError(t, err)
	require.NoError(t, first.Close())

	second, err := osismtest.Start(&osismtest.Options{StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })
	require.NotEqual(t, first.URL(), second.URL(), "another broker")

	got, err := second.Client.Get(ctx, done.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, got.State)
	require.Equal(t, done.Worker, got.Worker)
	require.JSONEq(t, string(done.Result), string(got.Result))
	var out strings.Builder
	code, err := second.Client.Follow(ctx, done.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "kept\non disk\n", out.String(), "the output is replayed from the first bus's store")

	q, err := second.Client.Get(ctx, queued.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateQueued, q.State)
	cfg := echoRunner(t)
	cfg.Queues = map[osism.Queue]int{"osismtest-later": 1}
	second.NewRunner(t, cfg)
	out.Reset()
	code, err = second.Client.Follow(ctx, queued.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "later\n", out.String(), "the queued task runs on the second bus")
	require.NoError(t, second.Close())
}

func TestPoll(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		timeout time.Duration
		holdsAt int // the call from which cond holds; 0: never
		wantErr bool
		minCall int
	}{
		{name: "holds at once", ctx: context.Background(), timeout: time.Second, holdsAt: 1, minCall: 1},
		{name: "holds on the fifth call", ctx: context.Background(), timeout: 10 * time.Second, holdsAt: 5, minCall: 5},
		{name: "never holds: the timeout", ctx: context.Background(), timeout: 30 * time.Millisecond, wantErr: true, minCall: 2},
		{name: "ctx ended: an error after one call", ctx: cancelled, timeout: time.Minute, wantErr: true, minCall: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			start := time.Now()
			err := osismtest.Poll(tc.ctx, tc.timeout, func() bool { calls++; return tc.holdsAt > 0 && calls >= tc.holdsAt })
			if tc.wantErr {
				require.EqualError(t, err, "condition not met")
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.holdsAt, calls, "no call after cond held")
			}
			require.GreaterOrEqual(t, calls, tc.minCall)
			require.Less(t, time.Since(start), tc.timeout+5*time.Second)
		})
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of stopping.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper()                           {}
func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestWaitFor(t *testing.T) {
	t.Parallel()
	ok := &fatalRecorder{}
	osismtest.WaitFor(ok, time.Second, func() bool { return true }, "nothing")
	require.Empty(t, ok.msg)

	bad := &fatalRecorder{}
	osismtest.WaitFor(bad, 20*time.Millisecond, func() bool { return false }, "task %s to %s", "t-1", "run")
	require.Equal(t, "osismtest: waited 20ms for: task t-1 to run", bad.msg)
}
