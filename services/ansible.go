package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/ceph"
	"github.com/osism/go-osism/kolla"
	"github.com/osism/go-osism/osism"
)

// PlaybookRun returns the playbook run a task of kind ansible.run,
// kolla.run or ceph.run stands for.
func PlaybookRun(a osism.Args) (ansible.Run, error) {
	switch a := a.(type) {
	case osism.AnsibleRunArgs:
		return ansible.Run{Environment: a.Environment, Role: a.Role, Sub: a.Sub, Args: a.Args}, nil
	case osism.KollaRunArgs:
		r, err := kolla.Run(a.Role, a.Action, a.Args)
		r.Sub = a.Sub
		return r, err
	case osism.CephRunArgs:
		r := ceph.Run(a.Role, a.Args)
		r.Sub = a.Sub
		return r, nil
	}
	return ansible.Run{}, fmt.Errorf("task kind %s does not run a playbook", a.Kind())
}

// RegisterAnsible registers the handlers of ansible.run, kolla.run and
// ceph.run: each runs its playbook with cfg, one run of a role (per
// environment and sub-environment) at a time across all workers. Once a
// handler holds the role's lock it reads the task's record again, and a
// task that another delivery already finished is not run again; the lock
// is held until the run's record is final.
func RegisterAnsible(ws *osism.Registry, cfg ansible.Config) error {
	pw := &playbookWorker{cfg: cfg, lockTTL: 30 * time.Second}
	return errors.Join(
		osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[osism.AnsibleRunArgs]) error {
			return pw.run(ctx, job.Task, job.Client, job.Output, job.Args, job.SetResult)
		}),
		osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[osism.KollaRunArgs]) error {
			return pw.run(ctx, job.Task, job.Client, job.Output, job.Args, job.SetResult)
		}),
		osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[osism.CephRunArgs]) error {
			return pw.run(ctx, job.Task, job.Client, job.Output, job.Args, job.SetResult)
		}),
	)
}

type playbookWorker struct {
	cfg     ansible.Config
	lockTTL time.Duration
}

// PlaybookResult is the result of a playbook task.
type PlaybookResult struct {
	Environment string `json:"environment"`
	Role        string `json:"role"`
	Sub         string `json:"sub,omitempty"`
	ExitCode    int    `json:"exit_code"`
}

// errRoleLockLost cancels a run whose role lock was lost.
var errRoleLockLost = errors.New("the lock of the role was lost")

func (p *playbookWorker) run(ctx context.Context, t *osism.Task, c *osism.Client, out io.Writer, args osism.Args,
	setResult func(any) error) error {
	run, err := PlaybookRun(args)
	if err != nil {
		return err
	}
	run.TaskID = t.ID
	// Building the command first reports a lock file or a missing playbook
	// before anything waits.
	if _, err := p.cfg.Command(run); err != nil {
		return err
	}
	if c != nil {
		lock, err := p.roleLock(ctx, c, t.ID, run, out)
		if err != nil {
			return err
		}
		defer p.release(ctx, c, t.ID, lock)
		// Another delivery of this task (a redelivery, or the task stored
		// twice) may have run it while this one waited for the lock.
		rec, err := c.Get(ctx, t.ID)
		if err != nil && !errors.Is(err, osism.ErrNotFound) {
			return fmt.Errorf("task %s: read its record after taking the lock of %s: %w", t.ID, RoleLockKey(run), err)
		}
		if err == nil && rec.State.Finished() {
			fmt.Fprintf(out, "osism: task %s already finished (%s) by another delivery; not running it again\n", t.ID, rec.State)
			return finishedElsewhere(rec, setResult)
		}
		lctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		go lock.KeepAlive(lctx)
		go func() {
			select {
			case <-lock.Lost():
				cancel(errRoleLockLost)
			case <-lctx.Done():
			}
		}()
		ctx = lctx
	}
	res, err := p.cfg.Run(ctx, run, func(line string) {
		_, _ = io.WriteString(out, line+"\n")
	})
	_ = setResult(PlaybookResult{Environment: run.Environment, Role: run.Role, Sub: run.Sub, ExitCode: res.ExitCode})
	if errors.Is(context.Cause(ctx), errRoleLockLost) {
		return fmt.Errorf("%s in %s: %w", run.Role, run.Environment, errRoleLockLost)
	}
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &osism.ExitError{Status: res.ExitCode,
			Err: fmt.Errorf("ansible-playbook of %s in %s exited with %d", run.Role, run.Environment, res.ExitCode)}
	}
	return nil
}

// finishedElsewhere ends a delivery that found its task already finished
// with what the record says, so that the runner, which records the
// handler's return, writes the same end again: the result, and the error
// with the exit status of a task that did not succeed.
func finishedElsewhere(rec *osism.Task, setResult func(any) error) error {
	if len(rec.Result) > 0 {
		_ = setResult(rec.Result)
	}
	if rec.State == osism.StateSucceeded {
		return nil
	}
	msg := strings.TrimPrefix(rec.Error, fmt.Sprintf("exit status %d: ", rec.ExitStatus))
	return &osism.ExitError{Status: rec.ExitStatus, Err: errors.New(msg)}
}

// release frees the role lock once the task's record is final, so that
// another delivery of the task that takes the lock next finds it final;
// it waits at most a third of the lock's TTL, and not at all when the
// task goes back to the queue (the worker shuts down or lost the broker).
func (p *playbookWorker) release(ctx context.Context, c *osism.Client, id string, lock *osism.Lock) {
	bg := context.WithoutCancel(ctx)
	free := func() {
		rctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		_ = lock.Release(rctx)
	}
	if cause := context.Cause(ctx); errors.Is(cause, osism.ErrShutdown) || errors.Is(cause, osism.ErrDisconnected) {
		free()
		return
	}
	go func() {
		defer free()
		wctx, cancel := context.WithTimeout(bg, p.lockTTL/3)
		defer cancel()
		wait := 5 * time.Millisecond
		for {
			if t, err := c.Get(wctx, id); err == nil && t.State.Finished() {
				return
			}
			select {
			case <-wctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 200*time.Millisecond)
		}
	}()
}

// RoleLockKey is the bus lock a playbook run of a role holds.
func RoleLockKey(r ansible.Run) string {
	if r.Sub != "" {
		return "ansible/" + r.Environment + "/" + r.Sub + "/" + r.Role
	}
	return "ansible/" + r.Environment + "/" + r.Role
}

// roleLock waits until this task holds the lock of its role, saying once
// in the output whom it waits for.
func (p *playbookWorker) roleLock(ctx context.Context, c *osism.Client, id string, run ansible.Run, out io.Writer) (*osism.Lock, error) {
	said := false
	return c.AcquireWait(ctx, RoleLockKey(run), p.lockTTL, &osism.LockOpts{Owner: "task " + id}, func(err error) {
		if !said {
			fmt.Fprintf(out, "osism: waiting for %v\n", err)
			said = true
		}
	})
}
