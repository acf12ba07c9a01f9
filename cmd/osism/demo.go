package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/statemachine"
)

// demoCommand runs the main job on embedded defaults, in one process with
// nothing else running.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the main job on embedded defaults (nothing to install)",
		Action: func(c *cli.Context) error {
			return runDemo(c, c.App.Writer)
		},
	}
}

func printPhases(w io.Writer) statemachine.Observer {
	return func(e statemachine.Event) {
		switch e.Kind {
		case statemachine.PhaseStarted:
			fmt.Fprintf(w, "  %s: %s -> %s phase %d started\n", e.Device, e.From, e.To, e.Phase)
		case statemachine.PhaseProgress:
			fmt.Fprintf(w, "  %s:   %s\n", e.Device, e.Message)
		case statemachine.PhaseFailed:
			fmt.Fprintf(w, "  %s: %s -> %s phase %d failed: %v\n", e.Device, e.From, e.To, e.Phase, e.Err)
		case statemachine.TransitionFinished:
			fmt.Fprintf(w, "  %s: now in %s (%s)\n", e.Device, e.To, e.Duration.Round(1000))
		}
	}
}

func runDemo(c *cli.Context, w io.Writer) error {
	ctx := c.Context
	devices := []string{"node-1", "node-2", "node-3", "node-4"}
	store := statemachine.NewMemoryStore()
	store.Add(devices...)
	m, err := statemachine.New(statemachine.Config{Store: store, Observers: []statemachine.Observer{printPhases(w)}})
	if err != nil {
		return err
	}
	for _, target := range []statemachine.State{statemachine.StateA, statemachine.StateB} {
		fmt.Fprintf(w, "moving %d devices to state %s\n", len(devices), target)
		for _, d := range devices {
			if _, err := m.Transition(ctx, d, target, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
