package osism_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/stretchr/testify/require"
)

// echoArgs is a user-defined kind: it writes its lines and returns them
// upper-cased as its result.
type echoArgs struct {
	Lines []string      `json:"lines"`
	Fail  string        `json:"fail,omitempty"`
	Exit  int           `json:"exit,omitempty"`
	Sleep time.Duration `json:"sleep,omitempty"`
}

func (echoArgs) Kind() string       { return "test.echo" }
func (echoArgs) Queue() osism.Queue { return "test" }

func echo(ctx context.Context, job *osism.Job[echoArgs]) error {
	for _, l := range job.Args.Lines {
		fmt.Fprintln(job.Output, l)
	}
	if job.Args.Sleep > 0 {
		select {
		case <-time.After(job.Args.Sleep):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if job.Args.Fail != "" && job.Args.Exit == 0 {
		return errors.New(job.Args.Fail)
	}
	if job.Args.Fail != "" {
		return &osism.ExitError{Status: job.Args.Exit, Err: errors.New(job.Args.Fail)}
	}
	return job.SetResult(strings.ToUpper(strings.Join(job.Args.Lines, " ")))
}

func echoWorkers(t *testing.T) *osism.Registry {
	t.Helper()
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, echo))
	return ws
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSubmitWaitStates(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: echoWorkers(t)})
	ctx := ctxT(t, 30*time.Second)

	cases := []struct {
		name   string
		args   echoArgs
		state  osism.State
		exit   int
		result string
		reason string
	}{
		{name: "succeeds", args: echoArgs{Lines: []string{"a", "b"}}, state: osism.StateSucceeded, result: `"A B"`},
		{name: "fails with exit status", args: echoArgs{Fail: "boom", Exit: 4}, state: osism.StateFailed, exit: 4, reason: "boom"},
		{name: "fails without status", args: echoArgs{Fail: "bad"}, state: osism.StateFailed, exit: osism.ExitFailure, reason: "bad"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := bus.Client.Submit(ctx, tc.args, nil)
			require.NoError(t, err)
			require.True(t, osism.ValidID(res.ID), res.ID)
			task, err := bus.Client.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, tc.state, task.State, "error: %s", task.Error)
			require.Equal(t, tc.exit, task.ExitStatus)
			require.Equal(t, "test.echo", task.Kind)
			require.Equal(t, osism.Queue("test"), task.Queue)
			require.NotEmpty(t, task.Worker)
			require.False(t, task.StartedAt.IsZero())
			require.False(t, task.FinishedAt.IsZero())
			if tc.result != "" {
				require.JSONEq(t, tc.result, string(task.Result))
			}
			require.Contains(t, task.Error, tc.reason)
			got, err := bus.Client.Get(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, task.State, got.State)
		})
	}
}

func TestFollowLateReplaysAll(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	ctx := ctxT(t, 30*time.Second)
	lines := make([]string, 500)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d", i)
	}
	res, err := bus.Client.Submit(ctx, echoArgs{Lines: lines, Fail: "after output", Exit: 3}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)

	var out bytes.Buffer
	code, err := bus.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 3, code)
	require.Equal(t, strings.Join(lines, "\n")+"\n", out.String())
}

func TestFollowLive(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	// Submitted before any worker exists: Follow attaches to a queued task.
	res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"one", "two"}, Sleep: 200 * time.Millisecond}, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	var code int
	var ferr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); code, ferr = bus.Client.Follow(ctx, res.ID, &out, nil) }()
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: echoWorkers(t)})
	wg.Wait()
	require.NoError(t, ferr)
	require.Equal(t, 0, code)
	require.Equal(t, "one\ntwo\n", out.String())
}
