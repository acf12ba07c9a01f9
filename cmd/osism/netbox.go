package main

import (
	"github.com/urfave/cli/v2"
)

// netboxCommand groups the commands that work on NetBox and the device state
// machine.
func netboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "netbox",
		Usage: "NetBox, the source of truth, and the device state machine",
		Subcommands: []*cli.Command{
			netboxStatesCommand(),
			netboxCheckCommand(), netboxSetupCommand(),
			netboxConnectCommand(), netboxGenerateCommand(), netboxDeployCommand(),
			netboxDiffCommand(), netboxHistoryCommand(), netboxRollbackCommand(),
		},
	}
}
