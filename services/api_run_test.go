package services_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

func TestAPIConfig(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	readFile, opFile, empty := file("read", "r-secret-1\n"), file("op", "o-secret-2\n"), file("empty", "\n")
	p := newPKI(t)
	tests := []struct {
		name string
		cfg  services.APIConfig
		want string // "" = accepted
	}{
		{"loopback default", services.APIConfig{TokenFile: filepath.Join(dir, "generated")}, ""},
		{"tokens from files", services.APIConfig{ReadTokenFile: readFile, OperatorTokenFile: opFile}, ""},
		{"wide without TLS", services.APIConfig{Listen: "0.0.0.0:8000", ReadTokenFile: readFile, OperatorTokenFile: opFile}, "needs TLS"},
		{"wide without tokens", services.APIConfig{Listen: "0.0.0.0:8000", TLSCert: p.ServerCert, TLSKey: p.ServerKey}, "needs both tokens"},
		{"wide with TLS and tokens", services.APIConfig{Listen: "0.0.0.0:8000", TLSCert: p.ServerCert, TLSKey: p.ServerKey,
			ReadTokenFile: readFile, OperatorTokenFile: opFile}, ""},
		{"same tokens", services.APIConfig{ReadToken: "same-secret", OperatorToken: "same-secret"}, "the same"},
		{"missing token file", services.APIConfig{ReadTokenFile: filepath.Join(dir, "nope")}, "api.read_token_file"},
		{"empty token file", services.APIConfig{OperatorTokenFile: empty}, "is empty"},
		{"cert without key", services.APIConfig{TLSCert: p.ServerCert}, "tls_cert and api.tls_key"},
		{"bad listen", services.APIConfig{Listen: "8000"}, "api.listen"},
		{"negative body limit", services.APIConfig{MaxBody: -1}, "api.max_body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := services.NewAPI(tc.cfg, services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			for _, s := range []string{"r-secret-1", "o-secret-2", "same-secret"} {
				require.NotContains(t, err.Error(), s)
			}
		})
	}
	_, err := services.NewAPI(services.APIConfig{}, services.APIOpts{})
	require.ErrorContains(t, err, "no bus client")

	env := map[string]string{services.EnvAPIListen: "127.0.0.1:9000", services.EnvAPIReadTokenFile: readFile,
		services.EnvAPIOperatorToken: "o", services.EnvAPIMaxBody: "2048", services.EnvAPIWebhookSecretFile: "/run/hook"}
	var c services.APIConfig
	require.NoError(t, c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.Equal(t, services.APIConfig{Listen: "127.0.0.1:9000", ReadTokenFile: readFile, OperatorToken: "o", MaxBody: 2048,
		WebhookSecretFile: "/run/hook"}, c)
	require.ErrorContains(t, c.ApplyEnv(func(k string) (string, bool) { return "lots", k == services.EnvAPIMaxBody }), services.EnvAPIMaxBody)

	// The section loads from a file with the rest of the configuration.
	cf := file("osism.yaml", "api:\n  listen: 127.0.0.1:8443\n  read_token_file: "+readFile+"\n  max_body: 4096\n")
	all, err := services.LoadConfig(services.LoadOpts{UserPath: cf})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8443", all.API.Listen)
	require.Equal(t, int64(4096), all.API.MaxBody)
}

// The API serves TLS with its certificate, and a cancelled context ends
// it gracefully, open event streams included.
func TestAPIServeTLSAndShutdown(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	p := newPKI(t)
	api, err := services.NewAPI(services.APIConfig{TLSCert: p.ServerCert, TLSKey: p.ServerKey, ReadToken: "r-tok", OperatorToken: "o-tok",
		ShutdownTimeout: 5 * time.Second}, services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln) }()

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(p.CA)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + ln.Addr().String()
	res, err := client.Get(base + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode, "%s", body)

	if plain, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		plain.Body.Close()
		require.Equal(t, http.StatusBadRequest, plain.StatusCode, "plain HTTP is not served")
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer r-tok")
	stream, err := client.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, 200, stream.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the API did not shut down")
	}
	_, err = io.ReadAll(stream.Body)
	_ = err // the stream ended, cleanly or not
	_, err = client.Get(base + "/healthz")
	require.Error(t, err, "nothing listens after the shutdown")

	// A certificate that does not load is an error naming the files.
	bad, err := services.NewAPI(services.APIConfig{TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent-key.pem", OperatorToken: "o-tok"},
		services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	err = bad.Serve(context.Background(), ln2)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "/nonexistent.pem"), err.Error())
}

// A task's output stream outlives the write timeout of ordinary answers,
// and the API composes with other services in a group.
func TestAPIStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, gateHandler))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}, Handlers: reg})
	const wt = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	api, err := services.NewAPI(services.APIConfig{Listen: ln.Addr().String(), WriteTimeout: wt, OperatorToken: "op-tok"},
		services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, ln.Close()) // Run listens on the address itself
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g services.Group
	g.Add("api", api)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	}, "the API answers")

	gate := make(chan struct{})
	gates.Store("slow", gate)
	sub, err := bus.Client.Submit(ctxT(t, 10*time.Second), gateArgs{Gate: "slow"}, nil)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, base+"/v1/tasks/"+sub.ID+"/output", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer op-tok")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	ch := make(chan sseEvent, 8)
	go readSSE(res.Body, ch)
	require.Equal(t, sseEvent{"line", "first line"}, nextEvent(t, ch))
	// The task goes on well after the write timeout has passed.
	time.AfterFunc(5*wt, func() { close(gate) })
	require.Equal(t, sseEvent{"line", "second line"}, nextEvent(t, ch))
	require.Equal(t, "end", nextEvent(t, ch).name)
	cancel()
	require.NoError(t, <-done)
}

// An API with no token configured is not open: it generates an operator
// token once, keeps it mode 0600 in api.token_file, reuses it on the next
// start, and refuses requests without it.
func TestAPIGeneratesItsToken(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	tokenFile := filepath.Join(t.TempDir(), "api", "token")
	start := func() (base string, stop func()) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		api, err := services.NewAPI(services.APIConfig{Listen: ln.Addr().String(), TokenFile: tokenFile},
			services.APIOpts{Bus: bus.Client, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, ln.Close())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- api.Run(ctx) }()
		base = "http://" + ln.Addr().String()
		osismtest.WaitFor(t, 10*time.Second, func() bool {
			res, err := http.Get(base + "/healthz")
			if err == nil {
				res.Body.Close()
			}
			return err == nil && res.StatusCode == 200
		}, "the API answers")
		return base, func() { cancel(); require.NoError(t, <-done) }
	}
	get := func(base, token string) int {
		req, err := http.NewRequest(http.MethodGet, base+"/v1/tasks", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}

	base, stop := start()
	info, err := os.Stat(tokenFile)
	require.NoError(t, err, "the generated token is kept in api.token_file")
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	raw, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	tok := strings.TrimSpace(string(raw))
	require.GreaterOrEqual(t, len(tok), 32)
	require.Equal(t, http.StatusUnauthorized, get(base, ""), "no token, no answer")
	require.Equal(t, http.StatusUnauthorized, get(base, "wrong"))
	require.Equal(t, http.StatusOK, get(base, tok))
	stop()

	base, stop = start()
	defer stop()
	again, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	require.Equal(t, string(raw), string(again), "a restart reuses the token")
	require.Equal(t, http.StatusOK, get(base, tok))
}
