package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// BrokerConfig configures the embedded broker. The zero value is a
// persistent broker on 127.0.0.1:4222 storing in DefaultStoreDir.
type BrokerConfig struct {
	// Name is the server's name, unique in a cluster; default the host name.
	Name string
	// Host and Port are where clients connect; default 127.0.0.1 and 4222.
	// Port -1 picks a free port.
	Host string
	Port int
	// NoListen accepts in-process connections only.
	NoListen bool
	// StoreDir is where JetStream keeps its files; default DefaultStoreDir.
	StoreDir string
	// Memory keeps everything in a temporary directory removed on stop;
	// for tests and standalone mode. Streams are then created with memory
	// storage by the clients (osism.TaskConfig.Storage).
	Memory bool
	// SyncAlways flushes every write to disk before it is acknowledged. It
	// costs most of the throughput; without it JetStream syncs every
	// SyncInterval (default 2 min), which keeps acknowledged tasks across a
	// crash of the process but not across a power loss.
	SyncAlways   bool
	SyncInterval time.Duration
	// User and Password, or Token, require clients to authenticate.
	User     string
	Password string
	Token    string
	// TLS, when CertFile is set, makes clients (except in-process ones)
	// and cluster routes speak TLS.
	TLS BrokerTLS
	// Cluster makes the broker one node of a cluster.
	Cluster ClusterConfig
	// Logger receives the server's log; default slog.Default().
	Logger *slog.Logger
}

// ClusterConfig joins brokers into one cluster: several managers share the
// bus, and streams with osism.TaskConfig.Replicas 3 survive the loss of a
// node.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node; empty disables
	// clustering.
	Name string
	// Host and Port are where other nodes connect; Port -1 picks a free
	// port. Host defaults to the broker's Host.
	Host string
	Port int
	// Routes are the cluster addresses of the nodes as
	// nats-route://host:port URLs. Give every node the same list of all
	// nodes; a node ignores the route to itself. JetStream needs routes on
	// every node, the first one too.
	Routes []string
}

// BrokerTLS is the broker's certificate and how it checks its peers.
type BrokerTLS struct {
	// CertFile and KeyFile are the broker's certificate and key (PEM).
	CertFile, KeyFile string
	// CAFile holds the CA certificates that client and route certificates
	// must chain to; cluster routes need it.
	CAFile string
	// VerifyClients requires a client certificate signed by CAFile.
	VerifyClients bool
}

// Enabled reports whether TLS is configured.
func (t BrokerTLS) Enabled() bool { return t.CertFile != "" }

func (t BrokerTLS) check() error {
	if !t.Enabled() {
		if t.KeyFile != "" || t.CAFile != "" || t.VerifyClients {
			return errors.New("broker tls: key, CA or client verification given without a certificate file")
		}
		return nil
	}
	if t.KeyFile == "" {
		return fmt.Errorf("broker tls: certificate %s given without its key file", t.CertFile)
	}
	if t.VerifyClients && t.CAFile == "" {
		return errors.New("broker tls: verifying client certificates needs a CA file")
	}
	for _, f := range []string{t.CertFile, t.KeyFile, t.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("broker tls: %w", err)
		}
	}
	return nil
}

// DefaultStoreDir is where a persistent broker stores by default.
const DefaultStoreDir = "/var/lib/osism/broker"

// Broker is the embedded NATS server with JetStream.
type Broker struct {
	cfg     BrokerConfig
	srv     *server.Server
	tempDir string
	log     *slog.Logger
}

// NewBroker checks cfg and prepares the broker; Start or Run starts it.
func NewBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 4222
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("broker: user and password must be given together")
	}
	if cfg.User != "" && cfg.Token != "" {
		return nil, errors.New("broker: give user/password or token, not both")
	}
	for _, r := range cfg.Cluster.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("broker: cluster route %q: expected nats-route://host:port", r)
		}
	}
	if len(cfg.Cluster.Routes) > 0 && cfg.Cluster.Name == "" {
		return nil, errors.New("broker: cluster routes need a cluster name")
	}
	if err := cfg.TLS.check(); err != nil {
		return nil, err
	}
	if cfg.TLS.Enabled() && cfg.Cluster.Name != "" && cfg.TLS.CAFile == "" {
		return nil, errors.New("broker tls: cluster routes need a CA file to verify the other nodes")
	}
	return &Broker{cfg: cfg, log: cfg.Logger.With("service", "broker")}, nil
}

// Start starts the broker and returns once it accepts connections.
func (b *Broker) Start() error {
	if b.srv != nil {
		return errors.New("broker: already started")
	}
	cfg := b.cfg
	store := cfg.StoreDir
	if cfg.Memory {
		dir, err := os.MkdirTemp("", "osism-broker-")
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		b.tempDir, store = dir, dir
	} else if store == "" {
		store = DefaultStoreDir
	}
	if !cfg.Memory {
		if err := os.MkdirAll(store, 0o750); err != nil {
			return fmt.Errorf("broker: store directory: %w", err)
		}
	}
	opts := &server.Options{
		ServerName:    cfg.Name,
		Host:          cfg.Host,
		Port:          cfg.Port,
		DontListen:    cfg.NoListen,
		JetStream:     true,
		StoreDir:      store,
		SyncAlways:    cfg.SyncAlways,
		SyncInterval:  cfg.SyncInterval,
		NoSigs:        true,
		MaxPayload:    8 << 20,
		Username:      cfg.User,
		Password:      cfg.Password,
		Authorization: cfg.Token,
	}
	if cfg.TLS.Enabled() {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			CaFile: cfg.TLS.CAFile, Verify: cfg.TLS.VerifyClients})
		if err != nil {
			b.cleanup()
			return fmt.Errorf("broker tls: %w", err)
		}
		opts.TLSConfig, opts.TLSTimeout = tc, 2
		opts.TLSVerify = cfg.TLS.VerifyClients
	}
	if cfg.Cluster.Name != "" {
		host := cfg.Cluster.Host
		if host == "" {
			host = cfg.Host
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: host, Port: cfg.Cluster.Port}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = 6222
		}
		if len(cfg.Cluster.Routes) > 0 {
			opts.Routes = server.RoutesFromStr(strings.Join(cfg.Cluster.Routes, ","))
		}
		if cfg.TLS.Enabled() {
			// Nodes present the same kind of certificate to each other and
			// verify it against the CA both ways.
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
				CaFile: cfg.TLS.CAFile, Verify: true})
			if err != nil {
				b.cleanup()
				return fmt.Errorf("broker tls (cluster): %w", err)
			}
			// A node dials the others as a client too: the CA verifies
			// their certificates then.
			tc.RootCAs = tc.ClientCAs
			opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, 2
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		b.cleanup()
		return fmt.Errorf("broker: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{b.log}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		b.cleanup()
		return fmt.Errorf("broker %s: not ready within 30s (listening on %s:%d)", cfg.Name, cfg.Host, cfg.Port)
	}
	b.srv = srv
	b.log.Info("broker started", "name", cfg.Name, "url", b.URL(), "store", store, "memory", cfg.Memory,
		"sync_always", cfg.SyncAlways, "cluster", cfg.Cluster.Name, "tls", cfg.TLS.Enabled())
	return nil
}

// Run starts the broker (unless started) and serves until ctx ends.
func (b *Broker) Run(ctx context.Context) error {
	if b.srv == nil {
		if err := b.Start(); err != nil {
			return err
		}
	}
	<-ctx.Done()
	b.Shutdown()
	return nil
}

// Shutdown stops the broker and waits for it.
func (b *Broker) Shutdown() {
	if b.srv == nil {
		return
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.cleanup()
	b.log.Info("broker stopped", "name", b.cfg.Name)
}

func (b *Broker) cleanup() {
	if b.tempDir != "" {
		_ = os.RemoveAll(b.tempDir)
		b.tempDir = ""
	}
}

// URL is where clients connect (empty with NoListen).
func (b *Broker) URL() string {
	if b.srv == nil || b.cfg.NoListen {
		return ""
	}
	return b.srv.ClientURL()
}

// ClusterURL is where other nodes route to (empty without a cluster).
func (b *Broker) ClusterURL() string {
	if b.srv == nil || b.cfg.Cluster.Name == "" {
		return ""
	}
	a := b.srv.ClusterAddr()
	if a == nil {
		return ""
	}
	return fmt.Sprintf("nats-route://%s", a.String())
}

// Server returns the nats-server, for what this package does not cover.
func (b *Broker) Server() *server.Server { return b.srv }

// Connect opens an in-process connection, which skips the network.
func (b *Broker) Connect(opts ...nats.Option) (*nats.Conn, error) {
	if b.srv == nil {
		return nil, errors.New("broker: not started")
	}
	o := []nats.Option{nats.InProcessServer(b.srv), nats.Name("osism in-process")}
	switch {
	case b.cfg.User != "":
		o = append(o, nats.UserInfo(b.cfg.User, b.cfg.Password))
	case b.cfg.Token != "":
		o = append(o, nats.Token(b.cfg.Token))
	}
	return nats.Connect("", append(o, opts...)...)
}

// natsLogger sends the server's log to slog.
type natsLogger struct{ l *slog.Logger }

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
