package main

import (
	"errors"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/netbox"
)

// netboxConnFlags override the netbox section of the configuration
// (netbox.url, NETBOX_URL, ...). The token has no default shown, so help
// never prints it.
func netboxConnFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "url", Usage: "NetBox URL (default netbox.url, NETBOX_URL)"},
		&cli.StringFlag{Name: "token", Usage: "NetBox API token, v1 or v2 nbt_... (default netbox.token, NETBOX_TOKEN)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the NetBox API token (default netbox.token_file, NETBOX_TOKEN_FILE)"},
		&cli.BoolFlag{Name: "insecure", Usage: "do not verify NetBox's TLS certificate"},
		&cli.DurationFlag{Name: "timeout", Usage: "timeout of one request", Value: 30 * time.Second},
	}
}

func netboxClient(c *cli.Context) (*netbox.Client, error) {
	nc := config(c).NetBox
	if c.IsSet("url") {
		nc.URL = c.String("url")
	}
	if c.IsSet("token") || c.IsSet("token-file") {
		nc.Token, nc.TokenFile = c.String("token"), c.String("token-file")
	}
	if c.IsSet("insecure") {
		nc.InsecureSkipVerify = c.Bool("insecure")
	}
	if nc.URL == "" {
		return nil, usagef("no NetBox URL: set --url or NETBOX_URL")
	}
	if nc.Token == "" && nc.TokenFile == "" {
		return nil, usagef("no NetBox token: set --token, --token-file, NETBOX_TOKEN or NETBOX_TOKEN_FILE")
	}
	nc.Timeout, nc.MaxRetries = c.Duration("timeout"), 2
	cl, err := netbox.New(nc)
	if errors.Is(err, netbox.ErrInvalidConfig) {
		return nil, usageError{err}
	}
	return cl, err
}

func netboxCheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "check that NetBox is reachable and has the custom fields and tags OSISM needs",
		Flags: append(netboxConnFlags(), formatFlag("table", "json")),
		Action: func(c *cli.Context) error {
			cl, err := netboxClient(c)
			if err != nil {
				return err
			}
			r, err := cl.Check(c.Context)
			if err != nil {
				return err
			}
			if c.String("format") == "json" {
				err = printJSON(c.App.Writer, r)
			} else {
				reach := "yes"
				if !r.Reachable {
					reach = "no"
				}
				rows := [][]string{
					{"url", r.URL},
					{"reachable", reach},
					{"version", dash(r.Version)},
					{"token", r.TokenKind},
					{"missing custom fields", dash(strings.Join(r.MissingFields, ", "))},
					{"missing tags", dash(strings.Join(r.MissingTags, ", "))},
				}
				if r.Error != "" {
					rows = append(rows, []string{"error", r.Error})
				}
				err = printTable(c.App.Writer, []string{"CHECK", "RESULT"}, rows)
			}
			if err != nil {
				return err
			}
			if !r.OK() {
				// A plain error: cli.Exit would make urfave/cli exit the
				// process itself, bypassing main's exit-code mapping.
				return errors.New("netbox check failed: NetBox is unreachable or lacks fields or tags (run osism netbox setup)")
			}
			return nil
		},
	}
}

func netboxSetupCommand() *cli.Command {
	return &cli.Command{
		Name:  "setup",
		Usage: "create the custom fields and tags OSISM needs (idempotent)",
		Flags: append(netboxConnFlags(), formatFlag("table", "json")),
		Action: func(c *cli.Context) error {
			cl, err := netboxClient(c)
			if err != nil {
				return err
			}
			rep, setupErr := cl.Setup(c.Context)
			if c.String("format") == "json" {
				err = printJSON(c.App.Writer, rep)
			} else {
				var rows [][]string
				for _, f := range rep.CreatedFields {
					rows = append(rows, []string{"created", "custom field", f})
				}
				for _, f := range rep.ExtendedFields {
					rows = append(rows, []string{"extended", "custom field", f})
				}
				for _, t := range rep.CreatedTags {
					rows = append(rows, []string{"created", "tag", t})
				}
				if len(rows) == 0 {
					rows = append(rows, []string{"nothing to do", "", ""})
				}
				err = printTable(c.App.Writer, []string{"ACTION", "KIND", "NAME"}, rows)
			}
			if setupErr != nil {
				return setupErr
			}
			return err
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
