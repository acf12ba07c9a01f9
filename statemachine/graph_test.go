package statemachine_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/statemachine"
)

var update = flag.Bool("update", false, "rewrite contrib/netbox-state-machine.dot from the code")

const dotFile = "../contrib/netbox-state-machine.dot"

// The picture in the repository is generated from the graph the machine runs
// on; this test fails when someone changes one without the other.
// Regenerate with: go test ./statemachine -run TestDotFileIsCurrent -update
func TestDotFileIsCurrent(t *testing.T) {
	got := statemachine.DefaultGraph().Dot()
	if *update {
		require.NoError(t, os.WriteFile(dotFile, []byte(got), 0o644))
	}
	want, err := os.ReadFile(dotFile)
	require.NoError(t, err, "run: go test ./statemachine -run TestDotFileIsCurrent -update")
	require.Equal(t, string(want), got, "%s is stale: run go test ./statemachine -run TestDotFileIsCurrent -update", filepath.Clean(dotFile))
}

func TestDotShowsPhasesAsUpstream(t *testing.T) {
	t.Parallel()
	dot := statemachine.DefaultGraph().Dot()
	for _, line := range []string{
		`  a -> "b (phase 1)" [label = "from_a-to_b-phase_1"];`,
		`  "b (phase 1)" -> "b (phase 2)" [label = "from_a-to_b-phase_2"];`,
		`  "b (phase 3)" -> "b (phase 4)" [label = "from_a-to_b-phase_4"];`,
		`  "b (phase 4)" -> b [label = "from_a-to_b"];`,
		`  b -> "a (phase 1)" [label = "from_b-to_a-phase_1"];`,
		`  "a (phase 4)" -> a [label = "from_b-to_a"];`,
		`  "0" -> "a (phase 1)" [label = "from_0-to_a-phase_1"];`,
	} {
		require.Contains(t, dot, line+"\n")
	}
	require.True(t, strings.HasPrefix(dot, "digraph netbox_state_machine {\n"))
	require.Equal(t, 5*len(statemachine.DefaultEdges()), strings.Count(dot, " -> "))
}

func TestMermaidHasTheSameEdges(t *testing.T) {
	t.Parallel()
	g := statemachine.DefaultGraph()
	mm := g.Mermaid()
	require.True(t, strings.HasPrefix(mm, "stateDiagram-v2\n"))
	require.Contains(t, mm, `  state "b (phase 1)" as s_b_phase_1`+"\n")
	require.Contains(t, mm, "  s_a --> s_b_phase_1 : from_a-to_b-phase_1\n")
	require.Contains(t, mm, "  s_b_phase_4 --> s_b : from_a-to_b\n")
	require.Equal(t, strings.Count(g.Dot(), " -> "), strings.Count(mm, " --> "))
}

func TestNewGraphValidates(t *testing.T) {
	t.Parallel()
	states := statemachine.DefaultStates()
	cases := []struct {
		name   string
		states []statemachine.StateInfo
		edges  []statemachine.Edge
		want   string
	}{
		{"a name the encoding cannot carry", append(states, statemachine.StateInfo{Name: "in-use"}), nil, `state 5: name "in-use": expected letters and digits only`},
		{"an empty name", append(states, statemachine.StateInfo{Name: ""}), nil, `state 5: name "": expected letters and digits only`},
		{"a duplicate state", append(states, statemachine.StateInfo{Name: "a"}), nil, `state "a": defined twice`},
		{"no reserved state", states[1:], nil, `the reserved state "0" (new device) is missing`},
		{"an edge to an unknown state", states, []statemachine.Edge{{From: "a", To: "d"}}, `transition a -> d: unknown state "d": expected one of 0, a, b, c`},
		{"an edge to itself", states, []statemachine.Edge{{From: "a", To: "a"}}, `a state cannot transition to itself`},
		{"an edge to the reserved state", states, []statemachine.Edge{{From: "a", To: "0"}}, `"0" is reserved and cannot be a target`},
		{"a duplicate edge", states, []statemachine.Edge{{From: "a", To: "b"}, {From: "a", To: "b"}}, `transition a -> b: defined twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := statemachine.NewGraph(tc.states, tc.edges)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestExtendWithCustomStateAndTransition(t *testing.T) {
	t.Parallel()
	base := statemachine.DefaultGraph()
	g, err := base.Extend(
		[]statemachine.StateInfo{{Name: "r", Description: "retired"}},
		[]statemachine.Edge{{From: "c", To: "r"}, {From: "a", To: "c"}},
	)
	require.NoError(t, err)
	require.ElementsMatch(t, []statemachine.State{"b", "r"}, g.Allowed("c"))
	require.Equal(t, []statemachine.State{"b"}, base.Allowed("a"), "the base graph is unchanged")
	require.Contains(t, g.Dot(), `  "r (phase 4)" -> r [label = "from_c-to_r"];`)

	store := statemachine.NewMemoryStore()
	require.NoError(t, store.Save(context.Background(), "node-1", statemachine.Record{State: "a"}))
	m, err := statemachine.New(statemachine.Config{Graph: g, Store: store})
	require.NoError(t, err)
	_, err = m.Transition(context.Background(), "node-1", "c", nil)
	require.NoError(t, err)
	_, err = m.Transition(context.Background(), "node-1", "r", nil)
	require.NoError(t, err)
	st, err := m.Status(context.Background(), "node-1")
	require.NoError(t, err)
	require.Equal(t, statemachine.Status{State: "r"}, st)
}

func TestParse(t *testing.T) {
	t.Parallel()
	g := statemachine.DefaultGraph()
	ok := []struct {
		rec  statemachine.Record
		want statemachine.Status
	}{
		{statemachine.Record{}, statemachine.Status{State: "0"}},
		{statemachine.Record{State: "0", Transition: "0"}, statemachine.Status{State: "0"}},
		{statemachine.Record{State: "c"}, statemachine.Status{State: "c"}},
		{statemachine.Record{State: "b-phase_3", Transition: "from_a-to_b-phase_3"},
			statemachine.Status{State: "a", Transit: &statemachine.Transit{From: "a", To: "b", Phase: 3}}},
	}
	for _, tc := range ok {
		got, err := g.Parse(tc.rec)
		require.NoError(t, err, "%+v", tc.rec)
		require.Equal(t, tc.want, got)
		require.Equal(t, got, must(g.Parse(got.Record())), "encoding round trip of %+v", tc.rec)
	}

	bad := []struct {
		name string
		rec  statemachine.Record
		want string
	}{
		{"unknown state", statemachine.Record{State: "x"}, `device_state "x": unknown state: expected one of 0, a, b, c`},
		{"phase without transition", statemachine.Record{State: "b-phase_2"}, `device_state "b-phase_2": a phase is recorded but device_transition is empty`},
		{"garbage transition", statemachine.Record{State: "b", Transition: "moving"}, `device_transition "moving": expected "from_<state>-to_<state>-phase_<1-4>"`},
		{"phase 0", statemachine.Record{State: "b-phase_0", Transition: "from_a-to_b-phase_0"}, `phase "0": expected 1 to 4`},
		{"phase 5", statemachine.Record{State: "b-phase_5", Transition: "from_a-to_b-phase_5"}, `phase "5": expected 1 to 4`},
		{"leading zero", statemachine.Record{State: "b-phase_01", Transition: "from_a-to_b-phase_01"}, `phase "01": expected 1 to 4`},
		{"unknown state in transition", statemachine.Record{State: "z-phase_1", Transition: "from_a-to_z-phase_1"}, `unknown state "z"`},
		{"transition not in the graph", statemachine.Record{State: "c-phase_1", Transition: "from_a-to_c-phase_1"}, `a -> c is not an allowed transition`},
		{"state does not match transition", statemachine.Record{State: "b-phase_2", Transition: "from_a-to_b-phase_3"}, `device_state "b-phase_2": does not match device_transition "from_a-to_b-phase_3": expected "b-phase_3"`},
		{"settled state beside a transition", statemachine.Record{State: "b", Transition: "from_a-to_b-phase_1"}, `expected "b-phase_1"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Parse(tc.rec)
			require.ErrorIs(t, err, statemachine.ErrInvalidRecord)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
