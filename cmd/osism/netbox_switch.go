package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/switchcfg"
)

// fabric builds the fabric of the configuration (services.OpenFabric);
// close releases the bus.
func fabric(c *cli.Context) (*services.Fabric, func() error, error) {
	return services.OpenFabric(c.Context, config(c), quietLogger(c))
}

// onSwitches is the action of a command on one or more switches: it
// checks the names and builds the fabric.
func onSwitches(f func(c *cli.Context, fab *services.Fabric, sws []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		sws, err := switchArgs(c, 1, "one or more switch names")
		if err != nil {
			return err
		}
		fab, done, err := fabric(c)
		if err != nil {
			return err
		}
		defer done()
		return f(c, fab, sws)
	}
}

func switchArgs(c *cli.Context, min int, usage string) ([]string, error) {
	if c.NArg() < min {
		return nil, usagef("%s: expected %s", c.Command.Name, usage)
	}
	for _, sw := range c.Args().Slice() {
		if err := switchcfg.CheckName(sw); err != nil {
			return nil, usageError{err}
		}
	}
	return c.Args().Slice(), nil
}

func netboxGenerateCommand() *cli.Command {
	return &cli.Command{
		Name:      "generate",
		Usage:     "render switch configurations from NetBox and commit them to the state repository",
		ArgsUsage: "SWITCH...",
		Flags:     []cli.Flag{formatFlag("table", "json")},
		Action: onSwitches(func(c *cli.Context, f *services.Fabric, sws []string) error {
			res, err := f.Deployer.Generate(c.Context, sws...)
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				return printJSON(c.App.Writer, res)
			}
			rows := make([][]string, 0, len(res))
			for _, r := range res {
				rows = append(rows, []string{r.Switch, r.Rev, map[bool]string{true: "changed", false: "unchanged"}[r.Changed]})
			}
			return printTable(c.App.Writer, []string{"SWITCH", "REVISION", "RENDER"}, rows)
		}),
	}
}

func netboxDeployCommand() *cli.Command {
	return &cli.Command{
		Name:      "deploy",
		Usage:     "send switches the difference to their last rendered configuration, and save it",
		ArgsUsage: "SWITCH...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "print the commands that would be sent, send nothing"},
			formatFlag("log", "json"),
		},
		Action: onSwitches(func(c *cli.Context, f *services.Fabric, sws []string) error {
			res, err := f.Deployer.Deploy(c.Context, sws, &switchcfg.DeployOpts{DryRun: c.Bool("dry-run")})
			if c.String("format") == "json" {
				if perr := printJSON(c.App.Writer, res); perr != nil {
					return perr
				}
				return err
			}
			for _, r := range res {
				if r.Rev == "" {
					continue
				}
				verb := "sent"
				if c.Bool("dry-run") {
					verb = "would send"
				}
				fmt.Fprintf(c.App.Writer, "# %s: revision %s, %s %d commands\n", r.Switch, r.Rev, verb, len(r.Sent))
				for _, l := range r.Sent {
					fmt.Fprintln(c.App.Writer, l)
				}
				if !c.Bool("dry-run") {
					fmt.Fprintln(c.App.Writer, "# "+strings.ReplaceAll(r.Report.String(), "\n", "\n# "))
				}
			}
			if err != nil {
				return err
			}
			for _, r := range res {
				if !c.Bool("dry-run") && !r.Report.OK() {
					return fmt.Errorf("%s does not run its rendered configuration after the deploy", r.Switch)
				}
			}
			return nil
		}),
	}
}

func netboxDiffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "compare what switches run with their rendered configuration (exit 1 when they differ)",
		ArgsUsage: "SWITCH...",
		Flags:     []cli.Flag{formatFlag("log", "json")},
		Action: onSwitches(func(c *cli.Context, f *services.Fabric, sws []string) error {
			reports, err := f.Deployer.Compare(c.Context, sws)
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				if err := printJSON(c.App.Writer, reports); err != nil {
					return err
				}
			} else {
				for _, r := range reports {
					fmt.Fprintln(c.App.Writer, r.String())
				}
			}
			for _, r := range reports {
				if !r.OK() {
					return exitStatus(exitFailure)
				}
			}
			return nil
		}),
	}
}

func netboxHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list the rendered revisions of a switch, newest first",
		ArgsUsage: "SWITCH",
		Flags:     []cli.Flag{formatFlag("table", "json")},
		Action: func(c *cli.Context) error {
			sws, err := switchArgs(c, 1, "a switch name")
			if err != nil {
				return err
			}
			repo, err := stateRepo(c)
			if err != nil {
				return err
			}
			hist, err := repo.History(sws[0])
			if err != nil {
				return err
			}
			deployed, _ := repo.Deployed(sws[0])
			if c.String("format") == "json" {
				type row struct {
					switchcfg.Revision
					Deployed bool `json:"deployed"`
				}
				rows := make([]row, 0, len(hist))
				for _, h := range hist {
					rows = append(rows, row{h, h.Rev == deployed})
				}
				return printJSON(c.App.Writer, rows)
			}
			rows := make([][]string, 0, len(hist))
			for _, h := range hist {
				mark := ""
				if h.Rev == deployed {
					mark = "deployed"
				}
				rows = append(rows, []string{h.Rev[:12], h.Time.Format(time.RFC3339), mark, h.Message})
			}
			return printTable(c.App.Writer, []string{"REVISION", "TIME", "", "MESSAGE"}, rows)
		},
	}
}

// stateRepo opens the state repository of the configuration.
func stateRepo(c *cli.Context) (*switchcfg.Repo, error) {
	return config(c).Fabric.Switches.OpenRepo()
}

func netboxRollbackCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollback",
		Usage:     "deploy the configuration a switch had at an earlier revision (committed as a new one)",
		ArgsUsage: "SWITCH REVISION",
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("rollback: expected SWITCH REVISION")
			}
			sw := c.Args().Get(0)
			if err := switchcfg.CheckName(sw); err != nil {
				return usageError{err}
			}
			f, done, err := fabric(c)
			if err != nil {
				return err
			}
			defer done()
			r, err := f.Deployer.Rollback(c.Context, sw, c.Args().Get(1))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: rolled back to %s as revision %s, %d commands sent\n%s\n", sw, c.Args().Get(1), r.Rev, len(r.Sent), r.Report)
			if !r.Report.OK() {
				return fmt.Errorf("%s does not run the rolled back configuration", sw)
			}
			return nil
		},
	}
}

func netboxConnectCommand() *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "move a device to a state: NetBox, then the switches its cables reach (phases 1-4)",
		ArgsUsage: "DEVICE | --all",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Usage: "target state (required)"},
			&cli.StringFlag{Name: "collection", Usage: "desired-state collection (default fabric.collection)"},
			&cli.BoolFlag{Name: "enforce", Usage: "run the transition even when in transit or not allowed"},
			&cli.BoolFlag{Name: "no-wait", Usage: "print the task id and return"},
			&cli.BoolFlag{Name: "all", Usage: "every device the collection names"},
		},
		Action: func(c *cli.Context) error {
			// Flags may also follow DEVICE, as in osism netbox connect node-1
			// --state b; urfave/cli stops parsing at DEVICE.
			if c.NArg() > 1 && strings.HasPrefix(c.Args().Get(1), "-") {
				return c.Command.Run(c, append([]string{c.Command.Name}, append(c.Args().Tail(), c.Args().First())...)...)
			}
			if c.String("state") == "" {
				return usagef("connect: --state is required")
			}
			cfg := config(c)
			collection := c.String("collection")
			if collection == "" {
				collection = cfg.Fabric.DesiredState.Collection
			}
			var devices []string
			var err error
			switch {
			case c.Bool("all") && c.NArg() == 0:
				if devices, err = collectionDevices(cfg.Fabric.DesiredState.Dir, collection); err != nil {
					return err
				}
			case !c.Bool("all") && c.NArg() == 1:
				devices = []string{c.Args().First()}
			default:
				return usagef("connect: expected one DEVICE, or --all")
			}
			if c.Bool("no-wait") && cfg.Bus.Standalone() {
				return usagef("connect --no-wait needs a broker (set %s): without one the task runs inside this command", osism.EnvBrokerURL)
			}
			bus, err := services.OpenBus(c.Context, cfg, &services.BusOpts{Logger: quietLogger(c), Concurrency: 8,
				Queues: []osism.Queue{osism.QueueNetBox}})
			if err != nil {
				return err
			}
			defer bus.Close()
			req := services.ConnectAllRequest{Devices: devices, State: c.String("state"), Collection: collection, Enforce: c.Bool("enforce")}
			opts := &services.ConnectAllOpts{NoWait: c.Bool("no-wait"), Progress: progressBar(c.App.ErrWriter)}
			if len(devices) == 1 {
				sigs := make(chan os.Signal, 2)
				signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
				defer signal.Stop(sigs)
				opts.Follow = &services.ConnectFollow{Out: c.App.Writer,
					FollowOpts: services.FollowOpts{Interrupts: sigs, Embedded: bus.Embedded(), ErrOut: c.App.ErrWriter}}
			}
			tasks, err := services.ConnectAll(c.Context, bus.Client, req, opts)
			switch {
			case c.Bool("no-wait"):
				if err != nil {
					return err
				}
				for _, t := range tasks {
					fmt.Fprintln(c.App.Writer, t.ID)
				}
				return nil
			case len(devices) == 1:
				var intr *services.InterruptedError
				if errors.As(err, &intr) {
					return exitStatus(exitInterrupted)
				}
				if err != nil {
					return err
				}
				if t := tasks[0]; t.ExitStatus != 0 && t.Error != "" {
					fmt.Fprintf(c.App.ErrWriter, "osism: task %s failed: %s\n", t.ID, t.Error)
				}
				return exitStatus(tasks[0].ExitStatus)
			}
			if err != nil && !errors.Is(err, services.ErrDevicesFailed) {
				return err
			}
			fmt.Fprintln(c.App.ErrWriter)
			var failed []string
			for _, t := range tasks {
				if t.Failed() {
					failed = append(failed, fmt.Sprintf("%s (task %s): %s", t.Device, t.ID, t.Error))
				}
			}
			slices.Sort(failed)
			for _, f := range failed {
				fmt.Fprintln(c.App.ErrWriter, "osism: failed: "+f)
			}
			return err
		},
	}
}

// progressBar draws the progress of many devices' tasks on one line of w.
func progressBar(w io.Writer) func(done, total, failed int) {
	return func(done, total, failed int) {
		const width = 30
		fill := done * width / total
		fmt.Fprintf(w, "\r[%s%s] %d/%d devices, %d failed", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done, total, failed)
	}
}

// collectionDevices lists the devices a desired-state collection names:
// the top-level keys of its <state>.yaml files and its device directories.
func collectionDevices(dir, collection string) ([]string, error) {
	if dir == "" || collection == "" {
		return nil, usagef("connect --all: set fabric.desired_state_dir (%s) and a collection", netbox.EnvDesiredStateDir)
	}
	return netbox.CollectionDevices(dir, collection)
}
