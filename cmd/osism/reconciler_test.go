package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

const reconcilerCLIFixture = `
tags:
  - {name: Managed by OSISM, slug: managed-by-osism}
sites:
  - {name: dc1}
manufacturers:
  - {name: acme}
device_types:
  - {manufacturer: acme, model: server}
roles:
  - {name: compute}
devices:
  - {name: node-1, role: compute, device_type: server, site: dc1, status: active, tags: [managed-by-osism],
     config_context: {ansible_user: dragon, ansible_become_password: s3cret-pw}}
  - {name: node-2, role: compute, device_type: server, site: dc1, status: active, tags: [managed-by-osism]}
`

// osism reconciler sync end to end: the NetBox double, the reconciler
// task in this process.
func TestReconcilerSync(t *testing.T) {
	t.Parallel()
	fx, err := netboxtest.LoadFixture([]byte(reconcilerCLIFixture))
	require.NoError(t, err)
	srv := netboxtest.New(t, netboxtest.WithFixture(fx))
	conf := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(conf, "inventory"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(conf, "inventory", "10-manager"), []byte("[manager]\nnode-2\n"), 0o644))
	outDir := filepath.Join(t.TempDir(), "inventory")
	env := cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_CONFIGURATION_DIR=" + conf,
		"OSISM_RECONCILER_OUTPUT_DIR=" + outDir, "OSISM_LOCK_DIR=" + t.TempDir()}

	out, code := env.run(t, "reconciler", "sync", "--dry-run")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "+++ b/hosts.yml")
	require.Contains(t, out, "added node-1\n")
	require.NotContains(t, out, "s3cret-pw")
	require.NoDirExists(t, outDir, "a dry run writes nothing")

	out, code = env.run(t, "reconciler", "sync")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "added node-2\n")
	hosts, err := os.ReadFile(filepath.Join(outDir, "hosts.yml"))
	require.NoError(t, err)
	require.Contains(t, string(hosts), "manager:\n      hosts:\n        node-2: null\n")
	require.FileExists(t, filepath.Join(outDir, "host_vars", "node-1.yml"))

	out, code = env.run(t, "reconciler", "sync", "--format", "json")
	require.Equal(t, 0, code, out)
	var rep struct {
		Hosts   int      `json:"hosts"`
		Written []string `json:"written"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, 2, rep.Hosts)
	require.Empty(t, rep.Written, "nothing changed")

	// A bad filter is a configuration error naming the variable.
	_, errOut, code := env.with("NETBOX_FILTER_INVENTORY=site: dc1").runFull(t, "reconciler", "sync")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "NETBOX_FILTER_INVENTORY")

	_, code = env.run(t, "reconciler", "sync", "extra")
	require.Equal(t, exitUsage, code)
}

// osism service reconciler takes reconciler.run from the broker and
// writes the inventory; it stops cleanly with its context.
func TestServiceReconciler(t *testing.T) {
	t.Parallel()
	fx, err := netboxtest.LoadFixture([]byte(reconcilerCLIFixture))
	require.NoError(t, err)
	srv := netboxtest.New(t, netboxtest.WithFixture(fx))
	bus := osismtest.New(t, nil)
	outDir := filepath.Join(t.TempDir(), "inventory")
	env := cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_BROKER_URL=" + bus.URL(),
		"OSISM_CONFIGURATION_DIR=" + t.TempDir(), "OSISM_RECONCILER_OUTPUT_DIR=" + outDir}

	_, code := env.run(t, "service", "reconciler", "extra")
	require.Equal(t, exitUsage, code)

	app := newApp(services.LoadOpts{Environ: env})
	var out, errOut syncBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- exitCode(&errOut, app.RunContext(ctx, []string{"osism", "service", "reconciler"}))
	}()

	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	res, err := bus.Client.Submit(sctx, osism.ReconcilerRunArgs{Reason: "beat"}, &osism.SubmitOpts{DedupKey: osism.ReconcilerDedupKey})
	require.NoError(t, err)
	var follow strings.Builder
	exit, err := bus.Client.Follow(sctx, res.ID, &follow, nil)
	require.NoError(t, err)
	require.Zero(t, exit, follow.String())
	require.Contains(t, follow.String(), "reconciler run (beat)")
	require.FileExists(t, filepath.Join(outDir, "hosts.yml"))

	cancel()
	select {
	case code := <-done:
		require.Zero(t, code, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the reconciler service did not stop")
	}
}
