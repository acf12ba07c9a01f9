package main

import (
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildVersion is set at link time: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of osism",
		Flags: []cli.Flag{formatFlag("table", "json")},
		Action: func(c *cli.Context) error {
			v := versionInfo{
				Version:   version(),
				GoVersion: runtime.Version(),
				Platform:  runtime.GOOS + "/" + runtime.GOARCH,
			}
			if c.String("format") == "json" {
				return printJSON(c.App.Writer, v)
			}
			return printTable(c.App.Writer, []string{"VERSION", "GO", "PLATFORM"},
				[][]string{{v.Version, v.GoVersion, v.Platform}})
		},
	}
}
