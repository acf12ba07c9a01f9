package osismtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/osism/go-osism/osism"
)

// Options are the knobs of [Start] and [New]; nil means the defaults.
type Options struct {
	// Tasks are the bus settings; Storage defaults to memory (file with a
	// StoreDir), AckWait to 2s.
	Tasks osism.TaskConfig
	// StoreDir keeps the broker's files there instead of in a temporary
	// directory, so that a second bus on the same directory sees them.
	StoreDir string
	// Logger receives the clients' log; default a logger that discards.
	Logger *slog.Logger
}

// Bus is an embedded broker with a client.
type Bus struct {
	// Client is connected over TCP; it is closed with the bus.
	Client *osism.Client
	// Tasks are the settings clients of this bus use.
	Tasks osism.TaskConfig

	srv     *server.Server
	tempDir string
	logger  *slog.Logger

	mu      sync.Mutex
	closers []func() error
	closed  bool
}

// Start starts a bus; Close stops it.
func Start(opts *Options) (*Bus, error) {
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
	b := &Bus{Tasks: tasks, logger: log}
	store := opts.StoreDir
	if store == "" {
		dir, err := os.MkdirTemp("", "osismtest-")
		if err != nil {
			return nil, fmt.Errorf("osismtest: %w", err)
		}
		b.tempDir, store = dir, dir
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "osismtest",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   store,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
	})
	if err != nil {
		b.removeTemp()
		return nil, fmt.Errorf("osismtest: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		b.removeTemp()
		return nil, errors.New("osismtest: broker not ready within 30s")
	}
	b.srv = srv
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The bus takes Tasks' settings, as a broker gives the bus its own
	// when it starts; clients bind to it as it is.
	nc, err := nats.Connect(b.URL(), nats.Name("osismtest provisioning"))
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("osismtest: connect: %w", err)
	}
	err = osism.EnsureBus(ctx, nc, tasks)
	nc.Close()
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("osismtest: %w", err)
	}
	if b.Client, err = b.Dial(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// New starts a bus that stops when tb ends; it fails tb when the bus
// cannot start.
func New(tb testing.TB, opts *Options) *Bus {
	tb.Helper()
	b, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// URL is where the broker listens.
func (b *Bus) URL() string { return b.srv.ClientURL() }

// Config is an osism.Config that points at this bus.
func (b *Bus) Config() osism.Config {
	return osism.Config{Broker: osism.ConnConfig{URL: b.URL()}, Tasks: b.Tasks}
}

// Dial returns another client over its own TCP connection, closed with
// the bus.
func (b *Bus) Dial(ctx context.Context) (*osism.Client, error) {
	nc, err := nats.Connect(b.URL(), nats.Name("osismtest"))
	if err != nil {
		return nil, fmt.Errorf("osismtest: connect: %w", err)
	}
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: b.Tasks, Logger: b.logger})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("osismtest: client: %w", err)
	}
	b.onClose(func() error {
		err := c.Close()
		nc.Close()
		return err
	})
	return c, nil
}

// NewClient is [Bus.Dial] for a test: it fails tb on error.
func (b *Bus) NewClient(tb testing.TB) *osism.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := b.Dial(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Runner is a runner started by [Bus.StartRunner], with its own client.
type Runner struct {
	*osism.Runner
	Client *osism.Client
	cancel context.CancelFunc
	done   chan error
}

// Stop stops the runner gracefully and returns what its Run returned.
func (r *Runner) Stop() error {
	r.cancel()
	err := <-r.done
	r.done <- err // later Stops see the same
	return err
}

// StartRunner runs a runner with its own connection until Stop or Close.
// cfg.Handlers and cfg.Queues are required; cfg.Grace defaults to 5s. It
// returns once the runner announced itself, so that its consumers exist.
func (b *Bus) StartRunner(cfg osism.RunnerConfig) (*Runner, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := b.Dial(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	or, err := c.NewRunner(cfg)
	if err != nil {
		return nil, fmt.Errorf("osismtest: runner: %w", err)
	}
	rctx, stop := context.WithCancel(context.Background())
	r := &Runner{Runner: or, Client: c, cancel: stop, done: make(chan error, 1)}
	go func() { r.done <- or.Run(rctx) }()
	b.onClose(r.Stop)
	err = Poll(ctx, 10*time.Second, func() bool {
		rs, err := c.Runners(ctx)
		if err != nil {
			return false
		}
		for _, ri := range rs {
			if ri.ID == or.ID() {
				return true
			}
		}
		return false
	})
	if err != nil {
		_ = r.Stop()
		return nil, fmt.Errorf("osismtest: runner %s did not announce itself: %w", or.ID(), err)
	}
	return r, nil
}

// NewRunner is [Bus.StartRunner] for a test: the runner stops when tb
// ends, and an error of its Run fails tb.
func (b *Bus) NewRunner(tb testing.TB, cfg osism.RunnerConfig) *Runner {
	tb.Helper()
	r, err := b.StartRunner(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Stop(); err != nil {
			tb.Errorf("osismtest: runner %s: %v", r.ID(), err)
		}
	})
	return r
}

func (b *Bus) onClose(f func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closers = append(b.closers, f)
}

// Close stops the runners, closes the clients and stops the broker, in
// that order.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	closers := b.closers
	b.closers = nil
	b.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	b.removeTemp()
	return errors.Join(errs...)
}

func (b *Bus) removeTemp() {
	if b.tempDir != "" {
		_ = os.RemoveAll(b.tempDir)
	}
}

// WaitFor polls cond every few milliseconds until it holds, and fails tb
// when timeout passes first; what names the condition in the failure.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, what string, args ...any) {
	tb.Helper()
	if err := Poll(context.Background(), timeout, cond); err != nil {
		tb.Fatalf("osismtest: waited %s for: "+what, append([]any{timeout}, args...)...)
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
