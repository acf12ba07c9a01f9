package services_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// watchdogRig is a watchdog on its own bus with a fake clock for the
// debounce. Events are handled in the order the kernel reports them, so a
// test makes its changes, then writes a sentinel file and waits until the
// watchdog saw it: everything before it was handled by then. Moving the
// clock by the debounce then fires what is pending, and nothing else can.
type watchdogRig struct {
	t     *testing.T
	dir   string
	bus   *osismtest.Bus
	clock *services.FakeClock
	reg   *prometheus.Registry
	w     *services.Watchdog

	mu   sync.Mutex
	seen map[string]bool
}

const testDebounce = 50 * time.Millisecond

func newWatchdogRig(t *testing.T, dir string) *watchdogRig {
	t.Helper()
	r := &watchdogRig{t: t, dir: dir, bus: osismtest.New(t, nil), clock: services.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)),
		reg: prometheus.NewRegistry(), seen: map[string]bool{}}
	w, err := services.NewWatchdog(services.WatchdogConfig{Dir: dir, Debounce: testDebounce}, services.WatchdogOpts{
		Bus: r.bus.NewClient(t), Clock: r.clock, Registerer: r.reg,
		OnEvent: func(ev fsnotify.Event, _ bool) {
			r.mu.Lock()
			r.seen[ev.Name] = true
			r.mu.Unlock()
		}})
	require.NoError(t, err)
	r.w = w
	runService(t, w)
	return r
}

func (r *watchdogRig) waitWatched(dirs ...string) {
	r.t.Helper()
	osismtest.WaitFor(r.t, 10*time.Second, func() bool {
		got := r.w.Watched()
		for _, d := range dirs {
			if !slices.Contains(got, d) {
				return false
			}
		}
		return true
	}, "watches on %v", dirs)
}

// sentinel writes a file named name (an editor's backup name makes it no
// change) in dir and waits until the watchdog handled its event.
func (r *watchdogRig) sentinel(dir, name string) {
	r.t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(r.t, os.WriteFile(p, []byte("x"), 0o644))
	osismtest.WaitFor(r.t, 10*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seen[p]
	}, "the event of %s", p)
}

func (r *watchdogRig) attempts() float64 {
	return metricSum(r.t, r.reg, "osism_watchdog_submits_total", "result", "submitted") +
		metricSum(r.t, r.reg, "osism_watchdog_submits_total", "result", "duplicate")
}

// fire moves the clock past the debounce and waits until the watchdog
// submitted want times in all; then nothing is pending.
func (r *watchdogRig) fire(want float64) {
	r.t.Helper()
	require.NotEmpty(r.t, r.clock.Deadlines(), "a change is pending")
	r.clock.Advance(testDebounce)
	osismtest.WaitFor(r.t, 10*time.Second, func() bool { return r.attempts() >= want }, "%v submissions", want)
	require.Equal(r.t, want, r.attempts())
	require.Empty(r.t, r.clock.Deadlines(), "nothing pending after the submission")
	require.Zero(r.t, metricSum(r.t, r.reg, "osism_watchdog_submits_total", "result", "error"))
}

// quiet checks that nothing is pending.
func (r *watchdogRig) quiet() {
	r.t.Helper()
	require.Empty(r.t, r.clock.Deadlines(), "no change pending")
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

// A burst of 100 writes is one change: one reconciler.run, with the
// reconciler's de-duplication key and the reason.
func TestWatchdogBurstGivesOneSubmit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newWatchdogRig(t, dir)
	r.waitWatched(dir)
	for i := range 100 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("host-%02d.yml", i%10)), fmt.Sprintf("n: %d\n", i))
	}
	r.sentinel(dir, "burst-done~")
	r.fire(1)

	ctx := ctxT(t, 30*time.Second)
	tasks, err := r.bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindReconcilerRun})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	require.Equal(t, osism.ReconcilerDedupKey, tasks[0].DedupKey)
	require.Equal(t, osism.QueueReconciler, tasks[0].Queue)
	require.JSONEq(t, `{"reason":"watchdog"}`, string(tasks[0].Args))
	require.GreaterOrEqual(t, metricSum(t, r.reg, "osism_watchdog_events_total"), 100.0)

	// The run still queued stands for the next change too.
	writeFile(t, filepath.Join(dir, "host-00.yml"), "n: again\n")
	r.sentinel(dir, "again-done~")
	r.fire(2)
	require.Equal(t, 1.0, metricSum(t, r.reg, "osism_watchdog_submits_total", "result", "duplicate"))
}

// A directory created later is watched, also one created with its
// subdirectories and files at once; a change in it is a change.
func TestWatchdogWatchesNewSubdirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newWatchdogRig(t, dir)
	r.waitWatched(dir)

	sub := filepath.Join(dir, "group_vars")
	require.NoError(t, os.Mkdir(sub, 0o755))
	r.waitWatched(sub)
	r.sentinel(dir, "mkdir-done~")
	r.fire(1)

	writeFile(t, filepath.Join(sub, "all.yml"), "x: 1\n")
	r.sentinel(sub, "write-done~")
	r.fire(2)

	// mkdir -p with files in it before any watch could be added.
	deep := filepath.Join(dir, "host_vars", "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	writeFile(t, filepath.Join(deep, "vars.yml"), "y: 2\n")
	r.waitWatched(filepath.Join(dir, "host_vars"), filepath.Join(dir, "host_vars", "a"), deep)
	r.sentinel(dir, "mkdirp-done~")
	r.fire(3)
	writeFile(t, filepath.Join(deep, "more.yml"), "z: 3\n")
	r.sentinel(deep, "deep-done~")
	r.fire(4)
}

// A watched directory that is deleted is dropped without a crash and
// watched again when it comes back; the watched root itself deleted is
// waited for and watched again.
func TestWatchdogDeletedDirectories(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "inventory")
	sub := filepath.Join(dir, "group_vars")
	require.NoError(t, os.MkdirAll(filepath.Join(sub, "nested"), 0o755))
	writeFile(t, filepath.Join(sub, "nested", "all.yml"), "x: 1\n")
	r := newWatchdogRig(t, dir)
	r.waitWatched(dir, sub, filepath.Join(sub, "nested"))

	require.NoError(t, os.RemoveAll(sub))
	r.sentinel(dir, "rm-done~")
	require.Equal(t, []string{dir}, r.w.Watched())
	r.fire(1)

	require.NoError(t, os.MkdirAll(sub, 0o755))
	r.waitWatched(sub)
	writeFile(t, filepath.Join(sub, "all.yml"), "x: 2\n")
	r.sentinel(sub, "back-done~")
	r.fire(2)

	// The root goes: the removal is submitted at once, and the watchdog
	// waits for the directory and watches it again.
	require.NoError(t, os.RemoveAll(dir))
	osismtest.WaitFor(t, 10*time.Second, func() bool { return r.attempts() >= 3 }, "the removal's submission")
	osismtest.WaitFor(t, 10*time.Second, func() bool { return len(r.w.Watched()) == 0 }, "no watches left")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	r.waitWatched(dir, sub)
	writeFile(t, filepath.Join(sub, "all.yml"), "x: 3\n")
	r.sentinel(sub, "root-back-done~")
	r.fire(4)
}

// The directory missing at the start is waited for.
func TestWatchdogWaitsForTheDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "inventory")
	r := newWatchdogRig(t, dir)
	require.Empty(t, r.w.Watched())
	require.NoError(t, os.Mkdir(dir, 0o755))
	r.waitWatched(dir)
	writeFile(t, filepath.Join(dir, "hosts"), "[all]\n")
	r.sentinel(dir, "done~")
	r.fire(1)
}

// Editors' ways of saving are one change each; their scratch files alone
// are none.
func TestWatchdogEditorSavePatterns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		save   func(t *testing.T, dir string)
		change bool
	}{
		{name: "rename over", change: true, save: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, ".hosts.tmp"), "[all]\nb\n")
			require.NoError(t, os.Rename(filepath.Join(dir, ".hosts.tmp"), filepath.Join(dir, "hosts")))
		}},
		{name: "write plus chmod", change: true, save: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "hosts"), "[all]\nc\n")
			require.NoError(t, os.Chmod(filepath.Join(dir, "hosts"), 0o600))
		}},
		{name: "vim with backup", change: true, save: func(t *testing.T, dir string) {
			// vim's probe, its backup by rename, the new file, its mode.
			writeFile(t, filepath.Join(dir, "4913"), "")
			require.NoError(t, os.Remove(filepath.Join(dir, "4913")))
			require.NoError(t, os.Rename(filepath.Join(dir, "hosts"), filepath.Join(dir, "hosts~")))
			writeFile(t, filepath.Join(dir, "hosts"), "[all]\nd\n")
			require.NoError(t, os.Chmod(filepath.Join(dir, "hosts"), 0o644))
			require.NoError(t, os.Remove(filepath.Join(dir, "hosts~")))
		}},
		{name: "emacs", change: true, save: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "#hosts#"), "draft")
			require.NoError(t, os.Symlink("user@host", filepath.Join(dir, ".#hosts")))
			writeFile(t, filepath.Join(dir, "hosts"), "[all]\ne\n")
			require.NoError(t, os.Remove(filepath.Join(dir, "#hosts#")))
			require.NoError(t, os.Remove(filepath.Join(dir, ".#hosts")))
		}},
		{name: "scratch files only", change: false, save: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "4913"), "")
			require.NoError(t, os.Remove(filepath.Join(dir, "4913")))
			writeFile(t, filepath.Join(dir, ".hosts.swp"), "swap")
			writeFile(t, filepath.Join(dir, "hosts~"), "backup")
			require.NoError(t, os.Remove(filepath.Join(dir, "hosts~")))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "hosts"), "[all]\na\n")
			r := newWatchdogRig(t, dir)
			r.waitWatched(dir)
			tc.save(t, dir)
			r.sentinel(dir, "saved~")
			if !tc.change {
				r.quiet()
				require.Zero(t, r.attempts())
				return
			}
			r.fire(1)
		})
	}
}

func TestWatchdogConfig(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	cases := []struct {
		name    string
		cfg     services.WatchdogConfig
		wantErr string
	}{
		{name: "no directory", cfg: services.WatchdogConfig{}, wantErr: "config watchdog.dir: empty"},
		{name: "negative debounce", cfg: services.WatchdogConfig{Dir: "/x", Debounce: -time.Second},
			wantErr: "config watchdog.debounce -1s: expected 0 (the default 2s) or a positive duration"},
		{name: "defaults", cfg: services.WatchdogConfig{Dir: "/x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := services.NewWatchdog(tc.cfg, services.WatchdogOpts{Bus: bus.Client})
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
		})
	}
	_, err := services.NewWatchdog(services.WatchdogConfig{Dir: "/x"}, services.WatchdogOpts{})
	require.ErrorContains(t, err, "watchdog: no bus client given")

	cfg := services.WatchdogConfig{}.WithInventory(services.DefaultConfig().Ansible)
	require.Equal(t, "/opt/configuration/inventory", cfg.Dir)
	cfg = services.WatchdogConfig{}.WithInventory(services.Config{}.Ansible)
	require.Equal(t, "/opt/configuration/inventory", cfg.Dir)
	all := services.DefaultConfig()
	all.Ansible.ConfigurationDir = "/srv/conf"
	require.Equal(t, "/srv/conf/inventory", services.WatchdogConfig{}.WithInventory(all.Ansible).Dir)
	all.Ansible.Inventory = "/srv/inv"
	require.Equal(t, "/srv/inv", services.WatchdogConfig{}.WithInventory(all.Ansible).Dir)
	require.Equal(t, "/mine", services.WatchdogConfig{Dir: "/mine"}.WithInventory(all.Ansible).Dir)
}

// Both run in one process with services.Group.
var (
	_ services.Service = (*services.Beat)(nil)
	_ services.Service = (*services.Watchdog)(nil)
)

// Changes that never pause still submit, ten debounces after the first.
func TestWatchdogSubmitsWithinTenDebouncesOfChangesWithoutPause(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := newWatchdogRig(t, dir)
	r.waitWatched(dir)
	step := testDebounce * 4 / 5
	elapsed := time.Duration(0)
	for i := 0; elapsed < 10*testDebounce; i++ {
		writeFile(t, filepath.Join(dir, "hosts"), fmt.Sprintf("n: %d\n", i))
		r.sentinel(dir, fmt.Sprintf("step-%d~", i))
		require.Zero(t, r.attempts(), "submitted after %s, before ten debounces", elapsed)
		r.clock.Advance(step)
		elapsed += step
	}
	osismtest.WaitFor(t, 10*time.Second, func() bool { return r.attempts() == 1 }, "the submission after ten debounces")
}
