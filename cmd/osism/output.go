package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// globalFlags are accepted by every command.
func globalFlags() []cli.Flag {
	return nil
}

// formatFlag is the --format flag of a command whose output is data. The
// first allowed value is the default.
func formatFlag(allowed ...string) *cli.StringFlag {
	return &cli.StringFlag{
		Name:  "format",
		Value: allowed[0],
		Usage: "output format: " + strings.Join(allowed, "|"),
		Action: func(_ *cli.Context, v string) error {
			if !slices.Contains(allowed, v) {
				return usagef("--format %q: expected one of %s", v, strings.Join(allowed, ", "))
			}
			return nil
		},
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes rows under headers, aligned in columns.
func printTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
