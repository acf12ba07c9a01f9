package osism_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// The records of a Redacter kind show its redacted arguments, from the
// queued record to the final one; the handler gets them as submitted.
func TestRecordsShowRedactedArgs(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	got := make(chan []string, 1)
	require.NoError(t, osism.RegisterFunc(reg, func(_ context.Context, job *osism.Job[osism.AnsibleRunArgs]) error {
		got <- job.Args.Args
		return nil
	}))
	bus.NewRunner(t, osism.RunnerConfig{Handlers: reg, Queues: map[osism.Queue]int{osism.QueueOSISMAnsible: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-e", "db_password=hunter2-planted", "-e", `{"api_token": "t0ken-planted"}`, "-l", "node-1"}
	res, err := bus.Client.Submit(ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "hello", Args: args}, nil)
	require.NoError(t, err)
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	require.Equal(t, args, <-got, "the handler gets the real values")
	b, err := json.Marshal(task)
	require.NoError(t, err)
	for _, secret := range []string{"hunter2-planted", "t0ken-planted"} {
		require.NotContains(t, string(b), secret)
	}
	require.Contains(t, string(b), "db_password=******")
	require.Contains(t, string(b), "node-1", "what is not secret stays")
	list, err := bus.Client.List(ctx, nil)
	require.NoError(t, err)
	for _, l := range list {
		b, _ := json.Marshal(l)
		require.False(t, strings.Contains(string(b), "hunter2-planted"))
	}
}
