package services_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/switchcfg"
)

// netbox.generate, run by a worker with the built-in handlers, renders
// the switches from the NetBox double into the state repository; a bad
// switch name fails the task with the name.
func TestNetBoxGenerateTask(t *testing.T) {
	t.Parallel()
	nb := netboxtest.New(t, netboxtest.WithSampleFabric())
	bus := osismtest.New(t, nil)
	cfg := services.DefaultConfig()
	cfg.NetBox = netbox.Config{URL: nb.URL(), Token: nb.Token()}
	cfg.Fabric = fabricConfig(t.TempDir())
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueNetBox: 1}, Handlers: mustHandlers(t, cfg), ID: "gen"})
	ctx := ctxT(t, 2*time.Minute)

	tests := []struct {
		name    string
		args    osism.NetBoxGenerateArgs
		state   osism.State
		changed bool
		errText string
	}{
		{"first render", osism.NetBoxGenerateArgs{Switches: []string{"leaf-1", "leaf-2"}, Reason: "webhook"}, osism.StateSucceeded, true, ""},
		{"unchanged render", osism.NetBoxGenerateArgs{Switches: []string{"leaf-1", "leaf-2"}}, osism.StateSucceeded, false, ""},
		{"no switches", osism.NetBoxGenerateArgs{}, osism.StateFailed, false, "no switches given"},
		{"bad name", osism.NetBoxGenerateArgs{Switches: []string{"../etc"}}, osism.StateFailed, false, "../etc"},
	}
	for _, tc := range tests {
		res, err := bus.Client.Submit(ctx, tc.args, nil)
		require.NoError(t, err, tc.name)
		task, err := bus.Client.Wait(ctx, res.ID)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.state, task.State, "%s: %s", tc.name, task.Error)
		if tc.errText != "" {
			require.Contains(t, task.Error, tc.errText, tc.name)
			continue
		}
		var out []switchcfg.GenerateResult
		require.NoError(t, json.Unmarshal(task.Result, &out), tc.name)
		require.Len(t, out, 2, tc.name)
		for _, r := range out {
			require.NotEmpty(t, r.Rev, tc.name)
			require.Equal(t, tc.changed, r.Changed, "%s: %s", tc.name, r.Switch)
		}
	}
}
