package services_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// A transition whose phase 1 finds no desired state says so in its output
// and its result; with require_desired_state it fails in phase 1.
func TestNoDesiredStateIsNoSilentSuccess(t *testing.T) {
	e := newFabricEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var out strings.Builder
	res, err := e.fabric(t).Connect(ctx, osism.NetBoxConnectArgs{Device: "node-3", State: "b"}, &out, nil)
	require.NoError(t, err, out.String())
	require.Contains(t, res.NoDesiredState, "no desired state for node-3 in state b")
	require.Contains(t, res.NoDesiredState, "dc1/node-3/b.yaml", "the files looked for are named")
	require.Contains(t, out.String(), "node-3: phase 1: no desired state for node-3 in state b")
	require.Contains(t, out.String(), "node-3: now in state b")

	cfg := fabricConfig(e.state)
	cfg.DesiredState.Require = true
	f, err := services.NewFabric(cfg, e.nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	f.Deployer.Credentials = e.creds
	out.Reset()
	res, err = f.Connect(ctx, osism.NetBoxConnectArgs{Device: "node-4", State: "b"}, &out, nil)
	require.ErrorIs(t, err, netbox.ErrNoDesiredState)
	require.ErrorContains(t, err, "phase 1")
	require.Contains(t, res.NoDesiredState, "node-4")
	dev, err := e.nb.Device(ctx, "node-4")
	require.NoError(t, err)
	require.Equal(t, "from_a-to_b-phase_1", dev.CustomFields.String("device_transition"), "the failed phase is recorded")
}
