package netbox_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
)

// sampleDesired writes the sample fabric's desired states into a new
// temporary directory and returns it.
func sampleDesired(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, netboxtest.WriteSampleDesiredStates(dir))
	return dir
}

// A transition whose state lives in NetBox and whose phase 1 applies the
// desired state: what `osism netbox connect` runs.
func TestTransitionOnNetBox(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	desired := sampleDesired(t)
	var progress []string
	m, err := statemachine.New(statemachine.Config{
		Store: netbox.NewStore(c),
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox: {netbox.DesiredStateHook{Client: c, Dir: desired, Collection: "dc1"}},
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

	ds, err := netbox.LoadDesiredState(desired, "dc1", "node-1", "b")
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

// A phase 1 without a desired-state file never passes silently: an
// optional hook says so in the transition's output, naming the files it
// looked for; DesiredStateConfig.Require makes it an error that names them.
func TestNoDesiredStateIsReported(t *testing.T) {
	t.Parallel()
	dir := sampleDesired(t)
	files := filepath.Join(dir, "dc1", "b.yaml") + ", " + filepath.Join(dir, "dc1", "node-3", "b.yaml")
	cases := []struct {
		name    string
		require bool
	}{
		{name: "optional: reported in the output", require: false},
		{name: "required: an error", require: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, c := fabric(t)
			cfg := netbox.DesiredStateConfig{Dir: dir, Collection: "dc1", Require: tc.require}
			var progress []string
			var missing []*netbox.MissingDesiredStateError
			hook := cfg.Hook(c, "")
			hook.OnMissing = func(_ context.Context, e *netbox.MissingDesiredStateError) { missing = append(missing, e) }
			m, err := statemachine.New(statemachine.Config{
				Store: netbox.NewStore(c),
				Hooks: map[statemachine.Phase][]statemachine.PhaseHook{statemachine.PhaseNetBox: {hook}},
				Observers: []statemachine.Observer{func(e statemachine.Event) {
					if e.Kind == statemachine.PhaseProgress {
						progress = append(progress, e.Message)
					}
				}},
			})
			require.NoError(t, err)
			_, err = m.Transition(context.Background(), "node-3", statemachine.StateB, nil)
			want := "no desired state for node-3 in state b (looked for " + files + ")"
			require.Len(t, missing, 1)
			require.Equal(t, &netbox.MissingDesiredStateError{Device: "node-3", State: "b", Collection: "dc1",
				Files: []string{filepath.Join(dir, "dc1", "b.yaml"), filepath.Join(dir, "dc1", "node-3", "b.yaml")}}, missing[0])
			if tc.require {
				require.ErrorIs(t, err, netbox.ErrNoDesiredState)
				require.ErrorContains(t, err, want)
				require.Empty(t, progress)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []string{want}, progress)
		})
	}
}
