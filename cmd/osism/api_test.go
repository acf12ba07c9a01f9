package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

func TestServiceAPIUsage(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	cases := []struct {
		name    string
		env     cliEnv
		args    []string
		code    int
		wantErr string
	}{
		{"argument", nil, []string{"service", "api", "extra"}, 2, `no arguments expected, got "extra"`},
		{"bad listen", nil, []string{"service", "api", "--listen", "8000"}, 2, "api.listen"},
		{"no broker", nil, []string{"service", "api"}, 1, "no broker configured"},
		{"wide without TLS", cliEnv{"OSISM_BROKER_URL=" + bus.URL(), "OSISM_API_READ_TOKEN=s3cr3tt0k3n", "OSISM_API_OPERATOR_TOKEN=0th3rs3cr3t"},
			[]string{"service", "api", "--listen", "0.0.0.0:0"}, 2, "needs TLS"},
		{"missing token file", cliEnv{"OSISM_BROKER_URL=" + bus.URL(), "OSISM_API_READ_TOKEN_FILE=/nonexistent/read"},
			[]string{"service", "api"}, 2, "api.read_token_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := tc.env.runFull(t, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.wantErr)
			require.NotContains(t, errOut, "s3cr3tt0k3n", "secrets stay out of errors")
			require.NotContains(t, errOut, "0th3rs3cr3t", "secrets stay out of errors")
		})
	}
}

// osism service api, configured from the environment with the token in a
// file, serves until its context ends.
func TestServiceAPIRuns(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	bus := osismtest.New(t, nil)
	tokFile := filepath.Join(t.TempDir(), "read")
	require.NoError(t, os.WriteFile(tokFile, []byte("r34d-t0k3n\n"), 0o600))
	inv := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(inv, "hosts.yml"), []byte("all:\n  hosts:\n    node-1:\n"), 0o644))
	env := cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_BROKER_URL=" + bus.URL(),
		services.EnvReconcilerOutputDir + "=" + inv,
		services.EnvAPIReadTokenFile + "=" + tokFile, services.EnvAPIOperatorToken + "=0p-t0k3n"}
	app := newApp(services.LoadOpts{Environ: env})
	var out, errOut syncBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- exitCode(&errOut, app.RunContext(ctx, []string{"osism", "service", "api", "--listen", "127.0.0.1:0"}))
	}()
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	osismtest.WaitFor(t, 30*time.Second, func() bool { return urlRE.MatchString(errOut.String()) }, "the API listens")
	base := urlRE.FindStringSubmatch(errOut.String())[1]

	get := func(path, token string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/readyz", "")
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"netbox":"ok"`)
	code, _ = get("/v1/tasks", "")
	require.Equal(t, 401, code)
	code, body = get("/v1/devices/leaf-1/state", "r34d-t0k3n")
	require.Equal(t, 200, code, body)
	code, body = get("/v1/inventory/hosts", "r34d-t0k3n")
	require.Equal(t, 200, code, body)
	require.JSONEq(t, `{"hosts":[{"name":"node-1","groups":[]}]}`, body, "the reconciler's output directory")
	code, body = get("/v1/baremetal/nodes", "r34d-t0k3n")
	require.Equal(t, 503, code, body)

	cancel()
	select {
	case code := <-done:
		require.Zero(t, code, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the API did not stop")
	}
	for _, s := range []string{"r34d-t0k3n", "0p-t0k3n", srv.Token()} {
		require.False(t, strings.Contains(errOut.String(), s), "a secret in the log")
	}
}
