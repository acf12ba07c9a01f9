package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/kolla"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// exitInterrupted is the exit code after Ctrl-C, as a shell reports SIGINT.
const exitInterrupted = services.ExitInterrupted

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
	jsonOut := c.String("format") == "json"
	if noWait {
		st := steps[0]
		res, err := bus.Client.Submit(c.Context, st.Args, &osism.SubmitOpts{Timeout: c.Duration("timeout")})
		if err != nil {
			return err
		}
		if jsonOut {
			return json.NewEncoder(c.App.Writer).Encode(map[string]string{"task_id": res.ID, "role": st.Role, "environment": st.Environment})
		}
		fmt.Fprintln(c.App.Writer, res.ID)
		return nil
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	code, err := services.RunApply(c.Context, bus.Client, steps, services.ApplyRunOpts{
		Out: c.App.Writer, ErrOut: c.App.ErrWriter, JSON: jsonOut, Retry: c.Int("retry"), Timeout: c.Duration("timeout"),
		Interrupts: sigs, Embedded: bus.Embedded(),
	})
	if err != nil {
		return err
	}
	return exitStatus(code)
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
