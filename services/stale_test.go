package services_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// TestStaleChild is not a test of its own: TestNoStaleDeploys starts this
// test binary twice with envStaleChild set, and each child moves one
// device through the fabric as a worker of its own would, with barriers
// (files) that force the order in which a stale deploy used to happen.
const (
	envStaleChild   = "OSISM_TEST_STALE_CHILD"   // "device state role"; role is first or second
	envStaleBarrier = "OSISM_TEST_STALE_BARRIER" // directory of the barrier files
)

func TestStaleChild(t *testing.T) {
	spec := os.Getenv(envStaleChild)
	if spec == "" {
		t.Skip("a child process of TestNoStaleDeploys")
	}
	var device, state, role, url, token string
	_, err := fmt.Sscanf(spec, "%s %s %s", &device, &state, &role)
	require.NoError(t, err)
	_, err = fmt.Sscanf(os.Getenv(envChildNetBox), "%s %s", &url, &token)
	require.NoError(t, err)
	nb, err := netbox.New(netbox.Config{URL: url, Token: token})
	require.NoError(t, err)
	creds, err := switchcfg.LoadCredentials(os.Getenv(envChildCreds))
	require.NoError(t, err)
	f, err := services.NewFabric(fabricConfig(os.Getenv(envChildState)), nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	f.Deployer.Credentials = creds

	dir := os.Getenv(envStaleBarrier)
	signal := func(name string) statemachine.PhaseHook {
		return statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error {
			return os.WriteFile(filepath.Join(dir, name), nil, 0o600)
		})
	}
	wait := func(name string) statemachine.PhaseHook {
		return statemachine.PhaseHookFunc(func(ctx context.Context, _ statemachine.Step) error {
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
			return errors.New("barrier " + name + " not reached")
		})
	}
	hooks := f.Hooks("dc1")
	switch role {
	case "first": // renders, then deploys only after the second has deployed
		hooks[statemachine.PhaseDeploy] = append([]statemachine.PhaseHook{signal("first-rendered"), wait("second-deployed")},
			hooks[statemachine.PhaseDeploy]...)
	case "second": // changes NetBox after the first rendered, renders and deploys
		hooks[statemachine.PhaseNetBox] = append([]statemachine.PhaseHook{wait("first-rendered")}, hooks[statemachine.PhaseNetBox]...)
		hooks[statemachine.PhaseDeploy] = append(hooks[statemachine.PhaseDeploy], signal("second-deployed"))
	default:
		t.Fatalf("role %q", role)
	}
	m, err := statemachine.New(statemachine.Config{Store: netbox.NewStore(nb), Locker: f.Locker, Hooks: hooks})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err = m.Transition(ctx, device, statemachine.State(state), nil)
	require.NoError(t, err)
}

// TestNoStaleDeploys: two processes, each with its own Deployer (and its
// own cache) over one state repository, move node-1 and node-2, which
// share leaf-1 and leaf-2. The first renders before the second changes
// NetBox and deploys after the second has deployed: it must deploy what
// the repository holds then (both devices), not its own older render.
func TestNoStaleDeploys(t *testing.T) {
	e := newFabricEnv(t)
	require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-2"), "device_state", "b"))
	creds := filepath.Join(t.TempDir(), "switches.yaml")
	b, err := yaml.Marshal(e.creds)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(creds, b, 0o600))
	barrier := t.TempDir()

	var wg sync.WaitGroup
	runs := []string{"node-1 b first", "node-2 c second"}
	outs := make([][]byte, len(runs))
	errs := make([]error, len(runs))
	for i, spec := range runs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestStaleChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), envStaleChild+"="+spec, envStaleBarrier+"="+barrier,
				envChildNetBox+"="+e.srv.URL()+" "+e.srv.Token(), envChildState+"="+e.state, envChildCreds+"="+creds)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range runs {
		require.NoError(t, errs[i], "%s:\n%s", runs[i], outs[i])
	}

	for device, want := range map[string]string{"node-1": "b", "node-2": "c"} {
		st, tr := deviceState(t, e, device)
		require.Equal(t, want, st, device)
		require.Empty(t, tr, device)
	}
	// The leaves run what NetBox says now, with both devices.
	f := e.fabric(t)
	ctx := context.Background()
	gen, err := f.Deployer.Generate(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	for _, g := range gen {
		require.False(t, g.Changed, "%s: the repository already holds the render with both devices", g.Switch)
	}
	reports, err := f.Deployer.Compare(ctx, []string{"leaf-1", "leaf-2"})
	require.NoError(t, err)
	for _, r := range reports {
		require.True(t, r.OK(), r.String())
	}
}
