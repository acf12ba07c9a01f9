package main

import (
	"context"
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

func TestServiceBeatAndWatchdogUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     cliEnv
		args    []string
		code    int
		wantErr string
	}{
		{"beat argument", nil, []string{"service", "beat", "extra"}, 2, `service beat: no arguments expected, got "extra"`},
		{"beat no broker", nil, []string{"service", "beat"}, 1, "no broker configured"},
		{"beat bad interval", cliEnv{"GATHER_FACTS_SCHEDULE=twice"}, []string{"service", "beat"}, 1, `GATHER_FACTS_SCHEDULE="twice": expected seconds`},
		{"beat bad ttl", cliEnv{"OSISM_BEAT_LOCK_TTL=10ms"}, []string{"service", "beat"}, 1, "config beat.lock_ttl 10ms: expected 1s or more"},
		{"watchdog argument", nil, []string{"service", "watchdog", "extra"}, 2, `service watchdog: no arguments expected, got "extra"`},
		{"watchdog no broker", nil, []string{"service", "watchdog"}, 1, "no broker configured"},
		{"watchdog bad debounce", nil, []string{"service", "watchdog", "--debounce", "-1s"}, 2, "service watchdog --debounce -1s: expected a positive duration"},
		{"watchdog bad debounce variable", cliEnv{"OSISM_WATCHDOG_DEBOUNCE=fast"}, []string{"service", "watchdog"}, 1, `OSISM_WATCHDOG_DEBOUNCE="fast": expected a duration`},
	}
	// A bad configuration fails as the loading of the configuration does
	// for every command (exit 1), before anything starts.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := tc.env.runFull(t, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.wantErr)
		})
	}
}

// runService runs `osism service ...` in process with the configuration
// file and environment until stop, and returns its stderr and exit code.
func runServiceCLI(t *testing.T, file string, env cliEnv, args ...string) (errOut *syncBuffer, stop func() int) {
	t.Helper()
	app := newApp(services.LoadOpts{UserPath: file, Environ: env})
	var out syncBuffer
	errOut = &syncBuffer{}
	app.Writer, app.ErrWriter = &out, errOut
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- exitCode(errOut, app.RunContext(ctx, append([]string{"osism", "service"}, args...))) }()
	stop = func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("the service did not stop")
			return -1
		}
	}
	t.Cleanup(func() { cancel() })
	return errOut, stop
}

// osism service beat fires the configured schedule on the bus and stops
// on Ctrl-C (its context), releasing the lead.
func TestServiceBeatRuns(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	file := filepath.Join(t.TempDir(), "osism.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`beat:
  schedules:
    - {name: cli-tick, every: 200ms, task: {kind: osism.noop, queue: beat-cli, args: {lines: 1}}}
`), 0o600))
	errOut, stop := runServiceCLI(t, file, cliEnv{"OSISM_BROKER_URL=" + bus.URL()}, "beat", "--id", "cli-beat")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		tasks, err := bus.Client.List(ctx, &osism.ListOpts{Kind: "osism.noop"})
		return err == nil && len(tasks) == 1 && tasks[0].DedupKey == "beat/cli-tick" && tasks[0].Queue == "beat-cli"
	}, "the beat's task")
	require.Zero(t, stop(), errOut.String())
	require.Contains(t, errOut.String(), "beat leads")
	locks, err := bus.Client.Locks(ctx)
	require.NoError(t, err)
	require.Empty(t, locks, "the lead is released on shutdown")
}

// osism service watchdog submits reconciler.run after a change of the
// inventory directory.
func TestServiceWatchdogRuns(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	conf := t.TempDir()
	inv := filepath.Join(conf, "inventory")
	require.NoError(t, os.Mkdir(inv, 0o755))
	errOut, stop := runServiceCLI(t, "", cliEnv{"OSISM_BROKER_URL=" + bus.URL(), "OSISM_CONFIGURATION_DIR=" + conf}, "watchdog", "--debounce", "50ms")
	osismtest.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(errOut.String(), "watchdog watches") }, "the watchdog watches")
	require.Contains(t, errOut.String(), "dir="+inv)
	require.NoError(t, os.WriteFile(filepath.Join(inv, "hosts"), []byte("[all]\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		tasks, err := bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindReconcilerRun})
		return err == nil && len(tasks) == 1 && tasks[0].DedupKey == osism.ReconcilerDedupKey
	}, "reconciler.run submitted")
	require.Zero(t, stop(), errOut.String())
}
