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

// Bus is the bus of one command: with a broker URL configured, a client
// of that broker, whose workers run the tasks; without one (standalone
// mode), an embedded in-memory broker that listens on no port and an
// in-process worker for the command's queues. Embedded tells which.
type Bus struct {
	// Client submits and follows tasks.
	Client *osism.Client

	broker *Broker
	nc     *nats.Conn
	stop   context.CancelFunc
	done   chan error
}

// BusOpts are the knobs of [OpenBus]; nil means defaults.
type BusOpts struct {
	// Handlers are the in-process handlers; default BuiltinHandlers(cfg),
	// with the host's file locks for devices and switches.
	Handlers *osism.Registry
	// Concurrency per queue of the in-process worker; default 1.
	Concurrency int
	// Queues the in-process worker serves; default every built-in queue
	// and every queue of Handlers. A command that knows its queues starts
	// faster with just those.
	Queues []osism.Queue
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// OpenBus connects to cfg's broker, or starts an embedded one with
// a worker when cfg has no broker URL. Close ends what it started.
func OpenBus(ctx context.Context, cfg Config, opts *BusOpts) (*Bus, error) {
	if opts == nil {
		opts = &BusOpts{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if !cfg.Bus.Standalone() {
		c, err := osism.Dial(ctx, cfg.Bus)
		if err != nil {
			return nil, err
		}
		return &Bus{Client: c}, nil
	}
	tasks := cfg.Bus.Tasks
	tasks.Storage, tasks.Replicas = osism.StorageMemory, 1
	b, err := NewBroker(BrokerConfig{Name: "standalone", NoListen: true, Memory: true, Logger: log, Bus: tasks})
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		return nil, err
	}
	s := &Bus{broker: b}
	fail := func(err error) (*Bus, error) {
		_ = s.Close()
		return nil, err
	}
	if s.nc, err = b.Connect(); err != nil {
		return fail(fmt.Errorf("standalone: %w", err))
	}
	if s.Client, err = osism.NewClient(ctx, s.nc, &osism.ClientOpts{Tasks: tasks, Logger: log}); err != nil {
		return fail(fmt.Errorf("standalone: %w", err))
	}
	ws := opts.Handlers
	if ws == nil {
		// The embedded bus lives only in this process, so its locks would
		// not keep a second standalone command of this host off the same
		// device or switch: the fabric locks with files instead.
		if ws, err = builtinHandlers(cfg, true); err != nil {
			return fail(err)
		}
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
	r, err := s.Client.NewRunner(osism.RunnerConfig{Queues: queues, Handlers: ws, ID: "standalone", Logger: log, Grace: 5 * time.Second})
	if err != nil {
		return fail(err)
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = stop, make(chan error, 1)
	go func() { s.done <- r.Run(rctx) }()
	return s, nil
}

// Embedded reports whether the bus runs inside this process.
func (s *Bus) Embedded() bool { return s.broker != nil }

// Close stops the worker and the broker (when embedded) and closes the
// client.
func (s *Bus) Close() error {
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
