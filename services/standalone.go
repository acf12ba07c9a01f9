package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
)

// Standalone is a bus for the duration of one CLI command: with a broker
// URL configured it is just a client of that broker; without one it is an
// embedded in-memory broker that listens on no port and an in-process
// worker for every queue.
type Standalone struct {
	// Client submits and follows tasks.
	Client *osism.Client

	broker *Broker
	nc     *nats.Conn
	stop   context.CancelFunc
	done   chan error
}

// StandaloneOpts are the knobs of [StartStandalone]; nil means defaults.
type StandaloneOpts struct {
	// Workers are the in-process handlers; default Handlers(cfg).
	Workers *osism.Workers
	// Concurrency per queue of the in-process worker; default 1.
	Concurrency int
	// Queues the in-process worker serves; default every built-in queue
	// and every queue of Workers. A command that knows its queues starts
	// faster with just those.
	Queues []osism.Queue
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// StartStandalone connects to cfg's broker, or starts an embedded one with
// a worker when cfg has no broker URL. Close ends what it started.
func StartStandalone(ctx context.Context, cfg osism.Config, opts *StandaloneOpts) (*Standalone, error) {
	if opts == nil {
		opts = &StandaloneOpts{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if !cfg.Standalone() {
		c, err := osism.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &Standalone{Client: c}, nil
	}
	b, err := NewBroker(BrokerConfig{Name: "standalone", NoListen: true, Memory: true, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		return nil, err
	}
	s := &Standalone{broker: b}
	fail := func(err error) (*Standalone, error) {
		_ = s.Close()
		return nil, err
	}
	if s.nc, err = b.Connect(); err != nil {
		return fail(fmt.Errorf("standalone: %w", err))
	}
	tasks := cfg.Tasks
	tasks.Storage, tasks.Replicas = osism.StorageMemory, 1
	if s.Client, err = osism.NewClient(ctx, s.nc, &osism.ClientOpts{Tasks: tasks, Logger: log}); err != nil {
		return fail(fmt.Errorf("standalone: %w", err))
	}
	ws := opts.Workers
	if ws == nil {
		ws = Handlers(cfg)
	}
	conc := max(opts.Concurrency, 1)
	queues := map[osism.Queue]int{}
	qs := opts.Queues
	if len(qs) == 0 {
		qs = append(osism.Queues(), ws.Queues()...)
	}
	for _, q := range qs {
		queues[q] = conc
	}
	r, err := s.Client.NewRunner(osism.RunnerConfig{Queues: queues, Workers: ws, ID: "standalone", Logger: log, Grace: 5 * time.Second})
	if err != nil {
		return fail(err)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan error, 1)
	go func() { s.done <- r.Run(rctx) }()
	return s, nil
}

// Embedded reports whether the bus runs inside this process.
func (s *Standalone) Embedded() bool { return s.broker != nil }

// Close stops the worker and the broker (when embedded) and closes the
// client.
func (s *Standalone) Close() error {
	var errs []error
	if s.stop != nil {
		s.stop()
		errs = append(errs, <-s.done)
	}
	if s.broker != nil && s.Client != nil {
		// Pull requests of the stopped worker and of followers are still
		// pending on the server, which would then wait 50 ms at shutdown
		// to tell their clients; the in-memory bus ends anyway, so the
		// streams with pull consumers go first.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for _, st := range []string{osism.TaskStream, osism.OutputStream} {
			_ = s.Client.JetStream().DeleteStream(ctx, st)
		}
		cancel()
	}
	if s.Client != nil {
		errs = append(errs, s.Client.Close())
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.broker != nil {
		s.broker.Shutdown()
	}
	return errors.Join(errs...)
}
