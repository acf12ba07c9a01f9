package osism

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RunnerConfig configures a [Runner].
type RunnerConfig struct {
	// Queues maps each queue the runner serves to how many of its tasks run
	// at once (at least 1).
	Queues map[Queue]int
	// Handlers are the handlers; a task of a kind without one fails.
	Handlers *Registry
	// ID names the runner in records and in `osism status workers`;
	// default host-pid-random.
	ID string
	// Grace is how long running tasks may take to finish once the runner
	// stops; then their contexts are cancelled with [ErrShutdown] and they
	// go back to the queue. Default 30s.
	Grace time.Duration
	// PullExpiry bounds one pull request; short, so that a stalled pull
	// costs little. Default 2s.
	PullExpiry time.Duration
	// Logger defaults to the client's.
	Logger *slog.Logger
}

// Runner is the worker runtime: it pulls the tasks of its queues, runs
// their handlers, heartbeats the tasks it holds, records states, results
// and output, honours cancels and the global hold, and announces itself.
type Runner struct {
	c   *Client
	cfg RunnerConfig
	id  string
	log *slog.Logger

	mu        sync.Mutex
	held      map[*held]struct{}   // every message held: heartbeated
	running   map[string]*held     // task id -> its run
	cancelled map[string]time.Time // ids cancelled recently
	holdCh    chan struct{}        // non-nil while the global hold is set
	waiting   int                  // tasks waiting for the hold to end
	beat      chan struct{}        // asks for an announcement now
	started   time.Time
	wg        sync.WaitGroup // running handlers
}

type held struct {
	msg    jetstream.Msg
	id     string
	cancel context.CancelCauseFunc
}

var errTimeout = errors.New("task timed out")

var idUnsafe = regexp.MustCompile(`[^-_a-zA-Z0-9]`)

// NewRunner returns a runner for the queues and handlers of cfg.
func (c *Client) NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Handlers == nil {
		return nil, errors.New("runner: no Handlers")
	}
	if len(cfg.Queues) == 0 {
		return nil, errors.New("runner: no queues")
	}
	for q, n := range cfg.Queues {
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		if n < 1 {
			cfg.Queues[q] = 1
		}
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.PullExpiry <= 0 {
		cfg.PullExpiry = 2 * time.Second
	}
	if cfg.PullExpiry < 100*time.Millisecond {
		return nil, fmt.Errorf("runner: pull expiry %s: expected at least 100ms", cfg.PullExpiry)
	}
	id := cfg.ID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	id = idUnsafe.ReplaceAllString(id, "_")
	log := cfg.Logger
	if log == nil {
		log = c.log
	}
	return &Runner{
		c: c, cfg: cfg, id: id, log: log.With("worker", id),
		held:      make(map[*held]struct{}),
		running:   make(map[string]*held),
		cancelled: make(map[string]time.Time),
		beat:      make(chan struct{}, 1),
	}, nil
}

// ID returns the runner's name.
func (r *Runner) ID() string { return r.id }

// Run serves the queues until ctx ends, then stops gracefully: it takes no
// more tasks, lets running ones finish within the grace period, and then
// cancels them (they go back to the queue). It returns nil after a graceful
// stop.
func (r *Runner) Run(ctx context.Context) error {
	r.started = time.Now().UTC()
	consumers := make(map[Queue]jetstream.Consumer, len(r.cfg.Queues))
	created := make(map[Queue]time.Time, len(r.cfg.Queues))
	for q := range r.cfg.Queues {
		cons, err := r.c.js.CreateOrUpdateConsumer(ctx, TaskStream, jetstream.ConsumerConfig{
			Durable:       consumerPre + string(q),
			Description:   "osism workers of queue " + string(q),
			FilterSubject: taskSubjectPre + string(q) + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       r.c.cfg.AckWait,
			// The runner counts deliveries itself, so that a task past the
			// maximum is recorded as failed instead of left in the stream.
			MaxDeliver:    -1,
			MaxAckPending: 100_000,
		})
		if err != nil {
			return fmt.Errorf("worker %s: consumer of queue %s: %w", r.id, q, err)
		}
		consumers[q] = cons
		created[q] = cons.CachedInfo().Created
	}

	cancelSub, err := r.c.nc.Subscribe(cancelPre+"*", r.onCancel)
	if err != nil {
		return fmt.Errorf("worker %s: subscribe to cancels: %w", r.id, err)
	}
	defer func() { _ = cancelSub.Unsubscribe() }()

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if err := r.watchHold(ctx, bg); err != nil {
		return err
	}
	var bgWG sync.WaitGroup
	bgWG.Add(2)
	go func() { defer bgWG.Done(); r.heartbeat(bg) }()
	go func() { defer bgWG.Done(); r.announce(bg) }()

	// Handlers run under taskCtx, which outlives ctx by the grace period.
	taskCtx, cancelTasks := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelTasks(nil)
	var loops sync.WaitGroup
	for q, cons := range consumers {
		loops.Add(1)
		go func() {
			defer loops.Done()
			r.pull(ctx, taskCtx, q, cons, r.cfg.Queues[q], created[q])
		}()
	}
	r.log.Info("worker started", "queues", r.queueNames(), "kinds", r.cfg.Handlers.Kinds())
	<-ctx.Done()
	loops.Wait()

	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	var err2 error
	select {
	case <-done:
	case <-time.After(r.cfg.Grace):
		r.log.Warn("grace period over, cancelling running tasks", "grace", r.cfg.Grace, "tasks", r.runningIDs())
		cancelTasks(ErrShutdown)
		select {
		case <-done:
		case <-time.After(r.cfg.Grace):
			err2 = fmt.Errorf("worker %s: tasks %v did not stop within %s of being cancelled", r.id, r.runningIDs(), r.cfg.Grace)
		}
	}
	stopBG()
	bgWG.Wait()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = r.c.workers.Delete(dctx, r.id)
	r.log.Info("worker stopped")
	return err2
}

func (r *Runner) queueNames() []Queue {
	qs := make([]Queue, 0, len(r.cfg.Queues))
	for q := range r.cfg.Queues {
		qs = append(qs, q)
	}
	slices.Sort(qs)
	return qs
}

// pull fetches tasks of one queue as slots free up. It asks for no more
// messages than it can start at once, so that no task waits unheartbeated
// in a client buffer and is redelivered elsewhere meanwhile.
// Tasks stored before consumerCreated are checked against their records
// before they run.
func (r *Runner) pull(ctx, taskCtx context.Context, q Queue, cons jetstream.Consumer, concurrency int, consumerCreated time.Time) {
	slots := make(chan struct{}, concurrency)
	freed := make(chan struct{}, 1)
	// Under load, wait for half the slots so that pulls come in batches.
	threshold := max(1, concurrency/2)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		free := concurrency - len(slots)
		if free < threshold {
			select {
			case <-freed:
			case <-ctx.Done():
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, r.cfg.PullExpiry)
		batch, err := cons.Fetch(free, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			r.log.Warn("pull failed", "queue", q, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for msg := range batch.Messages() {
			if ctx.Err() != nil {
				_ = msg.Nak() // stopping: another worker takes it now
				continue
			}
			slots <- struct{}{}
			r.wg.Add(1)
			go func() {
				defer func() {
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
					r.wg.Done()
				}()
				r.handle(ctx, taskCtx, q, msg, consumerCreated)
			}()
		}
		cancel()
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.Canceled) {
			r.log.Warn("pull ended with an error", "queue", q, "err", err)
		}
	}
}

// taskFromMsg rebuilds the task's record from its message.
func taskFromMsg(id string, q Queue, msg jetstream.Msg) (*Task, error) {
	h := msg.Headers()
	t := &Task{ID: id, Queue: q, Args: json.RawMessage(msg.Data())}
	var errs []error
	t.Kind = h.Get(hdrKind)
	if err := validKind(t.Kind); err != nil {
		errs = append(errs, fmt.Errorf("header %s: %w", hdrKind, err))
	}
	if v := h.Get(hdrCreated); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s %q: expected nanoseconds since 1970", hdrCreated, v))
		}
		t.CreatedAt = time.Unix(0, n).UTC()
	} else if meta, err := msg.Metadata(); err == nil {
		t.CreatedAt = meta.Timestamp.UTC()
	}
	if v := h.Get(hdrTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("header %s %q: expected a duration", hdrTimeout, v))
		}
		t.Timeout = d
	}
	t.Reply = h.Get(hdrReply)
	t.DedupKey = h.Get(hdrDedup)
	if !json.Valid(t.Args) {
		errs = append(errs, fmt.Errorf("arguments are not JSON (%d bytes)", len(t.Args)))
		t.Args = nil
	}
	return t, errors.Join(errs...)
}

// handle runs one delivered message to its end.
func (r *Runner) handle(ctx, taskCtx context.Context, q Queue, msg jetstream.Msg, consumerCreated time.Time) {
	h := r.track(msg)
	defer r.untrack(h)
	subj := msg.Subject()
	id := strings.TrimPrefix(subj, taskSubjectPre+string(q)+".")
	if !ValidID(id) {
		// Without an id there is no record to fail; drop it so it cannot
		// block the queue.
		r.log.Error("dropping a message that is not a task", "subject", subj, "queue", q)
		_ = msg.Ack()
		return
	}
	h.id = id
	t, decErr := taskFromMsg(id, q, msg)
	t.Worker = r.id
	stored := time.Time{}
	if meta, err := msg.Metadata(); err == nil {
		t.Attempt = int(meta.NumDelivered)
		stored = meta.Timestamp
	}
	if t.Attempt > 1 || stored.Before(consumerCreated) {
		// An earlier delivery may have finished the task but lost its ack,
		// or an earlier consumer of the queue (since deleted) ran it.
		if rec, err := r.c.Get(taskCtx, id); err == nil && rec.State.Finished() {
			_ = msg.Ack()
			return
		}
	}
	switch {
	case decErr != nil:
		r.fail(t, msg, "undecodable task message: "+decErr.Error())
		return
	case t.Attempt > r.c.cfg.MaxDeliveries:
		r.fail(t, msg, fmt.Sprintf("delivered %d times without finishing, more than max_deliveries %d: the workers running it stopped or were lost",
			t.Attempt, r.c.cfg.MaxDeliveries))
		return
	}
	hd := r.cfg.Handlers.lookup(t.Kind)
	if hd == nil {
		r.fail(t, msg, fmt.Sprintf("no handler for kind %s on worker %s of queue %s (it handles: %s)",
			t.Kind, r.id, q, strings.Join(r.cfg.Handlers.Kinds(), ", ")))
		return
	}
	if r.isCancelled(id) {
		r.finish(t, msg, StateCancelled, "cancelled before it started", ExitCancelled, false)
		return
	}
	if !r.waitHold(ctx) {
		_ = msg.Nak() // stopping while held: the task stays queued
		return
	}

	tctx, cancel := context.WithCancelCause(taskCtx)
	defer cancel(nil)
	if t.Timeout > 0 {
		var stop context.CancelFunc
		tctx, stop = context.WithTimeoutCause(tctx, t.Timeout, errTimeout)
		defer stop()
	}
	h.cancel = cancel
	r.register(h)
	defer r.unregister(id)

	t.State, t.StartedAt = StateRunning, time.Now().UTC()
	runF, _ := r.putAsync(t)
	out := newOutputWriter(r.c.js, id)
	if t.Attempt > 1 {
		fmt.Fprintf(out, "osism: attempt %d of task %s, on worker %s\n", t.Attempt, id, r.id)
	}
	result, err := r.call(tctx, hd, t, out)
	cause := context.Cause(tctx)
	// The running record is not waited for: the final one follows it on
	// the same stream and connection, so it lands after it.
	if runF != nil {
		defer func() {
			select {
			case err := <-runF.Err():
				r.log.Warn("running state not recorded", "task", id, "err", err)
			default:
			}
		}()
	}
	t.Result = result

	var de *decodeError
	switch {
	case err == nil:
		r.finishRun(t, msg, out, StateSucceeded, "", ExitOK)
	case errors.Is(cause, ErrShutdown):
		fmt.Fprintf(out, "osism: worker %s shut down; the task goes back to queue %s\n", r.id, q)
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(taskCtx), 10*time.Second)
		defer wcancel()
		if _, err := out.close(wctx, 0, false); err != nil {
			r.log.Warn("task output incomplete", "task", id, "err", err)
		}
		t.State, t.Worker, t.StartedAt = StateQueued, "", time.Time{}
		if f, _ := r.putAsync(t); f != nil {
			_ = waitAck(wctx, f)
		}
		_ = msg.Nak()
	case errors.Is(cause, ErrCancelled):
		r.finishRun(t, msg, out, StateCancelled, "cancelled", ExitCancelled)
	case errors.Is(cause, errTimeout):
		r.finishRun(t, msg, out, StateFailed, fmt.Sprintf("timed out after %s: %v", t.Timeout, err), ExitStatus(err))
	case errors.As(err, &de):
		r.finishRun(t, msg, out, StateFailed, "undecodable task message: "+de.Error(), ExitFailure)
	default:
		r.finishRun(t, msg, out, StateFailed, err.Error(), ExitStatus(err))
	}
}

// call runs the handler; a panic fails the task instead of the worker.
func (r *Runner) call(ctx context.Context, hd *handler, t *Task, out *outputWriter) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("handler panicked", "task", t.ID, "kind", t.Kind, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler of kind %s panicked: %v", t.Kind, p)
		}
	}()
	return hd.run(ctx, r.c, t, out)
}

// fail records a task that never ran, and removes it from the queue.
func (r *Runner) fail(t *Task, msg jetstream.Msg, reason string) {
	r.log.Warn("task failed before it ran", "task", t.ID, "kind", t.Kind, "reason", reason)
	r.finish(t, msg, StateFailed, reason, ExitFailure, false)
}

// finishRun closes the output (end marker), then records the end.
func (r *Runner) finishRun(t *Task, msg jetstream.Msg, out *outputWriter, st State, reason string, exit int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marker, err := out.close(ctx, exit, false)
	if err != nil {
		r.log.Warn("task output incomplete", "task", t.ID, "err", err)
	}
	r.finish(t, msg, st, reason, exit, marker)
}

// finish records the final state, tells the submitter and acks. The ack
// comes last, so that a worker that dies before it leaves the task to be
// delivered again rather than unrecorded.
func (r *Runner) finish(t *Task, msg jetstream.Msg, st State, reason string, exit int, marker bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.State, t.Error, t.ExitStatus, t.EndMarker, t.FinishedAt = st, reason, exit, marker, time.Now().UTC()
	f, rec := r.putAsync(t)
	if f == nil {
		return // not recorded: leave the message to be delivered again
	}
	select {
	case pa := <-f.Ok():
		t.Revision = pa.Sequence
	case err := <-f.Err():
		r.log.Error("final state not recorded; the task will be delivered again", "task", t.ID, "state", st, "err", err)
		return
	case <-ctx.Done():
		return
	}
	r.c.replyWith(t, rec)
	if err := msg.Ack(); err != nil {
		r.log.Warn("ack failed", "task", t.ID, "err", err)
	}
}

// putAsync writes the record without waiting and returns the future and
// the record's encoding; a nil future when it could not be sent.
func (r *Runner) putAsync(t *Task) (jetstream.PubAckFuture, []byte) {
	b, err := json.Marshal(t)
	if err != nil {
		r.log.Error("encode task record", "task", t.ID, "err", err)
		return nil, nil
	}
	f, err := r.c.js.PublishMsgAsync(&nats.Msg{Subject: kvSubject(TaskBucket, taskKeyPre+t.ID), Data: b},
		jetstream.WithStallWait(30*time.Second))
	if err != nil {
		r.log.Error("record task state", "task", t.ID, "state", t.State, "err", err)
		return nil, nil
	}
	return f, b
}

func (r *Runner) track(msg jetstream.Msg) *held {
	h := &held{msg: msg}
	r.mu.Lock()
	r.held[h] = struct{}{}
	r.mu.Unlock()
	return h
}

func (r *Runner) untrack(h *held) {
	r.mu.Lock()
	delete(r.held, h)
	r.mu.Unlock()
}

func (r *Runner) register(h *held) {
	r.mu.Lock()
	r.running[h.id] = h
	_, cancelled := r.cancelled[h.id]
	r.mu.Unlock()
	if cancelled {
		h.cancel(ErrCancelled)
	}
}

func (r *Runner) unregister(id string) {
	r.mu.Lock()
	delete(r.running, id)
	r.mu.Unlock()
}

func (r *Runner) runningIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *Runner) isCancelled(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.cancelled[id]
	return ok
}

// onCancel cancels a running task, or remembers the id for a while in
// case this worker holds the task but has not started it.
func (r *Runner) onCancel(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, cancelPre)
	now := time.Now()
	r.mu.Lock()
	for k, at := range r.cancelled {
		if now.Sub(at) > 10*time.Minute {
			delete(r.cancelled, k)
		}
	}
	r.cancelled[id] = now
	h := r.running[id]
	r.mu.Unlock()
	if h != nil {
		r.log.Info("cancelling task", "task", id)
		h.cancel(ErrCancelled)
	}
}

// heartbeat tells the broker, for every message held, that work is in
// progress, so that a long task is not given to another worker.
func (r *Runner) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.c.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(r.held))
		for h := range r.held {
			msgs = append(msgs, h.msg)
		}
		r.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// announce keeps this worker in the workers bucket while it runs.
func (r *Runner) announce(ctx context.Context) {
	host, _ := os.Hostname()
	put := func() {
		r.mu.Lock()
		waiting := r.waiting > 0
		r.mu.Unlock()
		wi := RunnerInfo{ID: r.id, Host: host, PID: os.Getpid(), Queues: r.queueNames(), Started: r.started,
			Running: r.runningIDs(), Held: waiting, Seen: time.Now().UTC()}
		b, _ := json.Marshal(wi)
		pctx, cancel := context.WithTimeout(ctx, workerBeat)
		defer cancel()
		if _, err := r.c.workers.Put(pctx, r.id, b); err != nil && ctx.Err() == nil {
			r.log.Warn("announce failed", "err", err)
		}
	}
	put()
	t := time.NewTicker(workerBeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			put()
		case <-r.beat:
			put()
		}
	}
}

func (r *Runner) announceSoon() {
	select {
	case r.beat <- struct{}{}:
	default:
	}
}

// watchHold follows the global hold; it returns once the current state is
// known.
func (r *Runner) watchHold(ctx, bg context.Context) error {
	w, err := r.c.locks.Watch(bg, holdKey)
	if err != nil {
		return fmt.Errorf("worker %s: watch hold: %w", r.id, err)
	}
	apply := func(e jetstream.KeyValueEntry) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if e.Operation() == jetstream.KeyValuePut {
			if r.holdCh == nil {
				r.holdCh = make(chan struct{})
				r.log.Info("global hold set: starting no tasks")
			}
		} else if r.holdCh != nil {
			close(r.holdCh)
			r.holdCh = nil
			r.log.Info("global hold released")
		}
	}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				go func() {
					defer func() { _ = w.Stop() }()
					for e := range w.Updates() {
						if e != nil {
							apply(e)
						}
					}
				}()
				return nil
			}
			apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		}
	}
}

// waitHold waits while the global hold is set; false when ctx ended first.
func (r *Runner) waitHold(ctx context.Context) bool {
	for {
		r.mu.Lock()
		ch := r.holdCh
		if ch != nil {
			r.waiting++
		}
		r.mu.Unlock()
		if ch == nil {
			return true
		}
		r.announceSoon()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
		r.announceSoon()
		if ctx.Err() != nil {
			return false
		}
	}
}
