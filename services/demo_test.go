package services_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

const demoDesired = "../netbox/testdata/desired"

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

	for _, want := range []string{
		"node-1 is in state a; moving it to b\n",
		"node-1: a -> b: phase 1 started\n",
		"node-1: phase 2: leaf-1: rendered, changed, revision ",
		"node-1: phase 2: leaf-2: rendered, changed, revision ",
		"node-1: now in state b",
		"plan after the transition: node-1: no changes\n",
		"configuration of leaf-1, before and after:\n",
		"configuration of leaf-2, before and after:\n",
	} {
		require.Contains(t, out, want)
	}
	require.Less(t, strings.Index(out, "node-1: now in state b"), strings.Index(out, "plan after the transition"),
		"the plan is made after the transition")
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
		{name: "empty directory name", opts: with(func(o *services.DemoOpts) { o.DesiredStateDir = "" }),
			demoInput: true, contains: `desired-state directory "": expected a directory`},
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
