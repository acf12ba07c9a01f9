package services_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// logBuf collects a broker's and clients' log lines, to check that no
// secret reaches them.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// permErrs records the asynchronous errors of a connection: the broker
// reports a publish it refused that way.
type permErrs struct {
	mu   sync.Mutex
	errs []error
}

func (p *permErrs) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.errs = append(p.errs, err)
	})
}

func (p *permErrs) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprint(p.errs)
}

// violated reports whether the broker refused a publish to subject.
func (p *permErrs) violated(subject string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.errs {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
			return true
		}
	}
	return false
}

const (
	opPass     = "operator-pw-4f1c"
	readerPass = "reader-pw-77ab"
	workerTok  = "worker-token-9d2e"
)

// roleBroker starts a broker on loopback with a credentials file of an
// operator, a reader and a worker.
func roleBroker(t *testing.T, logs *logBuf) *services.Broker {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "broker-credentials.yaml")
	require.NoError(t, os.WriteFile(creds, []byte(`users:
  - {name: ops, role: operator, password: `+opPass+`}
  - {name: dash, role: reader, password: `+readerPass+`}
  - {name: worker-1, role: worker, token: `+workerTok+`, queues: [conductor]}
`), 0o600))
	b, err := services.NewBroker(services.BrokerConfig{Port: -1, Memory: true, CredentialsFile: creds,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(b.Shutdown)
	return b
}

func dialAs(t *testing.T, ctx context.Context, url string, cc osism.ConnConfig, pe *permErrs) *osism.Client {
	t.Helper()
	cc.URL = url
	c, err := osism.Dial(ctx, osism.Config{Broker: cc, Tasks: osism.TaskConfig{Storage: osism.StorageMemory}},
		pe.option(), nats.MaxReconnects(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A broker started without credentials refuses clients that bring none,
// and the wrong ones.
func TestBrokerRefusesUnauthenticated(t *testing.T) {
	t.Parallel()
	logs := &logBuf{}
	b := roleBroker(t, logs)
	ctx := ctxT(t, 30*time.Second)
	for name, cc := range map[string]osism.ConnConfig{
		"none":                     {},
		"wrong password":           {User: "ops", Password: "nope"},
		"wrong token":              {Token: "nope"},
		"password of another user": {User: "ops", Password: readerPass},
	} {
		_, err := osism.Dial(ctx, osism.Config{Broker: osism.ConnConfig{URL: b.URL(), User: cc.User, Password: cc.Password, Token: cc.Token}},
			nats.MaxReconnects(0))
		require.ErrorIs(t, err, nats.ErrAuthorization, name)
	}

	// Without any credentials configured, the broker generates a token;
	// nobody without it gets in.
	nb, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, nb.Start())
	t.Cleanup(nb.Shutdown)
	nc, err := nats.Connect(nb.URL(), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
	}
	require.ErrorIs(t, err, nats.ErrAuthorization)
}

// Each role can do what it is for and nothing else, enforced by the broker.
func TestBrokerRoles(t *testing.T) {
	t.Parallel()
	logs := &logBuf{}
	b := roleBroker(t, logs)
	ctx := ctxT(t, 60*time.Second)
	opErrs, readErrs, workErrs := &permErrs{}, &permErrs{}, &permErrs{}
	op := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "ops", Password: opPass}, opErrs)
	reader := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "dash", Password: readerPass}, readErrs)
	worker := dialAs(t, ctx, b.URL(), osism.ConnConfig{Token: workerTok}, workErrs)

	handlers, err := services.BuiltinHandlers(services.DefaultConfig())
	require.NoError(t, err)
	r, err := worker.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}, Handlers: handlers, ID: "w1"})
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })

	// The operator submits; the worker runs the task end to end.
	res, err := op.Submit(ctx, osism.NoopArgs{Lines: 2}, nil)
	require.NoError(t, err)
	task, err := op.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, "task error: %s", task.Error)

	// The reader lists and follows.
	ts, err := reader.List(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, ts)
	var out bytes.Buffer
	_, err = reader.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, "line 1\nline 2\n", out.String())
	require.Eventually(t, func() bool {
		ws, err := reader.Runners(ctx)
		return err == nil && len(ws) == 1 && ws[0].ID == "w1"
	}, 10*time.Second, 50*time.Millisecond)
	_, err = reader.Locks(ctx)
	require.NoError(t, err)

	// The reader cannot submit: the broker refuses the publish.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = reader.Submit(sctx, osism.NoopArgs{Lines: 1}, nil)
	cancel()
	require.ErrorIs(t, err, nats.ErrPermissionViolation, "a definite refusal, named")
	require.NotErrorIs(t, err, osism.ErrMaybeQueued)
	require.True(t, readErrs.violated("osism.tasks."), "reader submit: no permission violation reported: %v", readErrs)
	// Nor set the hold, nor cancel.
	sctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	require.Error(t, reader.SetHold(sctx, "reader"))
	cancel()
	require.True(t, readErrs.violated("$KV.osism-locks.hold"))

	// The worker cannot set the hold, nor submit.
	sctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	require.Error(t, worker.SetHold(sctx, "worker"))
	cancel()
	require.True(t, workErrs.violated("$KV.osism-locks.hold"), "worker hold: %v", workErrs)
	sctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	_, err = worker.Submit(sctx, osism.NoopArgs{Lines: 1}, nil)
	cancel()
	require.Error(t, err)
	require.True(t, workErrs.violated("osism.tasks."))
	hold, err := op.HoldStatus(ctx)
	require.NoError(t, err)
	require.Nil(t, hold, "a refused hold must not be set")
	// Nor consume a queue it is not given.
	other, err := worker.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueNetBox: 1}, Handlers: handlers, ID: "w2"})
	require.NoError(t, err)
	sctx, cancel = context.WithTimeout(ctx, 3*time.Second)
	require.Error(t, other.Run(sctx))
	cancel()
	require.True(t, workErrs.violated("osism-netbox"), "worker on another queue: %v", workErrs)

	// The operator sets and releases the hold and cancels a queued task.
	require.NoError(t, op.SetHold(ctx, "maintenance"))
	hold, err = reader.HoldStatus(ctx)
	require.NoError(t, err)
	require.NotNil(t, hold)
	require.NoError(t, op.ReleaseHold(ctx))
	queued, err := op.Submit(ctx, osism.NoopArgs{Lines: 1}, &osism.SubmitOpts{Queue: osism.QueueNetBox})
	require.NoError(t, err)
	require.NoError(t, op.Cancel(ctx, queued.ID))
	task, err = reader.Get(ctx, queued.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
	// The broker reports a refused publish before it answers a later ping.
	require.NoError(t, op.Conn().Flush())
	require.False(t, opErrs.violated(""), "operator refused: %v", opErrs)

	for _, secret := range []string{opPass, readerPass, workerTok} {
		require.NotContains(t, logs.String(), secret)
	}
}

// The generated token is kept 0600 beside the store, reused on a restart,
// and lets a client configured with its file in.
func TestBrokerGeneratedToken(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	logs := &logBuf{}
	start := func() *services.Broker {
		b, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: store,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		require.NoError(t, err)
		require.NoError(t, b.Start())
		return b
	}
	b := start()
	file := b.TokenFile()
	require.Equal(t, filepath.Join(store, "token"), file)
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	tok, err := os.ReadFile(file)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(strings.TrimSpace(string(tok))), 40)
	require.Contains(t, logs.String(), file, "the log says where the token is")
	require.NotContains(t, logs.String(), strings.TrimSpace(string(tok)), "never the token itself")
	b.Shutdown()

	b = start()
	t.Cleanup(b.Shutdown)
	again, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(tok), string(again), "a restart reuses the token")

	ctx := ctxT(t, 30*time.Second)
	env := map[string]string{osism.EnvBrokerURL: b.URL(), osism.EnvBrokerTokenFile: file, osism.EnvTaskStorage: "memory"}
	cfg := osism.DefaultConfig()
	require.NoError(t, cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	c, err := osism.Dial(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NotContains(t, logs.String(), strings.TrimSpace(string(tok)))

	// A token file that others may read is refused.
	require.NoError(t, os.Chmod(file, 0o644))
	b.Shutdown()
	nb, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: store, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	err = nb.Start()
	require.ErrorContains(t, err, "expected 0600")
	require.NotContains(t, err.Error(), strings.TrimSpace(string(tok)))
}

func TestBrokerNonLoopbackNeedsAuthAndTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tlsCfg := services.BrokerTLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CA}
	cases := []struct {
		name string
		cfg  services.BrokerConfig
		want string
	}{
		{name: "no auth, no TLS", cfg: services.BrokerConfig{Host: "0.0.0.0", Port: 4333, Memory: true},
			want: "listening on 0.0.0.0:4333 (not a loopback address) needs configured credentials"},
		{name: "auth without TLS", cfg: services.BrokerConfig{Host: "0.0.0.0", Port: 4333, Memory: true, Token: "secret-t0ken"},
			want: "listening on 0.0.0.0:4333 (not a loopback address)"},
		{name: "TLS without auth", cfg: services.BrokerConfig{Host: "::", Port: 4333, Memory: true, TLS: tlsCfg},
			want: "listening on [::]:4333 (not a loopback address)"},
		{name: "host name", cfg: services.BrokerConfig{Host: "manager.example", Port: 4333, Memory: true, Token: "secret-t0ken"},
			want: "manager.example:4333"},
		{name: "cluster without route credentials", cfg: services.BrokerConfig{Port: -1, Memory: true,
			Cluster: services.ClusterConfig{Name: "c", Port: -1}}, want: "routes need a user and password"},
		{name: "cluster on a non-loopback address without TLS", cfg: services.BrokerConfig{Port: -1, Memory: true,
			Cluster: services.ClusterConfig{Name: "c", Host: "0.0.0.0", Port: -1, User: "r", Password: "route-secret"}},
			want: "cluster listening on 0.0.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := services.NewBroker(tc.cfg)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "secret")
		})
	}
	// With both it starts (on loopback here: the test listens nowhere else,
	// and the check is the same).
	b, err := services.NewBroker(services.BrokerConfig{Host: "127.0.0.1", Port: -1, Memory: true, Token: "t", TLS: tlsCfg,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	b.Shutdown()
}

// A node without the route credentials cannot join the cluster.
func TestBrokerClusterRoutesAuthenticate(t *testing.T) {
	t.Parallel()
	ports := freePorts(t, 3)
	logs := &logBuf{}
	route := func(i int) string { return fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]) }
	node := func(i int, pass string, routes ...string) (*services.Broker, chan error) {
		b, err := services.NewBroker(services.BrokerConfig{Name: fmt.Sprintf("n%d", i+1), Port: -1, Memory: true, Token: "client-token",
			Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Cluster: services.ClusterConfig{Name: "osism", Port: ports[i], Routes: routes, User: "route", Password: pass}})
		require.NoError(t, err)
		t.Cleanup(b.Shutdown)
		started := make(chan error, 1)
		go func() { started <- b.Start() }()
		return b, started
	}
	n1, s1 := node(0, "route-pw", route(0), route(1))
	n2, s2 := node(1, "route-pw", route(0), route(1))
	require.NoError(t, <-s1)
	require.NoError(t, <-s2)
	_, _ = node(2, "wrong-pw", route(0), route(1), route(2))
	osismtest.WaitFor(t, 20*time.Second, func() bool { return n1.Server().NumRoutes() > 0 && n2.Server().NumRoutes() > 0 },
		"the nodes with the route password join")
	// The node with the wrong password keeps trying (every second); it
	// must not get in within several tries.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range []*services.Broker{n1, n2} {
			routez, err := n.Server().Routez(nil)
			require.NoError(t, err)
			for _, r := range routez.Routes {
				require.NotEqual(t, "n3", r.RemoteName, "a node with the wrong route password joined")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotContains(t, logs.String(), "route-pw")
	require.NotContains(t, logs.String(), "wrong-pw")
}

// A broker URL with user information never shows its secret in errors
// and logs.
func TestBrokerURLRedacted(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: the dial fails and says where it went.
	free := freePorts(t, 1)[0]
	cases := []struct {
		name, url, secret, want string
		// inErr is what the dial error shows; default want.
		inErr string
	}{
		{name: "user and password", url: fmt.Sprintf("nats://ops:hunter2-pw@127.0.0.1:%d", free), secret: "hunter2-pw",
			want: fmt.Sprintf("nats://******@127.0.0.1:%d", free)},
		{name: "token as user", url: fmt.Sprintf("nats://tok-4e1d9@127.0.0.1:%d", free), secret: "tok-4e1d9",
			want: fmt.Sprintf("nats://******@127.0.0.1:%d", free)},
		{name: "list", url: fmt.Sprintf("nats://127.0.0.1:%d,nats://a:list-pw-1@127.0.0.1:%d", free, free), secret: "list-pw-1",
			want: fmt.Sprintf("nats://127.0.0.1:%d,nats://******@127.0.0.1:%d", free, free)},
		{name: "no scheme", url: fmt.Sprintf("u:bare-pw-2@127.0.0.1:%d", free), secret: "bare-pw-2",
			want: fmt.Sprintf("******@127.0.0.1:%d", free)},
		{name: "a user name that holds the secret", url: fmt.Sprintf("nats://name-pw-3:x@127.0.0.1:%d", free), secret: "name-pw-3",
			want: fmt.Sprintf("nats://******@127.0.0.1:%d", free)},
		// nats' parse error quotes such a URL whole.
		{name: "does not parse", url: fmt.Sprintf("nats://ops:bad%%zz-pw-4@127.0.0.1:%d", free), secret: "zz-pw-4",
			want: fmt.Sprintf("nats://******@127.0.0.1:%d", free)},
		{name: "second of a list does not parse", url: fmt.Sprintf("nats://127.0.0.1:%d, nats://a:b%%zz-pw-5@127.0.0.1:%d", free, free),
			secret: "zz-pw-5", want: fmt.Sprintf("nats://127.0.0.1:%d, nats://******@127.0.0.1:%d", free, free),
			inErr: fmt.Sprintf("URL 2 (nats://******@127.0.0.1:%d) is not a valid URL", free)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := osism.Config{Broker: osism.ConnConfig{URL: tc.url}}
			require.Equal(t, tc.want, cfg.Broker.RedactedURL())

			ctx := ctxT(t, 10*time.Second)
			_, err := osism.Dial(ctx, cfg, nats.MaxReconnects(0), nats.Timeout(time.Second))
			require.Error(t, err)
			require.NotContains(t, err.Error(), tc.secret)
			if tc.inErr == "" {
				tc.inErr = tc.want
			}
			require.Contains(t, err.Error(), tc.inErr)

			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "bus", cfg)
			require.NotContains(t, logs.String(), tc.secret)
			require.Contains(t, logs.String(), tc.want)
		})
	}
}

func TestLoadBrokerCredentialsErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, want string }{
		{name: "unknown role", yaml: "users: [{name: a, role: root, password: pw-s3cr3t}]", want: `role "root": expected admin, operator, worker or reader`},
		{name: "password and token", yaml: "users: [{name: a, role: reader, password: pw-s3cr3t, token: tk-s3cr3t}]", want: "a password or a token, one of them"},
		{name: "neither", yaml: "users: [{name: a, role: reader}]", want: "a password or a token"},
		{name: "no name", yaml: "users: [{role: reader, password: pw-s3cr3t}]", want: "users[0]: expected a name"},
		{name: "name twice", yaml: "users: [{name: a, role: reader, password: pw-s3cr3t}, {name: a, role: worker, token: tk-s3cr3t}]", want: "name given twice"},
		{name: "same token", yaml: "users: [{name: a, role: reader, token: tk-s3cr3t}, {name: b, role: worker, token: tk-s3cr3t}]", want: "token of another user"},
		{name: "queues of an operator", yaml: "users: [{name: a, role: operator, password: pw-s3cr3t, queues: [conductor]}]", want: "queues are for role worker"},
		{name: "bad queue", yaml: "users: [{name: a, role: worker, token: tk-s3cr3t, queues: ['a b']}]", want: `users[0] "a"`},
		{name: "unknown field", yaml: "users: [{name: a, role: reader, pasword: pw-s3cr3t}]", want: "expected users:"},
		{name: "route user alone", yaml: "routes: {user: r}", want: "routes: user and password must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "creds.yaml")
			require.NoError(t, os.WriteFile(f, []byte(tc.yaml), 0o600))
			_, err := services.LoadBrokerCredentials(f)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "s3cr3t")
		})
	}
	f := filepath.Join(t.TempDir(), "creds.yaml")
	require.NoError(t, os.WriteFile(f, []byte("users: [{name: a, role: worker, token: tk, queues: [conductor]}]\nroutes: {user: r, password: p}\n"), 0o600))
	bc, err := services.LoadBrokerCredentials(f)
	require.NoError(t, err)
	require.Equal(t, services.BrokerCredentials{Users: []services.BrokerUser{{Name: "a", Role: services.RoleWorker, Token: "tk",
		Queues: []osism.Queue{osism.QueueConductor}}}, Routes: services.RouteAuth{User: "r", Password: "p"}}, bc)
}

// FuzzRedactURL: a password planted in a URL of a list never survives
// redaction, whatever the other URLs, the scheme or the user; the other
// URLs are redacted on their own, and redacting twice changes nothing more.
func FuzzRedactURL(f *testing.F) {
	f.Add("nats://", "ops", "hunter2", "127.0.0.1:4222", "nats://a:b@h:1,nats://h2:2")
	f.Add("tls://", "", "tok", "manager:4222", "tls://tok@h")
	f.Add("", "u", "p@ss", "h", "nats://u:p@ss@h")
	f.Add("nats://", "u:v", "x", "[::1]:4222", "u:p@h")
	f.Add("", "", "pa://ss", "h:1", "")
	f.Add("nats://", "ops", "bad%zz", "h:4222", "nats://x:%zz@h")
	f.Fuzz(func(t *testing.T, scheme, user, pass, host, other string) {
		if pass == "" || strings.Contains(scheme+user+pass+host, ",") || strings.Contains(host, "@") || strings.Contains(scheme+"******@"+host, pass) {
			t.Skip()
		}
		planted := scheme + user + ":" + pass + "@" + host
		in := other + "," + planted
		out := osism.RedactURL(in)
		i := strings.LastIndexByte(out, ',')
		require.NotContains(t, out[i+1:], pass, "the planted password survived in %q", out)
		require.Equal(t, osism.RedactURL(other), out[:i], "the other URLs are redacted on their own")
		require.Equal(t, out, osism.RedactURL(out), "idempotent")
		require.Equal(t, strings.Count(in, ","), strings.Count(out, ","), "as many URLs as before")
	})
}

// rawConn connects to b with a credential and returns the connection, its
// JetStream context and the refusals the broker reports on it.
func rawConn(t *testing.T, b *services.Broker, opt nats.Option) (*nats.Conn, jetstream.JetStream, *permErrs) {
	t.Helper()
	pe := &permErrs{}
	nc, err := nats.Connect(b.URL(), opt, pe.option(), nats.MaxReconnects(0))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js, pe
}

// refusedWithin runs a JetStream call that the broker must refuse: it
// fails (the refused request gets no answer within a second) and the
// broker reports a permissions violation for subject.
func refusedWithin(t *testing.T, pe *permErrs, subject string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.Error(t, call(ctx), "a call on %s must fail", subject)
	osismtest.WaitFor(t, 5*time.Second, func() bool { return pe.violated(subject) }, "refusal of "+subject)
}

// Only an admin creates or changes the bus's streams and buckets: the
// broker creates them when it starts, the other roles bind to them as they
// are, and a client that may not create a missing one says which.
func TestBusOnlyAdminChangesStreams(t *testing.T) {
	t.Parallel()
	b := roleBroker(t, &logBuf{})
	ctx := ctxT(t, 60*time.Second)
	creds := map[string]nats.Option{
		"operator": nats.UserInfo("ops", opPass),
		"reader":   nats.UserInfo("dash", readerPass),
		"worker":   nats.Token(workerTok),
	}
	admin, err := b.Connect()
	require.NoError(t, err)
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	require.NoError(t, err)
	locks, err := ajs.Stream(ctx, "KV_"+osism.LockBucket)
	require.NoError(t, err, "the broker created the bus when it started")
	before := locks.CachedInfo().Config

	for role, cred := range creds {
		t.Run(role, func(t *testing.T) {
			// The role binds to the bus the broker made.
			c := dialAs(t, ctx, b.URL(), credConfig(role), &permErrs{})
			require.NoError(t, c.Close())

			_, js, pe := rawConn(t, b, cred)
			shorter := before
			shorter.MaxAge = time.Second // held locks would vanish
			refusedWithin(t, pe, "$JS.API.STREAM.UPDATE.KV_"+osism.LockBucket, func(ctx context.Context) error {
				_, err := js.UpdateStream(ctx, shorter)
				return err
			})
			refusedWithin(t, pe, "$JS.API.STREAM.CREATE.EVIL", func(ctx context.Context) error {
				_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}})
				return err
			})
			info, err := locks.Info(ctx)
			require.NoError(t, err)
			require.Equal(t, before.MaxAge, info.Config.MaxAge, "the locks bucket keeps its settings")
		})
	}

	// A missing stream: the non-admin client fails at once, naming it.
	require.NoError(t, ajs.DeleteStream(ctx, "KV_"+osism.WorkerBucket))
	start := time.Now()
	cc := osism.ConnConfig{URL: b.URL(), User: "dash", Password: readerPass}
	_, err = osism.Dial(ctx, osism.Config{Broker: cc, Tasks: osism.TaskConfig{Storage: osism.StorageMemory}}, nats.MaxReconnects(0))
	require.ErrorIs(t, err, osism.ErrBusMissing)
	require.ErrorContains(t, err, "KV_"+osism.WorkerBucket)
	require.ErrorContains(t, err, "only an admin may")
	require.Less(t, time.Since(start), 3*time.Second, "at once, not after a timeout")
	_, err = ajs.Stream(ctx, "KV_"+osism.WorkerBucket)
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "and created nothing")
}

func credConfig(role string) osism.ConnConfig {
	switch role {
	case "operator":
		return osism.ConnConfig{User: "ops", Password: opPass}
	case "reader":
		return osism.ConnConfig{User: "dash", Password: readerPass}
	}
	return osism.ConnConfig{Token: workerTok}
}

// A worker cannot wipe a bucket with a roll-up on a key it may write: the
// buckets refuse roll-ups, and a lock is still released.
func TestBucketsRefuseRollups(t *testing.T) {
	t.Parallel()
	b := roleBroker(t, &logBuf{})
	ctx := ctxT(t, 60*time.Second)
	op := dialAs(t, ctx, b.URL(), credConfig("operator"), &permErrs{})
	worker := dialAs(t, ctx, b.URL(), credConfig("worker"), &permErrs{})
	held, err := op.Acquire(ctx, "device-a", time.Minute, nil)
	require.NoError(t, err)
	res, err := op.Submit(ctx, osism.NoopArgs{Lines: 1}, &osism.SubmitOpts{Queue: osism.QueueNetBox})
	require.NoError(t, err)

	_, js, _ := rawConn(t, b, nats.Token(workerTok))
	for _, subj := range []string{"$KV." + osism.LockBucket + ".lock.mine", "$KV." + osism.TaskBucket + ".task.mine"} {
		for _, rollup := range []string{jetstream.MsgRollupAll, jetstream.MsgRollupSubject} {
			m := &nats.Msg{Subject: subj, Header: nats.Header{}}
			m.Header.Set(jetstream.MsgRollup, rollup)
			_, err := js.PublishMsg(ctx, m)
			require.ErrorContains(t, err, "rollup", "%s with roll-up %s", subj, rollup)
		}
	}
	locks, err := worker.Locks(ctx)
	require.NoError(t, err)
	require.Len(t, locks, 1, "the lock stays")
	task, err := worker.Get(ctx, res.ID)
	require.NoError(t, err, "the task record stays")
	require.Equal(t, osism.StateQueued, task.State)

	// Release deletes by revision, which needs no roll-up.
	require.NoError(t, held.Release(ctx))
	locks, err = op.Locks(ctx)
	require.NoError(t, err)
	require.Empty(t, locks)
	again, err := op.Acquire(ctx, "device-a", time.Minute, nil)
	require.NoError(t, err)
	require.NoError(t, again.Release(ctx))
}

// A bucket that an earlier version created (nats.go's CreateKeyValue,
// which allows roll-ups) refuses them once a broker started on it.
func TestBrokerTurnsOffRollupsOfOldBuckets(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	start := func() *services.Broker {
		b, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: store, Token: "admin-tok", Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, b.Start())
		return b
	}
	ctx := ctxT(t, 60*time.Second)
	b := start()
	_, js, _ := rawConn(t, b, nats.Token("admin-tok"))
	for _, bucket := range []string{osism.TaskBucket, osism.LockBucket, osism.WorkerBucket} {
		require.NoError(t, js.DeleteStream(ctx, "KV_"+bucket))
		_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 5})
		require.NoError(t, err)
		st, err := js.Stream(ctx, "KV_"+bucket)
		require.NoError(t, err)
		require.True(t, st.CachedInfo().Config.AllowRollup, "the old kind of bucket")
	}
	b.Shutdown()

	b = start()
	t.Cleanup(b.Shutdown)
	_, js, _ = rawConn(t, b, nats.Token("admin-tok"))
	for _, bucket := range []string{osism.TaskBucket, osism.LockBucket, osism.WorkerBucket} {
		st, err := js.Stream(ctx, "KV_"+bucket)
		require.NoError(t, err)
		require.False(t, st.CachedInfo().Config.AllowRollup, bucket)
	}
}

// The task stream's messages carry the arguments unmasked: readers and
// workers cannot read them from the stream, nor open consumers on it
// (workers have their queue's durable consumer only); an operator can
// still cancel a queued task.
func TestTaskMessagesHiddenFromReadersAndWorkers(t *testing.T) {
	t.Parallel()
	b := roleBroker(t, &logBuf{})
	ctx := ctxT(t, 60*time.Second)
	op := dialAs(t, ctx, b.URL(), credConfig("operator"), &permErrs{})
	res, err := op.Submit(ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "hello", Args: []string{"-e", "db_password=planted-4411"}},
		&osism.SubmitOpts{Queue: osism.QueueNetBox})
	require.NoError(t, err)
	subj := osism.TaskSubject(osism.QueueNetBox, res.ID)

	for _, role := range []string{"reader", "worker"} {
		t.Run(role, func(t *testing.T) {
			nc, js, pe := rawConn(t, b, map[string]nats.Option{"reader": nats.UserInfo("dash", readerPass), "worker": nats.Token(workerTok)}[role])
			st, err := js.Stream(ctx, osism.TaskStream)
			require.NoError(t, err, "the stream's info is no secret")
			refusedWithin(t, pe, "$JS.API.STREAM.MSG.GET."+osism.TaskStream, func(ctx context.Context) error {
				_, err := st.GetLastMsgForSubject(ctx, subj)
				return err
			})
			refusedWithin(t, pe, "$JS.API.DIRECT.GET."+osism.TaskStream, func(ctx context.Context) error {
				_, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+osism.TaskStream+"."+subj, nil)
				return err
			})
			refusedWithin(t, pe, "$JS.API.CONSUMER.CREATE."+osism.TaskStream, func(ctx context.Context) error {
				_, err := js.OrderedConsumer(ctx, osism.TaskStream, jetstream.OrderedConsumerConfig{})
				c, err2 := js.CreateConsumer(ctx, osism.TaskStream, jetstream.ConsumerConfig{Name: "spy", FilterSubject: "osism.tasks.>"})
				if err == nil && c != nil {
					_, err = c.Info(ctx)
				}
				return errors.Join(err, err2)
			})
			if role == "worker" {
				// Its queue's durable consumer, widened to every queue: refused.
				refusedWithin(t, pe, "$JS.API.CONSUMER.CREATE."+osism.TaskStream+".osism-conductor", func(ctx context.Context) error {
					_, err := js.CreateOrUpdateConsumer(ctx, osism.TaskStream, jetstream.ConsumerConfig{Durable: "osism-conductor",
						FilterSubject: "osism.tasks.>", AckPolicy: jetstream.AckExplicitPolicy})
					return err
				})
			}
		})
	}
	require.NoError(t, op.Cancel(ctx, res.ID), "an operator still cancels a queued task")
	task, err := op.Get(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
	require.NotContains(t, string(task.Args), "planted-4411")
}

// Readers and operators may subscribe to the bus's events (the API's
// event stream); workers only publish them.
func TestBrokerEventSubscribers(t *testing.T) {
	t.Parallel()
	logs := &logBuf{}
	b := roleBroker(t, logs)
	ctx := ctxT(t, 30*time.Second)
	opErrs, readErrs, workErrs := &permErrs{}, &permErrs{}, &permErrs{}
	op := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "ops", Password: opPass}, opErrs)
	reader := dialAs(t, ctx, b.URL(), osism.ConnConfig{User: "dash", Password: readerPass}, readErrs)
	worker := dialAs(t, ctx, b.URL(), osism.ConnConfig{Token: workerTok}, workErrs)

	tests := []struct {
		name    string
		client  *osism.Client
		errs    *permErrs
		allowed bool
	}{
		{"operator", op, opErrs, true},
		{"reader", reader, readErrs, true},
		{"worker", worker, workErrs, false},
	}
	got := make([]chan osism.Event, len(tests))
	for i, tc := range tests {
		got[i] = make(chan osism.Event, 4)
		ch := got[i]
		sub, err := tc.client.SubscribeEvents("ironic", "", func(ev osism.Event) { ch <- ev })
		require.NoError(t, err, tc.name)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		require.NoError(t, tc.client.Conn().Flush(), tc.name)
	}
	require.NoError(t, worker.PublishEvent(ctx, "ironic", "baremetal.node.power_set.end", map[string]string{"node": "node-1"}))
	require.NoError(t, worker.Conn().Flush())
	for i, tc := range tests {
		if !tc.allowed {
			continue
		}
		select {
		case ev := <-got[i]:
			require.Equal(t, "baremetal.node.power_set.end", ev.Type, tc.name)
		case <-ctx.Done():
			t.Fatalf("%s: no event: %v", tc.name, tc.errs)
		}
		require.False(t, tc.errs.violated("osism.events"), "%s refused: %v", tc.name, tc.errs)
	}
	require.Eventually(t, func() bool { return workErrs.violated("osism.events") }, 5*time.Second, 20*time.Millisecond,
		"a worker's subscription to events must be refused")
	require.Empty(t, got[2])
}
