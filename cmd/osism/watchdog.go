package main

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/services"
)

// watchdogCommand is `osism service watchdog`.
func watchdogCommand() *cli.Command {
	return &cli.Command{
		Name:  "watchdog",
		Usage: "run the reconciler when the inventory directory changes",
		Description: `Watches the inventory directory (watchdog.dir, ` + services.EnvWatchdogDir + `; default the
ansible inventory, <configuration_dir>/inventory) and every directory below
it, also those created later. Once it was quiet for the debounce
(watchdog.debounce, ` + services.EnvWatchdogDebounce + `, 2s) after a change, it submits
reconciler.run with the reconciler's de-duplication key: a run queued or
running stands for the change. An editor's save (a temporary file renamed
over the file, a write and a chmod, vim's 4913 probe, backup~ files) is one
change; editors' scratch files alone are none.

A missing directory is waited for; a directory deleted is dropped and
watched again when it comes back. The watchdog needs a broker (broker.url);
its credential needs the operator role.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the directory to watch (default watchdog.dir, else the ansible inventory)"},
			&cli.DurationFlag{Name: "debounce", Usage: "quiet time after a change before the reconciler runs (default watchdog.debounce, else 2s)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("service watchdog: no arguments expected, got %q", c.Args().First())
			}
			cfg := config(c)
			wc := cfg.Watchdog
			if c.IsSet("dir") {
				wc.Dir = c.String("dir")
			}
			if c.IsSet("debounce") {
				if c.Duration("debounce") <= 0 {
					return usagef("service watchdog --debounce %s: expected a positive duration", c.Duration("debounce"))
				}
				wc.Debounce = c.Duration("debounce")
			}
			wc = wc.WithInventory(cfg.Ansible)
			if err := wc.Validate(); err != nil {
				return usagef("service watchdog: %v", err)
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			w, err := services.NewWatchdog(wc, services.WatchdogOpts{Bus: client, Logger: log})
			if err != nil {
				return usagef("service watchdog: %v", err)
			}
			return w.Run(c.Context)
		},
	}
}
