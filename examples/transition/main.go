// Command transition shows how a manager daemon of your own drives the device
// state machine with its own phase hooks: it moves two devices from a to b,
// fails one phase on purpose, and resumes it.
//
//	go run ./examples/transition
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/osism/go-osism/statemachine"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "transition:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	store := statemachine.NewMemoryStore()
	for _, d := range []string{"node-1", "node-2"} {
		if err := store.Save(ctx, d, statemachine.Record{State: "a"}); err != nil {
			return err
		}
	}

	attempts := map[string]int{}
	deploy := statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
		attempts[s.Device]++
		if s.Device == "node-2" && attempts[s.Device] == 1 {
			return errors.New("leaf-2 did not answer")
		}
		s.Progress("deployed leaf-1 and leaf-2", 2, 2)
		return nil
	})
	m, err := statemachine.New(statemachine.Config{
		Store:     store,
		Hooks:     map[statemachine.Phase][]statemachine.PhaseHook{statemachine.PhaseDeploy: {deploy}},
		Observers: []statemachine.Observer{statemachine.LineObserver(os.Stdout)},
	})
	if err != nil {
		return err
	}
	for _, d := range []string{"node-1", "node-2", "node-2"} {
		res, err := m.Transition(ctx, d, statemachine.StateB, nil)
		switch {
		case err != nil:
			fmt.Printf("%-7s stopped: %v\n", d, err)
		case res.ResumedAt > 0:
			fmt.Printf("%-7s resumed at phase %d and reached %s\n", d, res.ResumedAt, res.To)
		default:
			fmt.Printf("%-7s reached %s\n", d, res.To)
		}
	}
	return nil
}
