package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func baremetalCommand() *cli.Command {
	change := func(name, usage string, op osism.BaremetalOp, flags ...cli.Flag) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: "NODE...",
			Flags:  append(flags, formatFlag("log", "json")),
			Action: func(c *cli.Context) error { return baremetalChange(c, osism.BaremetalArgs{Op: op}) },
		}
	}
	return &cli.Command{
		Name:  "baremetal",
		Usage: "bare-metal nodes in Ironic: list, show, and change their state",
		Description: "Read-only commands ask Ironic directly; the others run as openstack.baremetal tasks on the openstack\n" +
			"queue (in this process without a broker), one per node, and wait until each node rests.\n" +
			"Ironic comes from the openstack section: OS_CLOUD, OS_AUTH_URL..., or OS_ENDPOINT for a noauth Ironic.",
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list the nodes",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "provision-state", Usage: "only nodes in this provision state (available, active, ...)"},
					&cli.BoolFlag{Name: "maintenance", Usage: "only nodes in maintenance"},
					&cli.BoolFlag{Name: "netbox", Usage: "join each node to the NetBox device of its name"},
					&cli.StringFlag{Name: "resource-class", Usage: "only nodes of this resource class"},
					formatFlag("table", "json"),
				},
				Action: baremetalList,
			},
			{
				Name: "show", Usage: "show a node", ArgsUsage: "NODE",
				Flags:  []cli.Flag{formatFlag("table", "json")},
				Action: baremetalShow,
			},
			change("provide", "make nodes available (enroll and manageable nodes)", osism.BaremetalProvide),
			{
				Name: "deploy", Usage: "deploy nodes (available), or rebuild them (active) with --rebuild", ArgsUsage: "NODE...|--all",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Usage: "every node not in maintenance that is available (active with --rebuild)"},
					&cli.StringFlag{Name: "resource-class", Usage: "with --all: only nodes of this resource class"},
					&cli.BoolFlag{Name: "rebuild", Usage: "rebuild active nodes instead"},
					&cli.StringFlag{Name: "config-drive", Usage: "a file holding the config drive (gzipped, base64-encoded ISO)", TakesFile: true},
					formatFlag("log", "json"),
				},
				Action: baremetalDeploy,
			},
			change("undeploy", "undeploy nodes (back to available)", osism.BaremetalUndeploy),
			change("clean", "clean manageable nodes with steps (default deploy.erase_devices_metadata)", osism.BaremetalClean,
				&cli.StringSliceFlag{Name: "step", Usage: "a clean step INTERFACE.STEP; repeat for several"}),
			{
				Name: "power", Usage: "power nodes on, off or reboot them",
				Subcommands: []*cli.Command{
					change("on", "power nodes on", osism.BaremetalPowerOn),
					change("off", "power nodes off", osism.BaremetalPowerOff, &cli.BoolFlag{Name: "soft", Usage: "ask the OS to shut down"}),
					change("reboot", "reboot nodes", osism.BaremetalReboot, &cli.BoolFlag{Name: "soft", Usage: "ask the OS to reboot"}),
				},
			},
			{
				Name: "maintenance", Usage: "set or unset nodes' maintenance",
				Subcommands: []*cli.Command{
					change("set", "put nodes in maintenance", osism.BaremetalMaintenanceSet, &cli.StringFlag{Name: "reason", Usage: "why"}),
					change("unset", "take nodes out of maintenance", osism.BaremetalMaintenanceUnset),
				},
			},
			change("delete", "delete nodes that are safe to delete (no instance, powered off, not deployed)", osism.BaremetalDelete),
		},
	}
}

// bareMetal connects to the configured Ironic.
func bareMetal(c *cli.Context) (*openstack.BareMetal, error) {
	return openstack.NewBareMetal(c.Context, config(c).OpenStack)
}

func baremetalList(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("baremetal list: unexpected argument %q", c.Args().First())
	}
	opts := &openstack.ListNodesOpts{ResourceClass: c.String("resource-class")}
	if s := c.String("provision-state"); s != "" {
		st, err := openstack.ParseProvisionState(s)
		if err != nil {
			return usageError{err}
		}
		opts.ProvisionState = st
	}
	if c.Bool("maintenance") {
		yes := true
		opts.Maintenance = &yes
	}
	bm, err := bareMetal(c)
	if err != nil {
		return err
	}
	var nb *netbox.Client
	if c.Bool("netbox") {
		if nb, err = netbox.New(config(c).NetBox); err != nil {
			return err
		}
	}
	nodes, err := services.ListBaremetal(c.Context, bm, opts, nb)
	if err != nil {
		return err
	}
	if c.String("format") == "json" {
		if nodes == nil {
			nodes = []services.BaremetalNode{}
		}
		return printJSON(c.App.Writer, nodes)
	}
	headers := []string{"NAME", "UUID", "PROVISION STATE", "POWER", "MAINTENANCE"}
	if nb != nil {
		headers = append(headers, "DEVICE", "DEVICE STATE", "NETBOX PROVISION STATE")
	}
	rows := make([][]string, 0, len(nodes))
	for _, n := range nodes {
		row := []string{orDash(n.Name), n.UUID, string(n.ProvisionState), orDash(string(n.PowerState)), strconv.FormatBool(n.Maintenance)}
		if nb != nil {
			if d := n.Device; d != nil {
				row = append(row, d.Name, orDash(d.CustomFields.String("device_state")), orDash(d.CustomFields.String("provision_state")))
			} else {
				row = append(row, "-", "-", "-")
			}
		}
		rows = append(rows, row)
	}
	return printTable(c.App.Writer, headers, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func baremetalShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("baremetal show: expected one NODE")
	}
	bm, err := bareMetal(c)
	if err != nil {
		return err
	}
	n, err := bm.Node(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if c.String("format") == "json" {
		return printJSON(c.App.Writer, n)
	}
	rows := [][]string{
		{"name", orDash(n.Name)}, {"uuid", n.UUID}, {"driver", n.Driver},
		{"provision_state", string(n.ProvisionState)}, {"target_provision_state", orDash(string(n.TargetProvisionState))},
		{"power_state", orDash(string(n.PowerState))}, {"maintenance", strconv.FormatBool(n.Maintenance)},
		{"maintenance_reason", orDash(n.MaintenanceReason)}, {"instance_uuid", orDash(n.InstanceUUID)},
		{"resource_class", orDash(n.ResourceClass)}, {"last_error", orDash(n.LastError)},
	}
	return printTable(c.App.Writer, []string{"FIELD", "VALUE"}, rows)
}

func baremetalDeploy(c *cli.Context) error {
	args := osism.BaremetalArgs{Op: osism.BaremetalDeploy}
	if c.Bool("rebuild") {
		args.Op = osism.BaremetalRebuild
	}
	if f := c.String("config-drive"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return usagef("baremetal deploy --config-drive: %v", err)
		}
		args.ConfigDrive = strings.TrimSpace(string(b))
	}
	switch {
	case c.Bool("all") && c.NArg() > 0:
		return usagef("baremetal deploy: expected NODE... or --all, not both")
	case c.String("resource-class") != "" && !c.Bool("all"):
		return usagef("baremetal deploy --resource-class goes with --all")
	case c.Bool("all"):
		bm, err := bareMetal(c)
		if err != nil {
			return err
		}
		nodes, err := services.BaremetalTargets(c.Context, bm, args.Op, &openstack.ListNodesOpts{ResourceClass: c.String("resource-class")})
		if err != nil {
			return err
		}
		if len(nodes) == 0 {
			fmt.Fprintf(c.App.ErrWriter, "osism: baremetal %s --all: no node to %s\n", args.Op, args.Op)
			if c.String("format") == "json" {
				return printJSON(c.App.Writer, []services.BaremetalTask{})
			}
			return nil
		}
		args.Nodes = nodes
		return runBaremetal(c, args)
	}
	return baremetalChange(c, args)
}

// baremetalChange takes the nodes and the flags of a state-changing
// command into args and runs it.
func baremetalChange(c *cli.Context, args osism.BaremetalArgs) error {
	if c.NArg() == 0 {
		return usagef("baremetal %s: expected one or more NODE names or UUIDs", args.Op)
	}
	args.Nodes = c.Args().Slice()
	args.Soft = c.Bool("soft")
	args.Reason = c.String("reason")
	for _, s := range c.StringSlice("step") {
		iface, step, ok := strings.Cut(s, ".")
		if !ok || iface == "" || step == "" {
			return usagef("baremetal clean --step %q: expected INTERFACE.STEP such as deploy.erase_devices_metadata", s)
		}
		args.CleanSteps = append(args.CleanSteps, osism.BaremetalStep{Interface: iface, Step: step})
	}
	if err := args.Validate(); err != nil {
		return usageError{err}
	}
	return runBaremetal(c, args)
}

// runBaremetal runs args as one task per node: one node's output is
// followed, several show a progress bar; the exit status is non-zero when
// any node failed.
func runBaremetal(c *cli.Context, args osism.BaremetalArgs) error {
	cfg := config(c)
	if cfg.Bus.Standalone() && !cfg.OpenStack.Configured() {
		return openstack.ErrNoCredentials
	}
	bus, err := services.OpenBus(c.Context, cfg, &services.BusOpts{Logger: quietLogger(c), Concurrency: 8,
		Queues: []osism.Queue{osism.QueueOpenStack}})
	if err != nil {
		return err
	}
	defer bus.Close()
	jsonOut := c.String("format") == "json"
	opts := &services.BaremetalTasksOpts{}
	if len(args.Nodes) == 1 && !jsonOut {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		opts.Follow = &services.ConnectFollow{Out: c.App.Writer,
			FollowOpts: services.FollowOpts{Interrupts: sigs, Embedded: bus.Embedded(), ErrOut: c.App.ErrWriter}}
	} else if !jsonOut {
		opts.Progress = nodeProgress(c.App.ErrWriter)
	}
	tasks, err := services.RunBaremetalTasks(c.Context, bus.Client, args, opts)
	var intr *services.InterruptedError
	if errors.As(err, &intr) {
		return exitStatus(exitInterrupted)
	}
	if err != nil && !errors.Is(err, services.ErrNodesFailed) {
		return err
	}
	if jsonOut {
		if perr := printJSON(c.App.Writer, tasks); perr != nil {
			return perr
		}
	} else if opts.Progress != nil {
		fmt.Fprintln(c.App.ErrWriter)
	}
	var failed []string
	for _, t := range tasks {
		if t.State != osism.StateSucceeded {
			failed = append(failed, fmt.Sprintf("%s (task %s): %s", t.Node, t.ID, t.Error))
		}
	}
	slices.Sort(failed)
	for _, f := range failed {
		fmt.Fprintln(c.App.ErrWriter, "osism: failed: "+f)
	}
	if err != nil {
		return fmt.Errorf("baremetal %s: %w", args.Op, err)
	}
	return nil
}

// nodeProgress draws the progress of many nodes' tasks on one line of w.
func nodeProgress(w io.Writer) func(done, total, failed int) {
	return func(done, total, failed int) {
		const width = 30
		fill := done * width / total
		fmt.Fprintf(w, "\r[%s%s] %d/%d nodes, %d failed", strings.Repeat("#", fill), strings.Repeat(" ", width-fill), done, total, failed)
	}
}
