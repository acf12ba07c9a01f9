package bustest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// Options are the knobs of [New]; nil means the defaults.
type Options struct {
	// Tasks are the bus settings; Storage defaults to memory, AckWait to 2s.
	Tasks osism.TaskConfig
	// StoreDir keeps the broker's files there instead of in memory.
	StoreDir string
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
}

// Bus is an embedded broker with a client.
type Bus struct {
	Broker *services.Broker
	// Client is connected in process; it is closed when the test ends.
	Client *osism.Client
	// Tasks are the settings clients of this bus use.
	Tasks  osism.TaskConfig
	logger *slog.Logger
}

// New starts a bus that stops when tb ends.
func New(tb testing.TB, opts *Options) *Bus {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tasks := opts.Tasks
	if tasks.Storage == "" {
		tasks.Storage = osism.StorageMemory
		if opts.StoreDir != "" {
			tasks.Storage = osism.StorageFile
		}
	}
	if tasks.AckWait == 0 {
		tasks.AckWait = 2 * time.Second
	}
	cfg := services.BrokerConfig{Name: "bustest", Host: "127.0.0.1", Port: -1, Memory: opts.StoreDir == "", StoreDir: opts.StoreDir, Logger: log}
	b, err := services.NewBroker(cfg)
	if err != nil {
		tb.Fatalf("bustest: %v", err)
	}
	if err := b.Start(); err != nil {
		tb.Fatalf("bustest: %v", err)
	}
	tb.Cleanup(b.Shutdown)
	bus := &Bus{Broker: b, Tasks: tasks, logger: log}
	bus.Client = bus.NewClient(tb)
	return bus
}

// URL is where the broker listens.
func (b *Bus) URL() string { return b.Broker.URL() }

// Config is an osism.Config that points at this bus.
func (b *Bus) Config() osism.Config {
	return osism.Config{Broker: osism.BrokerConfig{URL: b.URL()}, Tasks: b.Tasks}
}

// NewClient returns another client over its own TCP connection, closed
// when tb ends.
func (b *Bus) NewClient(tb testing.TB) *osism.Client {
	tb.Helper()
	nc, err := nats.Connect(b.URL(), nats.Name("bustest"))
	if err != nil {
		tb.Fatalf("bustest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: b.Tasks, Logger: b.logger})
	if err != nil {
		tb.Fatalf("bustest: client: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Worker is a runner started by [Bus.StartWorker].
type Worker struct {
	*osism.Runner
	Client *osism.Client
	cancel context.CancelFunc
	done   chan error
}

// Stop stops the worker gracefully and returns what its Run returned.
func (w *Worker) Stop() error {
	w.cancel()
	err := <-w.done
	w.done <- err // later Stops see the same
	return err
}

// StartWorker runs a worker with its own connection until Stop or the end
// of tb. cfg.Workers and cfg.Queues are required; cfg.Grace defaults to 5s.
func (b *Bus) StartWorker(tb testing.TB, cfg osism.RunnerConfig) *Worker {
	tb.Helper()
	c := b.NewClient(tb)
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	r, err := c.NewRunner(cfg)
	if err != nil {
		tb.Fatalf("bustest: runner: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{Runner: r, Client: c, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		if err := w.Stop(); err != nil {
			tb.Errorf("bustest: worker %s: %v", r.ID(), err)
		}
	})
	// Ready once it announced itself, so that its consumers exist.
	WaitFor(tb, 10*time.Second, func() bool {
		ws, err := c.Workers(context.Background())
		if err != nil {
			return false
		}
		for _, wi := range ws {
			if wi.ID == r.ID() {
				return true
			}
		}
		return false
	}, "worker %s announces itself", r.ID())
	return w
}

// WaitFor polls cond every few milliseconds until it holds, and fails tb
// when timeout passes first; what names the condition in the failure.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, what string, args ...any) {
	tb.Helper()
	if err := Poll(context.Background(), timeout, cond); err != nil {
		tb.Fatalf("bustest: waited %s for: "+what, append([]any{timeout}, args...)...)
	}
}

// Poll polls cond until it holds, ctx ends or timeout passes.
func Poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := time.Millisecond
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("condition not met")
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
