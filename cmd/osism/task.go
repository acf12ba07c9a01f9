package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/osism"
)

func taskCommand() *cli.Command {
	return &cli.Command{
		Name:  "task",
		Usage: "list, show, wait for and revoke tasks",
		Subcommands: []*cli.Command{
			taskListCommand(),
			{
				Name:      "show",
				Usage:     "show a task's record",
				ArgsUsage: "<task-id>",
				Flags:     []cli.Flag{formatFlag("table", "json")},
				Action: onTask(func(c *cli.Context, client *osism.Client, id string) error {
					t, err := client.Get(c.Context, id)
					if err != nil {
						return err
					}
					return printTask(c, t)
				}),
			},
			{
				Name:      "wait",
				Usage:     "wait for a task to end; exits with its exit status",
				ArgsUsage: "<task-id>",
				Flags:     []cli.Flag{formatFlag("table", "json")},
				Action: onTask(func(c *cli.Context, client *osism.Client, id string) error {
					t, err := client.Wait(c.Context, id)
					if err != nil {
						return err
					}
					if err := printTask(c, t); err != nil {
						return err
					}
					return exitStatus(t.ExitStatus)
				}),
			},
			{
				Name:      "revoke",
				Usage:     "cancel a task: a queued one never starts, a running one is killed",
				ArgsUsage: "<task-id>",
				Action: onTask(func(c *cli.Context, client *osism.Client, id string) error {
					if err := client.Cancel(c.Context, id); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, "revoked", id)
					return nil
				}),
			},
		},
	}
}

func taskListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list tasks, newest first",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "state", Usage: "only tasks in this state (queued, running, succeeded, failed, cancelled; repeat)"},
			&cli.StringFlag{Name: "kind", Usage: "only tasks of this kind"},
			&cli.StringFlag{Name: "queue", Usage: "only tasks of this queue"},
			&cli.DurationFlag{Name: "since", Usage: "only tasks created within this duration (1h)"},
			&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most this many (0: all)"},
			formatFlag("table", "json"),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("task list: no arguments expected, got %q", c.Args().First())
			}
			opts := &osism.ListOpts{Kind: c.String("kind"), Queue: osism.Queue(c.String("queue")), Limit: c.Int("limit")}
			for _, s := range c.StringSlice("state") {
				st, err := osism.ParseState(s)
				if err != nil {
					return usagef("task list --state: %v", err)
				}
				opts.States = append(opts.States, st)
			}
			if d := c.Duration("since"); d > 0 {
				opts.Since = time.Now().Add(-d)
			} else if d < 0 {
				return usagef("task list --since %s: expected a positive duration", d)
			}
			if opts.Limit < 0 {
				return usagef("task list --limit %d: expected 0 or more", opts.Limit)
			}
			client, err := busClient(c)
			if err != nil {
				return err
			}
			defer client.Close()
			ts, err := client.List(c.Context, opts)
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				if ts == nil {
					ts = []*osism.Task{}
				}
				return printJSON(c.App.Writer, ts)
			}
			rows := make([][]string, 0, len(ts))
			for _, t := range ts {
				rows = append(rows, []string{t.ID, t.Kind, string(t.Queue), string(t.State),
					t.CreatedAt.Local().Format(time.DateTime), duration(t), t.Worker})
			}
			return printTable(c.App.Writer, []string{"ID", "KIND", "QUEUE", "STATE", "CREATED", "DURATION", "WORKER"}, rows)
		},
	}
}

func duration(t *osism.Task) string {
	switch {
	case t.StartedAt.IsZero():
		return ""
	case t.FinishedAt.IsZero():
		return time.Since(t.StartedAt).Round(time.Second).String() + "…"
	default:
		return t.FinishedAt.Sub(t.StartedAt).Round(time.Millisecond).String()
	}
}

func printTask(c *cli.Context, t *osism.Task) error {
	if c.String("format") == "json" {
		return printJSON(c.App.Writer, t)
	}
	ts := func(x time.Time) string {
		if x.IsZero() {
			return ""
		}
		return x.Local().Format(time.RFC3339Nano)
	}
	rows := [][]string{
		{"id", t.ID}, {"kind", t.Kind}, {"queue", string(t.Queue)}, {"state", string(t.State)},
		{"args", string(t.Args)}, {"worker", t.Worker}, {"attempt", fmt.Sprint(t.Attempt)},
		{"created", ts(t.CreatedAt)}, {"started", ts(t.StartedAt)}, {"finished", ts(t.FinishedAt)},
	}
	if t.State.Finished() {
		rows = append(rows, []string{"exit status", fmt.Sprint(t.ExitStatus)})
	}
	if t.DedupKey != "" {
		rows = append(rows, []string{"dedup key", t.DedupKey})
	}
	if len(t.Result) > 0 {
		rows = append(rows, []string{"result", string(t.Result)})
	}
	if t.Error != "" {
		rows = append(rows, []string{"error", strings.ReplaceAll(t.Error, "\n", " ")})
	}
	return printTable(c.App.Writer, []string{"FIELD", "VALUE"}, rows)
}

// onTask is the action of a command on one task: it reads the task id and
// connects to the broker.
func onTask(f func(c *cli.Context, client *osism.Client, id string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		id, err := taskID(c)
		if err != nil {
			return err
		}
		client, err := busClient(c)
		if err != nil {
			return err
		}
		defer client.Close()
		return f(c, client, id)
	}
}

func logCommand() *cli.Command {
	return &cli.Command{
		Name:      "log",
		Usage:     "print a task's output; with --follow, until it ends, exiting with its exit status",
		ArgsUsage: "<task-id>",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "wait for more output until the task ends"}},
		Action: onTask(func(c *cli.Context, client *osism.Client, id string) error {
			code, err := client.Follow(c.Context, id, c.App.Writer, &osism.FollowOpts{NoFollow: !c.Bool("follow")})
			if err != nil {
				return err
			}
			if !c.Bool("follow") {
				return nil
			}
			return exitStatus(code)
		}),
	}
}
