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
	"sync/atomic"
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
	// OnTask, when set, is called when a handler starts (TaskStarted) and
	// when it ends (TaskFinished), on the goroutine that runs the task: it
	// must return quickly. Metrics hang here; package osism stays free of
	// a metrics library.
	OnTask func(TaskEvent)
}

// TaskEventKind says what a [TaskEvent] reports.
type TaskEventKind int

// The kinds of task events.
const (
	TaskStarted TaskEventKind = iota + 1
	TaskFinished
)

// TaskEvent is one start or end of a task's run on a runner.
type TaskEvent struct {
	Event TaskEventKind
	ID    string
	Kind  string
	Queue Queue
	// State is the state the run ended in (TaskFinished): succeeded,
	// failed, cancelled, or queued for a task handed back on shutdown.
	State State
	// Duration is how long the handler ran (TaskFinished).
	Duration time.Duration
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
	ackWait   map[Queue]time.Duration
	started   time.Time
	wg        sync.WaitGroup // running handlers
}

type held struct {
	msg     jetstream.Msg
	id      string
	ackWait time.Duration // the ack wait of the task's consumer
	cancel  context.CancelCauseFunc
	// confirmed is when the last heartbeat the broker confirmed was sent
	// (at first, when the message arrived), in Unix nanoseconds: the
	// broker redelivers the task an ack wait after it.
	confirmed atomic.Int64
}

// rev is what a runner knows of a task record's revision: its updates are
// conditional on it.
type rev struct {
	n     uint64
	known bool
	// follows marks a write that follows this runner's own running record,
	// still unacknowledged, on the same connection and stream: it goes out
	// at once, unconditionally, and lands after it.
	follows bool
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
	ackWait := make(map[Queue]time.Duration, len(r.cfg.Queues))
	for q := range r.cfg.Queues {
		cons, err := r.consumer(ctx, q)
		if err != nil {
			return fmt.Errorf("worker %s: consumer of queue %s: %w", r.id, q, err)
		}
		consumers[q] = cons
		created[q] = cons.CachedInfo().Created
		ackWait[q] = cons.CachedInfo().Config.AckWait
		if aw := r.c.cfg.AckWait; aw != ackWait[q] {
			r.log.Info("following the ack wait of the queue's consumer", "queue", q, "ack_wait", ackWait[q], "configured", aw)
		}
	}
	r.mu.Lock()
	r.ackWait = ackWait
	r.mu.Unlock()

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
	connCh := r.c.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer r.c.nc.RemoveStatusListener(connCh)
	var bgWG sync.WaitGroup
	bgWG.Add(3)
	go func() { defer bgWG.Done(); r.heartbeat(bg) }()
	go func() { defer bgWG.Done(); r.announce(bg) }()
	go func() { defer bgWG.Done(); r.watchConn(bg, connCh) }()

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

// consumer returns the durable consumer of queue q. A new consumer gets
// the configured ack wait; an existing one keeps its own, which this
// runner follows, so that workers with different settings agree on when
// a silent worker's task goes to another.
func (r *Runner) consumer(ctx context.Context, q Queue) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       consumerPre + string(q),
		Description:   "osism workers of queue " + string(q),
		FilterSubject: taskSubjectPre + string(q) + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.c.cfg.AckWait,
		// The runner counts deliveries itself, so that a task past the
		// maximum is recorded as failed instead of left in the stream.
		MaxDeliver:    -1,
		MaxAckPending: 100_000,
	}
	for range 3 {
		cons, err := r.c.js.Consumer(ctx, TaskStream, cfg.Durable)
		switch {
		case err == nil:
			info := cons.CachedInfo().Config
			if info.AckWait > 0 {
				cfg.AckWait = info.AckWait
			}
			if info.FilterSubject == cfg.FilterSubject && info.AckPolicy == cfg.AckPolicy && info.MaxDeliver == cfg.MaxDeliver &&
				info.MaxAckPending == cfg.MaxAckPending && info.AckWait == cfg.AckWait {
				return cons, nil
			}
			return r.c.js.UpdateConsumer(ctx, TaskStream, cfg)
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			cons, err := r.c.js.CreateConsumer(ctx, TaskStream, cfg)
			if errors.Is(err, jetstream.ErrConsumerExists) {
				continue // another worker created it meanwhile
			}
			return cons, err
		default:
			return nil, err
		}
	}
	return nil, errors.New("created and removed concurrently, try again")
}

// AckWait returns the ack wait the runner follows for queue q: its
// consumer's, known once Run started.
func (r *Runner) AckWait(q Queue) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ackWait[q]
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

// handle runs one delivered message to its end. Every record it writes
// is conditional on the revision it last saw; a conflict re-reads the
// record, and a record found final is never overwritten.
func (r *Runner) handle(ctx, taskCtx context.Context, q Queue, msg jetstream.Msg, consumerCreated time.Time) {
	h := r.track(msg, q)
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
	// The first delivery of a task stored after its consumer was created
	// is the only one (the stream stores a task id once), so it starts
	// without reading the record: the running state is written without a
	// condition, and the final state on the running state's revision.
	var last rev
	if t.Attempt > 1 || stored.Before(consumerCreated) {
		// An earlier delivery may have finished the task but lost its ack,
		// or an earlier consumer of the queue (since deleted) ran it.
		var final bool
		if last, final = r.readRecord(taskCtx, id); final {
			_ = msg.Ack()
			return
		}
	}
	hd := r.cfg.Handlers.lookup(t.Kind)
	// The records show the redacted arguments; the handler gets the real
	// ones.
	args := t.Args
	if hd != nil && hd.redact != nil && t.Args != nil {
		t.Args = hd.redact(args)
	}
	switch {
	case decErr != nil:
		r.fail(t, msg, last, "undecodable task message: "+decErr.Error())
		return
	case t.Attempt > r.c.cfg.MaxDeliveries:
		r.fail(t, msg, last, fmt.Sprintf("delivered %d times without finishing, more than max_deliveries %d: the workers running it stopped or were lost",
			t.Attempt, r.c.cfg.MaxDeliveries))
		return
	}
	if hd == nil {
		r.fail(t, msg, last, fmt.Sprintf("no handler for kind %s on worker %s of queue %s (it handles: %s)",
			t.Kind, r.id, q, strings.Join(r.cfg.Handlers.Kinds(), ", ")))
		return
	}
	if r.isCancelled(id) {
		r.finish(t, msg, last, StateCancelled, "cancelled before it started", ExitCancelled, false)
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
	var runF jetstream.PubAckFuture
	if last.known {
		// A redelivery: claim the record on the revision read above, so
		// that a run that finished meanwhile is not run again.
		var ok bool
		if last, ok = r.claim(taskCtx, t, last); !ok {
			_ = msg.Ack()
			return
		}
	} else {
		runF, _ = r.putAsync(t, last)
	}
	out := newOutputWriter(r.c.js, id)
	if t.Attempt > 1 {
		fmt.Fprintf(out, "osism: attempt %d of task %s, on worker %s\n", t.Attempt, id, r.id)
	}
	ht := *t
	ht.Args = args
	r.observe(TaskEvent{Event: TaskStarted, ID: id, Kind: t.Kind, Queue: q})
	began := time.Now()
	result, err := r.call(tctx, hd, &ht, out)
	cause := context.Cause(tctx)
	defer func() {
		d := time.Since(began)
		r.log.Info("task finished", "task_id", id, "kind", t.Kind, "queue", q, "state", t.State, "attempt", t.Attempt, "duration", d)
		r.observe(TaskEvent{Event: TaskFinished, ID: id, Kind: t.Kind, Queue: q, State: t.State, Duration: d})
	}()
	// The running record was not waited for: its revision is what the
	// final record is conditional on, and it has arrived unless the
	// handler took less than a round trip to the broker.
	if runF != nil {
		last = r.revisionOf(taskCtx, id, runF)
	}
	t.Result = result

	var de *decodeError
	switch {
	case err == nil:
		r.finishRun(t, msg, out, last, StateSucceeded, "", ExitOK)
	case errors.Is(cause, ErrDisconnected):
		// The broker has given the task to another worker: this run
		// records nothing.
		r.log.Warn("task abandoned: the broker has not heard from this worker for (nearly) the ack wait, and gives the task to another",
			"task_id", id, "ack_wait", h.ackWait, "cause", cause)
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(taskCtx), 5*time.Second)
		defer wcancel()
		_, _ = out.close(wctx, 0, false)
	case errors.Is(cause, ErrShutdown):
		fmt.Fprintf(out, "osism: worker %s shut down; the task goes back to queue %s\n", r.id, q)
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(taskCtx), 10*time.Second)
		defer wcancel()
		if _, err := out.close(wctx, 0, false); err != nil {
			r.log.Warn("task output incomplete", "task_id", id, "err", err)
		}
		t.State, t.Worker, t.StartedAt = StateQueued, "", time.Time{}
		if f, _ := r.putAsync(t, last); f != nil {
			_ = waitAck(wctx, f)
		}
		_ = msg.Nak()
	case errors.Is(cause, ErrCancelled):
		r.finishRun(t, msg, out, last, StateCancelled, "cancelled", ExitCancelled)
	case errors.Is(cause, errTimeout):
		r.finishRun(t, msg, out, last, StateFailed, fmt.Sprintf("timed out after %s: %v", t.Timeout, err), ExitStatus(err))
	case errors.As(err, &de):
		r.finishRun(t, msg, out, last, StateFailed, "undecodable task message: "+de.Error(), ExitFailure)
	default:
		r.finishRun(t, msg, out, last, StateFailed, err.Error(), ExitStatus(err))
	}
}

// readRecord reads the record of task id: its revision (0 when there is
// none) and whether it is final. A record that cannot be read counts as
// unknown.
func (r *Runner) readRecord(ctx context.Context, id string) (rev, bool) {
	rec, err := r.c.Get(ctx, id)
	switch {
	case err == nil:
		return rev{n: rec.Revision, known: true}, rec.State.Finished()
	case errors.Is(err, ErrNotFound):
		return rev{known: true}, false
	}
	r.log.Warn("task record not read", "task_id", id, "err", err)
	return rev{}, false
}

// claim writes the running record on revision last; on a conflict it
// re-reads the record and gives up (false) when it is final.
func (r *Runner) claim(ctx context.Context, t *Task, last rev) (rev, bool) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for range 3 {
		f, _ := r.putAsync(t, last)
		if f == nil {
			return rev{}, true
		}
		seq, err := waitSeq(wctx, f)
		if err == nil {
			return rev{n: seq, known: true}, true
		}
		if !isWrongLastSeq(err) {
			r.log.Warn("running state not recorded", "task_id", t.ID, "err", err)
			return rev{}, true
		}
		var final bool
		if last, final = r.readRecord(wctx, t.ID); final {
			r.log.Info("task finished elsewhere; not running it again", "task_id", t.ID)
			return last, false
		}
	}
	return last, true
}

// revisionOf returns the revision the running record f got, or reads it
// when f failed. When f is not acknowledged yet, the final record follows
// it without waiting: waiting would add a round trip to every short task,
// and nothing else writes the record of a first delivery in the meantime
// (another delivery comes only after the ack wait, and a cancel does not
// overwrite a running record).
func (r *Runner) revisionOf(ctx context.Context, id string, f jetstream.PubAckFuture) rev {
	var err error
	select {
	case pa := <-f.Ok():
		return rev{n: pa.Sequence, known: true}
	case err = <-f.Err():
	default:
		return rev{follows: true}
	}
	r.log.Warn("running state not recorded", "task_id", id, "err", err)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	last, _ := r.readRecord(wctx, id)
	return last
}

// observe hands e to RunnerConfig.OnTask.
func (r *Runner) observe(e TaskEvent) {
	if r.cfg.OnTask != nil {
		r.cfg.OnTask(e)
	}
}

// call runs the handler; a panic fails the task instead of the worker.
func (r *Runner) call(ctx context.Context, hd *handler, t *Task, out *outputWriter) (res json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("handler panicked", "task_id", t.ID, "kind", t.Kind, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler of kind %s panicked: %v", t.Kind, p)
		}
	}()
	return hd.run(ctx, r.c, t, out, r.log)
}

// fail records a task that never ran, and removes it from the queue.
func (r *Runner) fail(t *Task, msg jetstream.Msg, last rev, reason string) {
	r.log.Warn("task failed before it ran", "task_id", t.ID, "kind", t.Kind, "reason", reason)
	r.finish(t, msg, last, StateFailed, reason, ExitFailure, false)
}

// finishRun closes the output (end marker), then records the end.
func (r *Runner) finishRun(t *Task, msg jetstream.Msg, out *outputWriter, last rev, st State, reason string, exit int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marker, err := out.close(ctx, exit, false)
	if err != nil {
		r.log.Warn("task output incomplete", "task_id", t.ID, "err", err)
	}
	r.finish(t, msg, last, st, reason, exit, marker)
}

// finish records the final state on revision last, tells the submitter and
// acks. The ack comes last, so that a worker that dies before it leaves the
// task to be delivered again rather than unrecorded. A record found final
// (another delivery finished the task) is left as it is.
func (r *Runner) finish(t *Task, msg jetstream.Msg, last rev, st State, reason string, exit int, marker bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.State, t.Error, t.ExitStatus, t.EndMarker, t.FinishedAt = st, reason, exit, marker, time.Now().UTC()
	if !last.known && !last.follows {
		var final bool
		if last, final = r.readRecord(ctx, t.ID); final {
			r.log.Info("task finished elsewhere; its record stays", "task_id", t.ID, "state", st)
			_ = msg.Ack()
			return
		}
	}
	for attempt := 1; ; attempt++ {
		f, rec := r.putAsync(t, last)
		if f == nil {
			return // not recorded: leave the message to be delivered again
		}
		var err error
		select {
		case pa := <-f.Ok():
			t.Revision = pa.Sequence
		case err = <-f.Err():
		case <-ctx.Done():
			return
		}
		if err == nil {
			r.c.replyWith(t, rec)
			break
		}
		if !isWrongLastSeq(err) || attempt == 3 {
			r.log.Error("final state not recorded; the task will be delivered again", "task_id", t.ID, "state", st, "err", err)
			return
		}
		var final bool
		if last, final = r.readRecord(ctx, t.ID); final {
			r.log.Warn("final state not recorded: the task finished elsewhere, its record stays", "task_id", t.ID, "state", st)
			break
		}
	}
	if err := msg.Ack(); err != nil {
		r.log.Warn("ack failed", "task_id", t.ID, "err", err)
	}
}

// putAsync writes the record without waiting, conditional on last when it
// is known, and returns the future and the record's encoding; a nil future
// when it could not be sent.
func (r *Runner) putAsync(t *Task, last rev) (jetstream.PubAckFuture, []byte) {
	b, err := json.Marshal(t)
	if err != nil {
		r.log.Error("encode task record", "task_id", t.ID, "err", err)
		return nil, nil
	}
	opts := []jetstream.PublishOpt{jetstream.WithStallWait(30 * time.Second)}
	if last.known {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(last.n))
	}
	f, err := r.c.js.PublishMsgAsync(&nats.Msg{Subject: kvSubject(TaskBucket, taskKeyPre+t.ID), Data: b}, opts...)
	if err != nil {
		r.log.Error("record task state", "task_id", t.ID, "state", t.State, "err", err)
		return nil, nil
	}
	return f, b
}

func (r *Runner) track(msg jetstream.Msg, q Queue) *held {
	h := &held{msg: msg}
	h.confirmed.Store(time.Now().UnixNano())
	r.mu.Lock()
	h.ackWait = r.ackWait[q]
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
		r.log.Info("cancelling task", "task_id", id)
		h.cancel(ErrCancelled)
	}
}

// heartbeat tells the broker, for every message held, that work is in
// progress, so that a long task is not given to another worker. It beats
// at a third of the shortest ack wait of the runner's consumers, and each
// beat is a request the broker answers: a task none of whose beats was
// confirmed for 5/6 of its ack wait (a partition that looks like a live
// connection, say) is cancelled with [ErrDisconnected] before the broker
// hands it to another worker.
func (r *Runner) heartbeat(ctx context.Context) {
	r.mu.Lock()
	every := time.Duration(0)
	for _, aw := range r.ackWait {
		if every == 0 || aw < every {
			every = aw
		}
	}
	r.mu.Unlock()
	if every <= 0 {
		every = r.c.cfg.AckWait
	}
	beat := time.NewTicker(every / 3)
	defer beat.Stop()
	check := time.NewTicker(every / 12)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			r.cancelUnconfirmed()
			continue
		case <-beat.C:
		}
		r.mu.Lock()
		hs := make([]*held, 0, len(r.held))
		for h := range r.held {
			hs = append(hs, h)
		}
		r.mu.Unlock()
		for _, h := range hs {
			go r.beatOne(ctx, h, every/3)
		}
	}
}

// beatOne sends one in-progress ack for h and waits up to timeout for the
// broker to confirm it.
func (r *Runner) beatOne(ctx context.Context, h *held, timeout time.Duration) {
	reply := h.msg.Reply()
	if reply == "" {
		return
	}
	sent := time.Now()
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := r.c.nc.RequestWithContext(bctx, reply, []byte("+WPI")); err != nil {
		return
	}
	for {
		old := h.confirmed.Load()
		if old >= sent.UnixNano() || h.confirmed.CompareAndSwap(old, sent.UnixNano()) {
			return
		}
	}
}

// cancelUnconfirmed cancels the running tasks whose last confirmed
// heartbeat is 5/6 of their ack wait old.
func (r *Runner) cancelUnconfirmed() {
	now := time.Now()
	type stale struct {
		h   *held
		age time.Duration
	}
	var cancels []stale
	r.mu.Lock()
	for _, h := range r.running {
		age := now.Sub(time.Unix(0, h.confirmed.Load()))
		if h.ackWait > 0 && h.cancel != nil && age >= h.ackWait*5/6 {
			cancels = append(cancels, stale{h, age})
		}
	}
	r.mu.Unlock()
	for _, c := range cancels {
		c.h.cancel(fmt.Errorf("%w: no heartbeat confirmed for %s of an ack wait of %s", ErrDisconnected, c.age.Round(time.Millisecond), c.h.ackWait))
	}
}

// watchConn cancels, with [ErrDisconnected], the handlers of tasks whose
// ack wait passed while the runner was cut off from the broker: the broker
// has handed those tasks to another worker, so the old run must stop.
func (r *Runner) watchConn(ctx context.Context, status <-chan nats.Status) {
	var since time.Time // when the connection was lost; zero while connected
	if !r.c.nc.IsConnected() {
		since = time.Now()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wait <-chan time.Time
		if !since.IsZero() {
			timer.Reset(r.cancelAbandoned(time.Since(since)))
			wait = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case st, ok := <-status:
			if !ok {
				return
			}
			switch {
			case st == nats.CONNECTED:
				since = time.Time{}
			case since.IsZero():
				since = time.Now()
				r.log.Warn("lost the broker", "status", st.String())
			}
		case <-wait:
			if r.c.nc.IsConnected() { // a status event may have been dropped
				since = time.Time{}
			}
		}
	}
}

// cancelAbandoned cancels the running tasks whose ack wait is not longer
// than off, the time the runner has been disconnected, and returns when
// to look again.
func (r *Runner) cancelAbandoned(off time.Duration) time.Duration {
	r.mu.Lock()
	var cancels []context.CancelCauseFunc
	for _, h := range r.running {
		if h.ackWait > 0 && off >= h.ackWait {
			cancels = append(cancels, h.cancel)
		}
	}
	r.mu.Unlock()
	for _, c := range cancels {
		c(ErrDisconnected)
	}
	return 100 * time.Millisecond
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
