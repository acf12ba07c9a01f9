package services_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// probeArgs is a noop-style kind on the queue its marker names: one per
// built-in queue, so that a test reaches every queue's worker.
type probeArgs[M queueMarker] struct {
	Sleep time.Duration `json:"sleep,omitempty"`
}

type queueMarker interface{ queue() osism.Queue }

func (probeArgs[M]) Kind() string {
	var m M
	return "test.probe." + string(m.queue())
}

func (probeArgs[M]) Queue() osism.Queue {
	var m M
	return m.queue()
}

type (
	qOSISMAnsible struct{}
	qKollaAnsible struct{}
	qCephAnsible  struct{}
	qConductor    struct{}
	qNetBox       struct{}
	qOpenStack    struct{}
	qReconciler   struct{}
)

func (qOSISMAnsible) queue() osism.Queue { return osism.QueueOSISMAnsible }
func (qKollaAnsible) queue() osism.Queue { return osism.QueueKollaAnsible }
func (qCephAnsible) queue() osism.Queue  { return osism.QueueCephAnsible }
func (qConductor) queue() osism.Queue    { return osism.QueueConductor }
func (qNetBox) queue() osism.Queue       { return osism.QueueNetBox }
func (qOpenStack) queue() osism.Queue    { return osism.QueueOpenStack }
func (qReconciler) queue() osism.Queue   { return osism.QueueReconciler }

func probe[M queueMarker](ctx context.Context, job *osism.Job[probeArgs[M]]) error {
	job.Logger.Info("probe running")
	var err error
	select {
	case <-time.After(job.Args.Sleep):
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	job.Logger.Info("probe ended", "cause", fmt.Sprint(err))
	return err
}

// probeHandlers are the built-in handlers of cfg plus a probe on every
// built-in queue.
func probeHandlers(t *testing.T, cfg services.Config) *osism.Registry {
	t.Helper()
	reg := mustHandlers(t, cfg)
	require.NoError(t, errors.Join(
		osism.RegisterFunc(reg, probe[qOSISMAnsible]), osism.RegisterFunc(reg, probe[qKollaAnsible]),
		osism.RegisterFunc(reg, probe[qCephAnsible]), osism.RegisterFunc(reg, probe[qConductor]),
		osism.RegisterFunc(reg, probe[qNetBox]), osism.RegisterFunc(reg, probe[qOpenStack]),
		osism.RegisterFunc(reg, probe[qReconciler])))
	return reg
}

// managerConfig is a manager on loopback: an embedded broker in memory
// on a free port, the API on a free port, every file in dir, no beat
// schedule.
func managerConfig(t *testing.T) services.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := services.DefaultConfig()
	cfg.Manager = services.ManagerConfig{BrokerListen: "127.0.0.1:-1", Memory: true, StoreDir: filepath.Join(dir, "broker"), Grace: 5 * time.Second}
	cfg.Bus.Broker.TokenFile = filepath.Join(dir, "broker-token")
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.TokenFile = filepath.Join(dir, "api-token")
	cfg.Ansible.ConfigurationDir = filepath.Join(dir, "configuration")
	cfg.Watchdog.Dir = filepath.Join(dir, "inventory")
	cfg.Reconciler.OutputDir = filepath.Join(dir, "inventory.out")
	cfg.Beat.Schedules = []services.BeatSchedule{{Name: "noop", Every: time.Hour, Missed: "skip", Task: services.BeatTask{Kind: "osism.noop"}}}
	cfg.Fabric = fabricConfig(filepath.Join(dir, "state"))
	cfg.Fabric.LockDir = filepath.Join(dir, "locks")
	return cfg
}

type runningManager struct {
	m      *services.Manager
	cancel context.CancelFunc
	done   chan error
	logs   *lockedBuffer
}

// startManager runs a manager until the test ends and waits until it is
// ready.
func startManager(t *testing.T, cfg services.Config, opts services.ManagerOpts) *runningManager {
	t.Helper()
	logs := &lockedBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	m, err := services.NewManager(cfg, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rm := &runningManager{m: m, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { rm.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rm.done:
		case <-time.After(time.Minute):
			t.Error("manager did not stop within a minute")
		}
	})
	select {
	case <-m.Ready():
	case err := <-rm.done:
		t.Fatalf("manager stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("manager not ready within 30s")
	}
	return rm
}

// stop ends the manager's context and returns what Run returned.
func (rm *runningManager) stop(t *testing.T) error {
	t.Helper()
	rm.cancel()
	select {
	case err := <-rm.done:
		rm.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatal("manager did not stop within a minute")
		return nil
	}
}

func apiGet(t *testing.T, addr, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestManagerServesEveryServiceAndOneMetrics(t *testing.T) {
	t.Parallel()
	nb := netboxtest.New(t, netboxtest.WithSampleFabric())
	cfg := managerConfig(t)
	cfg.NetBox.URL, cfg.NetBox.Token = nb.URL(), nb.Token()
	rm := startManager(t, cfg, services.ManagerOpts{Handlers: probeHandlers(t, cfg)})
	for _, s := range services.ManagerServices() {
		require.True(t, rm.m.Enabled(s), s)
	}
	addr := rm.m.APIAddr()
	code, body := apiGet(t, addr, "/healthz", "")
	require.Equal(t, http.StatusOK, code, body)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := rm.m.Client()
	res, err := c.Submit(ctx, osism.NoopArgs{Lines: 3}, nil)
	require.NoError(t, err)
	task, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	// A transition whose switches cannot be reached: its phases reach the
	// transition metrics through the manager's worker.
	res, err = c.Submit(ctx, osism.NetBoxConnectArgs{Device: "node-1", State: "b"}, nil)
	require.NoError(t, err)
	task, err = c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateFailed, task.State)

	tok, err := os.ReadFile(cfg.API.TokenFile)
	require.NoError(t, err)
	var metrics string
	require.Eventually(t, func() bool {
		code, metrics = apiGet(t, addr, "/metrics", strings.TrimSpace(string(tok)))
		return code == http.StatusOK && strings.Contains(metrics, `osism_tasks_finished_total{kind="netbox.connect"`)
	}, 10*time.Second, 20*time.Millisecond, "metrics: %s", metrics)
	for _, want := range []string{
		`osism_tasks_submitted_total{kind="osism.noop",queue="conductor"} 1`,
		`osism_tasks_finished_total{kind="osism.noop",outcome="succeeded",queue="conductor"} 1`,
		`osism_task_duration_seconds_bucket{kind="osism.noop",outcome="succeeded",queue="conductor"`,
		`osism_tasks_running{kind="osism.noop",queue="conductor"} 0`,
		`osism_transition_phase_duration_seconds_bucket{outcome="finished",phase="1"`,
		`osism_transition_phase_duration_seconds_bucket{outcome="failed",phase=`,
		`osism_transition_phase_failures_total{phase="1"} 0`, `osism_transition_phase_failures_total{phase="3"} 1`,
		`osism_api_requests_total{code="200",route="GET /healthz"} 1`,
		`osism_beat_`, `osism_watchdog_`, "go_goroutines", "process_resident_memory_bytes",
	} {
		require.Contains(t, metrics, want)
	}
}

func TestManagerTaskOfEveryQueueReachesAWorker(t *testing.T) {
	t.Parallel()
	cfg := managerConfig(t)
	cfg.Bus.Queues = osism.QueueConfigs{osism.QueueKollaAnsible: {Concurrency: 3}}
	rm := startManager(t, cfg, services.ManagerOpts{Handlers: probeHandlers(t, cfg), Only: []string{"broker", "workers"}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := rm.m.Client()
	for _, a := range []osism.Args{probeArgs[qOSISMAnsible]{}, probeArgs[qKollaAnsible]{}, probeArgs[qCephAnsible]{},
		probeArgs[qConductor]{}, probeArgs[qNetBox]{}, probeArgs[qOpenStack]{}, probeArgs[qReconciler]{}} {
		t.Run(string(a.Queue()), func(t *testing.T) {
			res, err := c.Submit(ctx, a, nil)
			require.NoError(t, err)
			task, err := c.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, osism.StateSucceeded, task.State, task.Error)
			require.Equal(t, a.Queue(), task.Queue)
			require.NotEmpty(t, task.Worker)
			require.Contains(t, rm.logs.String(), `"task_id":"`+res.ID+`"`)
		})
	}
	// The workers announce each queue with its own concurrency (the
	// announcement is written beside the first tasks, so poll for it).
	var ws []osism.RunnerInfo
	require.Eventually(t, func() bool {
		var err error
		ws, err = c.Runners(ctx)
		require.NoError(t, err)
		return len(ws) > 0
	}, 10*time.Second, 20*time.Millisecond, "the manager's workers announce themselves")
	require.Len(t, ws, 1)
	require.ElementsMatch(t, osism.Queues(), ws[0].Queues)
}

func TestManagerDrainsOnStop(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		grace time.Duration
		sleep time.Duration
		state osism.State
	}{
		{name: "a task shorter than the grace finishes", grace: 20 * time.Second, sleep: 500 * time.Millisecond, state: osism.StateSucceeded},
		{name: "a task longer than the grace is cancelled back to its queue", grace: 300 * time.Millisecond, sleep: time.Hour, state: osism.StateQueued},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := managerConfig(t)
			cfg.Manager.Grace = tc.grace
			rm := startManager(t, cfg, services.ManagerOpts{Handlers: probeHandlers(t, cfg), Without: []string{"beat", "watchdog", "listener"}})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := rm.m.Client()
			res, err := c.Submit(ctx, probeArgs[qNetBox]{Sleep: tc.sleep}, nil)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				task, err := c.Get(ctx, res.ID)
				return err == nil && task.State == osism.StateRunning
			}, 30*time.Second, 5*time.Millisecond)
			began := time.Now()
			require.NoError(t, rm.stop(t))
			if tc.state == osism.StateQueued {
				require.Less(t, time.Since(began), tc.grace+10*time.Second)
			}
			require.Contains(t, rm.logs.String(), `"msg":"manager stopped"`)
			// The bus stopped with the manager: the handler's own log line
			// says how the task ended.
			logs := rm.logs.String()
			switch tc.state {
			case osism.StateSucceeded:
				require.NotContains(t, logs, "grace period over")
				require.Regexp(t, `"msg":"probe ended"[^\n]*"task_id":"`+res.ID+`"[^\n]*"cause":"<nil>"`, logs)
			case osism.StateQueued:
				require.Contains(t, logs, "grace period over, cancelling running tasks")
				require.Regexp(t, `"msg":"probe ended"[^\n]*"task_id":"`+res.ID+`"[^\n]*"cause":"worker shutting down"`, logs)
			}
		})
	}
}

func TestSelectServices(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		only, without []string
		want          []string
		err           string
	}{
		{name: "all by default", want: services.ManagerServices()},
		{name: "only", only: []string{"api", "workers"}, want: []string{"api", "workers"}},
		{name: "without", without: []string{"listener", "beat"}, want: []string{"broker", "api", "watchdog", "workers"}},
		{name: "only less without", only: []string{"api", "beat"}, without: []string{"beat"}, want: []string{"api"}},
		{name: "unknown in only", only: []string{"apy"}, err: `manager only "apy": unknown service; expected one of broker, api, beat, listener, watchdog, workers`},
		{name: "unknown in without", without: []string{"worker"}, err: `manager without "worker": unknown service`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := services.SelectServices(tc.only, tc.without)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, s := range services.ManagerServices() {
				if sel[s] {
					got = append(got, s)
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNewManagerRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  func(*services.Config)
		opts services.ManagerOpts
		err  string
	}{
		{name: "no broker and no broker url", opts: services.ManagerOpts{Without: []string{"broker"}}, err: "without the embedded broker the services need broker.url"},
		{name: "nothing left", opts: services.ManagerOpts{Only: []string{"api"}, Without: []string{"api"}}, err: "leave no service to run"},
		{name: "bad grace", cfg: func(c *services.Config) { c.Manager.Grace = -time.Second }, err: "config manager.grace -1s: expected a positive duration"},
		{name: "bad broker address", cfg: func(c *services.Config) { c.Manager.BrokerListen = "localhost" }, err: `config manager.broker_listen: "localhost": expected host:port`},
		{name: "bad log format", cfg: func(c *services.Config) { c.Log.Format = "xml" }, err: `config log.format "xml": expected json or text`},
		{name: "bad log level", cfg: func(c *services.Config) { c.Log.Level = "loud" }, err: `config log.level "loud": expected debug, info, warn or error`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := services.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := services.NewManager(cfg, tc.opts)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// The listener of a manager with listener.url: its counters and the
// events it publishes are on the manager's /metrics.
func TestManagerListenerMetrics(t *testing.T) {
	t.Parallel()
	e := newListenerEnv(t, true)
	// The queue is bound before the manager starts: what is published
	// once the listener consumes reaches it.
	e.rabbit.declareQueue(t, e.cfg.Queue, e.cfg.Exchange)
	cfg := managerConfig(t)
	cfg.NetBox.URL, cfg.NetBox.Token = e.srv.URL(), e.srv.Token()
	cfg.Listener = e.cfg
	rm := startManager(t, cfg, services.ManagerOpts{Without: []string{"beat", "watchdog"}})
	require.True(t, rm.m.Enabled(services.ServiceListener))
	tok, err := os.ReadFile(cfg.API.TokenFile)
	require.NoError(t, err)
	metrics := func() string {
		_, body := apiGet(t, rm.m.APIAddr(), "/metrics", strings.TrimSpace(string(tok)))
		return body
	}
	require.Eventually(t, func() bool {
		m := metrics()
		return strings.Contains(m, "osism_listener_consuming 1") && strings.Contains(m, "osism_listener_bound 1")
	}, 30*time.Second, 20*time.Millisecond, "the listener consumes, bound to the exchange: %s", rm.logs)
	e.rabbit.publish(t, e.cfg.Exchange,
		oslo("m-1", "baremetal.node.power_set.end", map[string]any{"name": "node-1", "power_state": "power on"}),
		oslo("m-2", "baremetal.port.create.end", map[string]any{"address": "02:00:00:00:00:01"}))
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		body = metrics()
		if strings.Contains(body, `osism_listener_messages_total{outcome="received"} 2`) &&
			strings.Contains(body, `osism_listener_events_total{outcome="applied",type="baremetal.node.power_set.end"} 1`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "no listener metrics within 30s: %s\nlogs: %s", body, rm.logs)
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, body, `osism_listener_messages_total{outcome="applied"} 1`)
	require.Contains(t, body, `osism_listener_messages_total{outcome="unknown"} 1`)
}

// Without listener.url the manager says the listener is not configured
// and runs the rest.
func TestManagerListenerNotConfigured(t *testing.T) {
	t.Parallel()
	cfg := managerConfig(t)
	rm := startManager(t, cfg, services.ManagerOpts{Without: []string{"beat", "watchdog", "workers"}})
	require.Contains(t, rm.logs.String(), "listener not configured")
	require.Contains(t, rm.logs.String(), `"not_running":"beat,watchdog,workers"`)
	require.NoError(t, rm.stop(t))
}

func TestManagerAndLogSectionsLoad(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "osism.yaml")
	require.NoError(t, os.WriteFile(file, []byte("manager: {grace: 45s, broker_listen: \"0.0.0.0:4223\", store_dir: /srv/broker}\nlog: {format: json, level: debug}\n"), 0o600))
	cases := []struct {
		name    string
		environ []string
		want    services.Config
		err     string
	}{
		{name: "file", want: services.Config{Manager: services.ManagerConfig{Grace: 45 * time.Second, BrokerListen: "0.0.0.0:4223", StoreDir: "/srv/broker"},
			Log: services.LogConfig{Format: "json", Level: "debug"}}},
		{name: "environment wins", environ: []string{"OSISM_MANAGER_GRACE=5s", "OSISM_LOG_FORMAT=text", "OSISM_LOG_LEVEL=warn",
			"OSISM_MANAGER_BROKER_LISTEN=127.0.0.1:4999", "OSISM_MANAGER_STORE_DIR=/tmp/b"},
			want: services.Config{Manager: services.ManagerConfig{Grace: 5 * time.Second, BrokerListen: "127.0.0.1:4999", StoreDir: "/tmp/b"},
				Log: services.LogConfig{Format: "text", Level: "warn"}}},
		{name: "bad grace", environ: []string{"OSISM_MANAGER_GRACE=soon"}, err: `OSISM_MANAGER_GRACE="soon": expected a positive duration such as 30s`},
		{name: "bad format", environ: []string{"OSISM_LOG_FORMAT=yaml"}, err: `config log.format "yaml": expected json or text`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := services.LoadConfig(services.LoadOpts{UserPath: file, Environ: tc.environ})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want.Manager, cfg.Manager)
			require.Equal(t, tc.want.Log, cfg.Log)
		})
	}
}

func TestLogConfigNewLogger(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    services.LogConfig
		want   string
		hidden bool
	}{
		{name: "json", cfg: services.LogConfig{Format: "json"}, want: `"msg":"hello","task_id":"t1"`},
		{name: "text by default", cfg: services.LogConfig{}, want: `msg=hello task_id=t1`},
		{name: "level filters", cfg: services.LogConfig{Level: "error"}, hidden: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf lockedBuffer
			log, err := tc.cfg.NewLogger(&buf)
			require.NoError(t, err)
			log.Info("hello", "task_id", "t1")
			if tc.hidden {
				require.Empty(t, buf.String())
				return
			}
			require.Contains(t, buf.String(), tc.want)
		})
	}
}

// With broker.url the manager runs no broker of its own: its services
// use that NATS cluster.
func TestManagerExternalBroker(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	cfg := managerConfig(t)
	cfg.Bus = bus.Config()
	rm := startManager(t, cfg, services.ManagerOpts{Without: []string{"broker", "beat", "watchdog"}})
	require.Empty(t, rm.m.BrokerURL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Submitted by another client of the cluster, run by the manager's
	// workers.
	res, err := bus.Client.Submit(ctx, osism.NoopArgs{Lines: 1}, nil)
	require.NoError(t, err)
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	require.Contains(t, rm.logs.String(), `"msg":"external broker"`)
	require.NoError(t, rm.stop(t))
}
