package services_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// A test that must kill a process in the middle of a transition starts
// this test binary again with envChildTransition set: the child moves a
// device through the fabric and stops in phase 3, after writing its pid,
// until it is killed.
const (
	envChildTransition = "OSISM_TEST_CHILD_TRANSITION" // device:state
	envChildNetBox     = "OSISM_TEST_CHILD_NETBOX"     // url token
	envChildState      = "OSISM_TEST_CHILD_STATE_DIR"
	envChildCreds      = "OSISM_TEST_CHILD_CREDENTIALS"
	envChildReady      = "OSISM_TEST_CHILD_READY" // file the child writes in phase 3
)

func TestMain(m *testing.M) {
	if v := os.Getenv(envChildTransition); v != "" {
		os.Exit(childTransition(v))
	}
	os.Exit(m.Run())
}

func childTransition(spec string) int {
	var device, state, url, token string
	if _, err := fmt.Sscanf(spec, "%s %s", &device, &state); err != nil {
		return 3
	}
	if _, err := fmt.Sscanf(os.Getenv(envChildNetBox), "%s %s", &url, &token); err != nil {
		return 3
	}
	nb, err := netbox.New(netbox.Config{URL: url, Token: token})
	if err != nil {
		return 4
	}
	creds, err := switchcfg.LoadCredentials(os.Getenv(envChildCreds))
	if err != nil {
		return 5
	}
	f, err := services.NewFabric(fabricConfig(os.Getenv(envChildState)), nb, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return 6
	}
	f.Deployer.Credentials = creds
	hooks := f.Hooks("dc1")
	hooks[statemachine.PhaseDeploy] = []statemachine.PhaseHook{statemachine.PhaseHookFunc(
		func(ctx context.Context, step statemachine.Step) error {
			_ = os.WriteFile(os.Getenv(envChildReady), []byte(fmt.Sprint(os.Getpid())), 0o644)
			time.Sleep(time.Hour) // killed here, in phase 3
			return nil
		})}
	m, err := statemachine.New(statemachine.Config{Store: netbox.NewStore(nb), Hooks: hooks})
	if err != nil {
		return 7
	}
	if _, err := m.Transition(context.Background(), device, statemachine.State(state), nil); err != nil {
		return 8
	}
	return 0
}

// fabricConfig is the fabric section of the tests: the sample desired
// states, collection dc1, the state repository in dir.
func fabricConfig(dir string) services.FabricConfig {
	var cfg services.FabricConfig
	cfg.DesiredState = netbox.DesiredStateConfig{Dir: demoDesired, Collection: "dc1"}
	cfg.Switches.StateDir = dir
	return cfg
}

// mustHandlers are the built-in handlers of cfg.
func mustHandlers(t testing.TB, cfg services.Config) *osism.Registry {
	t.Helper()
	reg, err := services.BuiltinHandlers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
