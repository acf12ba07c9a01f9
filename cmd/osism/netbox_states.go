package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/statemachine"
)

func netboxStatesCommand() *cli.Command {
	return &cli.Command{
		Name:  "states",
		Usage: "print the device states and the allowed transitions",
		Flags: []cli.Flag{formatFlag("table", "json", "dot", "mermaid")},
		Action: func(c *cli.Context) error {
			g := statemachine.DefaultGraph()
			w := c.App.Writer
			switch c.String("format") {
			case "dot":
				_, err := fmt.Fprint(w, g.Dot())
				return err
			case "mermaid":
				_, err := fmt.Fprint(w, g.Mermaid())
				return err
			case "json":
				return printJSON(w, struct {
					States      []statemachine.StateInfo `json:"states"`
					Transitions []statemachine.Edge      `json:"transitions"`
				}{g.States(), g.Transitions()})
			}
			var rows [][]string
			for _, s := range g.States() {
				var targets []string
				for _, t := range g.Allowed(s.Name) {
					targets = append(targets, string(t))
				}
				desc := s.Description
				if s.Reserved {
					desc += " (reserved)"
				}
				rows = append(rows, []string{string(s.Name), desc, strings.Join(targets, ", ")})
			}
			return printTable(w, []string{"STATE", "MEANING", "TRANSITIONS TO"}, rows)
		},
	}
}
