package statemachine_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/osism/go-osism/statemachine"
)

func Example() {
	ctx := context.Background()
	store := statemachine.NewMemoryStore()
	_ = store.Save(ctx, "node-1", statemachine.Record{State: "a"})

	m, _ := statemachine.New(statemachine.Config{
		Store: store,
		Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseNetBox: {statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
				fmt.Printf("phase %d: make NetBox match state %s for %s\n", s.Phase, s.To, s.Device)
				return nil
			})},
			statemachine.PhaseDeploy: {statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
				fmt.Printf("phase %d: deploy the switches of %s\n", s.Phase, s.Device)
				return nil
			})},
		},
	})
	res, err := m.Transition(ctx, "node-1", statemachine.StateB, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := store.Load(ctx, "node-1")
	fmt.Printf("%s: %s -> %s, device_state=%q device_transition=%q\n", res.Device, res.From, res.To, rec.State, rec.Transition)
	// Output:
	// phase 1: make NetBox match state b for node-1
	// phase 3: deploy the switches of node-1
	// node-1: a -> b, device_state="b" device_transition=""
}

// A transition that failed in a phase continues at that phase when it is
// started again.
func ExampleMachine_Transition_resume() {
	ctx := context.Background()
	store := statemachine.NewMemoryStore()
	_ = store.Save(ctx, "node-1", statemachine.Record{State: "a"})
	switchDown := true
	deploy := statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
		if switchDown {
			return errors.New("leaf-1 unreachable")
		}
		fmt.Printf("deploy (resumed: %v)\n", s.Resumed)
		return nil
	})
	m, _ := statemachine.New(statemachine.Config{Store: store, Hooks: map[statemachine.Phase][]statemachine.PhaseHook{3: {deploy}}})

	_, err := m.Transition(ctx, "node-1", "b", nil)
	fmt.Println(err)
	st, _ := m.Status(ctx, "node-1")
	fmt.Println("status:", st)

	switchDown = false
	res, _ := m.Transition(ctx, "node-1", "b", nil)
	fmt.Println("resumed at phase", res.ResumedAt)
	// Output:
	// device "node-1": transition a -> b, phase 3: leaf-1 unreachable
	// status: a -> b (phase 3)
	// deploy (resumed: true)
	// resumed at phase 3
}

func ExampleGraph_Extend() {
	g, err := statemachine.DefaultGraph().Extend(
		[]statemachine.StateInfo{{Name: "r", Description: "retired"}},
		[]statemachine.Edge{{From: "c", To: "r"}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("from c:", g.Allowed("c"))
	// Output:
	// from c: [b r]
}

func ExampleGraph_Parse() {
	g := statemachine.DefaultGraph()
	st, _ := g.Parse(statemachine.Record{State: "b-phase_2", Transition: "from_a-to_b-phase_2"})
	fmt.Println(st, st.InTransit())
	_, err := g.Parse(statemachine.Record{State: "deployed"})
	fmt.Println(err)
	// Output:
	// a -> b (phase 2) true
	// device_state "deployed": unknown state: expected one of 0, a, b, c
}

func ExampleChannelObserver() {
	ctx := context.Background()
	store := statemachine.NewMemoryStore()
	_ = store.Save(ctx, "node-1", statemachine.Record{State: "b"})
	events := make(chan statemachine.Event, 32)
	m, _ := statemachine.New(statemachine.Config{Store: store, Observers: []statemachine.Observer{statemachine.ChannelObserver(events)}})
	_, _ = m.Transition(ctx, "node-1", "c", nil)
	close(events)
	for e := range events {
		if e.Kind == statemachine.PhaseFinished {
			fmt.Printf("%s: phase %d of %s -> %s finished\n", e.Device, e.Phase, e.From, e.To)
		}
	}
	// Output:
	// node-1: phase 1 of b -> c finished
	// node-1: phase 2 of b -> c finished
	// node-1: phase 3 of b -> c finished
	// node-1: phase 4 of b -> c finished
}
