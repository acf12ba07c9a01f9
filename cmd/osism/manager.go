package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/services"
)

// managerCommand is `osism manager`.
func managerCommand() *cli.Command {
	return &cli.Command{
		Name:  "manager",
		Usage: "run the manager: broker, API, beat, listener, watchdog and the workers of every queue in one process",
		Description: `Runs in one process: the embedded NATS broker (manager.broker_listen,
127.0.0.1:4222; its store manager.store_dir) or, with broker.url set, a
connection to that NATS cluster; the API (api.listen); the beat; the listener
when listener.url or listener.url_file is configured; the watchdog; and the
workers of every queue, each queue with its concurrency of the queues
section. --only and --without choose services by name: ` + strings.Join(services.ManagerServices(), ", ") + `.

The API's /metrics serves the metrics of every service: tasks submitted,
running and finished by kind, queue and outcome with durations; transition
phases with durations and failures; listener messages and events; API
requests by route and status.

SIGTERM or SIGINT stops the manager: no more tasks are taken, running tasks
may finish within the grace period (--grace, manager.grace, 30s), the rest
are cancelled and go back to their queue, and the manager exits 0. A second
signal exits at once (` + fmt.Sprint(exitInterrupted) + `).

Logs go to stderr as text or JSON (--log-format, log.format,
` + services.EnvLogFormat + `) at log.level (` + services.EnvLogLevel + `); every line of a task carries
its task_id, and its device where it has one.

--dev adds the NetBox double with its sample fabric and a simulated FRR
switch per leaf, points the configuration at them and prints how to reach
them; the broker then keeps its data in memory and every file of the run
lives in a temporary directory.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "only", Usage: "run only these services (repeat or comma-separate)"},
			&cli.StringSliceFlag{Name: "without", Usage: "leave these services out (repeat or comma-separate)"},
			&cli.DurationFlag{Name: "grace", Usage: "how long running tasks may finish on SIGTERM (default manager.grace, else 30s)"},
			&cli.StringFlag{Name: "log-format", Usage: "json or text (default log.format, " + services.EnvLogFormat + ", else text)"},
			&cli.BoolFlag{Name: "dev", Usage: "add the NetBox double with its sample fabric and simulated FRR leaves"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("manager: no arguments expected, got %q", c.Args().First())
			}
			cfg := config(c)
			if c.IsSet("grace") {
				if c.Duration("grace") <= 0 {
					return usagef("manager --grace %s: expected a positive duration", c.Duration("grace"))
				}
				cfg.Manager.Grace = c.Duration("grace")
			}
			if c.IsSet("log-format") {
				cfg.Log.Format = c.String("log-format")
			}
			log, err := cfg.Log.NewLogger(c.App.ErrWriter)
			if err != nil {
				return usagef("manager: %v", err)
			}
			only, without := splitNames(c.StringSlice("only")), splitNames(c.StringSlice("without"))
			if _, err := services.SelectServices(only, without); err != nil {
				return usagef("%v", err)
			}
			if c.Bool("dev") {
				env, err := services.StartDev(c.Context, services.DevOpts{})
				if err != nil {
					return fmt.Errorf("manager --dev: %w", err)
				}
				defer func() {
					if err := env.Close(); err != nil {
						log.Warn("dev environment not closed cleanly", "error", err)
					}
				}()
				env.Apply(&cfg)
				devDefaults(&cfg, env.Dir)
				fmt.Fprint(c.App.Writer, env.Info())
			}
			m, err := services.NewManager(cfg, services.ManagerOpts{Only: only, Without: without, Logger: log})
			if err != nil {
				return usagef("%v", err)
			}
			ctx, stop := context.WithCancel(c.Context)
			defer stop()
			// The watch of signals ends when Run has returned, not when the
			// first signal ended ctx.
			done := make(chan struct{})
			defer close(done)
			go secondSignal(done, c, log.Warn, cfg.Manager.Grace.String())
			if c.Bool("dev") {
				go func() {
					select {
					case <-m.Ready():
						fmt.Fprintf(c.App.Writer, "API: http://%s (operator token in %s)\n", m.APIAddr(), cfg.API.TokenFile)
						if u := m.BrokerURL(); u != "" {
							fmt.Fprintf(c.App.Writer, "broker: %s\n", u)
						}
					case <-ctx.Done():
					}
				}()
			}
			return m.Run(ctx)
		},
	}
}

// devDefaults keeps every file of a --dev run in dir, unless the
// configuration names a place: nothing is written outside it.
func devDefaults(cfg *services.Config, dir string) {
	set := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if cfg.Manager.StoreDir == "" {
		cfg.Manager.Memory = true
	}
	set(&cfg.Manager.StoreDir, filepath.Join(dir, "broker"))
	set(&cfg.Bus.Broker.TokenFile, filepath.Join(dir, "broker-token"))
	set(&cfg.API.TokenFile, filepath.Join(dir, "api-token"))
	set(&cfg.Reconciler.OutputDir, filepath.Join(dir, "inventory"))
	set(&cfg.Fabric.LockDir, filepath.Join(dir, "locks"))
}

// secondSignal waits for the signal that stops the manager gracefully;
// a second one exits at once.
func secondSignal(done <-chan struct{}, c *cli.Context, warn func(string, ...any), grace string) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case <-sigs:
	case <-done:
		return
	}
	warn("stopping: no more tasks are taken; running tasks may finish within the grace period; a second signal exits at once", "grace", grace)
	select {
	case s := <-sigs:
		fmt.Fprintf(c.App.ErrWriter, "osism: manager: second signal (%s): exiting at once\n", s)
		os.Exit(exitInterrupted)
	case <-done:
	}
}

// splitNames accepts repeated and comma-separated names.
func splitNames(in []string) []string {
	var out []string
	for _, s := range in {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}
