package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/kolla"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// exitInterrupted is the exit code after Ctrl-C, as a shell reports SIGINT.
const exitInterrupted = 130

// quietLogger keeps the log of an embedded broker and worker to warnings,
// on the command's error output, so that its output is the task's.
func quietLogger(c *cli.Context) *slog.Logger {
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "apply an Ansible role in its environment, streaming its output",
		Description: "Everything after ROLE goes to ansible-playbook verbatim (osism apply nova -e x=y -l node-1).\n" +
			"ROLE may be a sequence a//b//c, run in order until one fails. Without ROLE, print the role map.\n" +
			"Ctrl-C cancels the task; a second Ctrl-C detaches and leaves it to the worker.",
		ArgsUsage: "[ROLE[//ROLE...] [ANSIBLE ARGS...]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "environment", Usage: "run in this environment instead of the role map's"},
			&cli.StringFlag{Name: "action", Usage: "Kolla action (" + strings.Join(kolla.Actions, ", ") + "); default deploy"},
			&cli.StringFlag{Name: "sub", Usage: "sub-environment (exported as SUB)"},
			&cli.BoolFlag{Name: "no-wait", Usage: "print the task id and return; attach later with osism log -f"},
			&cli.DurationFlag{Name: "timeout", Usage: "fail the run when it takes longer"},
			&cli.IntFlag{Name: "retry", Usage: "rerun a failed run up to this many times"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the command and environment that would run, run nothing"},
			formatFlag("log", "json"),
		},
		Action: applyAction,
	}
}

func applyAction(c *cli.Context) error {
	cfg := config(c)
	roles, err := cfg.Ansible.RoleMap()
	if err != nil {
		return err
	}
	if c.NArg() == 0 {
		return printRoleMap(c, roles)
	}
	args := c.Args().Slice()
	extra := args[1:]
	if len(extra) > 0 && extra[0] == "--" {
		extra = extra[1:]
	}
	steps, err := services.PlanApply(roles, services.ApplyRequest{Spec: args[0], Environment: c.String("environment"),
		Action: c.String("action"), Sub: c.String("sub"), Args: extra})
	if err != nil {
		return usageError{err}
	}
	return runSteps(c, cfg, steps)
}

// runSteps runs the steps in order (or prints them with --dry-run) and
// exits with the exit code of the first that fails.
func runSteps(c *cli.Context, cfg services.Config, steps []services.ApplyStep) error {
	if c.Bool("dry-run") {
		return dryRun(c, cfg, steps)
	}
	if c.Int("retry") < 0 {
		return usagef("apply --retry %d: expected 0 or more", c.Int("retry"))
	}
	if c.Duration("timeout") < 0 {
		return usagef("apply --timeout %s: expected a positive duration", c.Duration("timeout"))
	}
	noWait := c.Bool("no-wait")
	if noWait && cfg.Bus.Standalone() {
		return usagef("apply --no-wait needs a broker (set %s): without one the task runs inside this command", osism.EnvBrokerURL)
	}
	if noWait && len(steps) > 1 {
		return usagef("apply --no-wait: a sequence runs each role after the previous one succeeded, so it waits")
	}
	var queues []osism.Queue
	for _, st := range steps {
		queues = append(queues, osism.Queue(st.Queue))
	}
	bus, err := services.OpenBus(c.Context, cfg, &services.BusOpts{Logger: quietLogger(c), Queues: queues})
	if err != nil {
		return err
	}
	defer bus.Close()
	a := &applier{c: c, client: bus.Client, embedded: bus.Embedded(), json: c.String("format") == "json",
		out: c.App.Writer, errOut: c.App.ErrWriter}
	if noWait {
		id, err := a.submit(steps[0])
		if err != nil {
			return err
		}
		if a.json {
			return json.NewEncoder(a.out).Encode(map[string]string{"task_id": id, "role": steps[0].Role, "environment": steps[0].Environment})
		}
		fmt.Fprintln(a.out, id)
		return nil
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	a.sigs = sigs
	for _, st := range steps {
		code, err := a.runStep(st)
		if err != nil {
			return err
		}
		if code != 0 {
			if len(steps) > 1 {
				fmt.Fprintf(a.errOut, "osism: %s failed with exit code %d; the sequence stops\n", st.Role, code)
			}
			return exitStatus(code)
		}
	}
	return nil
}

func printRoleMap(c *cli.Context, roles *ansible.RoleMap) error {
	entries := roles.Entries()
	if c.String("format") == "json" {
		return printJSON(c.App.Writer, entries)
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{e.Role, e.Environment})
	}
	return printTable(c.App.Writer, []string{"ROLE", "ENVIRONMENT"}, rows)
}

// dryRun prints what each step would run, with secret extra-vars masked
// (the configured secret_pattern); a lock file or a missing playbook fails
// as the run would.
func dryRun(c *cli.Context, cfg services.Config, steps []services.ApplyStep) error {
	type planned struct {
		services.ApplyStep
		Command *ansible.Command `json:"command"`
	}
	var all []planned
	for _, st := range steps {
		run, err := services.PlaybookRun(st.Args)
		if err != nil {
			return usagef("%v", err)
		}
		cmd, err := cfg.Ansible.Command(run)
		if err != nil {
			return err
		}
		if c.String("format") == "json" {
			all = append(all, planned{st, cmd.Masked()})
			continue
		}
		fmt.Fprintf(c.App.Writer, "# %s in %s (task %s on queue %s)\n", st.Role, st.Environment, st.Kind, st.Queue)
		if cmd.Dir != "" {
			fmt.Fprintf(c.App.Writer, "cd %s && %s\n", cmd.Dir, cmd)
		} else {
			fmt.Fprintln(c.App.Writer, cmd)
		}
	}
	if c.String("format") == "json" {
		return printJSON(c.App.Writer, all)
	}
	return nil
}

// applier submits and follows the tasks of one osism apply.
type applier struct {
	c        *cli.Context
	client   *osism.Client
	embedded bool
	json     bool
	out      io.Writer
	errOut   io.Writer
	sigs     <-chan os.Signal
}

func (a *applier) submit(st services.ApplyStep) (string, error) {
	res, err := a.client.Submit(a.c.Context, st.Args, &osism.SubmitOpts{Timeout: a.c.Duration("timeout")})
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

// runStep runs one role, retrying a failed run; it returns the exit code
// of the last run.
func (a *applier) runStep(st services.ApplyStep) (int, error) {
	retries := a.c.Int("retry")
	code, err := services.Retry(a.c.Context, retries, func(ctx context.Context) (int, error) {
		id, err := a.submit(st)
		if err != nil {
			return 0, err
		}
		if !a.json {
			fmt.Fprintf(a.errOut, "osism: task %s: %s in %s (queue %s)\n", id, st.Role, st.Environment, st.Queue)
		}
		w := io.Writer(a.out)
		var jw *jsonLines
		if a.json {
			jw = &jsonLines{enc: json.NewEncoder(a.out), task: id, role: st.Role}
			w = jw
		}
		code, err := followTask(ctx, a.client, id, w, a.sigs, a.embedded, a.errOut)
		if jw != nil {
			jw.flush()
		}
		var intr interrupted
		if errors.As(err, &intr) {
			return exitInterrupted, errInterrupted // no retry
		}
		if err != nil {
			return 0, err
		}
		reason := ""
		if code != 0 {
			if t, err := a.client.Get(ctx, id); err == nil {
				reason = t.Error
			}
		}
		if a.json {
			_ = jw.enc.Encode(map[string]any{"task_id": id, "role": st.Role, "environment": st.Environment, "exit_status": code, "error": reason})
		} else if reason != "" {
			fmt.Fprintf(a.errOut, "osism: task %s failed: %s\n", id, reason)
		}
		return code, nil
	}, func(attempt, code int) {
		fmt.Fprintf(a.errOut, "osism: %s failed with exit code %d; retry %d of %d\n", st.Role, code, attempt, retries)
	})
	if errors.Is(err, errInterrupted) {
		return code, nil
	}
	return code, err
}

// errInterrupted stops the retries of a run that Ctrl-C ended.
var errInterrupted = errors.New("interrupted")

// interrupted ends a follow that Ctrl-C ended: the task was cancelled, or
// the user detached.
type interrupted struct{ detached bool }

func (interrupted) Error() string { return "interrupted" }

// followTask writes the output of task id to w until it ends and returns
// its exit status. The first signal on sigs cancels the task and keeps
// following, so that the user sees it stop; a second one detaches and
// leaves the task to its worker. The error is nil when the task ended,
// an interrupted when the user interrupted.
func followTask(ctx context.Context, client *osism.Client, id string, w io.Writer, sigs <-chan os.Signal, embedded bool,
	errOut io.Writer) (int, error) {
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
				return r.code, interrupted{}
			}
			return r.code, nil
		case <-sigs:
			if !cancelled {
				cancelled = true
				hint := "press Ctrl-C again to detach and leave it to its worker"
				if embedded {
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
			if embedded {
				fmt.Fprintf(errOut, "osism: stopped waiting for task %s\n", id)
			} else {
				fmt.Fprintf(errOut, "osism: detached from task %s; it stays with its worker (osism log -f %s)\n", id, id)
			}
			return exitInterrupted, interrupted{detached: true}
		}
	}
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

func bifrostCommand() *cli.Command {
	return &cli.Command{
		Name:  "bifrost",
		Usage: "run a Bifrost command (role bifrost-command), or deploy Bifrost (role bifrost-deploy), in the manager environment",
		Description: "osism bifrost deploy runs bifrost-deploy; osism bifrost ARGS... runs bifrost-command with ARGS\n" +
			"handed to ansible-playbook verbatim.",
		ArgsUsage:       "deploy | [ARGS...]",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			role, args := "bifrost-command", c.Args().Slice()
			if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				return cli.ShowSubcommandHelp(c)
			}
			if len(args) > 0 && args[0] == "deploy" {
				role, args = "bifrost-deploy", args[1:]
			}
			steps, err := services.PlanApply(nil, services.ApplyRequest{Spec: role, Environment: "manager", Args: args})
			if err != nil {
				return usageError{err}
			}
			return runSteps(c, config(c), steps)
		},
	}
}
