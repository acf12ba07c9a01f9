package osism_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/stretchr/testify/require"
)

func streamMaxBytes(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) int64 {
	t.Helper()
	st, err := js.Stream(ctx, name)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	return info.Config.MaxBytes
}

// The byte caps of TaskConfig reach the streams and the task bucket,
// EnsureBus brings existing streams to other caps (a client does not), and a full task
// stream refuses a task with an error that says it was not queued.
func TestStreamByteCaps(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{MaxTaskBytes: 64 << 10, MaxOutputBytes: 2 << 20}})
	ctx := ctxT(t, 30*time.Second)
	js := bus.Client.JetStream()
	require.Equal(t, int64(64<<10), streamMaxBytes(t, ctx, js, osism.TaskStream))
	require.Equal(t, int64(2<<20), streamMaxBytes(t, ctx, js, osism.OutputStream))
	require.Equal(t, int64(64<<10), streamMaxBytes(t, ctx, js, "KV_"+osism.TaskBucket))

	nc, err := nats.Connect(bus.URL())
	require.NoError(t, err)
	defer nc.Close()
	tasks := bus.Tasks
	tasks.MaxTaskBytes, tasks.MaxOutputBytes = 128<<10, 4<<20
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: tasks})
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, int64(64<<10), streamMaxBytes(t, ctx, js, osism.TaskStream), "a client binds to the bus as it is")
	require.NoError(t, osism.EnsureBus(ctx, nc, tasks))
	require.Equal(t, int64(128<<10), streamMaxBytes(t, ctx, js, osism.TaskStream), "EnsureBus brings the existing stream to the new cap")
	require.Equal(t, int64(4<<20), streamMaxBytes(t, ctx, js, osism.OutputStream))

	// Fill the task stream: no worker serves the queue.
	big := echoArgs{Lines: []string{strings.Repeat("x", 16<<10)}}
	var subErr error
	for range 20 {
		if _, subErr = c.Submit(ctx, big, &osism.SubmitOpts{Queue: "nobody"}); subErr != nil {
			break
		}
	}
	require.Error(t, subErr, "a full task stream refuses tasks")
	require.ErrorContains(t, subErr, "not queued")
	require.ErrorContains(t, subErr, "maximum bytes")
	require.NotErrorIs(t, subErr, osism.ErrMaybeQueued)
}

func TestDefaultByteCaps(t *testing.T) {
	t.Parallel()
	d := osism.DefaultTaskConfig()
	require.Positive(t, d.MaxTaskBytes)
	require.Positive(t, d.MaxOutputBytes)
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	js := bus.Client.JetStream()
	require.Positive(t, streamMaxBytes(t, ctx, js, osism.TaskStream), "a memory bus has a cap too")
	require.Positive(t, streamMaxBytes(t, ctx, js, osism.OutputStream))
}

// A full task-records bucket drops its oldest revisions instead of
// refusing the final record of a task, which would leave the task to run
// again on every redelivery.
func TestFullRecordsBucketKeepsFinalRecords(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, &osismtest.Options{Tasks: osism.TaskConfig{MaxTaskBytes: 64 << 10, AckWait: time.Second}})
	ctx := ctxT(t, 60*time.Second)
	var mu sync.Mutex
	runs := map[string]int{}
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(_ context.Context, job *osism.Job[echoArgs]) error {
		mu.Lock()
		runs[job.ID]++
		mu.Unlock()
		return nil
	}))
	bus.NewRunner(t, osism.RunnerConfig{Handlers: reg, Queues: map[osism.Queue]int{"test": 1}})
	// Each task's three records hold its 4 KiB of arguments: the bucket
	// is full after about five tasks, the task stream after about fifteen.
	args := echoArgs{Lines: []string{strings.Repeat("r", 4<<10)}}
	var ids []string
	for range 12 {
		res, err := bus.Client.Submit(ctx, args, nil)
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		task, err := bus.Client.Wait(wctx, res.ID)
		cancel()
		require.NoError(t, err, "task %d (%s) has a final record", len(ids)+1, res.ID)
		require.Equal(t, osism.StateSucceeded, task.State)
		ids = append(ids, res.ID)
	}
	st, err := bus.Client.JetStream().Stream(ctx, "KV_"+osism.TaskBucket)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Greater(t, info.State.Bytes, uint64(48<<10), "the bucket was filled")
	// Every task was acked (a task whose final record was refused is
	// not: it runs again after the ack wait).
	cons, err := bus.Client.JetStream().Consumer(ctx, osism.TaskStream, "osism-test")
	require.NoError(t, err)
	osismtest.WaitFor(t, 10*time.Second, func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && ci.NumAckPending == 0 && ci.AckFloor.Stream >= uint64(len(ids))
	}, "every task acked")
	ci, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, ci.NumRedelivered, "no task was delivered again")
	mu.Lock()
	for _, id := range ids {
		require.Equal(t, 1, runs[id], "task %s ran once", id)
	}
	mu.Unlock()
	last, err := bus.Client.Get(ctx, ids[len(ids)-1])
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, last.State)
}
