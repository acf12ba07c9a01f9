package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/services"
)

// ironicEnv is the CLI's environment for the test Ironic (noauth,
// standalone bus) and an SDK client of it for setting up and checking.
func ironicEnv(t *testing.T) (cliEnv, *openstack.BareMetal) {
	t.Helper()
	url := testenv.Ironic(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bm, err := openstack.NewBareMetal(ctx, openstack.Config{Endpoint: url})
	require.NoError(t, err)
	return cliEnv{"OS_ENDPOINT=" + url}, bm
}

func uniqueNode(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(b)
}

// newNode creates a fake-hardware node that t deletes at its end.
func newNode(t *testing.T, bm *openstack.BareMetal, c openstack.CreateNode) *openstack.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Driver = "fake-hardware"
	if c.Name == "" {
		c.Name = uniqueNode(t)
	}
	n, err := bm.CreateNode(ctx, c)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := bm.DeleteNode(ctx, n.UUID); err == nil || errors.Is(err, openstack.ErrNotFound) {
			return
		}
		_ = bm.SetMaintenance(ctx, n.UUID, "test cleanup")
		_, _ = bm.WaitFor(ctx, n.UUID, func(n *openstack.Node) (bool, error) {
			return (n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.Reservation == "", nil
		})
		if err := bm.DeleteNode(ctx, n.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return n
}

func nodeState(t *testing.T, bm *openstack.BareMetal, ref string) *openstack.Node {
	t.Helper()
	n, err := bm.Node(context.Background(), ref)
	require.NoError(t, err)
	return n
}

// TestBaremetalCommands runs osism baremetal end to end against the real
// Ironic, standalone (the tasks run in this process).
func TestBaremetalCommands(t *testing.T) {
	t.Parallel()
	env, bm := ironicEnv(t)
	class := uniqueNode(t)
	n1 := newNode(t, bm, openstack.CreateNode{ResourceClass: class})
	n2 := newNode(t, bm, openstack.CreateNode{ResourceClass: class})

	out, code := env.run(t, "baremetal", "list", "--resource-class", class, "--format", "json")
	require.Equal(t, exitOK, code)
	var listed []services.BaremetalNode
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 2)

	out, code = env.run(t, "baremetal", "list", "--resource-class", class, "--provision-state", "enroll")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "PROVISION STATE")
	require.Contains(t, out, n1.Name)
	require.Contains(t, out, n2.Name)

	// provide both: one task each, a progress bar.
	_, stderr, code := env.runFull(t, "baremetal", "provide", n1.Name, n2.Name)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "] 2/2 nodes, 0 failed")
	require.Equal(t, openstack.StateAvailable, nodeState(t, bm, n1.Name).ProvisionState)
	require.Equal(t, openstack.StateAvailable, nodeState(t, bm, n2.Name).ProvisionState)

	// deploy --all of this class: both.
	_, stderr, code = env.runFull(t, "baremetal", "deploy", "--all", "--resource-class", class)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "] 2/2 nodes, 0 failed")
	require.Equal(t, openstack.StateActive, nodeState(t, bm, n1.Name).ProvisionState)
	require.Equal(t, openstack.StateActive, nodeState(t, bm, n2.Name).ProvisionState)

	// One node: its task's output is followed.
	out, code = env.run(t, "baremetal", "deploy", "--rebuild", n1.Name)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, n1.Name+": rebuild done: provision state active")

	out, code = env.run(t, "baremetal", "power", "on", n1.Name)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "power on")
	require.Equal(t, openstack.PowerOn, nodeState(t, bm, n1.Name).PowerState)
	_, code = env.run(t, "baremetal", "power", "off", "--soft", n1.Name)
	require.Equal(t, exitOK, code)
	require.Equal(t, openstack.PowerOff, nodeState(t, bm, n1.Name).PowerState)

	_, code = env.run(t, "baremetal", "maintenance", "set", "--reason", "fan broken", n1.Name)
	require.Equal(t, exitOK, code)
	out, code = env.run(t, "baremetal", "list", "--resource-class", class, "--maintenance", "--format", "json")
	require.Equal(t, exitOK, code)
	listed = nil
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, n1.Name, listed[0].Name)
	require.Equal(t, "fan broken", listed[0].MaintenanceReason)
	out, code = env.run(t, "baremetal", "show", n1.Name)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "fan broken")
	_, code = env.run(t, "baremetal", "maintenance", "unset", n1.Name)
	require.Equal(t, exitOK, code)
	require.False(t, nodeState(t, bm, n1.Name).Maintenance)

	out, code = env.run(t, "baremetal", "undeploy", "--format", "json", n1.Name, n2.Name)
	require.Equal(t, exitOK, code)
	var tasks []services.BaremetalTask
	require.NoError(t, json.Unmarshal([]byte(out), &tasks))
	require.Len(t, tasks, 2)
	require.Equal(t, openstack.StateAvailable, nodeState(t, bm, n2.Name).ProvisionState)

	// clean needs a manageable node: an available one fails, exit 1.
	_, stderr, code = env.runFull(t, "baremetal", "clean", "--step", "bios.factory_reset", n1.Name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "set provision state clean of node "+n1.Name+": 400 Bad Request")

	// delete refuses a powered-on node, then deletes it once off.
	_, code = env.run(t, "baremetal", "power", "on", n2.Name)
	require.Equal(t, exitOK, code)
	_, stderr, code = env.runFull(t, "baremetal", "delete", n2.Name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "is not safe to delete")
	_, code = env.run(t, "baremetal", "power", "off", n2.Name)
	require.Equal(t, exitOK, code)
	_, code = env.run(t, "baremetal", "delete", n2.Name)
	require.Equal(t, exitOK, code)
	_, err := bm.Node(context.Background(), n2.UUID)
	require.ErrorIs(t, err, openstack.ErrNotFound)

	_, stderr, code = env.runFull(t, "baremetal", "show", n2.Name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "get node "+n2.Name+": 404 Not Found")
}

// TestBaremetalFailures: a failing node makes the command exit 1 and
// names it; the others still run.
func TestBaremetalFailures(t *testing.T) {
	t.Parallel()
	env, bm := ironicEnv(t)
	ok := newNode(t, bm, openstack.CreateNode{})
	enrolled := newNode(t, bm, openstack.CreateNode{})
	_, err := bm.Provision(context.Background(), ok.Name, openstack.ProvisionRequest{Target: openstack.TargetManage})
	require.NoError(t, err)
	_, err = bm.Provision(context.Background(), ok.Name, openstack.ProvisionRequest{Target: openstack.TargetProvide})
	require.NoError(t, err)

	_, stderr, code := env.runFull(t, "baremetal", "deploy", ok.Name, enrolled.Name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "] 2/2 nodes, 1 failed")
	require.Contains(t, stderr, "osism: failed: "+enrolled.Name)
	require.Contains(t, stderr, "baremetal deploy: 1 of 2 nodes failed")
	require.Equal(t, openstack.StateActive, nodeState(t, bm, ok.Name).ProvisionState)

	out, stderr, code := env.runFull(t, "baremetal", "deploy", enrolled.Name)
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, enrolled.Name+": deploy failed")
	require.Contains(t, stderr, "task")
}

func TestBaremetalUsage(t *testing.T) {
	t.Parallel()
	env := cliEnv{"OS_ENDPOINT=http://127.0.0.1:1"}
	cases := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no nodes", []string{"baremetal", "provide"}, exitUsage, "baremetal provide: expected one or more NODE"},
		{"all and nodes", []string{"baremetal", "deploy", "--all", "n1"}, exitUsage, "expected NODE... or --all, not both"},
		{"resource class without all", []string{"baremetal", "deploy", "--resource-class", "x", "n1"}, exitUsage, "--resource-class goes with --all"},
		{"bad step", []string{"baremetal", "clean", "--step", "erase", "n1"}, exitUsage, `--step "erase": expected INTERFACE.STEP`},
		{"bad state", []string{"baremetal", "list", "--provision-state", "gone"}, exitUsage, `provision state "gone"`},
		{"bad format", []string{"baremetal", "list", "--format", "xml"}, exitUsage, `--format "xml"`},
		{"show two", []string{"baremetal", "show", "a", "b"}, exitUsage, "expected one NODE"},
		{"bad node", []string{"baremetal", "undeploy", "a/b"}, exitUsage, `node "a/b": expected a name or UUID`},
		{"ironic down", []string{"baremetal", "list"}, exitFailure, "openstack: bare-metal API at http://127.0.0.1:1/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := env.runFull(t, tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.err)
		})
	}
	// Without any openstack configuration, the error says what to set.
	for _, args := range [][]string{{"baremetal", "list"}, {"baremetal", "provide", "n1"}} {
		_, stderr, code := runFull(t, args...)
		require.Equal(t, exitFailure, code)
		require.Contains(t, stderr, "openstack: no credentials: set OS_CLOUD")
	}
}

// TestBaremetalListNetBox joins nodes to NetBox devices by name.
func TestBaremetalListNetBox(t *testing.T) {
	t.Parallel()
	env, bm := ironicEnv(t)
	class := uniqueNode(t)
	n := newNode(t, bm, openstack.CreateNode{ResourceClass: class})
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	tmpl, ok := srv.Find("dcim.device", "node-1")
	require.True(t, ok)
	ref := func(k string) any { return tmpl[k].(map[string]any)["id"] }
	_, err := srv.Create("dcim.device", map[string]any{"name": n.Name, "device_type": ref("device_type"), "role": ref("role"),
		"site": ref("site"), "status": "active", "custom_fields": map[string]any{"device_state": "c", "provision_state": "active"}})
	require.NoError(t, err)
	env = env.with("NETBOX_URL="+srv.URL(), "NETBOX_TOKEN="+srv.Token())
	out, code := env.run(t, "baremetal", "list", "--netbox", "--resource-class", class)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "DEVICE STATE")
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, n.Name) {
			line = l
		}
	}
	require.Regexp(t, `enroll\s+-\s+false\s+`+n.Name+`\s+c\s+active`, line)
}
