package statemachine_test

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/statemachine"
)

// Each transition of one Machine gets the observers of its own call, after
// the Machine's: a worker keeps one Machine for all its tasks.
func TestObserversPerTransition(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", ""), "node-2": rec("a", "")})
	var shared []string
	m := newMachine(t, statemachine.Config{Store: store, Observers: []statemachine.Observer{func(e statemachine.Event) {
		if e.Kind == statemachine.TransitionFinished {
			shared = append(shared, e.Device)
		}
	}}})
	var out1, out2 bytes.Buffer
	_, err := m.Transition(context.Background(), "node-1", "b", &statemachine.TransitionOpts{Observers: []statemachine.Observer{statemachine.LineObserver(&out1)}})
	require.NoError(t, err)
	_, err = m.Transition(context.Background(), "node-2", "b", &statemachine.TransitionOpts{Observers: []statemachine.Observer{statemachine.LineObserver(&out2)}})
	require.NoError(t, err)
	require.Equal(t, []string{"node-1", "node-2"}, shared)
	require.Contains(t, out1.String(), "node-1: a -> b: phase 1 started\n")
	require.NotContains(t, out1.String(), "node-2")
	require.Contains(t, out2.String(), "node-2: now in state b (")
	require.NotContains(t, out2.String(), "node-1")
}

func TestLineObserver(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("b-phase_3", "from_a-to_b-phase_3")})
	fail := true
	hooks := allPhases(statemachine.PhaseHookFunc(func(_ context.Context, s statemachine.Step) error {
		s.Progress("leaf-1: deployed", 1, 1)
		if s.Phase == 3 && fail {
			fail = false
			return errSwitchDown
		}
		return nil
	}))
	var out bytes.Buffer
	m := newMachine(t, statemachine.Config{Store: store, Hooks: hooks, Observers: []statemachine.Observer{statemachine.LineObserver(&out)}})
	_, err := m.Transition(context.Background(), "node-1", "b", nil)
	require.ErrorIs(t, err, errSwitchDown)
	_, err = m.Transition(context.Background(), "node-1", "b", nil)
	require.NoError(t, err)
	got := regexp.MustCompile(`\d+(\.\d+)?[µnm]?s\b`).ReplaceAllString(out.String(), "T")
	require.Equal(t, `node-1: a -> b: phase 3 started (resumed)
node-1: phase 3: leaf-1: deployed
node-1: phase 3 failed: `+errSwitchDown.Error()+`
node-1: a -> b: phase 3 started (resumed)
node-1: phase 3: leaf-1: deployed
node-1: phase 3 finished in T
node-1: a -> b: phase 4 started
node-1: phase 4: leaf-1: deployed
node-1: phase 4 finished in T
node-1: now in state b (T)
`, got)
}
