package services

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/osism/go-osism/osism"
)

// BrokerConfig configures the embedded broker. The zero value is a
// persistent broker on 127.0.0.1:4222 storing in DefaultStoreDir, whose
// clients authenticate with the token it generates in DefaultTokenFile.
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
	// User and Password, or Token, are one credential of role admin.
	// Secrets come from files or the environment, never from flags.
	User     string
	Password string
	Token    string
	// Users are credentials by role (see Role); CredentialsFile names a
	// file of them (see BrokerCredentials), read by NewBroker, whose users
	// are added to these.
	Users           []BrokerUser
	CredentialsFile string
	// TokenFile is where a broker started without credentials keeps the
	// admin token it generates on its first start (mode 0600) and reads
	// on later ones; default the file "token" in StoreDir, which for
	// DefaultStoreDir is DefaultTokenFile, the file clients of this host
	// read when they have no credential configured. Without credentials
	// and with NoListen (standalone mode) the broker needs none.
	TokenFile string
	// TLS, when CertFile is set, makes clients (except in-process ones)
	// and cluster routes speak TLS.
	TLS BrokerTLS
	// Cluster makes the broker one node of a cluster.
	Cluster ClusterConfig
	// Logger receives the server's log; default slog.Default().
	Logger *slog.Logger
	// Bus are the settings of the bus's streams and buckets, which the
	// broker creates, or brings to these settings, when it starts (only
	// an admin may create or change them; clients bind to them as they
	// are). Zero fields take the defaults; Storage defaults to memory with
	// Memory. A cluster node does this only when it has users of other
	// roles, in the background once the cluster has formed; otherwise the
	// first admin client creates the bus of a cluster.
	Bus osism.TaskConfig
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
	// User and Password authenticate the nodes to each other, the same on
	// every node; a cluster needs them (or the routes of the credentials
	// file). A node refuses routes that do not present them.
	User     string
	Password string
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

	// auth is whether clients must authenticate; inproc is the token of
	// in-process connections (admin, never stored); tokenFile is the
	// generated token's file.
	auth      bool
	inproc    string
	tokenFile string
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
			return nil, fmt.Errorf("broker: cluster route %q: expected nats-route://host:port", osism.RedactURL(r))
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
	if cfg.CredentialsFile != "" {
		bc, err := LoadBrokerCredentials(cfg.CredentialsFile)
		if err != nil {
			return nil, err
		}
		cfg.Users = append(slices.Clone(cfg.Users), bc.Users...)
		if cfg.Cluster.User == "" && cfg.Cluster.Password == "" {
			cfg.Cluster.User, cfg.Cluster.Password = bc.Routes.User, string(bc.Routes.Password)
		}
	}
	if err := checkUsers(cfg.Users); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if (cfg.Cluster.User == "") != (cfg.Cluster.Password == "") {
		return nil, errors.New("broker: cluster user and password must be given together")
	}
	if cfg.Cluster.Name != "" && cfg.Cluster.Password == "" {
		return nil, fmt.Errorf("broker: cluster %s: routes need a user and password (cluster user/password, or routes in the credentials file): a node accepts no unauthenticated peers",
			cfg.Cluster.Name)
	}
	configured := cfg.User != "" || cfg.Token != "" || len(cfg.Users) > 0
	if !cfg.NoListen && !isLoopback(cfg.Host) && (!configured || !cfg.TLS.Enabled()) {
		return nil, fmt.Errorf("broker: listening on %s (not a loopback address) needs configured credentials (a credentials file, user and password, or a token) and TLS (a certificate); the generated token serves this host only",
			net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	}
	if ch := cfg.Cluster.Host; cfg.Cluster.Name != "" && ch != "" && !isLoopback(ch) && !cfg.TLS.Enabled() {
		return nil, fmt.Errorf("broker: cluster listening on %s (not a loopback address) needs TLS (a certificate and CA)",
			net.JoinHostPort(ch, strconv.Itoa(cfg.Cluster.Port)))
	}
	if cfg.Cluster.Name != "" && cfg.Cluster.Host == "" && !isLoopback(cfg.Host) && !cfg.TLS.Enabled() {
		return nil, fmt.Errorf("broker: cluster listening on %s (not a loopback address) needs TLS (a certificate and CA)", cfg.Host)
	}
	return &Broker{cfg: cfg, log: cfg.Logger.With("service", "broker")}, nil
}

// users are the credentials the broker accepts; empty means none needed.
// It generates (or reads) the token of TokenFile when nothing is
// configured and the broker listens.
func (b *Broker) users(store string) ([]BrokerUser, error) {
	cfg := b.cfg
	users := slices.Clone(cfg.Users)
	switch {
	case cfg.User != "":
		users = append(users, BrokerUser{Name: cfg.User, Role: RoleAdmin, Password: osism.Secret(cfg.Password)})
	case cfg.Token != "":
		users = append(users, BrokerUser{Name: "admin", Role: RoleAdmin, Token: osism.Secret(cfg.Token)})
	}
	if len(users) == 0 && !cfg.NoListen {
		path := cfg.TokenFile
		if path == "" {
			path = filepath.Join(store, "token")
		}
		tok, created, err := loadOrCreateToken(path, "broker token")
		if err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		b.tokenFile = path
		if created {
			b.log.Info("broker token generated: clients of this host read it from its file (broker.token_file, "+osism.EnvBrokerTokenFile+")",
				"file", path, "role", RoleAdmin)
		} else {
			b.log.Info("broker token read from its file", "file", path, "role", RoleAdmin)
		}
		users = append(users, BrokerUser{Name: "admin", Role: RoleAdmin, Token: osism.Secret(tok)})
	}
	if len(users) == 0 {
		return nil, nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.inproc = base64.RawURLEncoding.EncodeToString(raw)
	return append(users, BrokerUser{Name: "in-process", Role: RoleAdmin, Token: osism.Secret(b.inproc)}), nil
}

// TokenFile is the file of the token the broker generated or read (empty
// when it has credentials configured, or needs none).
func (b *Broker) TokenFile() string { return b.tokenFile }

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
	users, err := b.users(store)
	if err != nil {
		b.cleanup()
		return err
	}
	opts := &server.Options{
		ServerName:   cfg.Name,
		Host:         cfg.Host,
		Port:         cfg.Port,
		DontListen:   cfg.NoListen,
		JetStream:    true,
		StoreDir:     store,
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		MaxPayload:   8 << 20,
	}
	if len(users) > 0 {
		b.auth = true
		opts.CustomClientAuthentication = &authenticator{users: users}
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
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: host, Port: cfg.Cluster.Port,
			Username: cfg.Cluster.User, Password: cfg.Cluster.Password}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = 6222
		}
		if len(cfg.Cluster.Routes) > 0 {
			opts.Routes = server.RoutesFromStr(strings.Join(cfg.Cluster.Routes, ","))
			for _, r := range opts.Routes {
				// A node presents the cluster's credentials on the routes it
				// dials (and on those it learns, which the server fills in).
				if r.User == nil {
					r.User = url.UserPassword(cfg.Cluster.User, cfg.Cluster.Password)
				}
			}
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
	if err := b.provisionBus(); err != nil {
		b.Shutdown()
		return err
	}
	b.log.Info("broker started", "name", cfg.Name, "url", b.URL(), "store", store, "memory", cfg.Memory,
		"sync_always", cfg.SyncAlways, "cluster", cfg.Cluster.Name, "tls", cfg.TLS.Enabled(), "auth", b.auth)
	return nil
}

// provisionBus creates the bus's streams and buckets, or brings them to
// cfg.Bus, over an in-process (admin) connection. A cluster node, whose
// JetStream is ready only once the cluster has formed, does it in the
// background when it has users of other roles, which may not create
// the bus themselves.
func (b *Broker) provisionBus() error {
	cfg := b.cfg.Bus
	if cfg.Storage == "" && b.cfg.Memory {
		cfg.Storage = osism.StorageMemory
	}
	ensure := func(ctx context.Context) error {
		nc, err := b.Connect(nats.Name("osism broker"))
		if err != nil {
			return err
		}
		defer nc.Close()
		return osism.EnsureBus(ctx, nc, cfg)
	}
	if b.cfg.Cluster.Name == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ensure(ctx); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		return nil
	}
	if !slices.ContainsFunc(b.cfg.Users, func(u BrokerUser) bool { return u.Role != RoleAdmin }) {
		return nil
	}
	srv := b.srv
	go func() {
		for wait := 500 * time.Millisecond; srv.Running(); wait = min(2*wait, 10*time.Second) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := ensure(ctx)
			cancel()
			if err == nil {
				return
			}
			b.log.Info("bus not provisioned yet, retrying", "err", err, "in", wait)
			time.Sleep(wait)
		}
	}()
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
	if b.inproc != "" {
		o = append(o, nats.Token(b.inproc))
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
