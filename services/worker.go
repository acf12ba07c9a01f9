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

// Handlers returns the built-in task handlers: osism.noop, and ansible.run,
// kolla.run and ceph.run with the ansible section of cfg.
func Handlers(cfg osism.Config) *osism.Workers {
	ws := osism.NewWorkers()
	// Adding fails only for a bad or repeated kind, which a test of this
	// package would catch.
	_ = osism.AddWorkerFunc(ws, noop)
	_ = AddAnsibleWorkers(ws, cfg.Ansible)
	_ = AddFabricWorkers(ws, cfg.Fabric, nil)
	return ws
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
	// Workers are the handlers; default Handlers of the default
	// configuration.
	Workers *osism.Workers
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
	if cfg.Workers == nil {
		cfg.Workers = Handlers(osism.Config{})
	}
	r, err := client.NewRunner(osism.RunnerConfig{
		Queues: cfg.Queues, Workers: cfg.Workers, ID: cfg.ID, Grace: cfg.Grace, Logger: cfg.Logger,
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
