package osism_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// deviceArgs is a kind whose arguments name a device.
type deviceArgs struct {
	Device string `json:"device"`
	Fail   bool   `json:"fail,omitempty"`
}

func (deviceArgs) Kind() string       { return "test.device" }
func (deviceArgs) Queue() osism.Queue { return "test" }

// logBuffer is a bytes.Buffer that handlers of several goroutines may
// log into.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunnerOnTaskAndJobLogger(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	var (
		mu     sync.Mutex
		events []osism.TaskEvent
	)
	logs := &logBuffer{}
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(_ context.Context, job *osism.Job[deviceArgs]) error {
		job.Logger.Info("handler line")
		if job.Args.Fail {
			return osism.ErrCancelled // any error: the run fails
		}
		return nil
	}))
	require.NoError(t, osism.RegisterFunc(reg, echo))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		OnTask: func(e osism.TaskEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	ctx := ctxT(t, 30*time.Second)

	cases := []struct {
		name   string
		args   osism.Args
		kind   string
		state  osism.State
		device string
	}{
		{name: "device kind succeeds", args: deviceArgs{Device: "node-1"}, kind: "test.device", state: osism.StateSucceeded, device: "node-1"},
		{name: "device kind fails", args: deviceArgs{Device: "node-2", Fail: true}, kind: "test.device", state: osism.StateFailed, device: "node-2"},
		{name: "kind without device", args: echoArgs{Lines: []string{"x"}}, kind: "test.echo", state: osism.StateSucceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := bus.Client.Submit(ctx, tc.args, nil)
			require.NoError(t, err)
			task, err := bus.Client.Wait(ctx, res.ID)
			require.NoError(t, err)
			require.Equal(t, tc.state, task.State)
			// The finished event follows the final record: poll for it.
			var got []osism.TaskEvent
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				got = got[:0]
				for _, e := range events {
					if e.ID == res.ID {
						got = append(got, e)
					}
				}
				return len(got) == 2
			}, 10*time.Second, 10*time.Millisecond)
			require.Equal(t, osism.TaskStarted, got[0].Event)
			require.Equal(t, osism.TaskFinished, got[1].Event)
			require.Equal(t, tc.kind, got[1].Kind)
			require.Equal(t, osism.Queue("test"), got[1].Queue)
			require.Equal(t, tc.state, got[1].State)
			require.Positive(t, got[1].Duration)
			if tc.kind != "test.device" {
				return
			}
			var line map[string]any
			for _, l := range bytes.Split([]byte(logs.String()), []byte("\n")) {
				var m map[string]any
				if json.Unmarshal(l, &m) == nil && m["msg"] == "handler line" && m["task_id"] == res.ID {
					line = m
				}
			}
			require.NotNil(t, line, "no handler line with task_id %s in %s", res.ID, logs.String())
			require.Equal(t, tc.device, line["device"])
			require.Equal(t, tc.kind, line["kind"])
			require.NotEmpty(t, line["worker"])
			require.Regexp(t, `"msg":"task finished"[^\n]*"task_id":"`+res.ID+`"[^\n]*"state":"`+string(tc.state)+`"`, logs.String())
		})
	}
}
