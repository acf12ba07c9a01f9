package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// demoCommand runs the main job on embedded defaults, in one process with
// nothing else running or installed: NetBox is the in-memory double with
// its sample fabric, the leaves are simulated FRR switches reached over
// SSH; all four phases run, then a hand change is found and repaired and
// a leaf is rolled back.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run the main job on embedded defaults: all four phases against simulated switches, drift repaired, a rollback (nothing to install)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "desired-state", Usage: "desired-state directory (<dir>/<collection>/<device>/<state>.yaml); default the built-in sample desired states of the sample fabric"},
			&cli.StringFlag{Name: "collection", Value: "dc1", Usage: "collection of the desired state"},
			&cli.StringFlag{Name: "device", Value: "node-1", Usage: "device to move"},
			&cli.StringFlag{Name: "state", Value: "b", Usage: "target state"},
		},
		Action: func(c *cli.Context) error {
			_, err := services.RunDemo(c.Context, services.DemoOpts{
				DesiredStateDir: c.String("desired-state"), Collection: c.String("collection"),
				Device: c.String("device"), State: statemachine.State(c.String("state")), Out: c.App.Writer,
			})
			if err != nil && errors.Is(err, services.ErrDemoInput) {
				return usagef("%v (leave out --desired-state for the built-in sample)", err)
			}
			return err
		},
	}
}
