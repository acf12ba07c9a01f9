package services_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// bmEnv is the real Ironic, a client of it, and an embedded bus whose
// worker serves the openstack queue with the built-in handlers.
type bmEnv struct {
	bm  *openstack.BareMetal
	bus *osismtest.Bus
	cfg openstack.Config
}

func newBMEnv(t *testing.T) *bmEnv {
	t.Helper()
	cfg := openstack.Config{Endpoint: testenv.Ironic(t)}
	bm, err := openstack.NewBareMetal(ctxT(t, time.Minute), cfg)
	require.NoError(t, err)
	bm.SetWaitOpts(openstack.WaitOpts{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond})
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{
		Queues:   map[osism.Queue]int{osism.QueueOpenStack: 4},
		Handlers: mustHandlers(t, services.Config{OpenStack: cfg}),
	})
	return &bmEnv{bm: bm, bus: bus, cfg: cfg}
}

// bmName is the test's name with a random suffix: the Ironic is shared.
func bmName(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(b)
}

// node creates a fake-hardware node that t deletes at its end.
func (e *bmEnv) node(t *testing.T) *openstack.Node {
	t.Helper()
	n, err := e.bm.CreateNode(ctxT(t, time.Minute), openstack.CreateNode{Name: bmName(t), Driver: "fake-hardware"})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.bm.DeleteNode(ctx, n.UUID); err == nil || errors.Is(err, openstack.ErrNotFound) {
			return
		}
		_ = e.bm.SetMaintenance(ctx, n.UUID, "test cleanup")
		_, _ = e.bm.WaitFor(ctx, n.UUID, func(n *openstack.Node) (bool, error) {
			return (n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.Reservation == "", nil
		})
		if err := e.bm.DeleteNode(ctx, n.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return n
}

// run submits args as one task and returns its record and output.
func (e *bmEnv) run(t *testing.T, args osism.BaremetalArgs) (*osism.Task, string) {
	t.Helper()
	ctx := ctxT(t, 2*time.Minute)
	res, err := e.bus.Client.Submit(ctx, args, nil)
	require.NoError(t, err)
	var out strings.Builder
	code, err := e.bus.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	task, err := e.bus.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, task.ExitStatus, code)
	return task, out.String()
}

func TestBaremetalArgsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args osism.BaremetalArgs
		err  string
	}{
		{"ok", osism.BaremetalArgs{Op: osism.BaremetalProvide, Nodes: []string{"n1"}}, ""},
		{"unknown op", osism.BaremetalArgs{Op: "fly", Nodes: []string{"n1"}}, `baremetal: operation "fly": expected one of manage, provide`},
		{"no nodes", osism.BaremetalArgs{Op: osism.BaremetalDeploy}, "baremetal deploy: no nodes"},
		{"bad node", osism.BaremetalArgs{Op: osism.BaremetalDeploy, Nodes: []string{"a/b"}}, `node "a/b": expected a name or UUID`},
		{"soft on", osism.BaremetalArgs{Op: osism.BaremetalPowerOn, Nodes: []string{"n"}, Soft: true}, "soft applies to power-off and reboot only"},
		{"reason", osism.BaremetalArgs{Op: osism.BaremetalDeploy, Nodes: []string{"n"}, Reason: "x"}, "a reason applies to maintenance-set only"},
		{"steps", osism.BaremetalArgs{Op: osism.BaremetalDeploy, Nodes: []string{"n"}, CleanSteps: []osism.BaremetalStep{{Interface: "a", Step: "b"}}}, "clean steps apply to clean only"},
		{"empty step", osism.BaremetalArgs{Op: osism.BaremetalClean, Nodes: []string{"n"}, CleanSteps: []osism.BaremetalStep{{Step: "b"}}}, "step 1: expected an interface and a step name"},
		{"drive", osism.BaremetalArgs{Op: osism.BaremetalClean, Nodes: []string{"n"}, ConfigDrive: "x"}, "a config drive applies to deploy and rebuild only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.args.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// TestBaremetalWorker runs the operations of `osism baremetal` as tasks
// of the openstack queue against the real Ironic.
func TestBaremetalWorker(t *testing.T) {
	t.Parallel()
	e := newBMEnv(t)
	n1, n2 := e.node(t), e.node(t)
	ctx := ctxT(t, 2*time.Minute)

	// provide two enrolled nodes, one task each, with progress.
	var mu sync.Mutex
	var progress [][3]int
	tasks, err := services.RunBaremetalTasks(ctx, e.bus.Client, osism.BaremetalArgs{Op: osism.BaremetalProvide, Nodes: []string{n1.Name, n2.Name}},
		&services.BaremetalTasksOpts{Progress: func(d, tot, f int) { mu.Lock(); progress = append(progress, [3]int{d, tot, f}); mu.Unlock() }})
	require.NoError(t, err)
	require.Len(t, tasks, 2)
	require.Equal(t, [][3]int{{1, 2, 0}, {2, 2, 0}}, progress)
	for _, n := range []*openstack.Node{n1, n2} {
		got, err := e.bm.Node(ctx, n.UUID)
		require.NoError(t, err)
		require.Equal(t, openstack.StateAvailable, got.ProvisionState, "enroll -> manageable -> available")
	}

	targets, err := services.BaremetalTargets(ctx, e.bm, osism.BaremetalDeploy, nil)
	require.NoError(t, err)
	require.Contains(t, targets, n1.Name)
	require.Contains(t, targets, n2.Name)
	_, err = services.BaremetalTargets(ctx, e.bm, osism.BaremetalClean, nil)
	require.ErrorContains(t, err, "--all applies to deploy")

	steps := []struct {
		args  osism.BaremetalArgs
		out   string
		state openstack.ProvisionState
		power openstack.PowerState
		maint bool
	}{
		{osism.BaremetalArgs{Op: osism.BaremetalDeploy, ConfigDrive: "H4sICDw2a2UAA2NvbmZpZ2RyaXZlAAMAAAAAAAAAAAA="}, "deploy done: provision state active", openstack.StateActive, "", false},
		{osism.BaremetalArgs{Op: osism.BaremetalPowerOn}, "power-on done: provision state active, power power on", openstack.StateActive, openstack.PowerOn, false},
		{osism.BaremetalArgs{Op: osism.BaremetalReboot, Soft: true}, ": soft rebooting", openstack.StateActive, openstack.PowerOn, false},
		{osism.BaremetalArgs{Op: osism.BaremetalPowerOff, Soft: true}, "power-off done", openstack.StateActive, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalMaintenanceSet, Reason: "fan"}, "maintenance-set done: provision state active, power power off, maintenance", openstack.StateActive, openstack.PowerOff, true},
		{osism.BaremetalArgs{Op: osism.BaremetalMaintenanceUnset}, "maintenance-unset done", openstack.StateActive, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalRebuild}, "rebuild done", openstack.StateActive, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalUndeploy}, "undeploy done: provision state available", openstack.StateAvailable, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalManage}, "manage done: provision state manageable", openstack.StateManageable, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalClean, CleanSteps: []osism.BaremetalStep{{Interface: "bios", Step: "factory_reset"}}}, "clean done: provision state manageable", openstack.StateManageable, openstack.PowerOff, false},
		{osism.BaremetalArgs{Op: osism.BaremetalAdopt}, "adopt done: provision state active", openstack.StateActive, openstack.PowerOff, false},
	}
	for _, st := range steps {
		st.args.Nodes = []string{n1.Name}
		task, out := e.run(t, st.args)
		require.Equal(t, osism.StateSucceeded, task.State, "%s: %s\n%s", st.args.Op, task.Error, out)
		require.Contains(t, out, n1.Name+": "+string(st.args.Op)+" done", st.args.Op)
		require.Contains(t, out, st.out, st.args.Op)
		got, err := e.bm.Node(ctx, n1.UUID)
		require.NoError(t, err)
		require.Equal(t, st.state, got.ProvisionState, st.args.Op)
		require.Equal(t, st.maint, got.Maintenance, st.args.Op)
		if st.power != "" {
			require.Equal(t, st.power, got.PowerState, st.args.Op)
		}
		if st.args.ConfigDrive != "" {
			require.NotContains(t, string(task.Args), st.args.ConfigDrive, "the config drive stays out of the task record")
		}
	}

	// Delete refuses an active node, and deletes an available one.
	task, out := e.run(t, osism.BaremetalArgs{Op: osism.BaremetalDelete, Nodes: []string{n1.Name}})
	require.Equal(t, osism.StateFailed, task.State)
	require.NotZero(t, task.ExitStatus)
	require.Contains(t, task.Error, "node "+n1.Name+" is not safe to delete (provision state active")
	require.Contains(t, out, n1.Name+": delete failed")
	task, out = e.run(t, osism.BaremetalArgs{Op: osism.BaremetalDelete, Nodes: []string{n2.Name}})
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	require.Contains(t, out, n2.Name+": delete done: deleted")
	_, err = e.bm.Node(ctx, n2.UUID)
	require.ErrorIs(t, err, openstack.ErrNotFound)
}

// TestBaremetalWorkerFailures: a failing node fails its task with an
// error naming the node, and the other nodes still run.
func TestBaremetalWorkerFailures(t *testing.T) {
	t.Parallel()
	e := newBMEnv(t)
	n := e.node(t)
	ctx := ctxT(t, 2*time.Minute)

	// deploy of an enrolled node: Ironic refuses (400).
	task, out := e.run(t, osism.BaremetalArgs{Op: osism.BaremetalDeploy, Nodes: []string{n.Name, "no-such-node-" + bmName(t)}})
	require.Equal(t, osism.StateFailed, task.State)
	require.Equal(t, osism.ExitFailure, task.ExitStatus)
	require.Contains(t, task.Error, "baremetal deploy: 2 of 2 nodes failed")
	require.Contains(t, task.Error, "set provision state active of node "+n.Name+": 400 Bad Request")
	require.Contains(t, task.Error, "404 Not Found")
	require.Contains(t, out, n.Name+": deploy failed")

	// A failed clean: the error carries Ironic's last_error.
	_, err := e.bm.Provision(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetManage})
	require.NoError(t, err)
	tasks, err := services.RunBaremetalTasks(ctx, e.bus.Client, osism.BaremetalArgs{Op: osism.BaremetalClean, Nodes: []string{n.Name},
		CleanSteps: []osism.BaremetalStep{{Interface: "deploy", Step: "no_such_step"}}}, nil)
	require.ErrorIs(t, err, services.ErrNodesFailed)
	require.Contains(t, tasks[0].Error, `provision state "clean failed"`)
	require.Contains(t, tasks[0].Error, "no_such_step")

	// A worker without Ironic configured names what to set.
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueOpenStack: 1}, Handlers: mustHandlers(t, services.Config{})})
	res, err := bus.Client.Submit(ctx, osism.BaremetalArgs{Op: osism.BaremetalProvide, Nodes: []string{"x"}}, nil)
	require.NoError(t, err)
	got, err := bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateFailed, got.State)
	require.Contains(t, got.Error, "openstack: no credentials")
}

// TestListBaremetalNetBox joins nodes to the NetBox devices of their names.
func TestListBaremetalNetBox(t *testing.T) {
	t.Parallel()
	e := newBMEnv(t)
	n := e.node(t)
	lone := e.node(t)
	ctx := ctxT(t, time.Minute)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	tmpl, ok := srv.Find("dcim.device", "node-1")
	require.True(t, ok)
	ref := func(k string) any { return tmpl[k].(map[string]any)["id"] }
	_, err := srv.Create("dcim.device", map[string]any{"name": n.Name, "device_type": ref("device_type"), "role": ref("role"),
		"site": ref("site"), "status": "active", "custom_fields": map[string]any{"device_state": "b"}})
	require.NoError(t, err)
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)

	// Only this test's two nodes: they are enrolled, with no instance, and
	// the other packages' nodes are filtered out by name below.
	all, err := services.ListBaremetal(ctx, e.bm, &openstack.ListNodesOpts{ProvisionState: openstack.StateEnroll, Limit: 2}, nb)
	require.NoError(t, err)
	found := map[string]*netbox.Device{}
	for _, bn := range all {
		if bn.Name == n.Name || bn.Name == lone.Name {
			found[bn.Name] = bn.Device
		}
	}
	require.Len(t, found, 2)
	require.NotNil(t, found[n.Name])
	require.Equal(t, "b", found[n.Name].CustomFields.String("device_state"))
	require.Nil(t, found[lone.Name], "no device of that name")

	plain, err := services.ListBaremetal(ctx, e.bm, &openstack.ListNodesOpts{ProvisionState: openstack.StateEnroll}, nil)
	require.NoError(t, err)
	for _, bn := range plain {
		require.Nil(t, bn.Device)
	}
}
