package osism_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/stretchr/testify/require"
)

// countingRegistry runs echo and counts the runs of every task.
func countingRegistry(t *testing.T, runs *sync.Map) *osism.Registry {
	t.Helper()
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		n, _ := runs.LoadOrStore(job.ID, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		return echo(ctx, job)
	}))
	return ws
}

func runsOf(runs *sync.Map, id string) int32 {
	n, ok := runs.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

// recordStates returns the states of every revision of the task's record.
func recordStates(t *testing.T, ctx context.Context, c *osism.Client, id string) []osism.State {
	t.Helper()
	kv, err := c.JetStream().KeyValue(ctx, osism.TaskBucket)
	require.NoError(t, err)
	hist, err := kv.History(ctx, "task."+id)
	require.NoError(t, err)
	var out []osism.State
	for _, e := range hist {
		var rec osism.Task
		require.NoError(t, json.Unmarshal(e.Value(), &rec))
		out = append(out, rec.State)
	}
	return out
}

// A submit whose acknowledgement is lost runs once and reports the truth:
// Submit publishes again with the same Nats-Msg-Id, the stream keeps one
// copy, and no record ever says "failed: not queued".
func TestSubmitLostAckRunsOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		drops int64
		// uncertain: Submit cannot tell whether the task was stored.
		uncertain bool
	}{
		{name: "one ack lost", drops: 1},
		{name: "every ack lost", drops: 1 << 30, uncertain: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := osismtest.New(t, nil)
			ctx := ctxT(t, 60*time.Second)
			proxy := newNATSProxy(t, bus.URL())
			nc, err := nats.Connect(proxy.URL())
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: bus.Tasks, PublishTimeout: time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })

			proxy.dropPubAcks.Store(tc.drops)
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			res, err := c.Submit(sctx, echoArgs{Lines: []string{"once"}}, nil)
			cancel()
			require.Positive(t, proxy.dropped.Load(), "the proxy lost an ack")
			if tc.uncertain {
				require.ErrorIs(t, err, osism.ErrMaybeQueued)
				require.ErrorContains(t, err, "may still run")
				require.True(t, osism.ValidID(res.ID), "the id comes with the error")
			} else {
				require.NoError(t, err)
			}
			proxy.dropPubAcks.Store(0)
			require.Equal(t, osism.StateQueued, getTask(t, bus.Client, res.ID).State, "the record says queued, not failed")

			var runs sync.Map
			bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: countingRegistry(t, &runs)})
			task, err := c.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, osism.StateSucceeded, task.State, task.Error)
			require.Equal(t, "ONCE", mustString(t, task.Result))
			require.Equal(t, int32(1), runsOf(&runs, res.ID))
			st, err := bus.Client.JetStream().Stream(ctx, osism.TaskStream)
			require.NoError(t, err)
			info, err := st.Info(ctx, jetstream.WithSubjectFilter(osism.TaskSubject("test", res.ID)))
			require.NoError(t, err)
			require.Equal(t, uint64(1), info.State.Msgs, "the stream holds the task once")
			require.Equal(t, []osism.State{osism.StateQueued, osism.StateRunning, osism.StateSucceeded},
				recordStates(t, ctx, bus.Client, res.ID))
		})
	}
}

func mustString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s))
	return s
}

// Two deliveries of one task run its handler once: a task published twice
// (the same message, as a retrying submitter sends it), and a task whose
// worker's ack was lost, so that the broker delivers it again.
func TestDuplicateDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	t.Run("published twice", func(t *testing.T) {
		t.Parallel()
		bus := osismtest.New(t, nil)
		ctx := ctxT(t, 30*time.Second)
		var runs sync.Map
		bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: countingRegistry(t, &runs)})
		// An id with a record, on a queue nobody serves.
		r, err := bus.Client.Submit(ctx, echoArgs{}, &osism.SubmitOpts{Queue: "nobody"})
		require.NoError(t, err)
		m := &nats.Msg{Subject: osism.TaskSubject("test", r.ID), Data: []byte(`{"lines":["twice"]}`), Header: nats.Header{}}
		m.Header.Set("Osism-Kind", "test.echo")
		_, err = bus.Client.JetStream().PublishMsg(ctx, m)
		require.NoError(t, err)
		// The same message again, as a submitter sends it after the
		// duplicate window (or without Nats-Msg-Id): the stream keeps one
		// message per task.
		_, err = bus.Client.JetStream().PublishMsg(ctx, m)
		require.ErrorContains(t, err, "maximum messages per subject exceeded")
		task, err := bus.Client.Wait(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
		// A third task behind them has run, so both copies had their turn.
		next, err := bus.Client.Submit(ctx, echoArgs{}, nil)
		require.NoError(t, err)
		_, err = bus.Client.Wait(ctx, next.ID)
		require.NoError(t, err)
		require.Equal(t, int32(1), runsOf(&runs, r.ID))
	})
	t.Run("ack lost", func(t *testing.T) {
		t.Parallel()
		bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: time.Second}})
		ctx := ctxT(t, 30*time.Second)
		proxy := newNATSProxy(t, bus.URL())
		nc, err := nats.Connect(proxy.URL())
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: bus.Tasks})
		require.NoError(t, err)
		var runs sync.Map
		r, err := c.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: countingRegistry(t, &runs)})
		require.NoError(t, err)
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		t.Cleanup(func() { stop(); require.NoError(t, <-done) })

		proxy.dropAcks.Store(1)
		res, err := bus.Client.Submit(ctx, echoArgs{Lines: []string{"x"}}, nil)
		require.NoError(t, err)
		task, err := bus.Client.Wait(ctx, res.ID)
		require.NoError(t, err)
		require.Equal(t, osism.StateSucceeded, task.State)
		// The broker delivers the task again after the ack wait; the
		// runner finds it finished and acks it without running it.
		osismtest.WaitFor(t, 10*time.Second, func() bool {
			cons, err := bus.Client.JetStream().Consumer(ctx, osism.TaskStream, "osism-test")
			if err != nil {
				return false
			}
			info, err := cons.Info(ctx)
			return err == nil && info.NumAckPending == 0 && info.NumRedelivered == 0 && info.AckFloor.Stream > 0 && proxy.dropped.Load() == 1
		}, "the redelivered task is acked")
		require.Equal(t, int32(1), runsOf(&runs, res.ID))
		final := getTask(t, bus.Client, res.ID)
		require.Equal(t, osism.StateSucceeded, final.State)
		require.Equal(t, task.Revision, final.Revision, "the redelivery wrote no record")
	})
}

var _ = errors.Is

// syncBuffer is a log sink for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// A worker whose heartbeats are lost has its task given to another; when
// both finish, the first final record stays: the late run finds it final
// and leaves it.
func TestFinalRecordNeverOverwritten(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{AckWait: time.Second}})
	ctx := ctxT(t, 60*time.Second)
	proxy := newNATSProxy(t, bus.URL())
	proxy.dropProgress.Store(true)
	release := make(chan struct{})
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		if job.Worker == "silent" {
			<-release
		}
		return job.SetResult(job.Worker)
	}))
	var logs syncBuffer
	nc, err := nats.Connect(proxy.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	startRunner(t, nc, bus.Tasks, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "silent",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	res, err := bus.Client.Submit(ctx, echoArgs{}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		return getTask(t, bus.Client, res.ID).Worker == "silent"
	}, "the silent worker runs the task")
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: "other"})
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, "other", task.Worker)
	require.Equal(t, 2, task.Attempt)

	close(release)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "the task finished elsewhere")
	}, "the silent worker finds the task finished")
	final := getTask(t, bus.Client, res.ID)
	require.Equal(t, task.Revision, final.Revision, "the late run wrote nothing")
	require.Equal(t, "other", mustString(t, final.Result))
	// One final state, the last; "queued" may land before or after the
	// first "running" (the worker runs while Submit writes the record).
	states := recordStates(t, ctx, bus.Client, res.ID)
	finals := 0
	for _, st := range states {
		if st.Finished() {
			finals++
		}
	}
	require.Equal(t, 1, finals, "states %v", states)
	require.Equal(t, osism.StateSucceeded, states[len(states)-1])
}
