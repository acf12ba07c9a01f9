package switchcfg

import (
	"context"
	"fmt"
	"strings"

	"github.com/osism/go-osism/statemachine"
)

// The phase hooks of a device transition over a Deployer: phase 2
// renders and commits every managed switch the device's cables reach,
// phase 3 deploys them, phase 4 compares what they run with what was
// deployed. The Deployer remembers a transition's switches from phase 2
// to phase 4 and asks NetBox again after a resume in another process.

// GenerateHook is phase 2: render and commit the switches of the device.
type GenerateHook struct{ Deployer *Deployer }

// DeployHook is phase 3: deploy the switches of the device.
type DeployHook struct{ Deployer *Deployer }

// CompareHook is phase 4: the switches of the device must run the
// revision deployed to them; it fails with the report of those that do
// not.
type CompareHook struct{ Deployer *Deployer }

// Hooks returns the hooks of phases 2, 3 and 4 over d, for
// statemachine.Config.Hooks.
func Hooks(d *Deployer) map[statemachine.Phase][]statemachine.PhaseHook {
	return map[statemachine.Phase][]statemachine.PhaseHook{
		statemachine.PhaseGenerate: {GenerateHook{d}},
		statemachine.PhaseDeploy:   {DeployHook{d}},
		statemachine.PhaseCompare:  {CompareHook{d}},
	}
}

// RunPhase renders and commits.
func (h GenerateHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	sws, err := h.Deployer.switchesOfStep(ctx, step)
	if err != nil || len(sws) == 0 {
		if err == nil {
			step.Progress("no managed switch is cabled to "+step.Device, 0, 0)
		}
		return err
	}
	res, err := h.Deployer.Generate(ctx, sws...)
	if err != nil {
		return err
	}
	for i, r := range res {
		what := "unchanged"
		if r.Changed {
			what = "changed"
		}
		step.Progress(fmt.Sprintf("%s: rendered, %s, revision %s", r.Switch, what, ShortRev(r.Rev)), i+1, len(res))
	}
	return nil
}

// RunPhase deploys.
func (h DeployHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	sws, err := h.Deployer.switchesOfStep(ctx, step)
	if err != nil || len(sws) == 0 {
		return err
	}
	res, err := h.Deployer.Deploy(ctx, sws, nil)
	for i, r := range res {
		if r.Rev == "" {
			continue
		}
		step.Progress(fmt.Sprintf("%s: revision %s deployed, %d commands sent", r.Switch, ShortRev(r.Rev), len(r.Sent)), i+1, len(res))
	}
	return err
}

// RunPhase compares. A resumed phase reads every switch anew.
func (h CompareHook) RunPhase(ctx context.Context, step statemachine.Step) error {
	d := h.Deployer
	sws, err := d.switchesOfStep(ctx, step)
	defer d.forgetStep(step)
	if err != nil || len(sws) == 0 {
		return err
	}
	reports, err := d.Verify(ctx, sws, &VerifyOpts{Fresh: step.Resumed})
	if err != nil {
		return err
	}
	var bad []string
	for i, r := range reports {
		step.Progress(r.String(), i+1, len(reports))
		if !r.OK() {
			bad = append(bad, r.String())
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("switches do not run what NetBox says:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

// ShortRev shortens a revision for people.
func ShortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func stepKey(step statemachine.Step) string { return step.Device + "\x00" + string(step.To) }

// switchesOfStep returns the managed switches of the step's device, asked
// of NetBox once per transition: in phase 2, or in a later phase that this
// process did not see phase 2 of.
func (d *Deployer) switchesOfStep(ctx context.Context, step statemachine.Step) ([]string, error) {
	d.init()
	key := stepKey(step)
	d.mu.Lock()
	sws, ok := d.switchesOf[key]
	d.mu.Unlock()
	if ok && step.Phase != statemachine.PhaseGenerate {
		return sws, nil
	}
	sws, err := d.SwitchesOf(ctx, step.Device)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.switchesOf[key] = sws
	d.mu.Unlock()
	return sws, nil
}

func (d *Deployer) forgetStep(step statemachine.Step) {
	d.init()
	d.mu.Lock()
	delete(d.switchesOf, stepKey(step))
	d.mu.Unlock()
}
