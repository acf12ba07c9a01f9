package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// busClient connects to the configured broker. Commands that inspect the
// bus need a broker; a standalone bus of their own would be empty.
func busClient(c *cli.Context) (*osism.Client, error) {
	client, _, err := busClientConfig(c)
	return client, err
}

// busClientConfig is busClient that also returns the configuration.
func busClientConfig(c *cli.Context) (*osism.Client, services.Config, error) {
	cfg := config(c)
	if cfg.Bus.Standalone() {
		return nil, cfg, fmt.Errorf("no broker configured: set %s or broker.url in %s", osism.EnvBrokerURL, services.SystemConfigPath)
	}
	client, err := osism.Dial(c.Context, cfg.Bus)
	return client, cfg, err
}

func workerCommand() *cli.Command {
	return &cli.Command{
		Name:      "worker",
		Usage:     "run the task handlers of one or more queues",
		ArgsUsage: "<queue>...",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "concurrency", Value: 1, Usage: "tasks of each queue that run at once"},
			&cli.DurationFlag{Name: "grace", Value: 30 * time.Second, Usage: "how long running tasks may finish on shutdown"},
			&cli.StringFlag{Name: "id", Usage: "worker name (default host-pid-random)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("worker: name one or more queues (%s)", queueList())
			}
			if c.Int("concurrency") < 1 {
				return usagef("worker --concurrency %d: expected 1 or more", c.Int("concurrency"))
			}
			cfg := config(c)
			queues := map[osism.Queue]int{}
			for _, a := range c.Args().Slice() {
				q := osism.Queue(a)
				if err := q.Validate(); err != nil {
					return usagef("worker: %v", err)
				}
				queues[q] = c.Int("concurrency")
				if !c.IsSet("concurrency") {
					queues[q] = cfg.Bus.Queues.Concurrency(q, 1)
				}
			}
			handlers, err := services.BuiltinHandlers(cfg)
			if err != nil {
				return err
			}
			client, _, err := busClientConfig(c)
			if err != nil {
				return err
			}
			defer client.Close()
			w, err := services.NewWorker(client, services.WorkerConfig{Queues: queues, ID: c.String("id"), Grace: c.Duration("grace"),
				Handlers: handlers})
			if err != nil {
				return err
			}
			return w.Run(c.Context)
		},
	}
}

func queueList() string {
	qs := make([]string, 0, 7)
	for _, q := range osism.Queues() {
		qs = append(qs, string(q))
	}
	return strings.Join(qs, ", ")
}

func serviceCommand() *cli.Command {
	return &cli.Command{
		Name:  "service",
		Usage: "run one service of the manager",
		Subcommands: []*cli.Command{{
			Name:  "broker",
			Usage: "run the embedded NATS broker with JetStream",
			Description: `Clients must authenticate. Started without credentials, the broker
generates an admin token on its first start, keeps it mode 0600 in the file
"token" of --store-dir (/var/lib/osism/broker/token by default; --token-file
or broker.token_file elsewhere) and logs where it is, never the token; later
starts reuse it. Commands and workers of this host that have no credential
configured read that default file when they may; set broker.token_file
(` + osism.EnvBrokerTokenFile + `) for another one.

Credentials by role come from --credentials (` + services.EnvBrokerCredentialsFile + `), a YAML
file of mode 0600:

   users:
     - {name: ops, role: operator, password: ...}   # submit, follow, cancel, lock/unlock
     - {name: worker-1, role: worker, token: ...}   # consume queues, write records and output
     - {name: dash, role: reader, password: ...}    # list and follow
     - {name: root, role: admin, token: ...}        # everything
   routes: {user: cluster, password: ...}           # what cluster nodes present to each other

broker.user with broker.password (` + osism.EnvBrokerPassword + `), or broker.token
(` + osism.EnvBrokerToken + `), from the configuration is one more admin credential.
Secrets come from files or the environment, never from flags.

The broker refuses to listen on an address that is not loopback without
configured credentials and TLS (--tls-cert). A cluster needs route credentials
(routes in the credentials file, or --cluster-user with ` + services.EnvBrokerClusterPassword + `);
a node refuses routes that do not present them.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4222", Usage: "client address host:port"},
				&cli.StringFlag{Name: "name", Usage: "server name, unique in a cluster (default the host name)"},
				&cli.StringFlag{Name: "store-dir", Value: services.DefaultStoreDir, Usage: "JetStream store directory"},
				&cli.BoolFlag{Name: "memory", Usage: "keep everything in memory (for trials)"},
				&cli.BoolFlag{Name: "sync-always", Usage: "fsync every write (safe across power loss, much slower)"},
				&cli.StringFlag{Name: "cluster-name", Usage: "join a cluster of this name"},
				&cli.StringFlag{Name: "cluster-listen", Value: "127.0.0.1:6222", Usage: "cluster address host:port"},
				&cli.StringSliceFlag{Name: "route", Usage: "nats-route://host:port of every cluster node (repeat)"},
				&cli.StringFlag{Name: "credentials",
					Usage: "broker credentials file: users by role, route credentials (YAML, mode 0600) (default broker_service.credentials_file, " +
						services.EnvBrokerCredentialsFile + ")"},
				&cli.StringFlag{Name: "token-file", Usage: "where the generated token is kept (default broker.token_file, else token in --store-dir)"},
				&cli.StringFlag{Name: "user", Usage: "admin user; its password is broker.password (" + osism.EnvBrokerPassword + ") (default broker.user, " + osism.EnvBrokerUser + ")"},
				// Kept for scripts that pass it; a secret on the command line
				// is visible to every user of the host.
				&cli.StringFlag{Name: "password", Hidden: true, Usage: "deprecated: set " + osism.EnvBrokerPassword + " or broker.password"},
				&cli.StringFlag{Name: "cluster-user", Usage: "route user of the cluster; its password is " + services.EnvBrokerClusterPassword},
				&cli.StringFlag{Name: "tls-cert", Usage: "serve TLS to clients and routes with this certificate (PEM)"},
				&cli.StringFlag{Name: "tls-key", Usage: "key of --tls-cert (PEM)"},
				&cli.StringFlag{Name: "tls-ca", Usage: "CA certificates that client and route certificates must chain to"},
				&cli.BoolFlag{Name: "tls-verify", Usage: "require client certificates signed by --tls-ca"},
			},
			Action: func(c *cli.Context) error {
				host, port, err := splitHostPort(c.String("listen"))
				if err != nil {
					return usagef("service broker --listen: %v", err)
				}
				log := slog.New(slog.NewTextHandler(os.Stderr, nil))
				all := config(c)
				cfg := services.BrokerConfigFrom(all)
				if c.IsSet("user") {
					cfg.User = c.String("user")
				}
				if c.IsSet("password") {
					log.Warn("service broker --password: a password on the command line is visible to every user of this host; set " +
						osism.EnvBrokerPassword + " or broker.password instead")
					cfg.Password = c.String("password")
				}
				if c.IsSet("token-file") {
					cfg.TokenFile = c.String("token-file")
				}
				if cfg.User != "" {
					cfg.Token = "" // user and password take the place of a token
				}
				if c.IsSet("credentials") {
					cfg.CredentialsFile = c.String("credentials")
				}
				cfg.Name, cfg.Host, cfg.Port, cfg.StoreDir = c.String("name"), host, port, c.String("store-dir")
				cfg.Memory, cfg.SyncAlways = c.Bool("memory"), c.Bool("sync-always")
				cfg.TLS = services.BrokerTLS{CertFile: c.String("tls-cert"), KeyFile: c.String("tls-key"),
					CAFile: c.String("tls-ca"), VerifyClients: c.Bool("tls-verify")}
				cfg.Logger = log
				if name := c.String("cluster-name"); name != "" {
					ch, cp, err := splitHostPort(c.String("cluster-listen"))
					if err != nil {
						return usagef("service broker --cluster-listen: %v", err)
					}
					cfg.Cluster = services.ClusterConfig{Name: name, Host: ch, Port: cp, Routes: c.StringSlice("route"),
						User: c.String("cluster-user"), Password: string(all.BrokerService.ClusterPassword)}
				}
				b, err := services.NewBroker(cfg)
				if err != nil {
					return usagef("%v", err)
				}
				return b.Run(c.Context)
			},
		}, listenerCommand(), apiCommand(), beatCommand(), watchdogCommand(), reconcilerServiceCommand()},
	}
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%q: expected host:port", s)
	}
	var port int
	if _, err := fmt.Sscanf(s[i+1:], "%d", &port); err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: expected a port number (-1: any free port) after the colon", s)
	}
	return s[:i], port, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the state of the manager",
		Subcommands: []*cli.Command{{
			Name:  "workers",
			Usage: "list the workers that are alive",
			Flags: []cli.Flag{formatFlag("table", "json")},
			Action: func(c *cli.Context) error {
				client, err := busClient(c)
				if err != nil {
					return err
				}
				defer client.Close()
				ws, err := client.Runners(c.Context)
				if err != nil {
					return err
				}
				if c.String("format") == "json" {
					if ws == nil {
						ws = []osism.RunnerInfo{}
					}
					return printJSON(c.App.Writer, ws)
				}
				rows := make([][]string, 0, len(ws))
				for _, w := range ws {
					qs := make([]string, len(w.Queues))
					for i, q := range w.Queues {
						qs[i] = string(q)
					}
					running := strings.Join(w.Running, ",")
					if w.Held {
						running += " (held)"
					}
					rows = append(rows, []string{w.ID, w.Host, fmt.Sprint(w.PID), strings.Join(qs, ","),
						w.Uptime().Round(time.Second).String(), running})
				}
				return printTable(c.App.Writer, []string{"WORKER", "HOST", "PID", "QUEUES", "UPTIME", "RUNNING"}, rows)
			},
		}},
	}
}

func lockCommand() *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "hold all workers: they start no new task until osism unlock (running tasks go on)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why, for whoever finds the hold"}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("lock: no arguments expected, got %q", c.Args().First())
			}
			client, err := busClient(c)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := client.SetHold(c.Context, c.String("reason")); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "workers hold: no new tasks start until osism unlock")
			return nil
		},
	}
}

func unlockCommand() *cli.Command {
	return &cli.Command{
		Name:  "unlock",
		Usage: "end the hold of osism lock",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unlock: no arguments expected, got %q", c.Args().First())
			}
			client, err := busClient(c)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := client.ReleaseHold(c.Context); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "workers released")
			return nil
		},
	}
}

// exitStatus turns a task's exit status into the command's. The wrapping
// keeps urfave/cli from exiting by itself, so main's exitCode maps it.
func exitStatus(code int) error {
	if code == 0 {
		return nil
	}
	if code < 0 {
		code = exitFailure
	}
	return fmt.Errorf("%w", taskStatus(code))
}

// taskStatus is a task's exit status as the command's; it prints nothing.
type taskStatus int

func (taskStatus) Error() string   { return "" }
func (s taskStatus) ExitCode() int { return int(s) }

var errNoTask = errors.New("expected one task id")

// taskID reads the one argument of a task command.
func taskID(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("%s: %v, got %d arguments", c.Command.FullName(), errNoTask, c.NArg())
	}
	id := c.Args().First()
	if !osism.ValidID(id) {
		return "", usagef("%s: task id %q: expected 26 characters such as 01jd6x9m2k8q4r7s3t5v0w1y2z", c.Command.FullName(), id)
	}
	return id, nil
}
