package services_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// plan is the steps of spec in the generic environment.
func plan(t *testing.T, spec string, args ...string) []services.ApplyStep {
	t.Helper()
	steps, err := services.PlanApply(nil, services.ApplyRequest{Spec: spec, Environment: "generic", Args: args})
	require.NoError(t, err)
	return steps
}

// RunApply with real ansible-playbook: the output in order, sequences that
// stop at the first failure, retries, JSON lines and timeouts.
func TestRunApply(t *testing.T) {
	t.Parallel()
	b := newPlaybookBus(t, 2)
	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	cases := []struct {
		name      string
		steps     []services.ApplyStep
		opts      services.ApplyRunOpts
		code      int
		submitted int
		check     func(t *testing.T, out, errOut string)
	}{
		{name: "one role", steps: plan(t, "lines", "-e", "count=20"), submitted: 1, check: func(t *testing.T, out, errOut string) {
			require.Regexp(t, `^osism: task [0-9a-z]{26}: lines in generic \(queue osism-ansible\)\n`, errOut)
			last := -1
			for i := 1; i <= 20; i++ {
				at := strings.Index(out, `"line `+strconv.Itoa(i)+`"`)
				require.Greater(t, at, last, "line %d in order", i)
				last = at
			}
		}},
		{name: "a sequence stops at the first failure", steps: plan(t, "hello//fail//hello"), code: 2, submitted: 2,
			check: func(t *testing.T, out, errOut string) {
				require.Equal(t, 1, strings.Count(out, "PLAY [Say hello]"))
				require.Contains(t, out, "failing on purpose")
				require.Contains(t, errOut, "exited with 2")
				require.Contains(t, errOut, "osism: fail failed with exit code 2; the sequence stops\n")
			}},
		{name: "retries", steps: plan(t, "fail"), opts: services.ApplyRunOpts{Retry: 2}, code: 2, submitted: 3,
			check: func(t *testing.T, _, errOut string) {
				require.Contains(t, errOut, "osism: fail failed with exit code 2; retry 1 of 2\n")
				require.Contains(t, errOut, "osism: fail failed with exit code 2; retry 2 of 2\n")
				require.NotContains(t, errOut, "the sequence stops", "one role is no sequence")
			}},
		{name: "a success needs no retry", steps: plan(t, "hello"), opts: services.ApplyRunOpts{Retry: 3}, submitted: 1},
		{name: "JSON lines", steps: plan(t, "hello", "-e", "extra=json"), opts: services.ApplyRunOpts{JSON: true}, submitted: 1,
			check: func(t *testing.T, out, errOut string) {
				require.Empty(t, errOut, "no notes in JSON mode")
				lines := strings.Split(strings.TrimSpace(out), "\n")
				for _, l := range lines {
					var m map[string]any
					require.NoError(t, json.Unmarshal([]byte(l), &m), "line %q", l)
					require.Equal(t, "hello", m["role"])
				}
				require.Contains(t, out, "extra=json")
				var end map[string]any
				require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &end))
				require.Equal(t, float64(0), end["exit_status"])
				require.Equal(t, "generic", end["environment"])
			}},
		{name: "timeout", steps: plan(t, "sleep", "-e", "pidfile="+pidfile), opts: services.ApplyRunOpts{Timeout: 2 * time.Second},
			code: -1, submitted: 1, check: func(t *testing.T, _, errOut string) {
				require.Contains(t, errOut, "timed out after 2s")
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut lockedBuffer
			var ids []string
			opts := tc.opts
			opts.Out, opts.ErrOut = &out, &errOut
			opts.OnSubmit = func(st services.ApplyStep, id string) {
				require.True(t, osism.ValidID(id))
				ids = append(ids, id)
			}
			code, err := services.RunApply(ctxT(t, 2*time.Minute), b.Client, tc.steps, opts)
			require.NoError(t, err)
			if tc.code < 0 {
				require.NotZero(t, code, "errOut: %s", errOut.String())
			} else {
				require.Equal(t, tc.code, code, "errOut: %s", errOut.String())
			}
			require.Len(t, ids, tc.submitted)
			if tc.check != nil {
				tc.check(t, out.String(), errOut.String())
			}
		})
	}
}

// Ctrl-C during an apply with real ansible-playbook: the first interrupt
// cancels the running playbook and ends the run with 130, without a retry
// and without the rest of the sequence.
func TestRunApplyInterrupt(t *testing.T) {
	t.Parallel()
	b := newPlaybookBus(t, 1)
	ctx := ctxT(t, 2*time.Minute)
	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	sigs := make(chan os.Signal, 2)
	var errOut lockedBuffer
	submitted := 0
	code, err := services.RunApply(ctx, b.Client, plan(t, "sleep//hello", "-e", "pidfile="+pidfile), services.ApplyRunOpts{
		ErrOut: &errOut, Retry: 2, Interrupts: sigs,
		OnSubmit: func(_ services.ApplyStep, id string) {
			submitted++
			go func() {
				// The playbook's sleep runs: it wrote its pid.
				if osismtest.Poll(ctx, time.Minute, func() bool { _, err := os.Stat(pidfile); return err == nil }) == nil {
					sigs <- os.Interrupt
				}
			}()
		},
	})
	require.NoError(t, err)
	require.Equal(t, services.ExitInterrupted, code, "errOut: %s", errOut.String())
	require.Equal(t, 1, submitted, "no retry, and the sequence stops")
	require.Contains(t, errOut.String(), "(press Ctrl-C again to detach and leave it to its worker)")
	require.Regexp(t, `osism: task [0-9a-z]{26} cancelled \(exit status 130\)`, errOut.String())
	require.Contains(t, errOut.String(), "osism: sleep failed with exit code 130; the sequence stops")
}

// lingerArgs is a task that ignores a cancel for a while, so that a
// second interrupt can detach before it ends.
type lingerArgs struct {
	Linger time.Duration `json:"linger"`
}

func (lingerArgs) Kind() string       { return "test.linger" }
func (lingerArgs) Queue() osism.Queue { return "test-linger" }

func TestFollowTask(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[lingerArgs]) error {
		_, _ = job.Output.Write([]byte("started\n"))
		if job.Args.Linger < 0 {
			return nil
		}
		<-ctx.Done()
		time.Sleep(job.Args.Linger)
		return context.Cause(ctx)
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test-linger": 3}, Handlers: reg})

	cases := []struct {
		name       string
		linger     time.Duration
		interrupts int
		embedded   bool
		code       int
		detached   bool
		interrupt  bool
		want       []string
		finished   bool // the task has ended when FollowTask returns
	}{
		{name: "no interrupt", linger: -1, code: 0, want: []string{}, finished: true},
		{name: "one interrupt cancels and waits", interrupts: 1, code: osism.ExitCancelled, interrupt: true, finished: true,
			want: []string{"(press Ctrl-C again to detach and leave it to its worker)", "cancelled (exit status 130)"}},
		{name: "a second interrupt detaches", linger: 3 * time.Second, interrupts: 2, code: services.ExitInterrupted, interrupt: true, detached: true,
			want: []string{"; it stays with its worker (osism log -f "}},
		{name: "a second interrupt stops waiting on an embedded bus", linger: 3 * time.Second, interrupts: 2, embedded: true,
			code: services.ExitInterrupted, interrupt: true, detached: true,
			want: []string{"(press Ctrl-C again to stop waiting; it runs inside this command and stops with it)", "osism: stopped waiting for task "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, time.Minute)
			res, err := bus.Client.Submit(ctx, lingerArgs{Linger: tc.linger}, nil)
			require.NoError(t, err)
			osismtest.WaitFor(t, 20*time.Second, func() bool {
				task, err := bus.Client.Get(ctx, res.ID)
				return err == nil && (task.State == osism.StateRunning || task.State.Finished())
			}, "task %s runs", res.ID)
			sigs := make(chan os.Signal, 2)
			var errOut lockedBuffer
			if tc.interrupts > 0 {
				sigs <- os.Interrupt
			}
			if tc.interrupts > 1 {
				go func() {
					if osismtest.Poll(ctx, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "cancelling task") }) == nil {
						sigs <- os.Interrupt
					}
				}()
			}
			var out lockedBuffer
			code, err := services.FollowTask(ctx, bus.Client, res.ID, &out, &services.FollowOpts{Interrupts: sigs, Embedded: tc.embedded, ErrOut: &errOut})
			require.Equal(t, tc.code, code, "errOut: %s", errOut.String())
			var intr *services.InterruptedError
			if tc.interrupt {
				require.True(t, errors.As(err, &intr), "err %v", err)
				require.Equal(t, tc.detached, intr.Detached)
				require.Equal(t, res.ID, intr.ID)
			} else {
				require.NoError(t, err)
			}
			if !tc.detached { // a detach may come before the first line
				require.Contains(t, out.String(), "started\n")
			}
			for _, w := range tc.want {
				require.Contains(t, errOut.String(), w)
			}
			task, err := bus.Client.Get(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, tc.finished, task.State.Finished(), "state %s", task.State)
			if tc.detached {
				task, err = bus.Client.Wait(ctx, res.ID)
				require.NoError(t, err)
				require.Equal(t, osism.StateCancelled, task.State, "the cancel reached the task before the detach")
			}
		})
	}
}

func TestRunApplyBadOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    services.ApplyRunOpts
		wantErr string
	}{
		{name: "negative retry", opts: services.ApplyRunOpts{Retry: -1}, wantErr: "apply retry -1: expected 0 or more"},
		{name: "negative timeout", opts: services.ApplyRunOpts{Timeout: -time.Second}, wantErr: "apply timeout -1s: expected a positive duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The options are checked before the bus is used.
			_, err := services.RunApply(context.Background(), nil, nil, tc.opts)
			require.EqualError(t, err, tc.wantErr)
		})
	}
}
