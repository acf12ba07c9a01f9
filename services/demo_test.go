package services_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// demoDesired is the sample fabric's desired states in the repository
// (what netboxtest.SampleDesiredStates embeds).
const demoDesired = "../netbox/netboxtest/sample/desired"

// Without a desired-state directory the demo runs on the sample built
// into the binary, written into a temporary directory that is gone when
// RunDemo returns. Not parallel: it points TMPDIR at a directory of its
// own to see what is left there.
func TestRunDemoBuiltinSample(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var buf bytes.Buffer
	res, err := services.RunDemo(ctxT(t, time.Minute), services.DemoOpts{
		Collection: "dc1", Device: "node-1", State: "b", Out: &buf,
	})
	require.NoError(t, err, buf.String())
	require.Equal(t, statemachine.Result{Device: "node-1", From: statemachine.StateA, To: statemachine.StateB}, res.Transition)
	for _, want := range []string{"\nphase 1, NetBox:\n", "plan after the transition: node-1: no changes\n", "\nphase 2, rendered:\n", "\nphase 3, commands sent:\n", "\nphase 4, compare:\n"} {
		require.Contains(t, buf.String(), want)
	}
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, left, "the demo removes its temporary directories")
}

func TestRunDemo(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, time.Minute)
	var buf bytes.Buffer
	res, err := services.RunDemo(ctx, services.DemoOpts{
		DesiredStateDir: demoDesired, Collection: "dc1", Device: "node-1", State: "b", Out: &buf,
	})
	require.NoError(t, err, buf.String())
	out := buf.String()

	require.Equal(t, statemachine.Result{Device: "node-1", From: statemachine.StateA, To: statemachine.StateB}, res.Transition)
	require.Equal(t, statemachine.StateB, res.Transition.To, "the transition ends in b")
	require.NotEmpty(t, res.NetBoxURL)
	require.Positive(t, res.Requests)
	require.Contains(t, out, "NetBox requests served: ")

	require.Len(t, res.Rendered, 2)
	require.Contains(t, res.Rendered, "leaf-1")
	require.Contains(t, res.Rendered, "leaf-2")
	require.NotEmpty(t, res.Rendered["leaf-1"], "node-1's desired state b changes leaf-1")
	// In b, node-1's port swp1 is a tagged access port: its BGP neighbor goes.
	require.Contains(t, res.Rendered["leaf-1"], "\n- neighbor swp1 interface peer-group fabric\n")
	require.Contains(t, res.Rendered["leaf-1"], "leaf-1.cfg")
	require.NotContains(t, res.Rendered["leaf-1"], "leaf-2.cfg", "leaf-1's diff is about leaf-1 only")

	// Phase 3: the commands sent to each leaf; phase 4: they run what was rendered.
	require.Equal(t, map[string][]string{
		"leaf-1": {"router bgp 65101", "no neighbor swp1 interface peer-group fabric", "exit"},
		"leaf-2": {"router bgp 65102", "no neighbor swp1 interface peer-group fabric", "exit"},
	}, res.Sent)
	require.Len(t, res.Compared, 2)
	for _, r := range res.Compared {
		require.True(t, r.OK(), r.String())
	}
	// The hand change on leaf-1 is drift, and a deploy repairs it.
	require.Equal(t, "leaf-1", res.Drift.Switch)
	require.Equal(t, []string{"interface swp2 / description node-2:eth0", "router bgp 65101 / neighbor swp2 interface peer-group fabric"}, res.Drift.Missing)
	require.Equal(t, []string{"interface swp2 / description changed by hand"}, res.Drift.Extra)
	require.Contains(t, res.Repair, "description node-2:eth0")
	require.Contains(t, res.Repair, "neighbor swp2 interface peer-group fabric")
	require.True(t, res.Repaired.OK(), res.Repaired.String())
	// The rollback of leaf-2 puts its neighbor on swp1 back.
	require.NotEmpty(t, res.RollbackTo)
	require.Equal(t, "leaf-2", res.RolledBack.Switch)
	require.NotEqual(t, res.RollbackTo, res.RolledBack.Rev, "a rollback is a new revision")
	require.Equal(t, []string{"router bgp 65102", "neighbor swp1 interface peer-group fabric", "exit"}, res.RolledBack.Sent)
	require.True(t, res.RolledBack.Report.OK(), res.RolledBack.Report.String())

	steps := []string{
		"leaf-1: simulated FRR switch at ssh -p ",
		"NetBox 4.3.7: 0 custom fields and 0 tags missing\n",
		"leaf-1 deployed as the fabric is now: ",
		"node-1 is in state a; moving it to b\n",
		"node-1: a -> b: phase 1 started\n",
		"node-1: phase 2: leaf-1: rendered, changed, revision ",
		"node-1: phase 2: leaf-2: rendered, changed, revision ",
		"node-1: a -> b: phase 3 started\n",
		"node-1: phase 3: leaf-1: revision ",
		"node-1: a -> b: phase 4 started\n",
		"node-1: phase 4: leaf-1: runs the rendered configuration\n",
		"node-1: phase 4: leaf-2: runs the rendered configuration\n",
		"node-1: now in state b",
		"plan after the transition: node-1: no changes\n",
		"configuration of leaf-1, before and after:\n",
		"configuration of leaf-2, before and after:\n",
		"phase 3, commands sent:\nto leaf-1 (3):\n  router bgp 65101\n  no neighbor swp1 interface peer-group fabric\n  exit\nto leaf-2 (3):\n",
		"phase 4, compare:\nleaf-1: runs the rendered configuration\nleaf-2: runs the rendered configuration\n",
		"a hand change on leaf-1, typed over SSH:\n",
		"  leaf-1(config-if)# description changed by hand\n",
		"drift (what osism netbox diff shows):\nleaf-1: 2 missing, 1 extra\n",
		"  + extra:   interface swp2 / description changed by hand\n",
		"repaired by a deploy of leaf-1 (",
		"leaf-1: runs the rendered configuration\n\nrollback of leaf-2 to revision ",
		"  neighbor swp1 interface peer-group fabric\n  exit\nleaf-2: runs the rendered configuration\n",
		"NetBox requests served: ",
	}
	at := 0
	for _, want := range steps {
		i := strings.Index(out[at:], want)
		require.GreaterOrEqual(t, i, 0, "%q, after what comes before it, in:\n%s", want, out)
		at += i + len(want)
	}
	require.NotContains(t, out, "% Unknown command")
}

func TestRunDemoWithoutOut(t *testing.T) {
	t.Parallel()
	res, err := services.RunDemo(ctxT(t, time.Minute), services.DemoOpts{
		DesiredStateDir: demoDesired, Collection: "dc1", Device: "node-1", State: "b",
	})
	require.NoError(t, err)
	require.Equal(t, statemachine.StateB, res.Transition.To)
}

func TestRunDemoErrors(t *testing.T) {
	t.Parallel()
	ok := services.DemoOpts{DesiredStateDir: demoDesired, Collection: "dc1", Device: "node-1", State: "b"}
	with := func(f func(o *services.DemoOpts)) services.DemoOpts { o := ok; f(&o); return o }

	cases := []struct {
		name      string
		opts      services.DemoOpts
		demoInput bool   // errors.Is(err, services.ErrDemoInput)
		contains  string // the error names the input
		target    error  // another sentinel the error matches
	}{
		{name: "missing directory", opts: with(func(o *services.DemoOpts) { o.DesiredStateDir = "testdata/no-such-dir" }),
			demoInput: true, contains: `desired-state directory "testdata/no-such-dir": expected a directory`},
		{name: "a file, not a directory", opts: with(func(o *services.DemoOpts) { o.DesiredStateDir = demoDesired + "/README.md" }),
			demoInput: true, contains: "README.md\": expected a directory"},
		{name: "no device", opts: with(func(o *services.DemoOpts) { o.Device = "" }),
			demoInput: true, contains: "a device, a target state and a collection are required"},
		{name: "no state", opts: with(func(o *services.DemoOpts) { o.State = "" }),
			demoInput: true, contains: "a device, a target state and a collection are required"},
		{name: "no collection", opts: with(func(o *services.DemoOpts) { o.Collection = "" }),
			demoInput: true, contains: "a device, a target state and a collection are required"},
		{name: "a device NetBox does not have", opts: with(func(o *services.DemoOpts) { o.Device = "node-99" }),
			contains: "node-99", target: statemachine.ErrDeviceNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.opts.Out = &buf
			res, err := services.RunDemo(ctxT(t, time.Minute), tc.opts)
			require.Error(t, err)
			require.Nil(t, res)
			require.Equal(t, tc.demoInput, errors.Is(err, services.ErrDemoInput), "errors.Is(%v, ErrDemoInput)", err)
			require.ErrorContains(t, err, tc.contains)
			if tc.target != nil {
				require.ErrorIs(t, err, tc.target)
			}
			if tc.demoInput {
				require.Empty(t, buf.String(), "bad input is refused before anything starts")
			}
		})
	}
}
