package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func reconcilerCommand() *cli.Command {
	return &cli.Command{
		Name:  "reconciler",
		Usage: "the Ansible inventory built from NetBox and the configuration repository",
		Subcommands: []*cli.Command{
			{
				Name:  "sync",
				Usage: "build the inventory now and write what changed (hosts.yml, host_vars/)",
				Description: "Runs reconciler.run on the reconciler queue (in this process without a broker). The devices come\n" +
					"from the reconciler section (NETBOX_FILTER_INVENTORY), the static inventory from\n" +
					"<configuration_dir>/inventory, and the output goes to reconciler.output_dir\n" +
					"(OSISM_RECONCILER_OUTPUT_DIR). --dry-run prints a unified diff per file (secret values masked).",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Usage: "print the diff and write nothing"},
					formatFlag("log", "json"),
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("reconciler sync: expected no arguments, got %q", c.Args().Slice())
					}
					return runReconcilerSync(c, osism.ReconcilerRunArgs{DryRun: c.Bool("dry-run"), Reason: "cli"})
				},
			},
		},
	}
}

// reconcilerServiceCommand is osism service reconciler: a worker of the
// reconciler queue with the reconciler's handler alone.
func reconcilerServiceCommand() *cli.Command {
	return &cli.Command{
		Name:  "reconciler",
		Usage: "run the reconciler: the worker of the reconciler queue (reconciler.run)",
		Description: "Takes reconciler.run tasks from the broker (submitted by the beat, the watchdog, the API's\n" +
			"webhook or osism reconciler sync) and writes the inventory to reconciler.output_dir.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "grace", Value: 30 * time.Second, Usage: "how long a running task may finish on shutdown"},
			&cli.StringFlag{Name: "id", Usage: "worker name (default host-pid-random)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("service reconciler: expected no arguments, got %q", c.Args().Slice())
			}
			reg := osism.NewRegistry()
			if err := services.RegisterReconciler(reg, config(c)); err != nil {
				return err
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			// One run at a time: runs write the same files.
			w, err := services.NewWorker(client, services.WorkerConfig{Queues: map[osism.Queue]int{osism.QueueReconciler: 1},
				ID: c.String("id"), Grace: c.Duration("grace"), Handlers: reg})
			if err != nil {
				return err
			}
			return w.Run(c.Context)
		},
	}
}

// runReconcilerSync submits one reconciler run and follows its output
// (log) or waits and prints its report (json).
func runReconcilerSync(c *cli.Context, args osism.ReconcilerRunArgs) error {
	// No de-duplication key: a person asking for a run wants this one,
	// and a dry run must not stand in for a real one.
	return runOneTask(c, args, osism.QueueReconciler, 1)
}
