package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/osism/go-osism/osism"
)

// ExitInterrupted is the exit code after Ctrl-C, as a shell reports
// SIGINT.
const ExitInterrupted = 130

// FollowOpts are the knobs of [FollowTask]; nil means defaults.
type FollowOpts struct {
	// Interrupts delivers the user's interrupts (Ctrl-C; signal.Notify's
	// channel): the first cancels the task and keeps following, so that
	// the user sees it stop; the second detaches and leaves the task to
	// its worker. nil: no interrupts.
	Interrupts <-chan os.Signal
	// Embedded tells that the bus runs inside this process, so that a
	// detach stops the task with it (the notes say so).
	Embedded bool
	// ErrOut receives the notes about cancelling and detaching; default
	// io.Discard.
	ErrOut io.Writer
}

// InterruptedError ends a follow that an interrupt ended: the task was
// cancelled (and its end seen), or, when Detached, the user stopped
// waiting for it.
type InterruptedError struct {
	ID       string
	Detached bool
}

func (e *InterruptedError) Error() string {
	if e.Detached {
		return "task " + e.ID + ": interrupted, detached"
	}
	return "task " + e.ID + ": interrupted, cancelled"
}

// FollowTask writes the output of task id to w until it ends and returns
// its exit status. The first interrupt cancels the task and keeps
// following; a second one detaches (see FollowOpts.Interrupts). The error
// is nil when the task ended by itself, an *InterruptedError when the user
// interrupted (with the task's exit status after a cancel, ExitInterrupted
// after a detach).
func FollowTask(ctx context.Context, client *osism.Client, id string, w io.Writer, opts *FollowOpts) (int, error) {
	if opts == nil {
		opts = &FollowOpts{}
	}
	errOut := opts.ErrOut
	if errOut == nil {
		errOut = io.Discard
	}
	// The follow must outlive the first Ctrl-C, which also ends ctx.
	fctx, detach := context.WithCancel(context.WithoutCancel(ctx))
	defer detach()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := client.Follow(fctx, id, w, nil)
		done <- result{code, err}
	}()
	cancelled := false
	// cancelSent is closed once the cancel request is through, so that a
	// detach does not end the command before the request left.
	cancelSent := make(chan struct{})
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return r.code, r.err
			}
			if cancelled {
				fmt.Fprintf(errOut, "osism: task %s cancelled (exit status %d)\n", id, r.code)
				return r.code, &InterruptedError{ID: id}
			}
			return r.code, nil
		case <-opts.Interrupts:
			if !cancelled {
				cancelled = true
				hint := "press Ctrl-C again to detach and leave it to its worker"
				if opts.Embedded {
					hint = "press Ctrl-C again to stop waiting; it runs inside this command and stops with it"
				}
				fmt.Fprintf(errOut, "osism: cancelling task %s (%s)\n", id, hint)
				go func() {
					defer close(cancelSent)
					cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
					defer cancel()
					if err := client.Cancel(cctx, id); err != nil && !errors.Is(err, osism.ErrFinished) {
						fmt.Fprintf(errOut, "osism: cancel task %s: %v\n", id, err)
					}
				}()
				continue
			}
			<-cancelSent
			if opts.Embedded {
				fmt.Fprintf(errOut, "osism: stopped waiting for task %s\n", id)
			} else {
				fmt.Fprintf(errOut, "osism: detached from task %s; it stays with its worker (osism log -f %s)\n", id, id)
			}
			return ExitInterrupted, &InterruptedError{ID: id, Detached: true}
		}
	}
}

// ApplyRunOpts are the knobs of [RunApply].
type ApplyRunOpts struct {
	// Out receives the tasks' output, or with JSON one object per line:
	// {"task_id", "role", "line"} for each line of output and
	// {"task_id", "role", "environment", "exit_status", "error"} at the end
	// of each run. Default io.Discard.
	Out io.Writer
	// ErrOut receives the notes: each task submitted, retries, failures,
	// the stop of a sequence, interrupts. Default io.Discard.
	ErrOut io.Writer
	JSON   bool
	// Retry reruns a failed run up to this many times (0 or more).
	Retry int
	// Timeout fails a run that takes longer; 0: no limit.
	Timeout time.Duration
	// Interrupts and Embedded are as in FollowOpts: the first interrupt
	// cancels the running task and ends the run with ExitInterrupted (no
	// retry, the sequence stops); the second detaches.
	Interrupts <-chan os.Signal
	Embedded   bool
	// OnSubmit, when not nil, is told of each task submitted.
	OnSubmit func(step ApplyStep, id string)
}

// RunApply runs the steps of PlanApply in order, each as a task on
// client, following its output, and stops at the first that fails. It
// returns the exit code of that step (0 when every step succeeded),
// ExitInterrupted after an interrupt; the error is for what kept a step
// from running (a submit the bus refused, a follow that broke), or bad
// options.
func RunApply(ctx context.Context, client *osism.Client, steps []ApplyStep, opts ApplyRunOpts) (int, error) {
	if opts.Retry < 0 {
		return 0, fmt.Errorf("apply retry %d: expected 0 or more", opts.Retry)
	}
	if opts.Timeout < 0 {
		return 0, fmt.Errorf("apply timeout %s: expected a positive duration", opts.Timeout)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ErrOut == nil {
		opts.ErrOut = io.Discard
	}
	for _, st := range steps {
		code, err := runApplyStep(ctx, client, st, &opts)
		if err != nil {
			return 0, err
		}
		if code != 0 {
			if len(steps) > 1 {
				fmt.Fprintf(opts.ErrOut, "osism: %s failed with exit code %d; the sequence stops\n", st.Role, code)
			}
			return code, nil
		}
	}
	return 0, nil
}

// errInterrupted stops the retries of a run that an interrupt ended.
var errInterrupted = errors.New("interrupted")

// runApplyStep runs one role, retrying a failed run; it returns the exit
// code of the last run.
func runApplyStep(ctx context.Context, client *osism.Client, st ApplyStep, o *ApplyRunOpts) (int, error) {
	code, err := Retry(ctx, o.Retry, func(ctx context.Context) (int, error) {
		res, err := client.Submit(ctx, st.Args, &osism.SubmitOpts{Timeout: o.Timeout})
		if err != nil {
			return 0, err
		}
		id := res.ID
		if o.OnSubmit != nil {
			o.OnSubmit(st, id)
		}
		if !o.JSON {
			fmt.Fprintf(o.ErrOut, "osism: task %s: %s in %s (queue %s)\n", id, st.Role, st.Environment, st.Queue)
		}
		w := o.Out
		var jw *jsonLines
		if o.JSON {
			jw = &jsonLines{enc: json.NewEncoder(o.Out), task: id, role: st.Role}
			w = jw
		}
		code, err := FollowTask(ctx, client, id, w, &FollowOpts{Interrupts: o.Interrupts, Embedded: o.Embedded, ErrOut: o.ErrOut})
		if jw != nil {
			jw.flush()
		}
		var intr *InterruptedError
		if errors.As(err, &intr) {
			return ExitInterrupted, errInterrupted // no retry
		}
		if err != nil {
			return 0, err
		}
		reason := ""
		if code != 0 {
			if t, err := client.Get(ctx, id); err == nil {
				reason = t.Error
			}
		}
		if o.JSON {
			_ = jw.enc.Encode(map[string]any{"task_id": id, "role": st.Role, "environment": st.Environment, "exit_status": code, "error": reason})
		} else if reason != "" {
			fmt.Fprintf(o.ErrOut, "osism: task %s failed: %s\n", id, reason)
		}
		return code, nil
	}, func(attempt, code int) {
		fmt.Fprintf(o.ErrOut, "osism: %s failed with exit code %d; retry %d of %d\n", st.Role, code, attempt, o.Retry)
	})
	if errors.Is(err, errInterrupted) {
		return code, nil
	}
	return code, err
}

// jsonLines turns output into one JSON object per line.
type jsonLines struct {
	enc        *json.Encoder
	task, role string
	buf        []byte
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.buf = append(j.buf, p...)
	for {
		i := strings.IndexByte(string(j.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := j.enc.Encode(map[string]string{"task_id": j.task, "role": j.role, "line": string(j.buf[:i])}); err != nil {
			return 0, err
		}
		j.buf = j.buf[i+1:]
	}
}

func (j *jsonLines) flush() {
	if len(j.buf) > 0 {
		_ = j.enc.Encode(map[string]string{"task_id": j.task, "role": j.role, "line": string(j.buf)})
		j.buf = nil
	}
}
