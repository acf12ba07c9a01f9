package openstack_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/nodes"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/openstack"
)

// ironic returns a client of the test Ironic (noauth).
func ironic(t testing.TB) *openstack.BareMetal {
	t.Helper()
	url := testenv.Ironic(t)
	bm, err := openstack.NewBareMetal(ctxT(t), openstack.Config{Endpoint: url})
	require.NoError(t, err)
	bm.SetWaitOpts(openstack.WaitOpts{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond})
	return bm
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// uniqueName is the test's name with a random suffix: several packages
// share the one Ironic.
func uniqueName(t testing.TB, suffix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-", " ", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	n := name + "-" + hex.EncodeToString(b)
	if suffix != "" {
		n += "-" + suffix
	}
	return n
}

// createNode creates a fake-hardware node that t deletes at its end,
// whatever state it is in then.
func createNode(t testing.TB, bm *openstack.BareMetal, c openstack.CreateNode) *openstack.Node {
	t.Helper()
	if c.Driver == "" {
		c.Driver = "fake-hardware"
	}
	var n *openstack.Node
	var err error
	// Right after Ironic starts, a create may get 503 until the hash ring
	// has a conductor: retry that, with a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err = bm.CreateNode(ctxT(t), c)
		if err == nil || !openstack.StatusIs(err, 503) || time.Now().After(deadline) {
			break
		}
		_, _ = bm.Nodes(ctxT(t), &openstack.ListNodesOpts{Limit: 1})
	}
	require.NoError(t, err)
	t.Cleanup(func() { deleteNode(t, bm, n.UUID) })
	return n
}

func deleteNode(t testing.TB, bm *openstack.BareMetal, uuid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := bm.DeleteNode(ctx, uuid)
	if err == nil || errors.Is(err, openstack.ErrNotFound) {
		return
	}
	// An active or moving node is deleted in maintenance, once no
	// conductor holds it.
	_ = bm.SetMaintenance(ctx, uuid, "test cleanup")
	if _, werr := bm.WaitFor(ctx, uuid, func(n *openstack.Node) (bool, error) {
		return (n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.Reservation == "", nil
	}); werr != nil {
		t.Logf("cleanup of node %s: %v", uuid, werr)
	}
	if err := bm.DeleteNode(ctx, uuid); err != nil && !errors.Is(err, openstack.ErrNotFound) {
		t.Errorf("cleanup: delete node %s: %v", uuid, err)
	}
}

func TestNodeCRUD(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	name := uniqueName(t, "")
	n := createNode(t, bm, openstack.CreateNode{Name: name,
		DriverInfo: map[string]any{"fake_address": "10.0.0.1"},
		Properties: map[string]any{"cpus": 8}, Extra: map[string]any{"rack": "r1"}, ResourceClass: "baremetal"})
	require.Equal(t, openstack.StateEnroll, n.ProvisionState)
	require.Equal(t, name, n.Name)
	require.Equal(t, "fake-hardware", n.Driver)

	for _, ref := range []string{name, n.UUID} {
		got, err := bm.Node(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, n.UUID, got.UUID)
		require.Equal(t, "10.0.0.1", got.DriverInfo["fake_address"])
		require.EqualValues(t, 8, got.Properties["cpus"])
	}

	up, err := bm.UpdateNode(ctx, name,
		openstack.Replace("/extra/rack", "r2"),
		openstack.Add("/extra/in_use", false), // a false value is sent, not dropped
		openstack.Add("/properties/memory_mb", 1024),
		openstack.Remove("/driver_info/fake_address"))
	require.NoError(t, err)
	require.Equal(t, "r2", up.Extra["rack"])
	require.Equal(t, false, up.Extra["in_use"])
	require.EqualValues(t, 1024, up.Properties["memory_mb"])
	require.NotContains(t, up.DriverInfo, "fake_address")

	_, err = bm.UpdateNode(ctx, name, openstack.Patch{Op: "move", Path: "/extra/x"})
	require.ErrorContains(t, err, `op "move"`)

	require.NoError(t, bm.DeleteNode(ctx, name))
	_, err = bm.Node(ctx, name)
	require.ErrorIs(t, err, openstack.ErrNotFound)
	require.True(t, openstack.StatusIs(err, 404))
	require.ErrorContains(t, err, "get node "+name+": 404 Not Found")
	require.ErrorContains(t, err, "could not be found")

	err = bm.DeleteNode(ctx, name)
	require.ErrorIs(t, err, openstack.ErrNotFound)
	require.ErrorContains(t, err, "delete node "+name)
}

func TestNodeRefErrors(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	for _, ref := range []string{"", "  ", "a/b", "x?y"} {
		_, err := bm.Node(ctx, ref)
		require.ErrorContains(t, err, "expected a name or UUID", "%q", ref)
	}
	_, err := bm.CreateNode(ctx, openstack.CreateNode{Name: "x"})
	require.ErrorContains(t, err, "create node x: no driver")
	_, err = bm.Nodes(ctx, &openstack.ListNodesOpts{Limit: -1})
	require.ErrorContains(t, err, "limit -1")
}

// TestListNodesPaged lists with a page smaller than the result and a
// filter: Ironic's "next" link drops the filter, so following it (as
// gophercloud's pager does) would bring in other nodes on page two.
func TestListNodesPaged(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	class := uniqueName(t, "rc")
	other := uniqueName(t, "other")
	want := map[string]bool{}
	for i := range 5 {
		n := createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, string(rune('a'+i))), ResourceClass: class})
		want[n.UUID] = true
	}
	for i := range 3 {
		createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, string(rune('x'+i))), ResourceClass: other})
	}
	tests := []struct {
		name  string
		limit int
	}{{"page of 1", 1}, {"page of 2", 2}, {"page of 5 (exactly all)", 5}, {"server's page", 0}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bm.Nodes(ctx, &openstack.ListNodesOpts{ResourceClass: class, Limit: tc.limit})
			require.NoError(t, err)
			seen := map[string]bool{}
			for _, n := range got {
				require.Equal(t, class, n.ResourceClass, "node %s of another class: a filter lost on a later page", n.Name)
				require.False(t, seen[n.UUID], "node %s twice", n.Name)
				seen[n.UUID] = true
			}
			require.Equal(t, want, seen)
		})
	}
	f := false
	got, err := bm.Nodes(ctx, &openstack.ListNodesOpts{ResourceClass: other, Maintenance: &f, ProvisionState: openstack.StateEnroll, Limit: 2})
	require.NoError(t, err)
	require.Len(t, got, 3)
	tr := true
	got, err = bm.Nodes(ctx, &openstack.ListNodesOpts{ResourceClass: other, Maintenance: &tr, Limit: 2})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestPorts(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	n := createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, "")})
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	var macs []string
	for i := range 3 {
		mac := "52:54:" + hex.EncodeToString(b[:1]) + ":" + hex.EncodeToString(b[1:2]) + ":" + hex.EncodeToString(b[2:3]) + ":0" + string(rune('0'+i))
		macs = append(macs, mac)
		p, err := bm.CreatePort(ctx, openstack.CreatePort{NodeUUID: n.UUID, Address: mac,
			LocalLinkConnection: map[string]any{"switch_id": "00:00:00:00:00:01", "port_id": "Ethernet" + string(rune('0'+i))},
			Extra:               map[string]any{"interface": "eth" + string(rune('0'+i))}})
		require.NoError(t, err)
		require.Equal(t, n.UUID, p.NodeUUID)
		require.True(t, p.PXEEnabled)
	}
	_, err := bm.CreatePort(ctx, openstack.CreatePort{NodeUUID: n.UUID, Address: macs[0]})
	require.True(t, openstack.StatusIs(err, 409), "a duplicate MAC: %v", err)
	_, err = bm.CreatePort(ctx, openstack.CreatePort{NodeUUID: n.UUID, Address: "not-a-mac"})
	require.ErrorContains(t, err, `address "not-a-mac": expected a MAC address`)

	for _, ref := range []string{n.UUID, n.Name} {
		got, err := bm.Ports(ctx, &openstack.ListPortsOpts{Node: ref, Limit: 2})
		require.NoError(t, err)
		require.Len(t, got, 3)
	}
	got, err := bm.Ports(ctx, &openstack.ListPortsOpts{Address: macs[1]})
	require.NoError(t, err)
	require.Len(t, got, 1)
	p, err := bm.UpdatePort(ctx, got[0].UUID, openstack.Replace("/pxe_enabled", false), openstack.Add("/physical_network", "physnet1"))
	require.NoError(t, err)
	require.False(t, p.PXEEnabled, "a false value is sent")
	require.Equal(t, "physnet1", p.PhysicalNetwork)
	require.Equal(t, "Ethernet1", p.LocalLinkConnection["port_id"])

	require.NoError(t, bm.DeletePort(ctx, p.UUID))
	err = bm.DeletePort(ctx, p.UUID)
	require.ErrorIs(t, err, openstack.ErrNotFound)
	got, err = bm.Ports(ctx, &openstack.ListPortsOpts{Node: n.UUID})
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// TestProvisionFlow runs a node through enroll -> manageable -> available
// -> active (with a config drive) -> available, with power, maintenance
// and validation on the way.
func TestProvisionFlow(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	n := createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, "")})

	v, err := bm.Validate(ctx, n.Name)
	require.NoError(t, err)
	require.Contains(t, v, "power")
	require.Empty(t, v.Failed())

	steps := []struct {
		req  openstack.ProvisionRequest
		want openstack.ProvisionState
	}{
		{openstack.ProvisionRequest{Target: openstack.TargetManage}, openstack.StateManageable},
		{openstack.ProvisionRequest{Target: openstack.TargetInspect}, openstack.StateManageable},
		{openstack.ProvisionRequest{Target: openstack.TargetProvide}, openstack.StateAvailable},
		// A config drive as Nova sends it: gzipped and base64-encoded.
		{openstack.ProvisionRequest{Target: openstack.TargetDeploy, ConfigDrive: "H4sICDw2a2UAA2NvbmZpZ2RyaXZlAAMAAAAAAAAAAAA="}, openstack.StateActive},
		{openstack.ProvisionRequest{Target: openstack.TargetRebuild}, openstack.StateActive},
		{openstack.ProvisionRequest{Target: openstack.TargetUndeploy}, openstack.StateAvailable},
	}
	for _, st := range steps {
		got, err := bm.Provision(ctx, n.Name, st.req)
		require.NoError(t, err, "%s", st.req.Target)
		require.Equal(t, st.want, got.ProvisionState, "%s", st.req.Target)
		require.Empty(t, got.TargetProvisionState)
	}

	for _, p := range []struct {
		req  openstack.PowerRequest
		want openstack.PowerState
	}{
		{openstack.PowerRequest{Target: openstack.PowerOn}, openstack.PowerOn},
		{openstack.PowerRequest{Target: openstack.PowerRebooting}, openstack.PowerOn},
		{openstack.PowerRequest{Target: openstack.PowerOff, Soft: true}, openstack.PowerOff},
		{openstack.PowerRequest{Target: openstack.PowerOn}, openstack.PowerOn},
		{openstack.PowerRequest{Target: openstack.PowerOff}, openstack.PowerOff},
	} {
		got, err := bm.Power(ctx, n.UUID, p.req)
		require.NoError(t, err, "%+v", p.req)
		require.Equal(t, p.want, got.PowerState, "%+v", p.req)
	}
	require.ErrorContains(t, bm.SetPower(ctx, n.UUID, openstack.PowerRequest{Target: "power up"}), `power target "power up"`)

	require.NoError(t, bm.SetMaintenance(ctx, n.Name, "disk swap"))
	got, err := bm.Node(ctx, n.Name)
	require.NoError(t, err)
	require.True(t, got.Maintenance)
	require.Equal(t, "disk swap", got.MaintenanceReason)
	require.NoError(t, bm.UnsetMaintenance(ctx, n.Name))
	got, err = bm.Node(ctx, n.Name)
	require.NoError(t, err)
	require.False(t, got.Maintenance)
	require.Empty(t, got.MaintenanceReason)

	require.NoError(t, bm.SetBootDevice(ctx, n.Name, openstack.BootPXE, true))
	require.ErrorContains(t, bm.SetBootDevice(ctx, n.Name, "usb", false), `boot device "usb"`)
	_, _, err = bm.BootDevice(ctx, n.Name)
	require.NoError(t, err)

	// Adopt: manageable -> active without a deploy.
	_, err = bm.Provision(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetManage})
	require.NoError(t, err)
	got, err = bm.Provision(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetAdopt})
	require.NoError(t, err)
	require.Equal(t, openstack.StateActive, got.ProvisionState)
	require.False(t, got.SafeToDelete(), "an active node is not safe to delete")

	// A verb that does not apply to the state is Ironic's 400, naming the node.
	err = bm.SetProvisionState(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetManage})
	require.True(t, openstack.StatusIs(err, 400), "%v", err)
	require.ErrorContains(t, err, "set provision state manage of node "+n.Name)
}

// TestFailingTransition: a clean with a step the driver lacks fails on
// the conductor; the wait ends with the node, the state and last_error.
func TestFailingTransition(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	n := createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, "")})
	_, err := bm.Provision(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetManage})
	require.NoError(t, err)
	_, err = bm.Provision(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetClean,
		CleanSteps: []openstack.CleanStep{{Interface: "deploy", Step: "no_such_step"}}})
	var se *openstack.NodeStateError
	require.ErrorAs(t, err, &se)
	require.Equal(t, n.Name, se.Node)
	require.Equal(t, openstack.StateCleanFailed, se.State)
	require.Contains(t, se.LastError, "no_such_step")
	require.ErrorContains(t, err, `node `+n.Name+`: provision state "clean failed" (waiting for manageable): last_error: `)

	got, err := bm.Node(ctx, n.Name)
	require.NoError(t, err)
	require.True(t, got.SafeToDelete(), "clean failed, off, no instance: safe to delete")

	// Clean without steps is refused before any request.
	err = bm.SetProvisionState(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetClean})
	require.ErrorContains(t, err, "clean needs clean steps")
	err = bm.SetProvisionState(ctx, n.Name, openstack.ProvisionRequest{Target: "fly"})
	require.ErrorContains(t, err, `provision target "fly"`)
	err = bm.SetProvisionState(ctx, n.Name, openstack.ProvisionRequest{Target: openstack.TargetProvide, ConfigDrive: "x"})
	require.ErrorContains(t, err, "a config drive goes with active or rebuild only")
}

func TestWaitForContext(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	n := createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, "")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := bm.WaitProvisionState(ctx, n.Name, openstack.StateActive)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "waiting for node "+n.Name)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestMicroversionIronic(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	require.Equal(t, openstack.LatestMicroversion, bm.Microversion(), "the test Ironic speaks 1.82")
	for _, f := range []openstack.Feature{openstack.FeatureAdopt, openstack.FeatureSoftPower, openstack.FeatureConfigDriveJSON, openstack.FeatureDeploySteps} {
		require.True(t, bm.Supports(f), f)
	}
	require.False(t, bm.Supports("teleport"))
}

// TestNoauthEndpoint: the endpoint may be given with or without /v1 and a
// trailing slash.
func TestNoauthEndpoint(t *testing.T) {
	t.Parallel()
	url := testenv.Ironic(t)
	for _, ep := range []string{url, url + "/", url + "/v1", url + "/v1/"} {
		bm, err := openstack.NewBareMetal(ctxT(t), openstack.Config{Endpoint: ep})
		require.NoError(t, err, ep)
		require.Equal(t, url+"/", bm.Endpoint(), ep)
		_, err = bm.Nodes(ctxT(t), &openstack.ListNodesOpts{Limit: 1, ResourceClass: "none-" + uniqueName(t, "")})
		require.NoError(t, err, ep)
		require.EqualValues(t, 2, bm.Requests(), "GET / and one page")
	}
	_, err := openstack.NewBareMetal(ctxT(t), openstack.Config{Endpoint: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, "openstack: bare-metal API at http://127.0.0.1:1/")
}

// TestIronicNextLinkDropsFilters records why Nodes does not follow
// Ironic's "next" link with gophercloud's pager: the link keeps the
// limit and the marker but not the filters (Ironic 21.4), so a filtered
// list read that way brings in other nodes from page two on.
func TestIronicNextLinkDropsFilters(t *testing.T) {
	t.Parallel()
	bm := ironic(t)
	ctx := ctxT(t)
	class := uniqueName(t, "rc")
	for i := range 3 {
		createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, string(rune('a'+i))), ResourceClass: class})
	}
	createNode(t, bm, openstack.CreateNode{Name: uniqueName(t, "other"), ResourceClass: class + "-other"})

	pages, err := nodes.ListDetail(bm.ServiceClient(), nodes.ListOpts{ResourceClass: class, Limit: 2}).AllPages(ctx)
	require.NoError(t, err)
	all, err := nodes.ExtractNodes(pages)
	require.NoError(t, err)
	foreign := 0
	for _, n := range all {
		if n.ResourceClass != class {
			foreign++
		}
	}
	require.Positive(t, foreign, "gophercloud's pager, following Ironic's next link, lists nodes outside the filter")

	mine, err := bm.Nodes(ctx, &openstack.ListNodesOpts{ResourceClass: class, Limit: 2})
	require.NoError(t, err)
	require.Len(t, mine, 3)
}
