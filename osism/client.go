package osism

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client submits and watches tasks, takes locks and lists workers. It is
// safe for concurrent use. Create it with [Dial] or [NewClient].
type Client struct {
	nc     *nats.Conn
	ownsNC bool
	js     jetstream.JetStream
	cfg    TaskConfig
	log    *slog.Logger
	// pubTimeout bounds the wait for the acknowledgement of one publish
	// of a task.
	pubTimeout time.Duration
	// refusals is closed, and replaced, whenever the broker reports a
	// permissions violation on the connection: a refused publish gets no
	// answer of its own.
	refusals atomic.Pointer[chan struct{}]
	// refusedErrs are the last permissions violations the broker reported
	// (a ring; refusedN counts them all): the connection keeps only the
	// last error, which a refusal of another publish may replace.
	refusedMu   sync.Mutex
	refusedErrs [64]error
	refusedN    int
	// beforeWait, when set (by tests), runs after Submit published a
	// task and before it waits for the broker's answer.
	beforeWait func()

	tasks   jetstream.KeyValue
	locks   jetstream.KeyValue
	workers jetstream.KeyValue
	taskStr jetstream.Stream
	outStr  jetstream.Stream

	// Workers report the end of a task on its reply subject, under this
	// client's prefix; one subscription serves every Wait, because one
	// watcher per task would cost most of the bus's throughput. Tasks
	// submitted here are pending until their reply is collected by Wait;
	// uncollected replies are forgotten after a while (Wait then reads the
	// record).
	replyPre string
	replySub *nats.Subscription
	mu       sync.Mutex
	pending  map[string]*pendingTask
	doneQ    []doneEntry // replies not collected yet, oldest first
}

type pendingTask struct {
	done chan struct{}
	t    *Task
}

type doneEntry struct {
	id string
	at time.Time
}

// Bounds of uncollected replies and of tasks pending without a reply.
const (
	keepReplies = 10_000
	keepFor     = time.Minute
	maxPending  = 100_000
)

// ClientOpts are the knobs of [NewClient]; nil means the defaults.
type ClientOpts struct {
	// Tasks says how streams and buckets are provisioned and tasks
	// delivered.
	Tasks TaskConfig
	// Logger receives the client's and its workers' logs; default
	// slog.Default().
	Logger *slog.Logger
	// PublishTimeout is how long Submit waits for the broker to
	// acknowledge a task before it publishes the task again (with the same
	// Nats-Msg-Id, so that the broker stores it once); default 5s.
	PublishTimeout time.Duration
}

// Dial connects to the broker of cfg and returns a client that owns the
// connection. It fails for standalone mode (no broker URL): services
// provides the embedded broker for that.
func Dial(ctx context.Context, cfg Config, extra ...nats.Option) (*Client, error) {
	if cfg.Standalone() {
		return nil, errors.New("dial: no broker URL configured (standalone mode needs an embedded broker, see package services)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := cfg.Broker.NATSOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.Broker.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial broker %s: %w", cfg.Broker.RedactedURL(), scrubURLs(err, cfg.Broker.URL))
	}
	c, err := NewClient(ctx, nc, &ClientOpts{Tasks: cfg.Tasks})
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.ownsNC = true
	return c, nil
}

// NATSOptions turns the credentials and TLS settings into connection
// options.
func (b ConnConfig) NATSOptions() ([]nats.Option, error) {
	name := b.Name
	if name == "" {
		name = "osism " + filepath.Base(os.Args[0])
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	switch {
	case b.User != "":
		opts = append(opts, nats.UserInfo(b.User, string(b.Password)))
	case b.Token != "":
		opts = append(opts, nats.Token(string(b.Token)))
	case b.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(b.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("broker nkey_seed_file %s: %w", b.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case b.CredsFile != "":
		if _, err := os.Stat(b.CredsFile); err != nil {
			return nil, fmt.Errorf("broker creds_file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(b.CredsFile))
	case b.TokenFile != "":
		tok, err := readTokenFile(b.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok))
	default:
		// The token the broker of this host generated, when this user may
		// read it; a broker that needs no credentials ignores it.
		if tok, err := readTokenFile(DefaultBrokerTokenFile); err == nil {
			opts = append(opts, nats.Token(tok))
		}
	}
	if b.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(b.TLS.CAFile))
	}
	if b.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(b.TLS.CertFile, b.TLS.KeyFile))
	}
	if b.TLS.Enabled() {
		opts = append(opts, nats.Secure())
	}
	return opts, nil
}

// readTokenFile reads a token file; the error names the file, never the
// token.
func readTokenFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("broker token_file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", fmt.Errorf("broker token_file %s: empty, expected the token", path)
	}
	return tok, nil
}

// NewClient returns a client over an open connection, which the caller
// keeps and closes. It binds to the streams and buckets of the bus as they
// are: their limits are the broker's ([EnsureBus], which a broker calls
// when it starts). When they are missing it creates them with opts.Tasks,
// which only an admin credential may; for another one it fails at once
// with an error that names the missing stream (errors.Is(err,
// ErrBusMissing)).
func NewClient(ctx context.Context, nc *nats.Conn, opts *ClientOpts) (*Client, error) {
	if opts == nil {
		opts = &ClientOpts{}
	}
	if err := (Config{Tasks: opts.Tasks}).Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		nc:         nc,
		cfg:        opts.Tasks.withDefaults(),
		log:        opts.Logger,
		pending:    make(map[string]*pendingTask),
		pubTimeout: opts.PublishTimeout,
	}
	if c.pubTimeout <= 0 {
		c.pubTimeout = 5 * time.Second
	}
	ch := make(chan struct{})
	c.refusals.Store(&ch)
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			c.refusedMu.Lock()
			c.refusedErrs[c.refusedN%len(c.refusedErrs)] = err
			c.refusedN++
			c.refusedMu.Unlock()
			next := make(chan struct{})
			close(*c.refusals.Swap(&next))
		}
		if prev != nil {
			prev(nc, sub, err)
		}
	})
	if c.log == nil {
		c.log = slog.Default()
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.js = js
	b, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	c.taskStr, c.outStr, c.tasks, c.locks, c.workers = b.taskStr, b.outStr, b.tasks, b.locks, b.workers
	c.replyPre = nc.NewInbox() + "."
	c.replySub, err = nc.Subscribe(c.replyPre+"*", c.onReply)
	if err != nil {
		return nil, fmt.Errorf("subscribe to task replies: %w", err)
	}
	return c, nil
}

// Close ends the client; it closes the connection when [Dial] opened it.
func (c *Client) Close() error {
	err := c.replySub.Unsubscribe()
	if c.ownsNC {
		c.nc.Close()
		return nil
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		return nil
	}
	return err
}

// Conn returns the client's connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// JetStream returns the client's JetStream context.
func (c *Client) JetStream() jetstream.JetStream { return c.js }

// TaskConfig returns the settings the client works with, defaults filled.
func (c *Client) TaskConfig() TaskConfig { return c.cfg }

func (c *Client) onReply(m *nats.Msg) {
	id := m.Subject[len(c.replyPre):]
	var t Task
	if err := json.Unmarshal(m.Data, &t); err != nil {
		c.log.Warn("undecodable task reply", "task", id, "err", err)
		return
	}
	if rev := m.Header.Get("Osism-Revision"); rev != "" {
		t.Revision, _ = strconv.ParseUint(rev, 10, 64)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if p == nil || p.t != nil {
		return
	}
	p.t = &t
	close(p.done)
	c.doneQ = append(c.doneQ, doneEntry{id, now})
	n := 0
	for n < len(c.doneQ) && (len(c.doneQ)-n > keepReplies || now.Sub(c.doneQ[n].at) > keepFor) {
		if q := c.pending[c.doneQ[n].id]; q != nil && q.t != nil {
			delete(c.pending, c.doneQ[n].id)
		}
		n++
	}
	if n > 0 {
		c.doneQ = append(c.doneQ[:0], c.doneQ[n:]...)
	}
}

func (c *Client) addPending(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) >= maxPending {
		// Tasks that never ended (no worker serves their queue) are
		// forgotten first; Wait reads their record instead.
		for k, p := range c.pending {
			if p.t == nil {
				delete(c.pending, k)
				break
			}
		}
	}
	c.pending[id] = &pendingTask{done: make(chan struct{})}
}

func (c *Client) takePending(id string) *pendingTask {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending[id]
}

func (c *Client) dropPending(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, id)
}

// SubmitOpts are per-task options of [Client.Submit]; nil means none.
type SubmitOpts struct {
	// Queue overrides the kind's queue.
	Queue Queue
	// DedupKey refuses a second task with the same key while the first is
	// queued or running (and for TaskConfig.DedupWindow after it
	// finished): Submit then returns the first task's id with Duplicate set.
	DedupKey string
	// Timeout ends the task (as failed) when it runs longer.
	Timeout time.Duration
}

// SubmitResult says which task a submission is.
type SubmitResult struct {
	ID string
	// Duplicate is set when an earlier task with the same DedupKey stands
	// in for this one; ID is that task's.
	Duplicate bool
}

// Submit queues a task and returns its id once the broker stored it. It
// publishes the task with its id as Nats-Msg-Id and, when it cannot tell
// whether the broker stored it (the acknowledgement lost, the connection
// dropped), publishes it again, a few times within ctx; the broker keeps
// one copy. When the outcome stays unknown, Submit returns the task's id
// with an error for which errors.Is(err, ErrMaybeQueued) holds: the task
// may still run, and its record tells. Only a task the broker refused is
// recorded as failed ("not queued").
func (c *Client) Submit(ctx context.Context, args Args, opts *SubmitOpts) (SubmitResult, error) {
	if args == nil {
		return SubmitResult{}, errors.New("submit: nil task arguments")
	}
	if opts == nil {
		opts = &SubmitOpts{}
	}
	kind := args.Kind()
	if err := validKind(kind); err != nil {
		return SubmitResult{}, fmt.Errorf("submit: %w", err)
	}
	q := args.Queue()
	if opts.Queue != "" {
		q = opts.Queue
	}
	if err := q.Validate(); err != nil {
		return SubmitResult{}, fmt.Errorf("submit %s: %w", kind, err)
	}
	if opts.Timeout < 0 {
		return SubmitResult{}, fmt.Errorf("submit %s: timeout %s: expected a positive duration", kind, opts.Timeout)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("submit %s: encode arguments: %w", kind, err)
	}
	id := newID()
	if opts.DedupKey != "" {
		existing, dup, err := c.claimDedup(ctx, opts.DedupKey, id)
		if err != nil {
			return SubmitResult{}, fmt.Errorf("submit %s: %w", kind, err)
		}
		if dup {
			return SubmitResult{ID: existing, Duplicate: true}, nil
		}
	}
	now := time.Now().UTC()
	rec := Task{
		ID: id, Kind: kind, Queue: q, State: StateQueued, Args: raw,
		DedupKey: opts.DedupKey, Timeout: opts.Timeout, CreatedAt: now,
		Reply: c.replyPre + id,
	}
	// The record shows what the kind lets it show; the task carries the
	// arguments as given.
	m := taskMsg(&rec)
	if r, ok := args.(Redacter); ok {
		rec.Args = redactedJSON(r, raw)
	}
	recb, err := json.Marshal(&rec)
	if err != nil {
		return SubmitResult{}, fmt.Errorf("submit %s: encode record: %w", kind, err)
	}
	// The task and its record go out together, the task first so that a
	// worker can start it while the record is stored. A worker may write
	// "running" before "queued" lands; the create-if-absent keeps "queued"
	// from overwriting it.
	// A refusal has no answer of its own; one reported from now on may be
	// this task's, even one that arrives before the waits below begin.
	refusal := *c.refusals.Load()
	c.addPending(id)
	taskF, err := c.js.PublishMsgAsync(m, jetstream.WithStallWait(5*time.Second))
	if err != nil {
		// Not sent: nothing of the task reached the broker.
		c.dropPending(id)
		return SubmitResult{}, fmt.Errorf("submit %s to queue %s: not queued: %w", kind, q, err)
	}
	recF, recErr := c.js.PublishMsgAsync(&nats.Msg{Subject: kvSubject(TaskBucket, taskKeyPre+id), Data: recb},
		jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithStallWait(5*time.Second))
	if c.beforeWait != nil {
		c.beforeWait()
	}
	taskErr, maybe := c.confirmTask(ctx, m, taskF, refusal)
	var recRev uint64
	if recErr == nil {
		// Bounded, and ended by a refusal: a credential that may not
		// write records gets no answer.
		wctx, cancel := context.WithTimeout(ctx, c.pubTimeout)
		recRev, recErr = c.waitRecord(wctx, recF, id, refusal)
		cancel()
	}
	if taskErr != nil {
		if maybe {
			// The task may be stored and run: its record stays queued and
			// the worker's records tell how it went.
			return SubmitResult{ID: id}, fmt.Errorf("submit %s to queue %s: task %s: %w: %w", kind, q, id, ErrMaybeQueued, taskErr)
		}
		c.dropPending(id)
		rec.State, rec.Error, rec.ExitStatus, rec.FinishedAt = StateFailed, "not queued: "+taskErr.Error(), ExitFailure, time.Now().UTC()
		// A credential whose record the broker refused cannot write
		// this one either: it would only wait for an answer that never
		// comes.
		if b, err := json.Marshal(&rec); err == nil && !errors.Is(recErr, nats.ErrPermissionViolation) {
			wctx := context.WithoutCancel(ctx)
			if recErr == nil {
				_, _ = c.tasks.Update(wctx, taskKeyPre+id, b, recRev)
			} else {
				_, _ = c.tasks.Create(wctx, taskKeyPre+id, b)
			}
		}
		return SubmitResult{}, fmt.Errorf("submit %s to queue %s: not queued: %w", kind, q, taskErr)
	}
	if recErr != nil && !isWrongLastSeq(recErr) {
		c.log.Warn("task queued but its record was not written", "task", id, "kind", kind, "err", recErr)
	}
	return SubmitResult{ID: id}, nil
}

// taskMsg is the message that queues task t: the arguments as its data,
// the rest of what a worker needs in headers, and the task id as its
// Nats-Msg-Id, so that the stream stores a task published twice once.
func taskMsg(t *Task) *nats.Msg {
	m := &nats.Msg{Subject: TaskSubject(t.Queue, t.ID), Data: t.Args, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, t.ID)
	m.Header.Set(hdrKind, t.Kind)
	if !t.CreatedAt.IsZero() {
		// The zero time has no UnixNano: it would overflow to 1754.
		m.Header.Set(hdrCreated, strconv.FormatInt(t.CreatedAt.UnixNano(), 10))
	}
	if t.Reply != "" {
		m.Header.Set(hdrReply, t.Reply)
	}
	if t.Timeout > 0 {
		m.Header.Set(hdrTimeout, t.Timeout.String())
	}
	if t.DedupKey != "" {
		m.Header.Set(hdrDedup, t.DedupKey)
	}
	return m
}

// publishAttempts bounds how often Submit publishes one task.
const publishAttempts = 5

// confirmTask waits for the broker to acknowledge the task message m sent
// as f. When the outcome is unknown (no acknowledgement in time, the
// connection lost) it publishes m again, with the same Nats-Msg-Id, a
// bounded number of times within ctx. It returns nil once the broker
// stored the task (perhaps the first time), else the last error and
// whether the task may still have been stored.
// refused returns the permissions violation the broker reported for a
// publish of task id (its message or its record: the connection keeps the
// last error only, and both subjects name the id), if it did.
func (c *Client) refused(id string) error {
	return c.refusedSubject(func(subj string) bool { return strings.HasSuffix(subj, "."+id) })
}

// refusedSubject returns the permissions violation the broker reported
// for a publish to a subject match accepts, if it did.
func (c *Client) refusedSubject(match func(subject string) bool) error {
	c.refusedMu.Lock()
	defer c.refusedMu.Unlock()
	for _, err := range c.refusedErrs {
		if err == nil {
			continue
		}
		// nats: permissions violation: Permissions Violation for Publish to "subject"
		msg := err.Error()
		i := strings.LastIndex(msg, `to "`)
		if i < 0 || !strings.HasSuffix(msg, `"`) {
			continue
		}
		if match(msg[i+4 : len(msg)-1]) {
			return fmt.Errorf("the broker refused it: %w", err)
		}
	}
	return nil
}

// open binds to the bus; when it is missing, it creates it, unless the
// broker refuses (a credential that is not admin): then the error names
// what is missing.
func (c *Client) open(ctx context.Context) (*bus, error) {
	b, err := bind(ctx, c.js)
	if !errors.Is(err, ErrBusMissing) {
		return b, err
	}
	missing := err
	refusal := *c.refusals.Load()
	done := make(chan struct{})
	var perr error
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(done)
		b, perr = provision(pctx, c.js, c.cfg)
	}()
	for {
		select {
		case <-done:
			if perr != nil {
				return nil, fmt.Errorf("%w; creating it failed: %w", missing, perr)
			}
			return b, nil
		case <-refusal:
			refusal = *c.refusals.Load()
			if rerr := c.refusedSubject(func(subj string) bool {
				return strings.HasPrefix(subj, "$JS.API.STREAM.CREATE.") || strings.HasPrefix(subj, "$JS.API.STREAM.UPDATE.")
			}); rerr != nil {
				cancel()
				<-done
				return nil, fmt.Errorf("%w; this credential may not create it (only an admin may): %w", missing, rerr)
			}
		}
	}
}

func (c *Client) confirmTask(ctx context.Context, m *nats.Msg, f jetstream.PubAckFuture, refusal <-chan struct{}) (err error, maybe bool) {
	wait := func() error {
		t := time.NewTimer(c.pubTimeout)
		defer t.Stop()
		// A broker that refuses the publish (a credential without the
		// right) sends no answer, only an error on the connection;
		// refusal was taken before the publish, so a refusal that came
		// before this wait began has closed it.
		refused := refusal
		for {
			select {
			case <-f.Ok():
				return nil
			case err := <-f.Err():
				return err
			case <-t.C:
				if err := c.refused(m.Header.Get(nats.MsgIdHdr)); err != nil {
					return err
				}
				return fmt.Errorf("no acknowledgement within %s: %w", c.pubTimeout, jetstream.ErrAsyncPublishTimeout)
			case <-ctx.Done():
				return ctx.Err()
			case <-refused:
				refused = *c.refusals.Load()
			}
			if err := c.refused(m.Header.Get(nats.MsgIdHdr)); err != nil {
				return err
			}
		}
	}
	err = wait()
	for attempt := 1; ; attempt++ {
		switch {
		case err == nil, isPerSubjectFull(err):
			// Stored: now, or by an earlier publish of this task.
			return nil, false
		case !isAmbiguous(err):
			if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
				return err, maybe // the broker refused it
			}
			// No stream answered (a leader election, say): not stored
			// this time; try again.
		default:
			maybe = true
		}
		if attempt >= publishAttempts || ctx.Err() != nil {
			if ctx.Err() != nil {
				maybe = true // ended while a publish may be under way
			}
			return fmt.Errorf("%d publishes: %w", attempt, err), maybe
		}
		if !errors.Is(err, jetstream.ErrAsyncPublishTimeout) && !errors.Is(err, nats.ErrTimeout) {
			// It failed at once (no stream answered, the connection is
			// down): give the broker a moment (a leader election, a
			// reconnect) before the next publish.
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		pctx, cancel := context.WithTimeout(ctx, c.pubTimeout)
		_, err = c.js.PublishMsg(pctx, m)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no acknowledgement within %s: %w", c.pubTimeout, jetstream.ErrAsyncPublishTimeout)
		}
	}
}

// isAmbiguous reports a publish whose outcome is unknown: the broker may
// have stored the message.
func isAmbiguous(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr):
		return false // the broker answered
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject), errors.Is(err, nats.ErrInvalidMsg),
		errors.Is(err, nats.ErrPermissionViolation):
		return false // nothing was stored
	}
	return true
}

// waitSeq waits for a publish and returns its stream sequence.
// waitRecord is waitSeq that also ends when the broker refused a publish
// of task id.
func (c *Client) waitRecord(ctx context.Context, f jetstream.PubAckFuture, id string, refused <-chan struct{}) (uint64, error) {
	for {
		select {
		case pa := <-f.Ok():
			return pa.Sequence, nil
		case err := <-f.Err():
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-refused:
			refused = *c.refusals.Load()
			if err := c.refused(id); err != nil {
				return 0, err
			}
		}
	}
}

func waitSeq(ctx context.Context, f jetstream.PubAckFuture) (uint64, error) {
	select {
	case pa := <-f.Ok():
		return pa.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func waitAck(ctx context.Context, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func dedupKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return dedupKeyPre + hex.EncodeToString(sum[:20])
}

// claimDedup makes id the holder of key, or returns the live task that
// holds it.
func (c *Client) claimDedup(ctx context.Context, key, id string) (string, bool, error) {
	k := dedupKey(key)
	for range 5 {
		_, err := c.tasks.Create(ctx, k, []byte(id))
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", false, fmt.Errorf("de-duplication key %q: %w", key, err)
		}
		e, err := c.tasks.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("de-duplication key %q: %w", key, err)
		}
		holder := string(e.Value())
		t, err := c.Get(ctx, holder)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return "", false, err
		case !t.State.Finished():
			return holder, true, nil
		case time.Since(t.FinishedAt) < c.cfg.DedupWindow:
			return holder, true, nil
		}
		if _, err := c.tasks.Update(ctx, k, []byte(id), e.Revision()); err == nil {
			return id, false, nil
		} else if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return "", false, fmt.Errorf("de-duplication key %q: %w", key, err)
		}
	}
	return "", false, fmt.Errorf("de-duplication key %q: contended, try again", key)
}

// Get returns the record of task id; errors.Is(err, ErrNotFound) when
// there is none.
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	e, err := c.tasks.Get(ctx, taskKeyPre+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	return decodeTask(e)
}

func decodeTask(e jetstream.KeyValueEntry) (*Task, error) {
	var t Task
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return nil, fmt.Errorf("task record %s: %w", e.Key(), err)
	}
	t.Revision = e.Revision()
	return &t, nil
}

// Wait blocks until task id finished and returns its record. A task that
// failed is not an error of Wait: see [Task.Err].
func (c *Client) Wait(ctx context.Context, id string) (*Task, error) {
	p := c.takePending(id)
	if p == nil {
		return c.watchUntilFinished(ctx, id)
	}
	// The reply is the fast path; the poll covers a reply lost in a
	// reconnect.
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	for {
		select {
		case <-p.done:
			c.dropPending(id)
			return p.t, nil
		case <-poll.C:
			t, err := c.Get(ctx, id)
			if err != nil || t.State.Finished() {
				c.dropPending(id)
				return t, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// watchUntilFinished waits on the task's record, for tasks another client
// submitted.
func (c *Client) watchUntilFinished(ctx context.Context, id string) (*Task, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	w, err := c.tasks.Watch(ctx, taskKeyPre+id)
	if err != nil {
		return nil, fmt.Errorf("watch task %s: %w", id, err)
	}
	defer func() { _ = w.Stop() }()
	seen := false
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch task %s: watcher closed", id)
			}
			if e == nil && !seen {
				// The watcher replayed nothing: there is no such task.
				return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			seen = true
			t, err := decodeTask(e)
			if err != nil {
				return nil, err
			}
			if t.State.Finished() {
				return t, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Cancel cancels task id: a queued task never starts, a running task's
// handler sees its context cancelled (and what it runs is killed). It
// returns ErrFinished for a task that already ended.
func (c *Client) Cancel(ctx context.Context, id string) error {
	t, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	if t.State.Finished() {
		return fmt.Errorf("cancel task %s (%s): %w", id, t.State, ErrFinished)
	}
	// The broadcast reaches the worker that runs the task, or remembers the
	// id at the worker that holds it but has not started it.
	if err := c.nc.Publish(cancelPre+id, nil); err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	for t.State == StateQueued {
		// Take the queued task out of the stream so that no worker starts
		// it later.
		if m, err := c.taskStr.GetLastMsgForSubject(ctx, TaskSubject(t.Queue, id)); err == nil {
			if err := c.taskStr.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("cancel task %s: remove from queue %s: %w", id, t.Queue, err)
			}
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("cancel task %s: %w", id, err)
		}
		done := *t
		done.State, done.ExitStatus, done.Error, done.FinishedAt = StateCancelled, ExitCancelled, "cancelled before it started", time.Now().UTC()
		b, err := json.Marshal(&done)
		if err != nil {
			return err
		}
		rev, err := c.tasks.Update(ctx, taskKeyPre+id, b, t.Revision)
		if err == nil {
			done.Revision = rev
			c.reply(&done)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("cancel task %s: %w", id, err)
		}
		if t, err = c.Get(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// reply tells the submitter of t that it finished.
func (c *Client) reply(t *Task) {
	if t.Reply == "" {
		return
	}
	b, err := json.Marshal(t)
	if err != nil {
		return
	}
	c.replyWith(t, b)
}

// replyWith is reply with t already encoded as rec.
func (c *Client) replyWith(t *Task, rec []byte) {
	if t.Reply == "" {
		return
	}
	m := &nats.Msg{Subject: t.Reply, Data: rec, Header: nats.Header{}}
	m.Header.Set("Osism-Revision", strconv.FormatUint(t.Revision, 10))
	_ = c.nc.PublishMsg(m)
}

// ListOpts filter [Client.List]; zero fields match everything.
type ListOpts struct {
	States []State
	Kind   string
	Queue  Queue
	// Since and Until bound the creation time.
	Since, Until time.Time
	// Limit keeps the newest Limit tasks; 0 keeps all.
	Limit int
}

// List returns the recorded tasks that match opts, newest first.
func (c *Client) List(ctx context.Context, opts *ListOpts) ([]*Task, error) {
	if opts == nil {
		opts = &ListOpts{}
	}
	w, err := c.tasks.Watch(ctx, taskKeyPre+"*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []*Task
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e == nil {
			break
		}
		t, err := decodeTask(e)
		if err != nil {
			c.log.Warn("skipping undecodable task record", "key", e.Key(), "err", err)
			continue
		}
		if opts.match(t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *Task) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, nil
}

func (o *ListOpts) match(t *Task) bool {
	if len(o.States) > 0 && !slices.Contains(o.States, t.State) {
		return false
	}
	if o.Kind != "" && t.Kind != o.Kind {
		return false
	}
	if o.Queue != "" && t.Queue != o.Queue {
		return false
	}
	if !o.Since.IsZero() && t.CreatedAt.Before(o.Since) {
		return false
	}
	if !o.Until.IsZero() && !t.CreatedAt.Before(o.Until) {
		return false
	}
	return true
}

// RunnerInfo is what a live worker announces.
type RunnerInfo struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Queues  []Queue   `json:"queues"`
	Started time.Time `json:"started"`
	// Running are the ids of the tasks it runs.
	Running []string `json:"running"`
	// Held reports that the worker waits for the global hold to end.
	Held bool      `json:"held,omitempty"`
	Seen time.Time `json:"seen"`
}

// Uptime is how long the worker has been running when it last announced
// itself.
func (w RunnerInfo) Uptime() time.Duration { return w.Seen.Sub(w.Started) }

// Runners lists the workers alive now (announced within the last 15 s),
// ordered by id.
func (c *Client) Runners(ctx context.Context) ([]RunnerInfo, error) {
	w, err := c.workers.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	entries, err := snapshot(ctx, w)
	if err != nil {
		return nil, err
	}
	var out []RunnerInfo
	for _, e := range entries {
		var wi RunnerInfo
		if err := json.Unmarshal(e.Value(), &wi); err != nil {
			continue
		}
		out = append(out, wi)
	}
	slices.SortFunc(out, func(a, b RunnerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// snapshot reads the entries a watcher replays up to its end-of-initial-data
// marker (nil), then stops it.
func snapshot(ctx context.Context, w jetstream.KeyWatcher) ([]jetstream.KeyValueEntry, error) {
	defer func() { _ = w.Stop() }()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
