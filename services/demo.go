package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// DemoOpts are the knobs of [RunDemo].
type DemoOpts struct {
	// DesiredStateDir and Collection locate the desired states; default
	// ("") the sample fabric's desired states built into the binary
	// (netboxtest.SampleDesiredStates), written into a temporary
	// directory that RunDemo removes when it returns.
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
	// Sent are the commands phase 3 sent to each leaf.
	Sent map[string][]string
	// Compared is phase 4's comparison, read afresh from each leaf after
	// the transition.
	Compared []switchcfg.Report
	// Drift is leaf-1's comparison after the hand change; Repair the
	// commands the deploy sent to repair it, and Repaired the comparison
	// afterwards.
	Drift    switchcfg.Report
	Repair   []string
	Repaired switchcfg.Report
	// RolledBack is the deploy of the rollback of leaf-2 to RollbackTo,
	// its revision before the transition.
	RolledBack switchcfg.DeployResult
	RollbackTo string
	// Requests is how many requests NetBox served.
	Requests int
}

// demoHandChange is what the demo types into leaf-1 over SSH: a
// description changed by hand and a BGP neighbor removed.
var demoHandChange = []string{
	"configure terminal",
	"interface swp2",
	"description changed by hand",
	"exit",
	"router bgp 65101",
	"no neighbor swp2 interface peer-group fabric",
	"end",
}

// RunDemo runs the main job on embedded defaults, in this process with
// nothing else running or installed ([StartDev]): the in-memory NetBox
// with its sample fabric and its custom fields checked, and a simulated
// FRR switch per leaf reached over SSH. The leaves are first deployed as
// the fabric is; then a device moves through the state machine with all
// four phases (the desired state in NetBox, both leaves rendered into a
// state repository, the commands sent to each leaf, the comparison of
// what they run with what was rendered). A hand change on leaf-1, typed
// into it over SSH, shows as drift and a deploy repairs it; last, leaf-2
// is rolled back to its revision before the transition. Every step goes
// to opts.Out.
func RunDemo(ctx context.Context, opts DemoOpts) (*DemoResult, error) {
	w := opts.Out
	if w == nil {
		w = io.Discard
	}
	if opts.DesiredStateDir != "" {
		if st, err := os.Stat(opts.DesiredStateDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("desired-state directory %q: expected a directory (or none, for the built-in sample desired states): %w", opts.DesiredStateDir, ErrDemoInput)
		}
	}
	if opts.Device == "" || opts.State == "" || opts.Collection == "" {
		return nil, fmt.Errorf("demo: a device, a target state and a collection are required: %w", ErrDemoInput)
	}
	env, err := StartDev(ctx, DevOpts{DesiredStateDir: opts.DesiredStateDir, Collection: opts.Collection})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	res := &DemoResult{NetBoxURL: env.NetBoxURL, Rendered: map[string]string{}, Sent: map[string][]string{}}
	fmt.Fprintf(w, "NetBox (in-memory, sample fabric) at %s\n", env.NetBoxURL)
	for _, name := range env.Switches {
		fmt.Fprintf(w, "%s: simulated FRR switch at ssh -p %d %s@%s\n", name, env.Leaves[name].Port, env.Leaves[name].User, env.Leaves[name].Host)
	}

	var cfg Config
	env.Apply(&cfg)
	nb, err := netbox.New(cfg.NetBox)
	if err != nil {
		return nil, err
	}
	report, err := nb.Check(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "NetBox %s: %d custom fields and %d tags missing\n", report.Version, len(report.MissingFields), len(report.MissingTags))

	fab, err := NewFabric(cfg.Fabric, nb, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	d := fab.Deployer
	leaves, err := d.Generate(ctx, env.Switches...)
	if err != nil {
		return nil, err
	}
	before := map[string]string{}
	for _, l := range leaves {
		before[l.Switch] = l.Rev
	}
	first, err := d.Deploy(ctx, env.Switches, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range first {
		fmt.Fprintf(w, "%s deployed as the fabric is now: %d commands, revision %s\n", r.Switch, len(r.Sent), short(r.Rev))
	}

	m, err := fab.Machine(opts.Collection, statemachine.LineObserver(w))
	if err != nil {
		return nil, err
	}
	st, err := m.Status(ctx, opts.Device)
	if err != nil {
		return nil, err
	}
	sentBefore := map[string]int{}
	for _, name := range env.Switches {
		sentBefore[name] = len(env.Leaves[name].Commands())
	}
	fmt.Fprintf(w, "\n%s is in state %s; moving it to %s\n", opts.Device, st, opts.State)
	if res.Transition, err = m.Transition(ctx, opts.Device, opts.State, nil); err != nil {
		return nil, err
	}

	fmt.Fprintln(w, "\nphase 1, NetBox:")
	ds, err := netbox.LoadDesiredState(env.DesiredStateDir, opts.Collection, opts.Device, string(opts.State))
	if err != nil {
		return nil, err
	}
	plan, err := nb.Plan(ctx, opts.Device, ds)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "plan after the transition: %s\n", plan)

	fmt.Fprintln(w, "\nphase 2, rendered:")
	for _, name := range env.Switches {
		now, err := d.Repo.History(name)
		if err != nil || len(now) == 0 {
			return nil, fmt.Errorf("demo: history of %s: %v", name, err)
		}
		diff, err := d.Repo.Diff(name, before[name], now[0].Rev)
		if err != nil {
			return nil, err
		}
		res.Rendered[name] = diff
		if diff == "" {
			diff = "(unchanged)\n"
		}
		fmt.Fprintf(w, "configuration of %s, before and after:\n%s", name, diff)
	}

	fmt.Fprintln(w, "\nphase 3, commands sent:")
	for _, name := range env.Switches {
		sent := env.Leaves[name].Commands()[sentBefore[name]:]
		res.Sent[name] = sent
		fmt.Fprintf(w, "to %s (%d):\n", name, len(sent))
		for _, c := range sent {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}

	fmt.Fprintln(w, "\nphase 4, compare:")
	if res.Compared, err = d.Compare(ctx, env.Switches); err != nil {
		return nil, err
	}
	for _, r := range res.Compared {
		fmt.Fprintln(w, r.String())
	}

	fmt.Fprintln(w, "\na hand change on leaf-1, typed over SSH:")
	shown, err := env.Leaves["leaf-1"].Type(ctx, demoHandChange...)
	if err != nil {
		return nil, err
	}
	// The prompts with what was typed, and any error, up to the "end" and
	// "exit" that Type adds.
	var typed []string
	for _, l := range strings.Split(strings.TrimSpace(shown), "\n") {
		if strings.HasPrefix(l, "leaf-1") && strings.Contains(l, "# ") || strings.HasPrefix(l, "%") {
			typed = append(typed, l)
		}
	}
	for _, l := range typed[:max(0, len(typed)-2)] {
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintln(w, "drift (what osism netbox diff shows):")
	reports, err := d.Compare(ctx, []string{"leaf-1"})
	if err != nil {
		return nil, err
	}
	res.Drift = reports[0]
	fmt.Fprintln(w, res.Drift.String())
	fixed, err := d.Deploy(ctx, []string{"leaf-1"}, nil)
	if err != nil {
		return nil, err
	}
	res.Repair, res.Repaired = fixed[0].Sent, fixed[0].Report
	fmt.Fprintf(w, "repaired by a deploy of leaf-1 (%d commands):\n", len(res.Repair))
	for _, c := range res.Repair {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintln(w, res.Repaired.String())

	res.RollbackTo = before["leaf-2"]
	fmt.Fprintf(w, "\nrollback of leaf-2 to revision %s, its configuration before the transition:\n", short(res.RollbackTo))
	if res.RolledBack, err = d.Rollback(ctx, "leaf-2", res.RollbackTo); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "new revision %s, %d commands sent:\n", short(res.RolledBack.Rev), len(res.RolledBack.Sent))
	for _, c := range res.RolledBack.Sent {
		fmt.Fprintf(w, "  %s\n", c)
	}
	fmt.Fprintln(w, res.RolledBack.Report.String())

	res.Requests = env.NetBox.TotalRequests()
	fmt.Fprintf(w, "\nNetBox requests served: %d\n", res.Requests)
	return res, nil
}

// short is a revision as people read it.
func short(rev string) string {
	if len(rev) > 8 {
		return rev[:8]
	}
	return rev
}
