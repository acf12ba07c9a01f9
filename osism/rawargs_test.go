package osism_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

func TestNewRawArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, kind, args string
		queue            osism.Queue
		wantQueue        osism.Queue
		wantJSON         string
		wantErr          string
	}{
		{name: "built-in kind takes its queue", kind: "reconciler.run", args: `{"reason":"beat"}`,
			wantQueue: osism.QueueReconciler, wantJSON: `{"reason":"beat"}`},
		{name: "netbox.generate on its queue", kind: "netbox.generate", wantQueue: osism.QueueNetBox, wantJSON: `{}`},
		{name: "no arguments are an empty object", kind: "ansible.run", wantQueue: osism.QueueOSISMAnsible, wantJSON: `{}`},
		{name: "queue given wins", kind: "osism.noop", args: `{"lines":1}`, queue: "beat-test", wantQueue: "beat-test", wantJSON: `{"lines":1}`},
		{name: "own kind with a queue", kind: "example.shout", args: `{"x":[1,2]}`, queue: "example", wantQueue: "example", wantJSON: `{"x":[1,2]}`},
		{name: "own kind without a queue", kind: "example.shout", wantErr: `task kind "example.shout": not a built-in kind, so its queue must be given`},
		{name: "bad kind", kind: "no spaces", wantErr: `task kind "no spaces"`},
		{name: "bad queue", kind: "osism.noop", queue: "a b", wantErr: `queue "a b"`},
		{name: "array is no object", kind: "osism.noop", args: `[1]`, wantErr: "expected a JSON object"},
		{name: "broken JSON", kind: "osism.noop", args: `{"lines":`, wantErr: "expected a JSON object"},
		{name: "arguments that do not fit the kind", kind: "ansible.run", args: `{"role":7}`, wantErr: "arguments do not fit the kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := osism.NewRawArgs(tc.kind, json.RawMessage(tc.args), tc.queue)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.kind, a.Kind())
			require.Equal(t, tc.wantQueue, a.Queue())
			b, err := json.Marshal(a)
			require.NoError(t, err)
			require.JSONEq(t, tc.wantJSON, string(b))
		})
	}
}

// A raw ansible.run runs like the typed one, and its record masks the
// secret extra-vars as the typed one's does.
func TestRawArgsSubmitRunsAndRedacts(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	got := make(chan osism.AnsibleRunArgs, 1)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(_ context.Context, job *osism.Job[osism.AnsibleRunArgs]) error {
		got <- job.Args
		return nil
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueOSISMAnsible: 1}, Handlers: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := osism.NewRawArgs("ansible.run", json.RawMessage(`{"environment":"generic","role":"facts","args":["-e","api_password=hunter2"]}`), "")
	require.NoError(t, err)
	res, err := bus.Client.Submit(ctx, a, nil)
	require.NoError(t, err)
	task, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	require.Equal(t, osism.AnsibleRunArgs{Environment: "generic", Role: "facts", Args: []string{"-e", "api_password=hunter2"}}, <-got)
	require.Equal(t, "ansible.run", task.Kind)
	require.NotContains(t, string(task.Args), "hunter2")
	require.Contains(t, string(task.Args), `"role":"facts"`)
}
