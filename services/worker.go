package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/osism/go-osism/osism"
)

// BuiltinHandlers returns the built-in task handlers: osism.noop;
// ansible.run, kolla.run and ceph.run with the ansible section of cfg; and
// netbox.connect and netbox.generate with its netbox and fabric sections; openstack.baremetal
// with its openstack section; conductor.sync_ironic and
// conductor.sync_netbox with its conductor, netbox and openstack sections;
// reconciler.run with its reconciler, ansible and netbox sections.
func BuiltinHandlers(cfg Config) (*osism.Registry, error) { return builtinHandlers(cfg, false) }

// builtinHandlers is BuiltinHandlers; hostLocks is registerFabric's.
func builtinHandlers(cfg Config, hostLocks bool) (*osism.Registry, error) {
	reg := osism.NewRegistry()
	if err := errors.Join(
		osism.RegisterFunc(reg, noop),
		RegisterAnsible(reg, cfg.Ansible),
		registerFabric(reg, cfg, nil, hostLocks),
		registerGenerate(reg, cfg, nil, hostLocks),
		RegisterOpenStack(reg, cfg.OpenStack),
		RegisterConductor(reg, cfg, hostLocks),
		RegisterReconciler(reg, cfg),
	); err != nil {
		return nil, fmt.Errorf("built-in handlers: %w", err)
	}
	return reg, nil
}

func noop(ctx context.Context, job *osism.Job[osism.NoopArgs]) error {
	if job.Args.Lines < 0 {
		return fmt.Errorf("noop: lines %d: expected 0 or more", job.Args.Lines)
	}
	buf := make([]byte, 0, 64)
	for i := range job.Args.Lines {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		buf = append(buf[:0], "line "...)
		buf = strconv.AppendInt(buf, int64(i+1), 10)
		buf = append(buf, '\n')
		if _, err := job.Output.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// WorkerConfig configures a [Worker].
type WorkerConfig struct {
	// Queues maps each queue served to its concurrency (at least 1).
	Queues map[osism.Queue]int
	// Handlers are the handlers; default BuiltinHandlers of the default
	// configuration.
	Handlers *osism.Registry
	// ID names the worker; default host-pid-random.
	ID string
	// Grace is how long running tasks may finish on shutdown; default 30s.
	Grace time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Worker is the worker service: the task handlers of some queues.
type Worker struct {
	runner *osism.Runner
}

// NewWorker returns a worker that takes tasks through client.
func NewWorker(client *osism.Client, cfg WorkerConfig) (*Worker, error) {
	if client == nil {
		return nil, errors.New("worker: nil client")
	}
	if cfg.Handlers == nil {
		reg, err := BuiltinHandlers(DefaultConfig())
		if err != nil {
			return nil, err
		}
		cfg.Handlers = reg
	}
	r, err := client.NewRunner(osism.RunnerConfig{
		Queues: cfg.Queues, Handlers: cfg.Handlers, ID: cfg.ID, Grace: cfg.Grace, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Worker{runner: r}, nil
}

// ID returns the worker's name.
func (w *Worker) ID() string { return w.runner.ID() }

// Run serves until ctx ends, then stops gracefully.
func (w *Worker) Run(ctx context.Context) error { return w.runner.Run(ctx) }
