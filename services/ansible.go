package services

import (
	"context"
	"errors"
	"fmt"
	"io"
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
// environment and sub-environment) at a time across all workers.
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
		defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
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
