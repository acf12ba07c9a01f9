package osism

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxLine is the longest line sent as one message; longer lines are split.
const maxLine = 64 << 10

// outputWriter turns what a handler writes into one message per line on
// the task's output subject. Publishes are asynchronous; the acks are
// checked in order by one goroutine, and the bounded channel between them
// is the in-flight window.
type outputWriter struct {
	js      jetstream.JetStream
	subject string

	mu     sync.Mutex
	buf    []byte
	lines  int
	closed bool
	acks   chan jetstream.PubAckFuture
	done   chan struct{}
	err    error // first publish error, set by the ack goroutine
}

func newOutputWriter(js jetstream.JetStream, id string) *outputWriter {
	return &outputWriter{js: js, subject: OutputSubject(id)}
}

// start begins checking acks; most tasks of a busy bus write nothing, so
// the goroutine starts with the first line.
func (w *outputWriter) start() {
	if w.acks == nil {
		w.acks = make(chan jetstream.PubAckFuture, 1024)
		w.done = make(chan struct{})
		go w.checkAcks()
	}
}

func (w *outputWriter) checkAcks() {
	defer close(w.done)
	for f := range w.acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if w.err == nil {
				w.err = err
			}
		}
	}
}

// Write sends every complete line of p; a partial line waits for its end
// or for Close.
func (w *outputWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errors.New("task output: write after the task ended")
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLine {
				if err := w.publish(w.buf[:maxLine]); err != nil {
					return n, err
				}
				w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			}
			break
		}
		line := p[:i]
		p = p[i+1:]
		if len(w.buf) > 0 {
			line = append(w.buf, line...)
			w.buf = w.buf[:0]
		}
		for len(line) > maxLine {
			if err := w.publish(line[:maxLine]); err != nil {
				return n, err
			}
			line = line[maxLine:]
		}
		if err := w.publish(line); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (w *outputWriter) publish(line []byte) error {
	// The message must own its data: the caller may reuse p.
	data := bytes.Clone(line)
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: w.subject, Data: data}, jetstream.WithStallWait(30*time.Second))
	if err != nil {
		return fmt.Errorf("task output: %w", err)
	}
	w.lines++
	w.start()
	w.acks <- f
	return nil
}

// close flushes a partial line, publishes the end marker when any line was
// written (or always is set), waits for every ack and reports whether the
// marker was written.
func (w *outputWriter) close(ctx context.Context, exit int, always bool) (bool, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false, nil
	}
	if len(w.buf) > 0 {
		_ = w.publish(w.buf)
		w.buf = nil
	}
	w.closed = true
	marker := w.lines > 0 || always
	var markErr error
	if marker {
		m := &nats.Msg{Subject: w.subject, Header: nats.Header{}}
		m.Header.Set(hdrExit, strconv.Itoa(exit))
		f, err := w.js.PublishMsgAsync(m, jetstream.WithStallWait(30*time.Second))
		if err != nil {
			markErr = err
			marker = false
		} else {
			w.start()
			w.acks <- f
		}
	}
	if w.acks == nil {
		w.mu.Unlock()
		return false, markErr
	}
	close(w.acks)
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return marker, errors.Join(w.err, markErr)
}

// FollowOpts are the knobs of [Client.Follow]; nil means follow to the end.
type FollowOpts struct {
	// NoFollow stops after the lines stored now instead of waiting for the
	// task to end.
	NoFollow bool
}

// Follow writes the output of task id to w, one line per line, from the
// first line on (so attaching late replays), and returns the task's exit
// status once it ended. With opts.NoFollow it returns after the lines
// stored so far, with exit status -1 when the task has not ended.
func (c *Client) Follow(ctx context.Context, id string, w io.Writer, opts *FollowOpts) (int, error) {
	if opts == nil {
		opts = &FollowOpts{}
	}
	t, err := c.Get(ctx, id)
	if err != nil {
		return -1, err
	}
	subject := OutputSubject(id)
	// lastSeq returns the sequence of the last stored line, 0 when none.
	lastSeq := func() (uint64, error) {
		m, err := c.outStr.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("output of task %s: %w", id, err)
		}
		return m.Sequence, nil
	}

	// upTo is the sequence to stop at when the task ended without an end
	// marker or NoFollow asked to stop at what is stored; 0 = none yet.
	var upTo uint64
	if opts.NoFollow || (t.State.Finished() && !t.EndMarker) {
		if upTo, err = lastSeq(); err != nil {
			return -1, err
		}
		if upTo == 0 {
			return finishedStatus(t), nil
		}
	}

	cons, err := c.js.OrderedConsumer(ctx, OutputStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return -1, fmt.Errorf("output of task %s: %w", id, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return -1, fmt.Errorf("output of task %s: %w", id, err)
	}
	defer it.Stop()

	type result struct {
		exit int
		err  error
	}
	done := make(chan result, 1)
	// The reader stores what it delivered, then reads upTo; the watcher
	// stores upTo, then reads what was delivered: one of them sees the end.
	var stopAt, delivered atomic.Uint64
	stopAt.Store(upTo)
	go func() {
		bw := bufio.NewWriterSize(w, 64<<10)
		finish := func(r result) {
			if err := bw.Flush(); err != nil && r.err == nil {
				r = result{-1, err}
			}
			done <- r
		}
		for {
			m, err := it.Next()
			if err != nil {
				finish(result{-1, err})
				return
			}
			meta, merr := m.Metadata()
			if code := m.Headers().Get(hdrExit); code != "" {
				n, err := strconv.Atoi(code)
				if err != nil {
					n = ExitFailure
				}
				finish(result{n, nil})
				return
			}
			bw.Write(m.Data())
			if err := bw.WriteByte('\n'); err != nil {
				finish(result{-1, err})
				return
			}
			if merr == nil {
				delivered.Store(meta.Sequence.Stream)
				if u := stopAt.Load(); u != 0 && meta.Sequence.Stream >= u {
					finish(result{-2, nil})
					return
				}
				if meta.NumPending == 0 {
					if err := bw.Flush(); err != nil {
						finish(result{-1, err})
						return
					}
				}
			}
		}
	}()

	var updates <-chan jetstream.KeyValueEntry
	if !opts.NoFollow && !t.State.Finished() {
		// Without UpdatesOnly the watch starts with the record as it is
		// now, so an end written since the Get above is not missed.
		kw, err := c.tasks.Watch(ctx, taskKeyPre+id)
		if err != nil {
			return -1, fmt.Errorf("watch task %s: %w", id, err)
		}
		defer func() { _ = kw.Stop() }()
		updates = kw.Updates()
	}
	for {
		select {
		case r := <-done:
			if r.exit == -2 { // stopped at upTo
				if opts.NoFollow && !t.State.Finished() {
					return -1, nil
				}
				return finishedStatus(t), nil
			}
			if r.err == nil && updates != nil {
				// The worker writes the end marker just before the final
				// record; waiting for the record means a Get after Follow
				// sees the end too.
				waitFinished(ctx, updates, recordAfterMarker)
			}
			return r.exit, r.err
		case e := <-updates:
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			nt, err := decodeTask(e)
			if err != nil || !nt.State.Finished() {
				continue
			}
			t = nt
			updates = nil
			if nt.EndMarker {
				continue // the reader ends at the marker
			}
			last, err := lastSeq()
			if err != nil {
				it.Stop()
				<-done
				return -1, err
			}
			if last == 0 {
				it.Stop()
				<-done
				return finishedStatus(t), nil
			}
			stopAt.Store(last)
			if delivered.Load() >= last {
				// Stopping makes the reader flush and end.
				it.Stop()
				<-done
				return finishedStatus(t), nil
			}
		case <-ctx.Done():
			it.Stop()
			<-done
			return -1, ctx.Err()
		}
	}
}

// recordAfterMarker bounds how long Follow waits, after the end marker, for
// the final record; a worker that died in between leaves the task to be
// delivered again, which takes longer.
const recordAfterMarker = 5 * time.Second

// waitFinished waits until updates delivers a final record, ctx ends or d
// passes.
func waitFinished(ctx context.Context, updates <-chan jetstream.KeyValueEntry, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e := <-updates:
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if t, err := decodeTask(e); err == nil && t.State.Finished() {
				return
			}
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func finishedStatus(t *Task) int {
	if !t.State.Finished() {
		return -1
	}
	return t.ExitStatus
}
