package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
)

// The services of a manager, by the names ManagerOpts.Only and Without
// (osism manager --only, --without) take.
const (
	ServiceBroker   = "broker"
	ServiceAPI      = "api"
	ServiceBeat     = "beat"
	ServiceListener = "listener"
	ServiceWatchdog = "watchdog"
	ServiceWorkers  = "workers"
)

// ManagerServices are the services of a manager, in the order it starts
// them.
func ManagerServices() []string {
	return []string{ServiceBroker, ServiceAPI, ServiceBeat, ServiceListener, ServiceWatchdog, ServiceWorkers}
}

// SelectServices returns the services that only and without choose:
// every service when only is empty, less those of without. An unknown
// name is an error naming it and the known ones.
func SelectServices(only, without []string) (map[string]bool, error) {
	known := ManagerServices()
	check := func(flag string, names []string) error {
		for _, n := range names {
			if !slices.Contains(known, n) {
				return fmt.Errorf("manager %s %q: unknown service; expected one of %s", flag, n, strings.Join(known, ", "))
			}
		}
		return nil
	}
	if err := errors.Join(check("only", only), check("without", without)); err != nil {
		return nil, err
	}
	sel := make(map[string]bool, len(known))
	for _, n := range known {
		sel[n] = len(only) == 0 || slices.Contains(only, n)
		if slices.Contains(without, n) {
			sel[n] = false
		}
	}
	return sel, nil
}

// ManagerOpts are the knobs of [NewManager].
type ManagerOpts struct {
	// Only runs just these services; Without leaves these out (names of
	// ManagerServices).
	Only, Without []string
	// Handlers are the workers' handlers; default BuiltinHandlers(cfg).
	Handlers *osism.Registry
	// Registry receives the metrics of every service and is what the
	// API's /metrics serves; default a new one with the Go runtime's and
	// the process's collectors.
	Registry *prometheus.Registry
	// Logger defaults to slog.Default(); each service adds its name.
	Logger *slog.Logger
}

// Manager runs the services of OSISM's manager in one process: the
// embedded broker (or a connection to the NATS cluster of broker.url),
// the API, beat, listener (when listener.url is configured) and watchdog,
// and the workers of every queue, each queue with its concurrency of the
// queues section. One registry holds the metrics of all of them; the
// API's /metrics serves it.
//
// When the context of Run ends, the services stop taking work: the API
// and the beat stop, the workers take no more tasks and let the running
// ones finish within manager.grace, then cancel the rest, which go back
// to their queue. The broker stops last.
type Manager struct {
	cfg     Config
	opts    ManagerOpts
	log     *slog.Logger
	enabled map[string]bool
	reg     *prometheus.Registry

	ready     chan struct{}
	mu        sync.Mutex
	apiAddr   string
	brokerURL string
	client    *osism.Client
}

// NewManager checks cfg and the choice of services; it starts nothing
// until Run.
func NewManager(cfg Config, opts ManagerOpts) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enabled, err := SelectServices(opts.Only, opts.Without)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(ManagerServices(), func(n string) bool { return enabled[n] }) {
		return nil, errors.New("manager: --only and --without leave no service to run")
	}
	if cfg.Bus.Standalone() && !enabled[ServiceBroker] {
		return nil, fmt.Errorf("manager: without the embedded broker the services need broker.url (%s): the URL of a NATS cluster", osism.EnvBrokerURL)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	cfg.Manager = cfg.Manager.withDefaults()
	return &Manager{cfg: cfg, opts: opts, log: log, enabled: enabled, reg: reg, ready: make(chan struct{})}, nil
}

// Enabled reports whether the manager runs the service name.
func (m *Manager) Enabled(name string) bool { return m.enabled[name] }

// Registry is the registry of the manager's metrics.
func (m *Manager) Registry() *prometheus.Registry { return m.reg }

// Ready is closed once every service of Run has started.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// APIAddr is where the API listens, once Ready; empty without the API.
func (m *Manager) APIAddr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apiAddr
}

// BrokerURL is the embedded broker's client URL, once Ready; empty with
// an external broker.
func (m *Manager) BrokerURL() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.brokerURL
}

// Client is the manager's own bus client, once Ready.
func (m *Manager) Client() *osism.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.client
}

// Run starts the services and runs them until ctx ends or one fails,
// then stops them all (see [Manager]). It returns nil after a graceful
// stop.
func (m *Manager) Run(ctx context.Context) error {
	cfg := m.cfg
	client, closeBus, err := m.openBus(ctx)
	if err != nil {
		return err
	}
	// The broker stops after every service: running tasks record their
	// end through it.
	defer closeBus()

	var g Group
	nc := client.Conn()
	tasks := newTaskMetrics(m.reg)
	if sub, err := nc.Subscribe(taskSubjectPrefix+">", tasks.onSubmit); err != nil {
		m.log.Warn("tasks submitted are not counted: no subscription to the task subjects", "error", err)
	} else {
		defer func() { _ = sub.Unsubscribe() }()
	}
	transitions := newTransitionMetrics(m.reg)

	var nb *netbox.Client
	netboxClient := func() (*netbox.Client, []*netbox.Secondary, error) {
		if nb == nil {
			c, err := netbox.New(cfg.NetBox)
			if err != nil {
				return nil, nil, fmt.Errorf("NetBox: %w", err)
			}
			nb = c
		}
		secs, err := netbox.OpenSecondaries(cfg.NetBox)
		return nb, secs, err
	}

	if m.enabled[ServiceAPI] {
		api, ln, err := m.newAPI(ctx, client, netboxClient)
		if err != nil {
			return err
		}
		g.Add(ServiceAPI, ServiceFunc(func(ctx context.Context) error { return api.Serve(ctx, ln) }))
	}
	if m.enabled[ServiceBeat] {
		b, err := NewBeat(cfg.Beat, BeatOpts{Bus: client, Logger: m.log, Registerer: m.reg})
		if err != nil {
			return fmt.Errorf("manager: beat: %w", err)
		}
		g.Add(ServiceBeat, b)
	}
	if m.enabled[ServiceListener] {
		if cfg.Listener.URL == "" && cfg.Listener.URLFile == "" {
			m.log.Info("listener not configured: set listener.url or listener.url_file (" + EnvListenerURL + ") for Ironic's notifications")
		} else {
			nbc, secs, err := netboxClient()
			if err != nil {
				return fmt.Errorf("manager: listener: %w", err)
			}
			l, err := NewListener(cfg.Listener, ListenerOpts{NetBox: nbc, Secondaries: secs, Bus: client, Logger: m.log})
			if err != nil {
				return fmt.Errorf("manager: %w", err)
			}
			if err := m.reg.Register(newListenerCollector(l)); err != nil {
				return fmt.Errorf("manager: listener metrics: %w", err)
			}
			events := newListenerEvents(m.reg)
			if sub, err := nc.Subscribe(osism.EventSubjectPrefix+"ironic.>", events.onEvent); err == nil {
				defer func() { _ = sub.Unsubscribe() }()
			}
			g.Add(ServiceListener, l)
		}
	}
	if m.enabled[ServiceWatchdog] {
		w, err := NewWatchdog(cfg.Watchdog.WithInventory(cfg.Ansible), WatchdogOpts{Bus: client, Logger: m.log, Registerer: m.reg})
		if err != nil {
			return fmt.Errorf("manager: watchdog: %w", err)
		}
		g.Add(ServiceWatchdog, w)
	}
	if m.enabled[ServiceWorkers] {
		r, err := m.newRunner(client, tasks)
		if err != nil {
			return err
		}
		g.Add(ServiceWorkers, ServiceFunc(func(ctx context.Context) error {
			return r.Run(WithTransitionObserver(ctx, transitions.observe))
		}))
	}
	var on, off []string
	for _, n := range ManagerServices() {
		if m.enabled[n] {
			on = append(on, n)
		} else {
			off = append(off, n)
		}
	}
	m.log.Info("manager started", "services", strings.Join(on, ","), "not_running", strings.Join(off, ","),
		"grace", cfg.Manager.Grace)
	close(m.ready)
	if len(g.services) == 0 {
		// The broker alone: it serves until ctx ends.
		<-ctx.Done()
		m.log.Info("manager stopped")
		return nil
	}
	err = g.Run(ctx)
	m.log.Info("manager stopped", "error", err)
	return err
}

// openBus starts the embedded broker and connects to it in process, or
// dials broker.url; closeBus closes the client, then the broker.
func (m *Manager) openBus(ctx context.Context) (*osism.Client, func(), error) {
	cfg := m.cfg
	if !cfg.Bus.Standalone() {
		c, err := osism.Dial(ctx, cfg.Bus)
		if err != nil {
			return nil, nil, fmt.Errorf("manager: broker %s: %w", osism.RedactURL(cfg.Bus.Broker.URL), err)
		}
		m.mu.Lock()
		m.client = c
		m.mu.Unlock()
		m.log.Info("external broker", "url", osism.RedactURL(cfg.Bus.Broker.URL))
		return c, func() { _ = c.Close() }, nil
	}
	host, port, err := splitListen(cfg.Manager.BrokerListen)
	if err != nil {
		return nil, nil, fmt.Errorf("config manager.broker_listen: %w", err)
	}
	bc := BrokerConfigFrom(cfg)
	bc.Host, bc.Port, bc.StoreDir, bc.Memory = host, port, cfg.Manager.StoreDir, cfg.Manager.Memory
	bc.Logger = m.log.With("service", ServiceBroker)
	tasks := cfg.Bus.Tasks
	if bc.Memory {
		tasks.Storage = osism.StorageMemory
		bc.Bus = tasks
	}
	b, err := NewBroker(bc)
	if err != nil {
		return nil, nil, fmt.Errorf("manager: %w", err)
	}
	if err := b.Start(); err != nil {
		return nil, nil, fmt.Errorf("manager: %w", err)
	}
	nc, err := b.Connect()
	if err != nil {
		b.Shutdown()
		return nil, nil, fmt.Errorf("manager: %w", err)
	}
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: tasks, Logger: m.log})
	if err != nil {
		nc.Close()
		b.Shutdown()
		return nil, nil, fmt.Errorf("manager: %w", err)
	}
	m.mu.Lock()
	m.client, m.brokerURL = c, b.URL()
	m.mu.Unlock()
	m.log.Info("embedded broker", "url", b.URL(), "store_dir", bc.StoreDir, "memory", bc.Memory, "token_file", b.TokenFile())
	return c, func() {
		_ = c.Close()
		nc.Close()
		b.Shutdown()
	}, nil
}

// newAPI builds the API as osism service api does, on a listener of its
// own so that APIAddr knows the port.
func (m *Manager) newAPI(ctx context.Context, client *osism.Client,
	netboxClient func() (*netbox.Client, []*netbox.Secondary, error)) (*API, net.Listener, error) {
	cfg := m.cfg
	ac := cfg.API
	if ac.InventoryDir == "" {
		ac.InventoryDir = cfg.Reconciler.OutputDir
	}
	log := m.log
	opts := APIOpts{Bus: client, Ansible: cfg.Ansible, Logger: log, Registerer: m.reg, Gatherer: m.reg}
	if cfg.NetBox.URL != "" {
		nb, secs, err := netboxClient()
		if err != nil {
			return nil, nil, fmt.Errorf("manager: api: %w", err)
		}
		opts.NetBox = nb
		if opts.Notifications, err = NewNotificationHandler(cfg.Listener, ListenerOpts{NetBox: nb, Secondaries: secs, Bus: client, Logger: log}); err != nil {
			return nil, nil, fmt.Errorf("manager: api: %w", err)
		}
	} else {
		log.Warn("no NetBox configured: device states, interface webhooks and notifications answer 503 (set netbox.url, NETBOX_URL)")
	}
	if cfg.OpenStack.Configured() {
		bm, err := openstack.NewBareMetal(ctx, cfg.OpenStack)
		if err != nil {
			log.Warn("Ironic not reachable: GET /v1/baremetal/nodes answers 503", "error", err)
		} else {
			opts.BareMetal = bm
		}
	}
	api, err := NewAPI(ac, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("manager: %w", err)
	}
	listen := ac.Listen
	if listen == "" {
		listen = DefaultAPIListen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, nil, fmt.Errorf("manager: api: listen %s: %w", listen, err)
	}
	m.mu.Lock()
	m.apiAddr = ln.Addr().String()
	m.mu.Unlock()
	return api, ln, nil
}

// newRunner is the worker of every queue: the built-in ones and those of
// the handlers, each with its concurrency of the queues section.
func (m *Manager) newRunner(client *osism.Client, tasks *taskMetrics) (*osism.Runner, error) {
	handlers := m.opts.Handlers
	if handlers == nil {
		h, err := BuiltinHandlers(m.cfg)
		if err != nil {
			return nil, fmt.Errorf("manager: %w", err)
		}
		handlers = h
	}
	queues := map[osism.Queue]int{}
	for _, q := range append(osism.Queues(), handlers.Queues()...) {
		queues[q] = m.cfg.Bus.Queues.Concurrency(q, 1)
	}
	r, err := client.NewRunner(osism.RunnerConfig{Queues: queues, Handlers: handlers, Grace: m.cfg.Manager.Grace,
		Logger: m.log.With("service", ServiceWorkers), OnTask: tasks.observe})
	if err != nil {
		return nil, fmt.Errorf("manager: workers: %w", err)
	}
	return r, nil
}
