package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
)

// DemoOpts are the knobs of [RunDemo].
type DemoOpts struct {
	// DesiredStateDir and Collection locate the desired states; the
	// repository's netbox/testdata/desired fits the sample fabric.
	DesiredStateDir string
	Collection      string
	// Device moves to State.
	Device string
	State  statemachine.State
	// Out receives the story; default io.Discard.
	Out io.Writer
}

// ErrDemoInput marks a demo asked for something it cannot do: the error
// names the option and what was expected.
var ErrDemoInput = errors.New("demo input")

// DemoResult is what a demo did, for a program that checks it.
type DemoResult struct {
	// NetBoxURL is where the in-memory NetBox served (it is stopped when
	// RunDemo returns).
	NetBoxURL string
	// Transition is the device's transition.
	Transition statemachine.Result
	// Rendered are the leaves phase 2 rendered, with their diffs.
	Rendered map[string]string
	// Requests is how many requests NetBox served.
	Requests int
}

// RunDemo runs the main job on embedded defaults, in this process with
// nothing else running: the in-memory NetBox with its sample fabric, its
// custom fields checked, and a device moved through the state machine
// with phase 1 (the desired state in NetBox) and phase 2 (both leaves
// rendered into a state repository of the demo's own). It writes every
// step to opts.Out, shows that a second plan is empty, and how each
// leaf's configuration changed.
func RunDemo(ctx context.Context, opts DemoOpts) (*DemoResult, error) {
	w := opts.Out
	if w == nil {
		w = io.Discard
	}
	if st, err := os.Stat(opts.DesiredStateDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("desired-state directory %q: expected a directory: %w", opts.DesiredStateDir, ErrDemoInput)
	}
	if opts.Device == "" || opts.State == "" || opts.Collection == "" {
		return nil, fmt.Errorf("demo: a device, a target state and a collection are required: %w", ErrDemoInput)
	}
	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	res := &DemoResult{NetBoxURL: srv.URL(), Rendered: map[string]string{}}
	fmt.Fprintf(w, "NetBox (in-memory, sample fabric) at %s\n", srv.URL())

	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	if err != nil {
		return nil, err
	}
	report, err := nb.Check(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "NetBox %s: %d custom fields and %d tags missing\n", report.Version, len(report.MissingFields), len(report.MissingTags))

	// Phase 2 renders the switches into a state repository of the demo's
	// own; phases 3 and 4 need switches to reach.
	tmp, err := os.MkdirTemp("", "osism-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "switches")
	var cfg FabricConfig
	cfg.DesiredState = netbox.DesiredStateConfig{Dir: opts.DesiredStateDir, Collection: opts.Collection}
	cfg.Switches.StateDir = repo
	cfg.LockDir = filepath.Join(tmp, "locks")
	fab, err := NewFabric(cfg, nb, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	leaves, err := fab.Deployer.Generate(ctx, "leaf-1", "leaf-2")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "leaf-1 and leaf-2 rendered as they are now, in the state repository %s\n", repo)
	hooks := fab.Hooks(opts.Collection)
	m, err := statemachine.New(statemachine.Config{
		Store: netbox.NewStore(nb),
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox:   {netbox.DesiredStateHook{Client: nb, Dir: opts.DesiredStateDir, Collection: opts.Collection}},
			statemachine.PhaseGenerate: hooks[statemachine.PhaseGenerate],
		},
		Observers: []statemachine.Observer{statemachine.LineObserver(w)},
	})
	if err != nil {
		return nil, err
	}
	st, err := m.Status(ctx, opts.Device)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%s is in state %s; moving it to %s\n", opts.Device, st, opts.State)
	if res.Transition, err = m.Transition(ctx, opts.Device, opts.State, nil); err != nil {
		return nil, err
	}

	ds, err := netbox.LoadDesiredState(opts.DesiredStateDir, opts.Collection, opts.Device, string(opts.State))
	if err != nil {
		return nil, err
	}
	plan, err := nb.Plan(ctx, opts.Device, ds)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "plan after the transition: %s\n", plan)
	for _, l := range leaves {
		now, err := fab.Deployer.Repo.History(l.Switch)
		if err != nil || len(now) == 0 {
			return nil, fmt.Errorf("demo: history of %s: %v", l.Switch, err)
		}
		diff, err := fab.Deployer.Repo.Diff(l.Switch, l.Rev, now[0].Rev)
		if err != nil {
			return nil, err
		}
		res.Rendered[l.Switch] = diff
		if diff == "" {
			diff = "(unchanged)\n"
		}
		fmt.Fprintf(w, "configuration of %s, before and after:\n%s", l.Switch, diff)
	}
	fmt.Fprintln(w, "phases 3 and 4 deploy that to the switches and check it: osism netbox connect, with switches to reach")
	res.Requests = srv.TotalRequests()
	fmt.Fprintf(w, "NetBox requests served: %d\n", res.Requests)
	return res, nil
}
