package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osism/go-osism/osism"
)

// BeatOpts are what a [Beat] runs with besides its section.
type BeatOpts struct {
	// Bus is where tasks are submitted and the leader's lock is held; its
	// credential needs the operator role. Required.
	Bus *osism.Client
	// Clock defaults to the real clock; tests pass a FakeClock.
	Clock Clock
	// Owner names this beat in the leader's lock; default host:pid.
	Owner string
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
	// Registerer receives the beat's metrics; default a registry of its
	// own.
	Registerer prometheus.Registerer
	// History is how far back a new leader looks for the last run of each
	// schedule in the task records; default twice the longest interval
	// (at most 48h); negative: not at all.
	History time.Duration
}

// Beat submits periodic tasks. Several beats may run; the one that holds
// the lock beat/leader fires, the others wait to take over. Every run is
// submitted with a de-duplication key, so that a slow run is never
// stacked.
type Beat struct {
	entries []*beatEntry
	ttl     time.Duration
	opts    BeatOpts
	log     *slog.Logger

	mu   sync.Mutex
	last map[string]time.Time // the last run of each schedule this beat saw

	submits *prometheus.CounterVec
	missed  *prometheus.CounterVec
	leader  prometheus.Gauge
}

// NewBeat checks the section and returns the beat.
func NewBeat(cfg BeatConfig, opts BeatOpts) (*Beat, error) {
	entries, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if opts.Bus == nil {
		return nil, errors.New("beat: no bus client given")
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
	b := &Beat{entries: entries, ttl: cfg.withDefaults().LockTTL, opts: opts, log: opts.Logger.With("service", "beat"),
		last: map[string]time.Time{}}
	b.submits = registerCollector(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "osism_beat_submits_total",
		Help: "Runs the beat fired by schedule and result (submitted, duplicate: the last run still queued or running, error).",
	}, []string{"schedule", "result"}))
	b.missed = registerCollector(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "osism_beat_missed_total",
		Help: "Runs the beat missed (no leader, paused) by schedule.",
	}, []string{"schedule"}))
	b.leader = registerCollector(opts.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "osism_beat_leader",
		Help: "1 while this beat leads and fires, else 0.",
	}))
	return b, nil
}

// registerCollector registers c, or returns the collector of the same
// description already registered (two services on one registry).
func registerCollector[C prometheus.Collector](r prometheus.Registerer, c C) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}

// Run campaigns for the lead until ctx ends, and fires the schedules while
// it leads. It returns nil when ctx ends; a beat that gives up the lead on
// shutdown releases the lock so that another takes over at once.
func (b *Beat) Run(ctx context.Context) error {
	b.log.Info("beat started", "schedules", len(b.entries), "lock", BeatLockKey, "lock_ttl", b.ttl)
	poll := max(b.ttl/10, 100*time.Millisecond)
	var holder string
	failures := 0
	for ctx.Err() == nil {
		lock, err := b.opts.Bus.Acquire(ctx, BeatLockKey, b.ttl, &osism.LockOpts{Owner: b.opts.Owner})
		switch {
		case err == nil:
			holder, failures = "", 0
			b.lead(ctx, lock)
			continue
		case ctx.Err() != nil:
		case errors.Is(err, osism.ErrLocked):
			if err.Error() != holder {
				b.log.Info("beat follows", "leader", err)
				holder = err.Error()
			}
			failures = 0
		default:
			failures++
			b.log.Warn("beat cannot reach the leader's lock, retrying", "err", err)
		}
		// Waits on the real clock: the lock's TTL runs on the broker's.
		wait := poll
		if failures > 0 {
			wait = min(poll<<min(failures, 6), b.ttl)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	b.log.Info("beat stopped")
	return nil
}

// lead fires the schedules until ctx ends or the lock is lost; then it
// releases the lock if it still holds it.
func (b *Beat) lead(ctx context.Context, lock *osism.Lock) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lock.Lost():
			cancel()
		case <-lctx.Done():
		}
	}()
	go lock.KeepAlive(lctx)
	b.leader.Set(1)
	b.log.Info("beat leads", "owner", lock.Owner)
	defer func() {
		b.leader.Set(0)
		select {
		case <-lock.Lost():
			b.log.Warn("beat lost the lead: stopped firing")
			return
		default:
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := lock.Release(rctx); err != nil {
			b.log.Warn("beat could not release the lead", "err", err)
		}
	}()
	b.fire(lctx, lock)
}

// slot is the next run of an entry: its time on the schedule and when it
// fires (the time plus jitter).
type slot struct {
	e      *beatEntry
	at, by time.Time
}

func (b *Beat) jitter(e *beatEntry) time.Duration {
	if e.Jitter <= 0 {
		return 0
	}
	return rand.N(e.Jitter)
}

// grace is how late a run may fire before it counts as missed: half the
// schedule's period, at most a minute.
func grace(e *beatEntry, at time.Time) time.Duration {
	return min(e.next(at).Sub(at)/2, time.Minute)
}

func (b *Beat) fire(ctx context.Context, lock *osism.Lock) {
	now := b.opts.Clock.Now()
	hist := b.history(ctx)
	slots := make([]*slot, 0, len(b.entries))
	for _, e := range b.entries {
		b.mu.Lock()
		last, ok := b.last[e.Name]
		b.mu.Unlock()
		if h, hok := hist[e.dedup]; hok && (!ok || h.After(last)) {
			last, ok = h, true
		}
		s := &slot{e: e}
		if ok {
			s.at = e.next(last)
		} else {
			s.at = e.next(now)
		}
		s.by = s.at.Add(b.jitter(e))
		slots = append(slots, s)
	}
	for {
		if len(slots) == 0 {
			<-ctx.Done()
			return
		}
		sort.Slice(slots, func(i, j int) bool { return slots[i].by.Before(slots[j].by) })
		t := b.opts.Clock.NewTimer(slots[0].by.Sub(b.opts.Clock.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		now := b.opts.Clock.Now()
		for _, s := range slots {
			if s.by.After(now) {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			b.due(ctx, s, now)
		}
	}
}

// due fires the slot s at now (or counts it missed) and moves it on.
func (b *Beat) due(ctx context.Context, s *slot, now time.Time) {
	e := s.e
	missed := 0
	if now.Sub(s.by) > grace(e, s.at) {
		// Late: every time of the schedule up to now was missed.
		for at := s.at; !at.After(now) && missed < 1_000_000; at = e.next(at) {
			missed++
		}
	}
	run := missed == 0 || e.Missed == BeatMissedOnce
	if missed > 0 {
		b.missed.WithLabelValues(e.Name).Add(float64(missed))
		b.log.Warn("beat missed runs", "schedule", e.Name, "missed", missed, "since", s.at, "policy", e.Missed)
	}
	if run {
		b.submit(ctx, e, now)
	}
	at := s.at
	if missed > 0 && e.cron == nil {
		// An interval goes on from now, not from the times it missed:
		// a run once at once is not followed by another at once.
		at = now
	}
	for !at.After(now) {
		at = e.next(at)
	}
	s.at, s.by = at, at.Add(b.jitter(e))
}

func (b *Beat) submit(ctx context.Context, e *beatEntry, now time.Time) {
	b.mu.Lock()
	b.last[e.Name] = now
	b.mu.Unlock()
	res, err := b.opts.Bus.Submit(ctx, e.args, &osism.SubmitOpts{DedupKey: e.dedup})
	switch {
	case err != nil && ctx.Err() != nil:
		b.submits.WithLabelValues(e.Name, "error").Inc()
		b.log.Warn("beat stopped while submitting", "schedule", e.Name, "kind", e.args.Kind(), "err", err)
	case err != nil:
		b.submits.WithLabelValues(e.Name, "error").Inc()
		b.log.Error("beat could not submit", "schedule", e.Name, "kind", e.args.Kind(), "err", err)
	case res.Duplicate:
		b.submits.WithLabelValues(e.Name, "duplicate").Inc()
		b.log.Info("beat: the last run is still queued or running", "schedule", e.Name, "task", res.ID, "dedup_key", e.dedup)
	default:
		b.submits.WithLabelValues(e.Name, "submitted").Inc()
		b.log.Info("beat submitted", "schedule", e.Name, "kind", e.args.Kind(), "task", res.ID)
	}
}

// history returns the newest creation time of the recorded tasks of each
// de-duplication key of the schedules: a new leader goes on from the last
// run, whoever fired it.
func (b *Beat) history(ctx context.Context) map[string]time.Time {
	back := b.opts.History
	if back < 0 {
		return nil
	}
	if back == 0 {
		now := b.opts.Clock.Now()
		for _, e := range b.entries {
			back = max(back, 2*e.next(now).Sub(now))
		}
		back = min(back, 48*time.Hour)
	}
	keys := map[string]bool{}
	for _, e := range b.entries {
		keys[e.dedup] = true
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tasks, err := b.opts.Bus.List(hctx, &osism.ListOpts{Since: time.Now().Add(-back)})
	if err != nil {
		b.log.Warn("beat could not read the last runs; the schedules start from now", "err", err)
		return nil
	}
	out := map[string]time.Time{}
	for _, t := range tasks {
		if !keys[t.DedupKey] || !t.CreatedAt.After(out[t.DedupKey]) {
			continue
		}
		out[t.DedupKey] = t.CreatedAt
	}
	return out
}

// String names the beat's schedules, for logs.
func (b *Beat) String() string {
	names := make([]string, len(b.entries))
	for i, e := range b.entries {
		names[i] = e.Name
	}
	return fmt.Sprintf("beat(%s)", strings.Join(names, ","))
}
