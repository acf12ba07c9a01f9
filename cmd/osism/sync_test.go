package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/openstack"
)

func TestSyncUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"two nodes", []string{"sync", "ironic", "a", "b"}},
		{"bad node", []string{"sync", "ironic", "a/b"}},
		{"bad format", []string{"sync", "netbox", "--format", "table"}},
		{"netbox two nodes", []string{"sync", "netbox", "a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, code := run(t, tc.args...)
			require.Equal(t, exitUsage, code)
		})
	}
}

// osism sync ironic and sync netbox end to end: the NetBox double, the
// real Ironic, the conductor tasks in this process.
func TestSyncCommands(t *testing.T) {
	t.Parallel()
	env, bm := ironicEnv(t)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	tag := uniqueNode(t)
	_, err := srv.Create("extras.tag", map[string]any{"name": tag, "slug": tag})
	require.NoError(t, err)
	name := uniqueNode(t)
	bad := uniqueNode(t)
	for _, n := range []string{name, bad} {
		_, err = srv.Create("dcim.device", map[string]any{"name": n, "status": "active",
			"site": srv.ID("dcim.site", "dc1"), "device_type": srv.ID("dcim.devicetype", "SYS-1029P"),
			"role": srv.ID("dcim.devicerole", "compute"), "tags": []any{srv.ID("extras.tag", tag)}})
		require.NoError(t, err)
	}
	devID := srv.ID("dcim.device", name)
	ifID, err := srv.Create("dcim.interface", map[string]any{"device": devID, "name": "eth0", "type": "25gbase-x-sfp28", "enabled": true})
	require.NoError(t, err)
	mac, err := srv.Create("dcim.macaddress", map[string]any{"mac_address": "02:00:00:00:3a:01",
		"assigned_object_type": "dcim.interface", "assigned_object_id": ifID})
	require.NoError(t, err)
	require.NoError(t, srv.Update("dcim.interface", ifID, map[string]any{"primary_mac_address": mac}))

	dir := t.TempDir()
	file := filepath.Join(dir, "conductor.yml")
	require.NoError(t, os.WriteFile(file, []byte("ironic_parameters:\n  driver: fake-hardware\n  properties:\n    cpu_arch: x86_64\n"), 0o600))
	env = env.with("NETBOX_URL="+srv.URL(), "NETBOX_TOKEN="+srv.Token(), "OSISM_CONDUCTOR_FILE="+file,
		"OSISM_CONDUCTOR_SCOPE="+tag, "OSISM_LOCK_DIR="+dir,
		`NETBOX_FILTER_CONDUCTOR_IRONIC=[{status: active, tag: [`+tag+`]}]`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, n := range []string{name, bad} {
			if err := bm.DeleteNode(ctx, n); err != nil && !errors.Is(err, openstack.ErrNotFound) {
				t.Errorf("cleanup %s: %v", n, err)
			}
		}
	})

	out, code := env.run(t, "sync", "ironic", "--dry-run", name)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "[DRY RUN] "+name+": would create the node")
	_, err = bm.Node(context.Background(), name)
	require.ErrorIs(t, err, openstack.ErrNotFound)

	out, code = env.run(t, "sync", "ironic", "--format", "json", name)
	require.Equal(t, 0, code, out)
	var rep struct {
		Created int `json:"created"`
		Nodes   []struct {
			Device, Action string
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, 1, rep.Created, out)
	n := nodeState(t, bm, name)
	require.Equal(t, openstack.StateAvailable, n.ProvisionState)
	require.Equal(t, "x86_64", n.Properties["cpu_arch"])

	out, code = env.run(t, "sync", "ironic", name)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "1 unchanged")

	out, code = env.run(t, "sync", "netbox", "--format", "json", name)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"netbox": "primary"`)
	require.Equal(t, "available", srv.CustomField("dcim.device", devID, "provision_state"))

	// A device without a driver fails, and so does the command.
	require.NoError(t, os.WriteFile(file, []byte("ironic_parameters: {}\n"), 0o600))
	out, code = env.run(t, "sync", "ironic", bad)
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "no driver: expected ironic_parameters.driver")
}
