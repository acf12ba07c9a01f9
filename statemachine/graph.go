package statemachine

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/looplab/fsm"
)

// StateInfo describes a state of a Graph.
type StateInfo struct {
	Name        State  `json:"name"`
	Description string `json:"description"`
	// Reserved states are never the target of a transition (state 0 is
	// where a new device starts).
	Reserved bool `json:"reserved,omitempty"`
}

// Edge is an allowed transition between two settled states.
type Edge struct {
	From State `json:"from"`
	To   State `json:"to"`
}

// Graph is the data the Machine runs on: the states and the allowed
// transitions between them. It is immutable; Extend returns a new Graph. The
// Graphviz and Mermaid pictures are generated from it, so they always show
// what the machine does.
type Graph struct {
	states  []StateInfo
	byName  map[State]int
	edges   []Edge
	allowed map[State][]State
	events  []fsm.EventDesc
	strs    map[Edge]*edgeStrings
}

// edgeStrings are the stored and FSM strings of one transition, built once
// so that running a transition formats nothing.
type edgeStrings struct {
	records [NumPhases + 1]Record // by phase; index 0 unused
	nodes   [NumPhases + 1]string // FSM node of each phase
	settle  string
}

// stateName restricts names so that the stored encoding
// ("from_<a>-to_<b>-phase_<n>") can always be parsed back.
var stateName = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// DefaultStates are the built-in states.
func DefaultStates() []StateInfo {
	return []StateInfo{
		{Name: StateNew, Description: "new device", Reserved: true},
		{Name: StateA, Description: "unprovisioned, ready for introspection"},
		{Name: StateB, Description: "introspected, ready for cleaning or provisioning"},
		{Name: StateC, Description: "provisioned"},
	}
}

// DefaultEdges are the built-in transitions: a new device becomes a; a and b
// go both ways (introspection, and back for re-introspection); b and c go both
// ways (provisioning, and cleaning after undeploy).
func DefaultEdges() []Edge {
	return []Edge{
		{StateNew, StateA},
		{StateA, StateB},
		{StateB, StateA},
		{StateB, StateC},
		{StateC, StateB},
	}
}

// DefaultGraph returns the built-in states and transitions.
func DefaultGraph() *Graph {
	g, err := NewGraph(DefaultStates(), DefaultEdges())
	if err != nil {
		// The built-in data is fixed; a failure here is a programming error
		// caught by the package's tests.
		panic("statemachine: invalid default graph: " + err.Error())
	}
	return g
}

// NewGraph validates states and edges and returns the Graph they form.
func NewGraph(states []StateInfo, edges []Edge) (*Graph, error) {
	g := &Graph{byName: make(map[State]int, len(states)), allowed: make(map[State][]State), strs: make(map[Edge]*edgeStrings)}
	for i, s := range states {
		if !stateName.MatchString(string(s.Name)) {
			return nil, fmt.Errorf("state %d: name %q: expected letters and digits only", i+1, s.Name)
		}
		if _, dup := g.byName[s.Name]; dup {
			return nil, fmt.Errorf("state %q: defined twice", s.Name)
		}
		g.byName[s.Name] = len(g.states)
		g.states = append(g.states, s)
	}
	if _, ok := g.byName[StateNew]; !ok {
		return nil, fmt.Errorf("states: the reserved state %q (new device) is missing", StateNew)
	}
	seen := make(map[Edge]bool, len(edges))
	for _, e := range edges {
		for _, s := range []State{e.From, e.To} {
			if _, ok := g.byName[s]; !ok {
				return nil, fmt.Errorf("transition %s -> %s: unknown state %q: expected one of %s", e.From, e.To, s, g.names())
			}
		}
		switch {
		case e.From == e.To:
			return nil, fmt.Errorf("transition %s -> %s: a state cannot transition to itself", e.From, e.To)
		case g.states[g.byName[e.To]].Reserved:
			return nil, fmt.Errorf("transition %s -> %s: %q is reserved and cannot be a target", e.From, e.To, e.To)
		case seen[e]:
			return nil, fmt.Errorf("transition %s -> %s: defined twice", e.From, e.To)
		}
		seen[e] = true
		g.edges = append(g.edges, e)
		g.allowed[e.From] = append(g.allowed[e.From], e.To)
		g.events = append(g.events, transitionEvents(e)...)
		es := &edgeStrings{settle: settleEvent(e.From, e.To)}
		for n := Phase(1); n <= NumPhases; n++ {
			es.records[n] = Status{State: e.From, Transit: &Transit{From: e.From, To: e.To, Phase: n}}.Record()
			es.nodes[n] = phaseNode(e.To, n)
		}
		g.strs[e] = es
	}
	return g, nil
}

// Extend returns a new Graph with more states and transitions; g is unchanged.
func (g *Graph) Extend(states []StateInfo, edges []Edge) (*Graph, error) {
	return NewGraph(append(slices.Clone(g.states), states...), append(slices.Clone(g.edges), edges...))
}

// States returns the states in the order they were defined.
func (g *Graph) States() []StateInfo { return slices.Clone(g.states) }

// Transitions returns the allowed transitions in the order they were defined.
func (g *Graph) Transitions() []Edge { return slices.Clone(g.edges) }

// Has reports whether s is a state of the graph.
func (g *Graph) Has(s State) bool { _, ok := g.byName[s]; return ok }

// Allowed returns the targets a device in state from may move to.
func (g *Graph) Allowed(from State) []State { return slices.Clone(g.allowed[from]) }

func (g *Graph) allows(from, to State) bool { return slices.Contains(g.allowed[from], to) }

func (g *Graph) names() string {
	names := make([]string, len(g.states))
	for i, s := range g.states {
		names[i] = string(s.Name)
	}
	return strings.Join(names, ", ")
}

// phaseNode is the FSM state of a device while phase n of a transition to
// `to` runs, named as in the upstream picture: "b (phase 1)".
func phaseNode(to State, n Phase) string { return fmt.Sprintf("%s (phase %d)", to, n) }

// phaseEvent is the FSM event that enters phase n; its name is the stored
// device_transition value.
func phaseEvent(from, to State, n Phase) string {
	return fmt.Sprintf("from_%s-to_%s-phase_%d", from, to, n)
}

// settleEvent is the FSM event that ends a transition.
func settleEvent(from, to State) string { return fmt.Sprintf("from_%s-to_%s", from, to) }

// transitionEvents expands one edge into the FSM events of its phases:
// a -> "b (phase 1)" -> ... -> "b (phase 4)" -> b.
func transitionEvents(e Edge) []fsm.EventDesc {
	evs := make([]fsm.EventDesc, 0, NumPhases+1)
	src := string(e.From)
	for n := Phase(1); n <= NumPhases; n++ {
		dst := phaseNode(e.To, n)
		evs = append(evs, fsm.EventDesc{Name: phaseEvent(e.From, e.To, n), Src: []string{src}, Dst: dst})
		src = dst
	}
	return append(evs, fsm.EventDesc{Name: settleEvent(e.From, e.To), Src: []string{src}, Dst: string(e.To)})
}

// Events returns the looplab/fsm events the machine runs on, in order: for
// each transition its four phase events and the settling event.
func (g *Graph) Events() []fsm.EventDesc {
	out := make([]fsm.EventDesc, len(g.events))
	for i, e := range g.events {
		out[i] = fsm.EventDesc{Name: e.Name, Src: slices.Clone(e.Src), Dst: e.Dst}
	}
	return out
}

// newFSM returns a looplab/fsm machine for the graph's events.
//
// It registers no callbacks on purpose: looplab/fsm deadlocks when Event or
// SetState is called from a before_/leave_ callback (looplab/fsm#87). The
// Machine fires one event per step and runs the phase hooks between events,
// outside the FSM, so hooks may do anything, including starting another
// transition.
func (g *Graph) newFSM(initial string) *fsm.FSM {
	return fsm.NewFSM(initial, g.events, nil)
}

var dotID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func dotQuote(s string) string {
	if dotID.MatchString(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// Dot renders the graph as Graphviz dot, in the layout of upstream's
// contrib/netbox-state-machine.dot: each transition as a chain through its
// four phases, one block per transition.
func (g *Graph) Dot() string {
	var b strings.Builder
	b.WriteString("digraph netbox_state_machine {\n")
	for i, e := range g.events {
		if i > 0 && i%(NumPhases+1) == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  %s -> %s [label = %s];\n", dotQuote(e.Src[0]), dotQuote(e.Dst), dotQuote(e.Name))
	}
	b.WriteString("}\n")
	return b.String()
}

// mermaidID turns an FSM state into a Mermaid state id: "b (phase 1)" ->
// "b_phase_1", "0" -> "s_0".
func mermaidID(s string) string {
	r := strings.NewReplacer(" (phase ", "_phase_", ")", "")
	return "s_" + r.Replace(s)
}

// Mermaid renders the graph as a Mermaid state diagram with the same nodes
// and edges as Dot.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	declared := make(map[string]bool)
	declare := func(s string) {
		if !declared[s] {
			declared[s] = true
			fmt.Fprintf(&b, "  state %q as %s\n", s, mermaidID(s))
		}
	}
	for _, s := range g.states {
		declare(string(s.Name))
	}
	for _, e := range g.events {
		declare(e.Dst)
	}
	for _, e := range g.events {
		fmt.Fprintf(&b, "  %s --> %s : %s\n", mermaidID(e.Src[0]), mermaidID(e.Dst), e.Name)
	}
	return b.String()
}
