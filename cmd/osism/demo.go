package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// demoCommand runs the main job on embedded defaults, in one process with
// nothing else running: NetBox is the in-memory double with its sample
// fabric.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the main job on embedded defaults (nothing to install)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "desired-state", Value: "netbox/testdata/desired", Usage: "desired-state directory (<dir>/<collection>/<device>/<state>.yaml)"},
			&cli.StringFlag{Name: "collection", Value: "dc1", Usage: "collection of the desired state"},
			&cli.StringFlag{Name: "device", Value: "node-1", Usage: "device to move"},
			&cli.StringFlag{Name: "state", Value: "b", Usage: "target state"},
		},
		Action: func(c *cli.Context) error {
			return runDemo(c, c.App.Writer)
		},
	}
}

func printPhases(w io.Writer) statemachine.Observer {
	return func(e statemachine.Event) {
		switch e.Kind {
		case statemachine.PhaseStarted:
			fmt.Fprintf(w, "%s: %s -> %s phase %d started\n", e.Device, e.From, e.To, e.Phase)
		case statemachine.PhaseProgress:
			fmt.Fprintf(w, "%s:   %s\n", e.Device, e.Message)
		case statemachine.PhaseFailed:
			fmt.Fprintf(w, "%s: %s -> %s phase %d failed: %v\n", e.Device, e.From, e.To, e.Phase, e.Err)
		case statemachine.TransitionFinished:
			fmt.Fprintf(w, "%s: now in state %s\n", e.Device, e.To)
		}
	}
}

func runDemo(c *cli.Context, w io.Writer) error {
	ctx := c.Context
	dir := c.String("desired-state")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--desired-state %q: expected a directory (run the demo from the repository root, or pass one)", dir)
	}

	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(w, "NetBox (in-memory, sample fabric) at %s\n", srv.URL())

	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	if err != nil {
		return err
	}
	report, err := nb.Check(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "NetBox %s: %d custom fields and %d tags missing\n", report.Version, len(report.MissingFields), len(report.MissingTags))

	// Phase 2 renders the switches into a state repository of the demo's
	// own; phases 3 and 4 need switches to reach.
	repo, err := os.MkdirTemp("", "osism-demo-switches-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(repo)
	fab, err := services.NewFabric(osism.FabricConfig{DesiredStateDir: dir, Collection: c.String("collection"), StateDir: repo},
		nb, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	leaves, err := fab.Deployer.Generate(ctx, "leaf-1", "leaf-2")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "leaf-1 and leaf-2 rendered as they are now, in the state repository %s\n", repo)
	m, err := statemachine.New(statemachine.Config{
		Store: netbox.NewStore(nb),
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox:   {netbox.DesiredStateHook{Client: nb, Dir: dir, Collection: c.String("collection")}},
			statemachine.PhaseGenerate: fab.Hooks(c.String("collection"))[statemachine.PhaseGenerate],
		},
		Observers: []statemachine.Observer{printPhases(w)},
	})
	if err != nil {
		return err
	}
	device, target := c.String("device"), statemachine.State(c.String("state"))
	st, err := m.Status(ctx, device)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s is in state %s; moving it to %s\n", device, st, target)
	if _, err := m.Transition(ctx, device, target, nil); err != nil {
		return err
	}

	ds, err := netbox.LoadDesiredState(dir, c.String("collection"), device, string(target))
	if err != nil {
		return err
	}
	plan, err := nb.Plan(ctx, device, ds)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "plan after the transition: %s\n", plan)
	for _, l := range leaves {
		diff, err := fab.Deployer.Repo.Diff(l.Switch, l.Rev, "HEAD")
		if err != nil {
			return err
		}
		if diff == "" {
			diff = "(unchanged)\n"
		}
		fmt.Fprintf(w, "configuration of %s, before and after:\n%s", l.Switch, diff)
	}
	fmt.Fprintln(w, "phases 3 and 4 deploy that to the switches and check it: osism netbox connect, with switches to reach")
	fmt.Fprintf(w, "NetBox requests served: %d\n", srv.TotalRequests())
	return nil
}
