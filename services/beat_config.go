package services

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/osism/go-osism/osism"
)

// BeatConfig is the beat section: the periodic tasks and the lock through
// which several beats elect the one that fires them. In YAML:
//
//	beat:
//	  lock_ttl: 15s
//	  schedules:                      # replace the defaults
//	    - name: gather-facts
//	      every: 12h
//	      jitter: 5m
//	      task: {kind: ansible.run, args: {environment: generic, role: facts}}
//	    - name: reconciler
//	      cron: "*/10 * * * *"        # seconds optional: "0 */10 * * * *"
//	      missed: once
//	      task: {kind: reconciler.run, args: {reason: beat}, dedup_key: reconciler/run}
//
// The zero value takes the defaults: [DefaultBeatSchedules] and a lock TTL
// of 15s.
type BeatConfig struct {
	// Schedules are the periodic tasks; nil means DefaultBeatSchedules,
	// empty means none.
	Schedules []BeatSchedule `yaml:"schedules" json:"schedules,omitempty"`
	// LockTTL is the TTL of the leader's lock (beat/leader): when the
	// leader dies, another beat leads within about this long. Default 15s,
	// at least 1s.
	LockTTL time.Duration `yaml:"lock_ttl" json:"lock_ttl,omitempty"`
}

// BeatSchedule is one periodic task: every Every, or at the times of the
// cron expression Cron (one of the two).
type BeatSchedule struct {
	// Name names the schedule in logs and metrics and makes its
	// de-duplication key beat/<name>: letters, digits, '-', '_', '.'.
	Name string `yaml:"name" json:"name"`
	// Every fires the task at this interval.
	Every time.Duration `yaml:"every" json:"every,omitempty"`
	// Cron fires the task at the times of a cron expression (robfig/cron:
	// five fields, or six with seconds first; @hourly, @every 1h30m and a
	// CRON_TZ=Europe/Berlin prefix work too). Without CRON_TZ the times
	// are those of the beat's local time zone.
	Cron string `yaml:"cron" json:"cron,omitempty"`
	// Jitter delays each run by a random time below it, so that beats of
	// several clouds do not fire at once.
	Jitter time.Duration `yaml:"jitter" json:"jitter,omitempty"`
	// Missed says what happens to runs the beat missed (no leader, the
	// process paused): once (the default, as upstream's beat does after a
	// restart) runs the task once at once and goes on from then; skip
	// waits for the next time. With once, a new leader that finds the
	// last run overdue fires at once, so that no gap between runs is
	// longer than the lock's TTL plus one interval.
	Missed string `yaml:"missed" json:"missed,omitempty"`
	// Task is what is submitted.
	Task BeatTask `yaml:"task" json:"task"`
}

// BeatTask is a task by its kind's name and its arguments.
type BeatTask struct {
	// Kind is the task kind (reconciler.run, ansible.run, ...). Required.
	Kind string `yaml:"kind" json:"kind"`
	// Args are the task's arguments, an object.
	Args map[string]any `yaml:"args" json:"args,omitempty"`
	// Queue is where the task goes; default the built-in kind's. Required
	// for kinds that are not built in.
	Queue string `yaml:"queue" json:"queue,omitempty"`
	// DedupKey refuses a run while the last one is queued or running;
	// default beat/<name>.
	DedupKey string `yaml:"dedup_key" json:"dedup_key,omitempty"`
}

// The missed-run policies of [BeatSchedule].
const (
	BeatMissedSkip = "skip"
	BeatMissedOnce = "once"
)

// The names of the default schedules.
const (
	BeatGatherFacts = "gather-facts"
	BeatReconciler  = "reconciler"
)

// The defaults of the beat, as upstream's (GATHER_FACTS_SCHEDULE,
// INVENTORY_RECONCILER_SCHEDULE).
const (
	DefaultGatherFactsEvery = 43200 * time.Second
	DefaultReconcilerEvery  = 600 * time.Second
	DefaultBeatLockTTL      = 15 * time.Second
	// BeatLockKey is the lock the beats elect their leader with.
	BeatLockKey = "beat/leader"
)

// DefaultBeatSchedules are upstream's periodic tasks: the facts role of
// the generic environment every 12 hours (an ansible.run on
// osism-ansible), and the reconciler every 10 minutes (reconciler.run
// with [osism.ReconcilerDedupKey], shared with the watchdog and the API).
func DefaultBeatSchedules() []BeatSchedule {
	return []BeatSchedule{
		{Name: BeatGatherFacts, Every: DefaultGatherFactsEvery,
			Task: BeatTask{Kind: osism.KindAnsibleRun, Args: map[string]any{"environment": "generic", "role": "facts"}}},
		{Name: BeatReconciler, Every: DefaultReconcilerEvery,
			Task: BeatTask{Kind: osism.KindReconcilerRun, Args: map[string]any{"reason": "beat"}, DedupKey: osism.ReconcilerDedupKey}},
	}
}

// The variables of BeatConfig: upstream's intervals in seconds (0 turns
// the schedule off), and the lock's TTL.
const (
	EnvGatherFactsSchedule         = "GATHER_FACTS_SCHEDULE"
	EnvInventoryReconcilerSchedule = "INVENTORY_RECONCILER_SCHEDULE"
	EnvBeatLockTTL                 = "OSISM_BEAT_LOCK_TTL"
)

// ApplyEnv sets the fields whose variables lookup finds. The schedule
// variables change the interval of the default schedule of that name (of
// the defaults when the configuration has no schedules).
func (c *BeatConfig) ApplyEnv(lookup func(string) (string, bool)) error {
	for _, e := range []struct{ env, name string }{
		{EnvGatherFactsSchedule, BeatGatherFacts}, {EnvInventoryReconcilerSchedule, BeatReconciler},
	} {
		v, ok := lookup(e.env)
		if !ok || v == "" {
			continue
		}
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 || secs > 1e9 {
			return fmt.Errorf("%s=%q: expected seconds, 0 or more (0 turns the schedule off)", e.env, v)
		}
		if c.Schedules == nil {
			c.Schedules = DefaultBeatSchedules()
		}
		for i := range c.Schedules {
			if c.Schedules[i].Name != e.name {
				continue
			}
			if secs == 0 {
				c.Schedules = append(c.Schedules[:i], c.Schedules[i+1:]...)
			} else {
				c.Schedules[i].Every, c.Schedules[i].Cron = time.Duration(secs*float64(time.Second)), ""
			}
			break
		}
	}
	if v, ok := lookup(EnvBeatLockTTL); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q: expected a duration such as 15s", EnvBeatLockTTL, v)
		}
		c.LockTTL = d
	}
	return nil
}

func (c BeatConfig) withDefaults() BeatConfig {
	if c.Schedules == nil {
		c.Schedules = DefaultBeatSchedules()
	}
	if c.LockTTL == 0 {
		c.LockTTL = DefaultBeatLockTTL
	}
	return c
}

var beatNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// cronParser takes five fields or six with seconds first.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks the section and names the offending schedule and field.
func (c BeatConfig) Validate() error {
	_, err := c.compile()
	return err
}

// beatEntry is a schedule ready to fire.
type beatEntry struct {
	BeatSchedule
	args  osism.RawArgs
	cron  cron.Schedule
	dedup string
}

// next is the first time of the schedule after t (anchor: the last run
// for an interval).
func (e *beatEntry) next(t time.Time) time.Time {
	if e.cron != nil {
		return e.cron.Next(t)
	}
	return t.Add(e.Every)
}

func (c BeatConfig) compile() ([]*beatEntry, error) {
	c = c.withDefaults()
	if c.LockTTL < time.Second {
		return nil, fmt.Errorf("config beat.lock_ttl %s: expected 1s or more", c.LockTTL)
	}
	seen := map[string]bool{}
	var out []*beatEntry
	for i, s := range c.Schedules {
		where := fmt.Sprintf("config beat.schedules[%d]", i)
		if !beatNameRE.MatchString(s.Name) {
			return nil, fmt.Errorf("%s.name %q: expected 1-63 letters, digits, '-', '_' or '.'", where, s.Name)
		}
		where = fmt.Sprintf("config beat.schedules[%d] (%s)", i, s.Name)
		if seen[s.Name] {
			return nil, fmt.Errorf("%s: name given twice: expected unique names", where)
		}
		seen[s.Name] = true
		e := &beatEntry{BeatSchedule: s, dedup: s.Task.DedupKey}
		switch {
		case s.Every != 0 && s.Cron != "":
			return nil, fmt.Errorf("%s: both every and cron given: expected one of them", where)
		case s.Cron != "":
			sched, err := cronParser.Parse(s.Cron)
			if err != nil {
				return nil, fmt.Errorf("%s.cron %q: expected a cron expression (5 fields, or 6 with seconds first): %w", where, s.Cron, err)
			}
			e.cron = sched
		case s.Every < 0 || s.Every == 0:
			return nil, fmt.Errorf("%s.every %s: expected a positive interval (or a cron expression)", where, s.Every)
		}
		if s.Jitter < 0 {
			return nil, fmt.Errorf("%s.jitter %s: expected 0 or more", where, s.Jitter)
		}
		switch s.Missed {
		case "":
			e.Missed = BeatMissedOnce
		case BeatMissedSkip, BeatMissedOnce:
		default:
			return nil, fmt.Errorf("%s.missed %q: expected skip or once", where, s.Missed)
		}
		args, err := json.Marshal(s.Task.Args)
		if err != nil {
			return nil, fmt.Errorf("%s.task.args: %w", where, err)
		}
		if s.Task.Args == nil {
			args = nil
		}
		e.args, err = osism.NewRawArgs(s.Task.Kind, args, osism.Queue(s.Task.Queue))
		if err != nil {
			return nil, fmt.Errorf("%s.task: %w", where, err)
		}
		if e.dedup == "" {
			e.dedup = "beat/" + s.Name
		}
		out = append(out, e)
	}
	return out, nil
}
