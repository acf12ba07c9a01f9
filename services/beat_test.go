package services_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// metricSum adds up the samples of the counter or gauge name in reg whose
// labels include every pair of labels.
func metricSum(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// runService runs s until the test ends and fails the test when Run
// returns an error.
func runService(t *testing.T, s services.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Errorf("service did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// beatTasks are the recorded tasks of the de-duplication key, oldest first.
func beatTasks(t *testing.T, c *osism.Client, dedup string) []*osism.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := c.List(ctx, nil)
	require.NoError(t, err)
	var out []*osism.Task
	for _, task := range all {
		if task.DedupKey == dedup {
			out = append(out, task)
		}
	}
	slices.SortFunc(out, func(a, b *osism.Task) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

func TestBeatConfig(t *testing.T) {
	t.Parallel()
	tick := func(mod func(*services.BeatSchedule)) services.BeatConfig {
		s := services.BeatSchedule{Name: "tick", Every: time.Minute, Task: services.BeatTask{Kind: "osism.noop"}}
		mod(&s)
		return services.BeatConfig{Schedules: []services.BeatSchedule{s}}
	}
	cases := []struct {
		name    string
		cfg     services.BeatConfig
		wantErr string
	}{
		{name: "defaults", cfg: services.BeatConfig{}},
		{name: "none", cfg: services.BeatConfig{Schedules: []services.BeatSchedule{}}},
		{name: "cron with seconds", cfg: tick(func(s *services.BeatSchedule) { s.Every, s.Cron = 0, "*/5 * * * * *" })},
		{name: "cron with a time zone", cfg: tick(func(s *services.BeatSchedule) { s.Every, s.Cron = 0, "CRON_TZ=Europe/Berlin 0 3 * * *" })},
		{name: "own kind with its queue", cfg: tick(func(s *services.BeatSchedule) {
			s.Task = services.BeatTask{Kind: "example.shout", Queue: "example", Args: map[string]any{"x": 1}}
		})},
		{name: "lock ttl too short", cfg: services.BeatConfig{LockTTL: 500 * time.Millisecond}, wantErr: "config beat.lock_ttl 500ms: expected 1s or more"},
		{name: "bad name", cfg: tick(func(s *services.BeatSchedule) { s.Name = "a b" }),
			wantErr: `config beat.schedules[0].name "a b": expected 1-63 letters`},
		{name: "both every and cron", cfg: tick(func(s *services.BeatSchedule) { s.Cron = "@hourly" }),
			wantErr: "config beat.schedules[0] (tick): both every and cron given"},
		{name: "neither", cfg: tick(func(s *services.BeatSchedule) { s.Every = 0 }),
			wantErr: "config beat.schedules[0] (tick).every 0s: expected a positive interval"},
		{name: "bad cron", cfg: tick(func(s *services.BeatSchedule) { s.Every, s.Cron = 0, "61 * * * *" }),
			wantErr: `config beat.schedules[0] (tick).cron "61 * * * *": expected a cron expression`},
		{name: "negative jitter", cfg: tick(func(s *services.BeatSchedule) { s.Jitter = -time.Second }),
			wantErr: "config beat.schedules[0] (tick).jitter -1s: expected 0 or more"},
		{name: "bad missed policy", cfg: tick(func(s *services.BeatSchedule) { s.Missed = "twice" }),
			wantErr: `config beat.schedules[0] (tick).missed "twice": expected skip or once`},
		{name: "no kind", cfg: tick(func(s *services.BeatSchedule) { s.Task.Kind = "" }),
			wantErr: `config beat.schedules[0] (tick).task: task kind ""`},
		{name: "unknown kind without queue", cfg: tick(func(s *services.BeatSchedule) { s.Task.Kind = "example.shout" }),
			wantErr: "its queue must be given"},
		{name: "arguments that do not fit", cfg: tick(func(s *services.BeatSchedule) {
			s.Task = services.BeatTask{Kind: "ansible.run", Args: map[string]any{"role": []int{1}}}
		}), wantErr: "arguments do not fit the kind"},
		{name: "name twice", cfg: services.BeatConfig{Schedules: append(tick(func(*services.BeatSchedule) {}).Schedules,
			tick(func(*services.BeatSchedule) {}).Schedules...)}, wantErr: "config beat.schedules[1] (tick): name given twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// The section comes from a file and from upstream's variables, and the
// defaults are upstream's schedules.
func TestBeatConfigFromFileAndEnvironment(t *testing.T) {
	t.Parallel()
	defaults := services.DefaultBeatSchedules()
	require.Len(t, defaults, 2)
	require.Equal(t, services.BeatSchedule{Name: "gather-facts", Every: 43200 * time.Second,
		Task: services.BeatTask{Kind: "ansible.run", Args: map[string]any{"environment": "generic", "role": "facts"}}}, defaults[0])
	require.Equal(t, services.BeatSchedule{Name: "reconciler", Every: 600 * time.Second,
		Task: services.BeatTask{Kind: "reconciler.run", Args: map[string]any{"reason": "beat"}, DedupKey: osism.ReconcilerDedupKey}}, defaults[1])

	dir := t.TempDir()
	file := dir + "/osism.yaml"
	require.NoError(t, os.WriteFile(file, []byte(`beat:
  lock_ttl: 5s
  schedules:
    - name: nightly-facts
      cron: "0 3 * * *"
      jitter: 10m
      missed: once
      task: {kind: ansible.run, args: {environment: generic, role: facts, args: ["-e", "x=y"]}}
watchdog:
  dir: /srv/inventory
  debounce: 500ms
`), 0o600))
	cfg, err := services.LoadConfig(services.LoadOpts{UserPath: file})
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, cfg.Beat.LockTTL)
	require.Equal(t, []services.BeatSchedule{{Name: "nightly-facts", Cron: "0 3 * * *", Jitter: 10 * time.Minute, Missed: "once",
		Task: services.BeatTask{Kind: "ansible.run", Args: map[string]any{"environment": "generic", "role": "facts", "args": []any{"-e", "x=y"}}}}},
		cfg.Beat.Schedules)
	require.Equal(t, services.WatchdogConfig{Dir: "/srv/inventory", Debounce: 500 * time.Millisecond}, cfg.Watchdog)

	cases := []struct {
		name    string
		env     []string
		want    map[string]time.Duration
		wantErr string
	}{
		{name: "facts hourly", env: []string{"GATHER_FACTS_SCHEDULE=3600"}, want: map[string]time.Duration{"gather-facts": time.Hour, "reconciler": 10 * time.Minute}},
		{name: "reconciler off", env: []string{"INVENTORY_RECONCILER_SCHEDULE=0"}, want: map[string]time.Duration{"gather-facts": 12 * time.Hour}},
		{name: "fractions", env: []string{"INVENTORY_RECONCILER_SCHEDULE=90.5"}, want: map[string]time.Duration{"gather-facts": 12 * time.Hour, "reconciler": 90500 * time.Millisecond}},
		{name: "not a number", env: []string{"GATHER_FACTS_SCHEDULE=daily"}, wantErr: `GATHER_FACTS_SCHEDULE="daily": expected seconds`},
		{name: "negative", env: []string{"INVENTORY_RECONCILER_SCHEDULE=-1"}, wantErr: `INVENTORY_RECONCILER_SCHEDULE="-1": expected seconds`},
		{name: "bad ttl", env: []string{"OSISM_BEAT_LOCK_TTL=soon"}, wantErr: `OSISM_BEAT_LOCK_TTL="soon": expected a duration`},
		{name: "bad debounce", env: []string{"OSISM_WATCHDOG_DEBOUNCE=2"}, wantErr: `OSISM_WATCHDOG_DEBOUNCE="2": expected a duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := services.LoadConfig(services.LoadOpts{Environ: tc.env})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			got := map[string]time.Duration{}
			for _, s := range cfg.Beat.Schedules {
				got[s.Name] = s.Every
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// newFakeBeat starts a beat on its own bus with a fake clock standing at
// start; it returns once the beat leads and armed its first timer.
func newFakeBeat(t *testing.T, start time.Time, cfg services.BeatConfig) (*osismtest.Bus, *services.FakeClock, *prometheus.Registry) {
	t.Helper()
	bus := osismtest.New(t, nil)
	clock := services.NewFakeClock(start)
	reg := prometheus.NewRegistry()
	b, err := services.NewBeat(cfg, services.BeatOpts{Bus: bus.NewClient(t), Clock: clock, Registerer: reg, History: -1})
	require.NoError(t, err)
	runService(t, b)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		return metricSum(t, reg, "osism_beat_leader") == 1 && len(clock.Deadlines()) > 0
	}, "the beat to lead and arm its timer")
	return bus, clock, reg
}

// A cron expression fires at its times under a fake clock: the beat's
// next timer is the expression's next time, to the second, and moving the
// clock there submits the task once; the run still queued makes the next
// time's submission a duplicate instead of a second task.
func TestBeatCronFiresOnTimeUnderFakeClock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cron string
		start      time.Time
		want       []time.Time
	}{
		{name: "seconds field", cron: "*/15 * * * * *", start: time.Date(2026, 3, 1, 10, 0, 3, 0, time.UTC),
			want: []time.Time{time.Date(2026, 3, 1, 10, 0, 15, 0, time.UTC), time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)}},
		{name: "five fields", cron: "30 */2 * * *", start: time.Date(2026, 3, 1, 10, 45, 0, 0, time.UTC),
			want: []time.Time{time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC), time.Date(2026, 3, 1, 14, 30, 0, 0, time.UTC)}},
		{name: "descriptor", cron: "@daily", start: time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC),
			want: []time.Time{time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}},
		{name: "time zone", cron: "CRON_TZ=Europe/Berlin 0 3 * * *", start: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC),
			want: []time.Time{time.Date(2026, 7, 1, 1, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 1, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus, clock, reg := newFakeBeat(t, tc.start, services.BeatConfig{Schedules: []services.BeatSchedule{
				{Name: "tick", Cron: tc.cron, Task: services.BeatTask{Kind: "osism.noop", Queue: "beat-test"}}}})
			require.Len(t, clock.Deadlines(), 1)
			require.True(t, clock.Deadlines()[0].Equal(tc.want[0]), "first time %s, want %s", clock.Deadlines()[0], tc.want[0])
			require.Zero(t, metricSum(t, reg, "osism_beat_submits_total"), "nothing fires before its time")

			clock.Set(tc.want[0])
			osismtest.WaitFor(t, 10*time.Second, func() bool {
				d := clock.Deadlines()
				return len(d) == 1 && d[0].Equal(tc.want[1])
			}, "the timer of the second time %s", tc.want[1])
			require.Equal(t, 1.0, metricSum(t, reg, "osism_beat_submits_total", "schedule", "tick", "result", "submitted"))
			tasks := beatTasks(t, bus.Client, "beat/tick")
			require.Len(t, tasks, 1)
			require.Equal(t, "osism.noop", tasks[0].Kind)
			require.Equal(t, osism.Queue("beat-test"), tasks[0].Queue)

			// No worker ran the first: the second time is refused by the
			// de-duplication key rather than stacked.
			clock.Set(tc.want[1])
			osismtest.WaitFor(t, 10*time.Second, func() bool {
				return metricSum(t, reg, "osism_beat_submits_total", "result", "duplicate") == 1
			}, "the second time's submission")
			require.Len(t, beatTasks(t, bus.Client, "beat/tick"), 1, "a slow run is never stacked")
			require.Zero(t, metricSum(t, reg, "osism_beat_submits_total", "result", "error"))
		})
	}
}

// A pause (the clock jumps past several times) is a missed run: skip waits
// for the next time, once (the default) runs the task once and goes on
// from then.
func TestBeatMissedRuns(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, policy string
		submitted    float64
	}{
		{name: "skip", policy: "skip", submitted: 0},
		{name: "once", policy: "once", submitted: 1},
		{name: "default is once", policy: "", submitted: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus, clock, reg := newFakeBeat(t, start, services.BeatConfig{Schedules: []services.BeatSchedule{
				{Name: "tick", Every: time.Minute, Missed: tc.policy, Task: services.BeatTask{Kind: "osism.noop", Queue: "beat-test"}}}})
			require.Equal(t, []time.Time{start.Add(time.Minute)}, clock.Deadlines())
			paused := start.Add(10*time.Minute + 30*time.Second)
			clock.Set(paused)
			osismtest.WaitFor(t, 10*time.Second, func() bool {
				d := clock.Deadlines()
				return len(d) == 1 && d[0].Equal(paused.Add(time.Minute))
			}, "the next time a minute after the pause")
			require.Equal(t, 10.0, metricSum(t, reg, "osism_beat_missed_total", "schedule", "tick"))
			require.Equal(t, tc.submitted, metricSum(t, reg, "osism_beat_submits_total", "result", "submitted"))
			require.Len(t, beatTasks(t, bus.Client, "beat/tick"), int(tc.submitted))
		})
	}
}

// killableBeat is a beat with its own bus connection that a test can
// kill: its connection closes first, so that it cannot release its lock,
// then its context ends.
type killableBeat struct {
	reg    *prometheus.Registry
	client *osism.Client
	cancel context.CancelFunc
	done   chan error
}

func startKillableBeat(t *testing.T, bus *osismtest.Bus, cfg services.BeatConfig, owner string) *killableBeat {
	t.Helper()
	k := &killableBeat{reg: prometheus.NewRegistry(), client: bus.NewClient(t), done: make(chan error, 1)}
	b, err := services.NewBeat(cfg, services.BeatOpts{Bus: k.client, Registerer: k.reg, Owner: owner,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() { k.done <- b.Run(ctx) }()
	t.Cleanup(func() { k.kill(t) })
	return k
}

func (k *killableBeat) leads(t *testing.T) bool { return metricSum(t, k.reg, "osism_beat_leader") == 1 }

func (k *killableBeat) kill(t *testing.T) {
	if k.cancel == nil {
		return
	}
	_ = k.client.Conn().Drain()
	k.client.Conn().Close()
	k.cancel()
	k.cancel = nil
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		t.Errorf("killed beat did not return within 30s")
	}
}

func (k *killableBeat) fired(t *testing.T) float64 {
	return metricSum(t, k.reg, "osism_beat_submits_total", "result", "submitted") +
		metricSum(t, k.reg, "osism_beat_submits_total", "result", "duplicate")
}

// Two beats, one killed without releasing its lock: exactly one fires at
// a time, the other takes over within the lock's TTL, and the runs on
// the bus have no double firing and no gap longer than the TTL plus one
// interval.
func TestBeatLeaderFailover(t *testing.T) {
	t.Parallel()
	const (
		every = 300 * time.Millisecond
		ttl   = 2 * time.Second
	)
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(context.Context, *osism.Job[osism.NoopArgs]) error { return nil }))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"beat-test": 1}, Handlers: reg})
	cfg := services.BeatConfig{LockTTL: ttl, Schedules: []services.BeatSchedule{
		{Name: "tick", Every: every, Missed: services.BeatMissedOnce, Task: services.BeatTask{Kind: "osism.noop", Queue: "beat-test"}}}}

	a := startKillableBeat(t, bus, cfg, "beat-a")
	osismtest.WaitFor(t, 10*time.Second, func() bool { return a.leads(t) }, "the first beat to lead")
	b := startKillableBeat(t, bus, cfg, "beat-b")
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(beatTasks(t, bus.Client, "beat/tick")) >= 5 }, "five runs")
	require.False(t, b.leads(t), "one leader at a time")
	require.Zero(t, b.fired(t), "the follower fires nothing")

	// Kill the leader right after one of its runs.
	n := len(beatTasks(t, bus.Client, "beat/tick"))
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(beatTasks(t, bus.Client, "beat/tick")) > n }, "a run")
	a.kill(t)
	killed := time.Now()
	firedByA := a.fired(t)
	osismtest.WaitFor(t, 3*ttl, func() bool { return b.leads(t) }, "the second beat to take over")
	require.Less(t, time.Since(killed), ttl+time.Second, "takeover within the lock's TTL")
	m := len(beatTasks(t, bus.Client, "beat/tick"))
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(beatTasks(t, bus.Client, "beat/tick")) >= m+5 }, "five runs of the new leader")
	b.kill(t)

	tasks := beatTasks(t, bus.Client, "beat/tick")
	require.Equal(t, firedByA+b.fired(t), float64(len(tasks)), "every submission a task of its own: no duplicate firing")
	for i := 1; i < len(tasks); i++ {
		gap := tasks[i].CreatedAt.Sub(tasks[i-1].CreatedAt)
		require.Greater(t, gap, every/2, "runs %d and %d fired twice (%s apart)", i-1, i, gap)
		require.Less(t, gap, ttl+every, "gap of %s between runs %d and %d", gap, i-1, i)
	}
	var lines []string
	for _, task := range tasks {
		lines = append(lines, task.CreatedAt.Format("15:04:05.000")+" "+string(task.State))
	}
	t.Logf("runs: %s", strings.Join(lines, ", "))
}

// A leader whose lock is taken away (broken by an operator and taken by
// another holder) stops firing at once, and leads again once the lock is
// free.
func TestBeatStopsFiringWhenItLosesTheLock(t *testing.T) {
	t.Parallel()
	const every = 200 * time.Millisecond
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(context.Context, *osism.Job[osism.NoopArgs]) error { return nil }))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"beat-test": 1}, Handlers: reg})
	a := startKillableBeat(t, bus, services.BeatConfig{LockTTL: 3 * time.Second, Schedules: []services.BeatSchedule{
		{Name: "tick", Every: every, Task: services.BeatTask{Kind: "osism.noop", Queue: "beat-test"}}}}, "beat-a")
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(beatTasks(t, bus.Client, "beat/tick")) >= 2 }, "two runs")

	ctx := ctxT(t, 30*time.Second)
	require.NoError(t, bus.Client.BreakLock(ctx, services.BeatLockKey))
	intruder, err := bus.Client.Acquire(ctx, services.BeatLockKey, 3*time.Second, &osism.LockOpts{Owner: "intruder"})
	require.NoError(t, err)
	kctx, stopKeep := context.WithCancel(ctx)
	go intruder.KeepAlive(kctx)
	osismtest.WaitFor(t, 5*time.Second, func() bool { return !a.leads(t) }, "the beat to notice the lost lock")
	lost := time.Now()
	// The intruder holds the lock for several intervals.
	osismtest.WaitFor(t, 5*time.Second, func() bool { return time.Since(lost) > 5*every }, "five intervals")
	stopKeep()
	released := time.Now()
	require.NoError(t, intruder.Release(ctx))
	osismtest.WaitFor(t, 10*time.Second, func() bool { return a.leads(t) }, "the beat to lead again")
	for _, task := range beatTasks(t, bus.Client, "beat/tick") {
		require.False(t, task.CreatedAt.After(lost) && task.CreatedAt.Before(released),
			"run at %s while the lock was another's (lost %s, released %s)", task.CreatedAt, lost, released)
	}
}
