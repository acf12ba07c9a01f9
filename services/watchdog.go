package services

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/osism/go-osism/osism"
)

// WatchdogOpts are what a [Watchdog] runs with besides its section.
type WatchdogOpts struct {
	// Bus is where reconciler.run is submitted; its credential needs the
	// operator role. Required.
	Bus *osism.Client
	// Clock times the debounce; default the real clock. Waiting for a
	// missing directory always takes real time.
	Clock Clock
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
	// Registerer receives the watchdog's metrics; default a registry of
	// its own.
	Registerer prometheus.Registerer
	// OnEvent, when not nil, is called with each file system event once
	// the watchdog handled it, and whether it counted as a change (an
	// editor's temporary file does not). Tests learn from it that an event
	// arrived.
	OnEvent func(ev fsnotify.Event, counted bool)
}

// Watchdog watches the inventory directory and every directory below it,
// and asks the reconciler to run (reconciler.run with
// [osism.ReconcilerDedupKey]) once the directory was quiet for the
// debounce after a change. The burst of events of an editor's save (a
// temporary file renamed over the file, a write and a chmod, vim's 4913
// probe, a backup~) gives one run.
type Watchdog struct {
	cfg  WatchdogConfig
	opts WatchdogOpts
	log  *slog.Logger

	mu      sync.Mutex
	watched map[string]bool

	events  prometheus.Counter
	submits *prometheus.CounterVec
	dirs    prometheus.Gauge
}

// NewWatchdog checks the section (its Dir is required: see
// [WatchdogConfig.WithInventory]) and returns the watchdog.
func NewWatchdog(cfg WatchdogConfig, opts WatchdogOpts) (*Watchdog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("config watchdog.dir: empty: expected the inventory directory")
	}
	if opts.Bus == nil {
		return nil, errors.New("watchdog: no bus client given")
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	cfg.Dir = filepath.Clean(cfg.Dir)
	w := &Watchdog{cfg: cfg, opts: opts, log: opts.Logger.With("service", "watchdog", "dir", cfg.Dir), watched: map[string]bool{}}
	w.events = registerCollector(opts.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "osism_watchdog_events_total", Help: "File system events the watchdog counted as changes.",
	}))
	w.submits = registerCollector(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "osism_watchdog_submits_total",
		Help: "reconciler.run submissions by result (submitted, duplicate: a run still queued or running, error).",
	}, []string{"result"}))
	w.dirs = registerCollector(opts.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "osism_watchdog_watched_dirs", Help: "Directories the watchdog watches.",
	}))
	return w, nil
}

// Dir is the directory watched.
func (w *Watchdog) Dir() string { return w.cfg.Dir }

// Watched returns the directories watched now, sorted.
func (w *Watchdog) Watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.watched))
	for d := range w.watched {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// editorTemp reports whether name is an editor's scratch file, whose
// events alone are no change: vim's probe 4913 (and 5036, ...), swap
// files, backups ending in ~, emacs' #autosave# and .#lock files.
func editorTemp(name string) bool {
	base := filepath.Base(name)
	switch {
	case base == "4913" || base == "5036":
		return true
	case strings.HasSuffix(base, "~"):
		return true
	case strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"), strings.HasSuffix(base, ".swpx"):
		return true
	case strings.HasPrefix(base, ".#"):
		return true
	case strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"):
		return true
	}
	return false
}

// Run watches until ctx ends, then returns nil. A missing directory is
// waited for with backoff (and logged); a watched directory that is
// deleted is dropped, and watched again when it comes back.
func (w *Watchdog) Run(ctx context.Context) error {
	w.log.Info("watchdog started", "debounce", w.cfg.Debounce)
	defer w.log.Info("watchdog stopped")
	for ctx.Err() == nil {
		if !w.waitForRoot(ctx) {
			return nil
		}
		err := w.watch(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// waitForRoot returns once the directory exists (true) or ctx ended.
func (w *Watchdog) waitForRoot(ctx context.Context) bool {
	wait := 100 * time.Millisecond
	logged := false
	for {
		fi, err := os.Stat(w.cfg.Dir)
		if err == nil && fi.IsDir() {
			if logged {
				w.log.Info("watchdog: the inventory directory is there now")
			}
			return true
		}
		if !logged {
			reason := "it does not exist"
			if err == nil {
				reason = "it is not a directory"
			} else if !errors.Is(err, fs.ErrNotExist) {
				reason = err.Error()
			}
			w.log.Warn("watchdog: waiting for the inventory directory (watchdog.dir, "+EnvWatchdogDir+")", "reason", reason)
			logged = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// watch watches the directory until ctx ends or the directory itself
// goes (then it returns nil, and Run waits for it again).
func (w *Watchdog) watch(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watchdog %s: %w", w.cfg.Dir, err)
	}
	defer fw.Close()
	defer func() {
		w.mu.Lock()
		clear(w.watched)
		w.mu.Unlock()
		w.dirs.Set(0)
	}()
	w.addTree(fw, w.cfg.Dir)
	w.log.Info("watchdog watches", "dirs", len(w.Watched()))

	var (
		timer    ClockTimer
		timerC   <-chan time.Time
		first    time.Time // the first change not yet submitted
		pending  bool
		retry    = w.cfg.Debounce
		maxDelay = 10 * w.cfg.Debounce
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
	}
	defer stop()
	arm := func(d time.Duration) {
		stop()
		timer = w.opts.Clock.NewTimer(d)
		timerC = timer.C()
	}
	change := func() {
		now := w.opts.Clock.Now()
		if !pending {
			pending, first = true, now
		}
		arm(min(w.cfg.Debounce, max(first.Add(maxDelay).Sub(now), 0)))
	}
	rootGone := false
	for !rootGone {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			counted := w.handle(fw, ev)
			if ev.Name == w.cfg.Dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				rootGone = true
				counted = true
			}
			if counted {
				w.events.Inc()
				change()
			}
			if w.opts.OnEvent != nil {
				w.opts.OnEvent(ev, counted)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: look at the whole tree again and
				// count it as a change.
				w.log.Warn("watchdog: the kernel dropped events; watching the tree anew", "err", err)
				w.addTree(fw, w.cfg.Dir)
				change()
				continue
			}
			w.log.Warn("watchdog: watch error", "err", err)
		case <-timerC:
			timer, timerC = nil, nil
			if w.submit(ctx) {
				pending, retry = false, w.cfg.Debounce
			} else if ctx.Err() == nil {
				retry = min(2*retry, time.Minute)
				arm(retry)
			}
		}
	}
	w.log.Warn("watchdog: the inventory directory was removed; waiting for it to come back")
	if pending && ctx.Err() == nil {
		// The removal is a change too; it is not held back until the
		// directory returns.
		w.submit(ctx)
	}
	return nil
}

// handle updates the watches for ev and reports whether it is a change.
func (w *Watchdog) handle(fw *fsnotify.Watcher, ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	switch {
	case ev.Has(fsnotify.Create):
		if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
			// Files may have been created in it before its watch was
			// added: the directory's creation stands for them.
			w.addTree(fw, name)
			return true
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		w.dropTree(fw, name)
	}
	return !editorTemp(name)
}

// addTree watches dir and every directory below it that is not watched
// yet.
func (w *Watchdog) addTree(fw *fsnotify.Watcher, dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Gone meanwhile, or unreadable: its own events tell.
			if path == dir || d == nil || d.IsDir() {
				if !errors.Is(err, fs.ErrNotExist) {
					w.log.Warn("watchdog: cannot read a directory", "path", path, "err", err)
				}
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		w.mu.Lock()
		known := w.watched[path]
		w.mu.Unlock()
		if known {
			return nil
		}
		if err := fw.Add(path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.log.Warn("watchdog: cannot watch a directory", "path", path, "err", err)
			}
			return filepath.SkipDir
		}
		w.mu.Lock()
		w.watched[path] = true
		n := len(w.watched)
		w.mu.Unlock()
		w.dirs.Set(float64(n))
		return nil
	})
}

// dropTree forgets the watches of path and below, when path was a
// watched directory (the kernel drops a removed directory's watch).
func (w *Watchdog) dropTree(fw *fsnotify.Watcher, path string) {
	w.mu.Lock()
	var gone []string
	for d := range w.watched {
		if d == path || strings.HasPrefix(d, path+string(filepath.Separator)) {
			gone = append(gone, d)
			delete(w.watched, d)
		}
	}
	n := len(w.watched)
	w.mu.Unlock()
	for _, d := range gone {
		_ = fw.Remove(d) // already gone with the directory, mostly
	}
	if len(gone) > 0 {
		w.dirs.Set(float64(n))
		w.log.Info("watchdog: a watched directory went away", "path", path, "dirs", len(gone))
	}
}

// submit asks for a reconciler run; false when it failed.
func (w *Watchdog) submit(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := w.opts.Bus.Submit(sctx, osism.ReconcilerRunArgs{Reason: "watchdog"}, &osism.SubmitOpts{DedupKey: osism.ReconcilerDedupKey})
	switch {
	case err != nil:
		w.submits.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			w.log.Error("watchdog could not submit reconciler.run; retrying", "err", err)
		}
		return false
	case res.Duplicate:
		w.submits.WithLabelValues("duplicate").Inc()
		w.log.Info("watchdog: a reconciler run is already queued or running", "task", res.ID)
	default:
		w.submits.WithLabelValues("submitted").Inc()
		w.log.Info("watchdog submitted reconciler.run", "task", res.ID)
	}
	return true
}
