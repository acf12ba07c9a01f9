package netbox_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/statemachine"
)

// A transition whose state lives in NetBox and whose phase 1 applies the
// desired state: what `osism netbox connect` runs.
func TestTransitionOnNetBox(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	var progress []string
	m, err := statemachine.New(statemachine.Config{
		Store: netbox.NewStore(c),
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox: {netbox.DesiredStateHook{Client: c, Dir: "testdata/desired", Collection: "dc1"}},
		},
		Observers: []statemachine.Observer{func(e statemachine.Event) {
			if e.Kind == statemachine.PhaseProgress {
				progress = append(progress, e.Message)
			}
		}},
	})
	require.NoError(t, err)

	ctx := context.Background()
	_, err = m.Transition(ctx, "node-1", statemachine.StateB, nil)
	require.NoError(t, err)
	require.NotEmpty(t, progress, "phase 1 reports its changes")

	dev, ok := srv.Find("dcim.device", "node-1")
	require.True(t, ok)
	id := int(dev["id"].(float64))
	require.Equal(t, "b", srv.CustomField("dcim.device", id, "device_state"))
	require.Equal(t, "", srv.CustomField("dcim.device", id, "device_transition"))

	ds, err := netbox.LoadDesiredState("testdata/desired", "dc1", "node-1", "b")
	require.NoError(t, err)
	plan, err := c.Plan(ctx, "node-1", ds)
	require.NoError(t, err)
	require.True(t, plan.Empty(), "NetBox matches state b after the transition: %s", plan)

	// Going back to a applies a's desired state.
	_, err = m.Transition(ctx, "node-1", statemachine.StateA, nil)
	require.NoError(t, err)
	require.Equal(t, "a", srv.CustomField("dcim.device", id, "device_state"))

	// A target without any desired-state file fails phase 1 and stays
	// recorded there, unless the hook is optional.
	_, err = m.Transition(ctx, "node-3", statemachine.StateB, nil)
	require.ErrorIs(t, err, netbox.ErrNoDesiredState)
	st, err := m.Status(ctx, "node-3")
	require.NoError(t, err)
	require.Equal(t, &statemachine.Transit{From: "a", To: "b", Phase: 1}, st.Transit)
}
