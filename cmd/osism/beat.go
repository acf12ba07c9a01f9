package main

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/services"
)

// beatCommand is `osism service beat`.
func beatCommand() *cli.Command {
	return &cli.Command{
		Name:  "beat",
		Usage: "submit the periodic tasks of the configuration; one beat of several leads",
		Description: `Submits the tasks of beat.schedules at their times: every an interval, or
at the times of a cron expression (five fields, or six with seconds first),
each delayed by a random jitter below beat.schedules[].jitter. Without
schedules configured, upstream's run: the facts role of the generic
environment every 43,200 s (` + services.EnvGatherFactsSchedule + `) and reconciler.run every
600 s (` + services.EnvInventoryReconcilerSchedule + `); 0 turns one off.

Every run carries a de-duplication key (beat/<name>, or the schedule's
dedup_key): a run whose last one is still queued or running is not stacked.
Runs missed while no beat led or the process was paused run once at once
(missed: once, the default), or are skipped (missed: skip).

Several beats may run: the one that holds the bus lock ` + services.BeatLockKey + ` fires, and
renews it; when it dies, another takes over within beat.lock_ttl (15s,
` + services.EnvBeatLockTTL + `). A leader that loses the lock stops firing at once. The beat needs
a broker (broker.url); its credential needs the operator role.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "this beat's name in the leader's lock (default host:pid)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("service beat: no arguments expected, got %q", c.Args().First())
			}
			cfg := config(c)
			if err := cfg.Beat.Validate(); err != nil {
				return usagef("service beat: %v", err)
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			b, err := services.NewBeat(cfg.Beat, services.BeatOpts{Bus: client, Owner: c.String("id"), Logger: log})
			if err != nil {
				return usagef("service beat: %v", err)
			}
			return b.Run(c.Context)
		},
	}
}
