package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "sync NetBox and Ironic: devices to nodes, node states to NetBox",
		Description: "Both run as conductor tasks on the conductor queue (in this process without a broker).\n" +
			"The devices come from the conductor section (NETBOX_FILTER_CONDUCTOR_IRONIC), Ironic from the\n" +
			"openstack section (OS_CLOUD, OS_AUTH_URL..., or OS_ENDPOINT for a noauth Ironic).",
		Subcommands: []*cli.Command{
			{
				Name: "ironic", Usage: "register NetBox devices as Ironic nodes with their ports, and make them available", ArgsUsage: "[NODE]",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Usage: "print what would change (secrets masked) and change nothing"},
					&cli.BoolFlag{Name: "force", Usage: "update nodes that do not differ too"},
					&cli.BoolFlag{Name: "adopt", Usage: "adopt new nodes (active) instead of providing them (available)"},
					formatFlag("log", "json"),
				},
				Action: func(c *cli.Context) error {
					node, err := syncNode(c, "sync ironic")
					if err != nil {
						return err
					}
					return runSync(c, osism.SyncIronicArgs{Node: node, DryRun: c.Bool("dry-run"), Force: c.Bool("force"), Adopt: c.Bool("adopt")})
				},
			},
			{
				Name: "netbox", Usage: "write Ironic's provision state, power state and maintenance to the primary and secondary NetBoxes", ArgsUsage: "[NODE]",
				Flags: []cli.Flag{formatFlag("log", "json")},
				Action: func(c *cli.Context) error {
					node, err := syncNode(c, "sync netbox")
					if err != nil {
						return err
					}
					return runSync(c, osism.SyncNetBoxArgs{Node: node})
				},
			},
		},
	}
}

// syncNode is the optional NODE argument.
func syncNode(c *cli.Context, op string) (string, error) {
	if c.NArg() > 1 {
		return "", usagef("%s: expected at most one NODE, got %d arguments (flags go before NODE)", op, c.NArg())
	}
	return c.Args().First(), nil
}

// runSync submits args as one conductor task and follows its output (log)
// or waits and prints its report (json). A failed device makes the exit
// status non-zero.
func runSync(c *cli.Context, args interface {
	osism.Args
	Validate() error
}) error {
	if err := args.Validate(); err != nil {
		return usageError{err}
	}
	cfg := config(c)
	if cfg.Bus.Standalone() && !cfg.OpenStack.Configured() {
		return openstack.ErrNoCredentials
	}
	return runOneTask(c, args, osism.QueueConductor, 2)
}

// runOneTask submits args on the command's bus (the broker's, or its own
// with concurrency workers of queue) and follows the task's output; with
// --format json the lines go to stderr, so that a long run shows its
// progress and stdout holds the task's result alone. The exit status is
// the task's.
func runOneTask(c *cli.Context, args osism.Args, queue osism.Queue, concurrency int) error {
	bus, err := services.OpenBus(c.Context, config(c), &services.BusOpts{Logger: quietLogger(c), Concurrency: concurrency,
		Queues: []osism.Queue{queue}})
	if err != nil {
		return err
	}
	defer bus.Close()
	res, err := bus.Client.Submit(c.Context, args, nil)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	out := c.App.Writer
	jsonOut := c.String("format") == "json"
	if jsonOut {
		out = c.App.ErrWriter
	}
	code, err := services.FollowTask(c.Context, bus.Client, res.ID, out,
		&services.FollowOpts{Interrupts: sigs, Embedded: bus.Embedded(), ErrOut: c.App.ErrWriter})
	var intr *services.InterruptedError
	if errors.As(err, &intr) {
		return exitStatus(exitInterrupted)
	}
	if err != nil {
		return err
	}
	if jsonOut {
		task, err := bus.Client.Get(c.Context, res.ID)
		if err != nil {
			return err
		}
		if err := printResult(c.App.Writer, task.Result); err != nil {
			return err
		}
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

func printResult(w io.Writer, raw json.RawMessage) error {
	if len(raw) == 0 {
		_, err := fmt.Fprintln(w, "{}")
		return err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("task result: %w", err)
	}
	return printJSON(w, v)
}
