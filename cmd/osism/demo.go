package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
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

	m, err := statemachine.New(statemachine.Config{
		Store: netbox.NewStore(nb),
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox: {netbox.DesiredStateHook{Client: nb, Dir: dir, Collection: c.String("collection")}},
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
	fmt.Fprintf(w, "NetBox requests served: %d\n", srv.TotalRequests())
	return nil
}
