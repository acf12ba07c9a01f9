package services_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
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

// gateWriter holds the first write that contains at until open is
// closed, and tells on reached that it got there.
type gateWriter struct {
	mu      sync.Mutex
	b       strings.Builder
	at      string
	reached chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), g.at) {
		g.once.Do(func() {
			close(g.reached)
			<-g.open
		})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.Write(p)
}

func (g *gateWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.String()
}

// Each Connect keeps its own note of a missing desired state: a second
// Connect of the same device, started while the first runs, neither takes
// the first's note nor reports one of its own that it did not find.
func TestNoDesiredStateNotePerConnect(t *testing.T) {
	e := newFabricEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := e.fabric(t)

	first := &gateWriter{at: "phase 2 started", reached: make(chan struct{}), open: make(chan struct{})}
	type result struct {
		res services.ConnectResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := f.Connect(ctx, osism.NetBoxConnectArgs{Device: "node-3", State: "b"}, first, nil)
		done <- result{res, err}
	}()
	select {
	case <-first.reached: // phase 1 found no desired state; phase 2 starts
	case <-ctx.Done():
		t.Fatal("the first Connect did not reach phase 2")
	}

	var out strings.Builder
	res, err := f.Connect(ctx, osism.NetBoxConnectArgs{Device: "node-3", State: "b"}, &out, nil)
	require.ErrorIs(t, err, statemachine.ErrLocked, "the first Connect holds the device")
	require.Empty(t, res.NoDesiredState, "the second Connect ran no phase 1 and has no note")

	close(first.open)
	r := <-done
	require.NoError(t, r.err, first.String())
	require.Contains(t, r.res.NoDesiredState, "no desired state for node-3 in state b", "the first Connect keeps its note")

	res, err = f.Connect(ctx, osism.NetBoxConnectArgs{Device: "node-3", State: "b"}, &out, nil)
	require.NoError(t, err)
	require.True(t, res.NoOp)
	require.Empty(t, res.NoDesiredState, "a Connect that ran no phase 1 has no note")
}
