package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// The bus commands run against an embedded bus.
func TestBusCommands(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	e := cliEnv{osism.EnvBrokerURL + "=" + bus.URL(), osism.EnvTaskStorage + "=memory"}
	handlers, err := services.BuiltinHandlers(services.DefaultConfig())
	require.NoError(t, err)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}, Handlers: handlers, ID: "w1"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := bus.Client.Submit(ctx, osism.NoopArgs{Lines: 2}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	failed, err := bus.Client.Submit(ctx, osism.NoopArgs{Lines: -1}, nil)
	require.NoError(t, err)
	_, err = bus.Client.Wait(ctx, failed.ID)
	require.NoError(t, err)

	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{name: "status workers", args: []string{"status", "workers"}, want: []string{"WORKER", "w1", "conductor"}},
		{name: "task list", args: []string{"task", "list"}, want: []string{res.ID, "osism.noop", "succeeded", failed.ID, "failed"}},
		{name: "task list by state", args: []string{"task", "list", "--state", "failed", "--format", "json"}, want: []string{failed.ID}},
		{name: "task show", args: []string{"task", "show", res.ID}, want: []string{"state", "succeeded", "exit status", "w1"}},
		{name: "task wait, succeeded", args: []string{"task", "wait", res.ID}, want: []string{"succeeded"}},
		{name: "task wait, failed", args: []string{"task", "wait", failed.ID}, code: exitFailure, want: []string{"lines -1: expected 0 or more"}},
		{name: "log", args: []string{"log", res.ID}, want: []string{"line 1\nline 2\n"}},
		{name: "log --follow", args: []string{"log", "--follow", res.ID}, want: []string{"line 1\nline 2\n"}},
		{name: "revoke a finished task", args: []string{"task", "revoke", res.ID}, code: exitFailure},
		{name: "lock", args: []string{"lock", "--reason", "test"}, want: []string{"hold"}},
		{name: "unlock", args: []string{"unlock"}, want: []string{"released"}},
		{name: "bad id", args: []string{"task", "show", "nope"}, code: exitUsage},
		{name: "unknown id", args: []string{"task", "show", "01hzzzzzzzzzzzzzzzzzzzzzzz"}, code: exitFailure},
		{name: "bad state", args: []string{"task", "list", "--state", "done"}, code: exitUsage},
		{name: "worker without queue", args: []string{"worker"}, code: exitUsage},
		{name: "bad format", args: []string{"status", "workers", "--format", "xml"}, code: exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := e.run(t, tc.args...)
			require.Equal(t, tc.code, code, "output: %s", out)
			for _, w := range tc.want {
				require.Contains(t, out, w)
			}
		})
	}

	out, code := e.run(t, "task", "list", "--format", "json")
	require.Equal(t, exitOK, code)
	var ts []osism.Task
	require.NoError(t, json.Unmarshal([]byte(out), &ts))
	require.Len(t, ts, 2)
	require.Equal(t, failed.ID, ts[0].ID, "newest first")
}

func TestBusCommandsWithoutBroker(t *testing.T) {
	t.Parallel()
	_, code := run(t, "status", "workers")
	require.Equal(t, exitFailure, code)
}

// osism service broker refuses what would open the bus to the network.
func TestServiceBrokerRefusesInsecure(t *testing.T) {
	t.Parallel()
	loose := filepath.Join(t.TempDir(), "credentials.yaml")
	require.NoError(t, os.WriteFile(loose, []byte("users: [{name: ops, role: operator, password: loose-pw-3b1x}]\n"), 0o644))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "non-loopback without credentials or TLS", args: []string{"--listen", "0.0.0.0:4333", "--memory"},
			want: "listening on 0.0.0.0:4333 (not a loopback address) needs configured credentials"},
		{name: "credentials file others may read", args: []string{"--listen", "127.0.0.1:-1", "--memory", "--credentials", loose},
			want: "expected 0600"},
		{name: "cluster without route credentials", args: []string{"--listen", "127.0.0.1:-1", "--memory", "--cluster-name", "c",
			"--cluster-listen", "127.0.0.1:-1"}, want: "routes need a user and password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runFull(t, append([]string{"service", "broker"}, tc.args...)...)
			require.Equal(t, exitUsage, code, "stdout: %s\nstderr: %s", out, errOut)
			require.Contains(t, errOut, tc.want)
			require.NotContains(t, errOut+out, "loose-pw-3b1x")
		})
	}
}

// The broker service's secrets come from the environment the run is given
// (here injected), not from the process's.
func TestServiceBrokerSecretsFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.yaml")
	require.NoError(t, os.WriteFile(loose, []byte("users: [{name: ops, role: operator, password: loose-pw-8c2q}]\n"), 0o644))
	cases := []struct {
		name string
		env  cliEnv
		args []string
		want string
	}{
		// Without the file the broker would refuse the address for want of
		// credentials; with it, it reads the file and refuses its mode.
		{name: "credentials file", env: cliEnv{services.EnvBrokerCredentialsFile + "=" + loose},
			args: []string{"--listen", "0.0.0.0:4334", "--memory"}, want: loose + ": mode 0644: expected 0600"},
		// Without the password the route user would stand alone; with it
		// the cluster's address is what is refused.
		{name: "cluster password", env: cliEnv{services.EnvBrokerClusterPassword + "=route-pw-5k1z"},
			args: []string{"--listen", "127.0.0.1:-1", "--memory", "--cluster-name", "c", "--cluster-user", "route",
				"--cluster-listen", "0.0.0.0:-1"}, want: "cluster listening on 0.0.0.0:-1 (not a loopback address) needs TLS"},
		{name: "the flag wins over the environment", env: cliEnv{services.EnvBrokerCredentialsFile + "=" + filepath.Join(dir, "missing.yaml")},
			args: []string{"--listen", "0.0.0.0:4334", "--memory", "--credentials", loose}, want: loose + ": mode 0644: expected 0600"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := tc.env.runFull(t, append([]string{"service", "broker"}, tc.args...)...)
			require.Equal(t, exitUsage, code, "stdout: %s\nstderr: %s", out, errOut)
			require.Contains(t, errOut, tc.want)
			require.NotContains(t, errOut+out, "loose-pw-8c2q")
			require.NotContains(t, errOut+out, "route-pw-5k1z")
		})
	}
}
