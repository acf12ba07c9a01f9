package services_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// OpenFabric builds a working fabric from the configuration alone: its
// NetBox client reaches the double, its deployer keeps the configured
// state repository, and its devices are locked where the mode says (the
// host's files standalone, the bus with a broker).
func TestOpenFabric(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	bus := osismtest.New(t, nil)

	cases := []struct {
		name string
		bus  osism.Config
		// other is a second locker of the same kind, as another process
		// would hold it.
		other func(cfg services.Config) statemachine.Locker
	}{
		{name: "standalone: file locks", other: func(cfg services.Config) statemachine.Locker {
			return services.FileLocker(cfg.Fabric.LockDir)
		}},
		{name: "with a broker: bus locks", bus: bus.Config(), other: func(services.Config) statemachine.Locker {
			return services.StateLocker(bus.Client, 30*time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, time.Minute)
			cfg := services.Config{Bus: tc.bus, NetBox: netbox.Config{URL: srv.URL(), Token: srv.Token()}}
			cfg.Fabric.Switches.StateDir = filepath.Join(t.TempDir(), "switches")
			cfg.Fabric.LockDir = filepath.Join(t.TempDir(), "locks")
			f, closeFn, err := services.OpenFabric(ctx, cfg, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			require.NotNil(t, closeFn)

			dev, err := f.NetBox.Device(ctx, "node-1")
			require.NoError(t, err)
			require.Equal(t, "node-1", dev.Name)
			require.Equal(t, cfg.Fabric.Switches.StateDir, f.Deployer.Repo.Dir())
			res, err := f.Deployer.Generate(ctx, "leaf-1")
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.True(t, res[0].Changed, "rendered into the configured state repository")

			lease, err := f.Locker.Acquire(ctx, "device/node-1")
			require.NoError(t, err)
			_, err = tc.other(cfg).Acquire(ctx, "device/node-1")
			require.ErrorIs(t, err, statemachine.ErrLocked, "the fabric's lock is seen where this mode locks")
			require.NoError(t, lease.Release(ctx))
			require.NoError(t, closeFn())
		})
	}
}

func TestOpenFabricErrors(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	bus := osismtest.New(t, nil)
	nb := netbox.Config{URL: srv.URL(), Token: srv.Token()}
	missing := filepath.Join(t.TempDir(), "switches.yaml")
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))

	cases := []struct {
		name    string
		cfg     func(c *services.Config)
		wantErr string
	}{
		{name: "no NetBox", cfg: func(c *services.Config) { c.NetBox = netbox.Config{} },
			wantErr: "netbox (netbox.url and a token, or NETBOX_URL and NETBOX_TOKEN)"},
		{name: "a broker that does not answer", cfg: func(c *services.Config) { c.Bus.Broker.URL = "nats://127.0.0.1:1" },
			wantErr: "127.0.0.1:1"},
		{name: "a missing credentials file, with a broker", cfg: func(c *services.Config) {
			c.Bus = bus.Config()
			c.Fabric.Switches.CredentialsFile = missing
		}, wantErr: missing},
		{name: "a state directory that is a file", cfg: func(c *services.Config) { c.Fabric.Switches.StateDir = notADir },
			wantErr: notADir},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := services.Config{NetBox: nb}
			cfg.Fabric.Switches.StateDir = filepath.Join(t.TempDir(), "switches")
			tc.cfg(&cfg)
			f, closeFn, err := services.OpenFabric(ctxT(t, 30*time.Second), cfg, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, tc.wantErr)
			require.Nil(t, f)
			require.Nil(t, closeFn)
		})
	}
}
