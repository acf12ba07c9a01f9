package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/switchcfg"
)

// The secrets this test plants; none may reach what an operator reads.
const (
	plantedNetBoxToken  = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e7a001"
	plantedBrokerPass   = "br0ker-pl4nted-s3cret"
	plantedSwitchPass   = "sw1tch-pl4nted-s3cret"
	plantedExtraVarPass = "extr4-v4r-pl4nted-s3cret"
	plantedExtraVarTok  = "extr4-t0ken-pl4nted-s3cret"
)

var planted = []string{plantedNetBoxToken, plantedBrokerPass, plantedSwitchPass, plantedExtraVarPass, plantedExtraVarTok}

// A run of the manager's main flows with secrets planted everywhere they
// are configured: the NetBox token, the broker password, a switch
// password and secret extra-vars of a playbook. Every log, task record,
// output stream, the history file and the state repository's commit
// messages are scanned, and none holds a planted secret.
func TestNoSecretsLeak(t *testing.T) {
	leaves := testenv.Switches(t)
	playbook := testenv.AnsiblePlaybook(t)
	testenv.LockSwitches(t)
	for _, sw := range leaves {
		running := sw.Vtysh(t, "show running-config")
		if cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running)); len(cmds) > 0 {
			sw.Vtysh(t, append([]string{"configure terminal"}, append(cmds, "end")...)...)
		}
	}
	var logs syncBuffer // every log line of the broker and the worker
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Handlers that log without a logger of their own use the default; this
	// test runs alone (it holds the switches), so it may take it over.
	prev := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(prev) })

	srv := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithToken(plantedNetBoxToken))
	b, err := services.NewBroker(services.BrokerConfig{Name: "secrets", Port: -1, Memory: true,
		User: "osism", Password: plantedBrokerPass, Logger: log})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(b.Shutdown)

	dir := t.TempDir()
	acfg, env := applyEnv(t, playbook)
	var creds strings.Builder
	fmt.Fprintf(&creds, "defaults: {password: %q}\nswitches:\n", plantedSwitchPass)
	for _, sw := range leaves {
		fmt.Fprintf(&creds, "  %s: {host: %q, port: %d, user: %q, key_file: %q, known_hosts: %q}\n",
			sw.Name, sw.Host, sw.Port, sw.User, sw.KeyFile, sw.KnownHosts)
	}
	credsFile := filepath.Join(dir, "switches.yaml")
	require.NoError(t, os.WriteFile(credsFile, []byte(creds.String()), 0o600))
	stateDir := filepath.Join(dir, "state")
	env = env.with(
		osism.EnvBrokerURL+"="+b.URL(), osism.EnvBrokerUser+"=osism", osism.EnvBrokerPassword+"="+plantedBrokerPass,
		osism.EnvTaskStorage+"=memory",
		netbox.EnvURL+"="+srv.URL(), netbox.EnvToken+"="+plantedNetBoxToken,
		switchcfg.EnvStateDir+"="+stateDir, switchcfg.EnvCredentialsFile+"="+credsFile,
		netbox.EnvDesiredStateDir+"="+sampleDesired(t), netbox.EnvCollection+"=dc1",
	)
	cfg, err := services.LoadConfig(services.LoadOpts{Environ: env})
	require.NoError(t, err)
	require.Equal(t, acfg.HistoryFile, cfg.Ansible.HistoryFile)

	// The worker of the manager, in this process, logging into logs.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := osism.Dial(ctx, cfg.Bus)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	handlers, err := services.BuiltinHandlers(cfg)
	require.NoError(t, err)
	w, err := services.NewWorker(client, services.WorkerConfig{Handlers: handlers, Logger: log,
		Queues: map[osism.Queue]int{osism.QueueOSISMAnsible: 1, osism.QueueNetBox: 2}})
	require.NoError(t, err)
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() { stopWorker(); <-done })

	var seen bytes.Buffer // everything an operator reads
	runCLI := func(args ...string) (string, int) {
		t.Helper()
		out, stderr, code := env.runFull(t, args...)
		seen.WriteString(out)
		seen.WriteString(stderr)
		return out, code
	}
	secretArgs := []string{"-e", "db_password=" + plantedExtraVarPass, "-e", `{"api_token": "` + plantedExtraVarTok + `"}`}

	out, code := runCLI(append([]string{"apply", "--dry-run", "--environment", "generic", "hello"}, secretArgs...)...)
	require.Equal(t, exitOK, code, out)
	out, code = runCLI(append([]string{"apply", "--dry-run", "--format", "json", "--environment", "generic", "hello"}, secretArgs...)...)
	require.Equal(t, exitOK, code, out)
	out, code = runCLI(append([]string{"apply", "--environment", "generic", "hello"}, secretArgs...)...)
	require.Equal(t, exitOK, code, out)
	out, code = runCLI("netbox", "connect", "node-1", "--state", "b")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "node-1: now in state b")

	// Every task record, as JSON and as people read it, and every output.
	out, code = runCLI("task", "list", "--format", "json")
	require.Equal(t, exitOK, code)
	var tasks []osism.Task
	require.NoError(t, json.Unmarshal([]byte(out), &tasks))
	require.GreaterOrEqual(t, len(tasks), 2)
	for _, task := range tasks {
		_, code = runCLI("task", "show", task.ID)
		require.Equal(t, exitOK, code)
		_, code = runCLI("task", "show", "--format", "json", task.ID)
		require.Equal(t, exitOK, code)
		_, code = runCLI("log", task.ID)
		require.Equal(t, exitOK, code)
		rec, err := client.Get(ctx, task.ID)
		require.NoError(t, err)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		seen.Write(b)
	}
	_, _ = runCLI("status", "workers", "--format", "json")

	history, err := os.ReadFile(cfg.Ansible.HistoryFile)
	require.NoError(t, err, "the history file")
	require.NotEmpty(t, history)
	commits, err := exec.Command("git", "-C", stateDir, "log", "--all", "--format=%an %ae%n%B").CombinedOutput()
	require.NoError(t, err, "%s", commits)
	require.Contains(t, string(commits), "leaf-1")

	stopWorker()
	require.NoError(t, <-done)
	done <- nil

	for name, text := range map[string]string{
		"command output and errors":   seen.String(),
		"broker and worker logs":      logs.String(),
		"history file":                string(history),
		"state repository's messages": string(commits),
	} {
		for _, s := range planted {
			require.NotContains(t, text, s, "%s holds a planted secret", name)
		}
	}
	// The playbook still received what it was given.
	require.Contains(t, seen.String(), "PLAY [Say hello]")
}
