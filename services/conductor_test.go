package services_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
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
	"github.com/osism/go-osism/statemachine"
)

// ironicProxy is a reverse proxy in front of the real Ironic that counts
// the requests by method and remembers the paths of the writes.
type ironicProxy struct {
	mu     sync.Mutex
	reads  int
	writes []string // "PATCH /v1/nodes/..."
}

func (p *ironicProxy) counts() (reads int, writes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads, append([]string(nil), p.writes...)
}

func (p *ironicProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads, p.writes = 0, nil
}

func newIronicProxy(t testing.TB, target string) (*ironicProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &ironicProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			p.reads++
		} else {
			p.writes = append(p.writes, r.Method+" "+r.URL.Path)
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// syncEnv is a NetBox double with a tag of the test's own, the real Ironic
// behind a counting proxy, and the conductor section that selects the
// tag's active devices.
type syncEnv struct {
	srv   *netboxtest.Server
	nb    *netbox.Client
	bm    *openstack.BareMetal
	admin *openstack.BareMetal // straight to Ironic, for the test's own calls
	proxy *ironicProxy
	cfg   services.ConductorConfig
	tag   string
	names []string
}

func newSyncEnv(t *testing.T) *syncEnv {
	t.Helper()
	ironicURL := testenv.Ironic(t)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	e := &syncEnv{srv: srv, tag: uniqueName(t, "tag-")}
	_, err := srv.Create("extras.tag", map[string]any{"name": e.tag, "slug": e.tag})
	require.NoError(t, err)
	for _, cf := range []string{"ironic_parameters", "secrets", "netplan_parameters"} {
		_, err := srv.Create("extras.customfield", map[string]any{"name": cf, "type": "json", "object_types": []any{"dcim.device"}})
		require.NoError(t, err)
	}
	e.nb, err = netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	var proxyURL string
	e.proxy, proxyURL = newIronicProxy(t, ironicURL)
	e.bm, err = openstack.NewBareMetal(ctxT(t, time.Minute), openstack.Config{Endpoint: proxyURL})
	require.NoError(t, err)
	e.bm.SetWaitOpts(openstack.WaitOpts{Initial: 20 * time.Millisecond, Max: 300 * time.Millisecond})
	e.admin, err = openstack.NewBareMetal(ctxT(t, time.Minute), openstack.Config{Endpoint: ironicURL})
	require.NoError(t, err)
	e.admin.SetWaitOpts(openstack.WaitOpts{Initial: 20 * time.Millisecond, Max: 300 * time.Millisecond})
	e.cfg = services.ConductorConfig{
		Filters: []map[string]any{{"status": "active", "tag": []any{e.tag}}},
		File:    filepath.Join(t.TempDir(), "conductor.yml"), // none
		Scope:   e.tag,
		LockDir: t.TempDir(),
		IronicParameters: map[string]any{
			"driver": "fake-hardware",
			"driver_info": map[string]any{
				"ipmi_address":  "{{ remote_board_address }}",
				"ipmi_username": "{{ remote_board_username }}",
				"ipmi_password": "{{ remote_board_password }}",
			},
			"properties": map[string]any{"cpu_arch": "x86_64"},
		},
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// cleanup deletes every node named like a device of the test, whatever
// its state: maintenance allows deleting an active node.
func (e *syncEnv) cleanup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, name := range e.names {
		n, err := e.admin.Node(ctx, name)
		if errors.Is(err, openstack.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Errorf("cleanup %s: %v", name, err)
			continue
		}
		if err := e.admin.DeleteNode(ctx, n.UUID); err == nil || errors.Is(err, openstack.ErrNotFound) {
			continue
		}
		_ = e.admin.SetMaintenance(ctx, n.UUID, "test cleanup")
		_, _ = e.admin.WaitFor(ctx, n.UUID, func(n *openstack.Node) (bool, error) {
			return (n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.Reservation == "", nil
		})
		if err := e.admin.DeleteNode(ctx, n.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
			t.Errorf("cleanup %s: %v", name, err)
		}
	}
}

type iface struct {
	name     string
	mac      string
	enabled  bool
	mgmtOnly bool
}

// device creates an active device with the test's tag, its interfaces and
// MACs, and an OOB address on its management interface.
func (e *syncEnv) device(t *testing.T, oob string, cf map[string]any, ifaces ...iface) (string, int) {
	t.Helper()
	name := uniqueName(t, "")
	e.names = append(e.names, name)
	if cf == nil {
		cf = map[string]any{}
	}
	cf["device_state"] = "a"
	id, err := e.srv.Create("dcim.device", map[string]any{"name": name, "status": "active",
		"site": e.srv.ID("dcim.site", "dc1"), "device_type": e.srv.ID("dcim.devicetype", "SYS-1029P"),
		"role": e.srv.ID("dcim.devicerole", "compute"), "tags": []any{e.srv.ID("extras.tag", e.tag)},
		"custom_fields": cf})
	require.NoError(t, err)
	for _, i := range ifaces {
		e.iface(t, id, i)
	}
	if oob != "" {
		mgmt := e.iface(t, id, iface{name: "ipmi", enabled: true, mgmtOnly: true, mac: "02:00:00:ff:ff:01"})
		ip, err := e.srv.Create("ipam.ipaddress", map[string]any{"address": oob, "status": "active",
			"assigned_object_type": "dcim.interface", "assigned_object_id": mgmt})
		require.NoError(t, err)
		require.NoError(t, e.srv.Update("dcim.device", id, map[string]any{"oob_ip": ip}))
	}
	return name, id
}

func (e *syncEnv) iface(t *testing.T, dev int, i iface) int {
	t.Helper()
	id, err := e.srv.Create("dcim.interface", map[string]any{"device": dev, "name": i.name, "type": "25gbase-x-sfp28",
		"enabled": i.enabled, "mgmt_only": i.mgmtOnly})
	require.NoError(t, err)
	if i.mac != "" {
		e.setMAC(t, id, i.mac)
	}
	return id
}

func (e *syncEnv) setMAC(t *testing.T, ifaceID int, mac string) {
	t.Helper()
	m, err := e.srv.Create("dcim.macaddress", map[string]any{"mac_address": mac,
		"assigned_object_type": "dcim.interface", "assigned_object_id": ifaceID})
	require.NoError(t, err)
	require.NoError(t, e.srv.Update("dcim.interface", ifaceID, map[string]any{"primary_mac_address": m}))
}

func (e *syncEnv) sync(t *testing.T, opts services.SyncIronicOpts) (services.SyncReport, string, error) {
	t.Helper()
	var out strings.Builder
	opts.Out = &out
	if opts.Locker == nil {
		opts.Locker = statemachine.NewMemoryLocker()
	}
	rep, err := services.SyncIronic(ctxT(t, 3*time.Minute), e.nb, e.bm, e.cfg, opts)
	return rep, out.String(), err
}

func (e *syncEnv) ports(t *testing.T, uuid string) []string {
	t.Helper()
	ps, err := e.admin.Ports(ctxT(t, 30*time.Second), &openstack.ListPortsOpts{Node: uuid})
	require.NoError(t, err)
	var macs []string
	for _, p := range ps {
		macs = append(macs, p.Address)
	}
	return macs
}

func (e *syncEnv) netboxWrites() int {
	n := 0
	for _, p := range []string{"/api/dcim/devices/", "/api/dcim/devices/1/", "/api/dcim/interfaces/", "/api/dcim/interfaces/1/"} {
		for _, m := range []string{http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
			n += e.srv.Requests(m, p)
		}
	}
	return n
}

func actions(rep services.SyncReport) map[string]string {
	out := map[string]string{}
	for _, n := range rep.Nodes {
		out[n.Device] = n.Action
	}
	return out
}

// NetBox devices become nodes with their ports and move to available; a
// second sync writes nothing; a changed MAC moves the port; a removed
// device's node goes when it is safe to delete and stays when not.
func TestSyncIronic(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	a, aID := e.device(t, "10.9.0.11/24", map[string]any{"secrets": map[string]any{"remote_board_password": "s3cr3t-a"},
		"ironic_parameters": map[string]any{"properties": map[string]any{"cpus": 8}}},
		iface{name: "eth0", mac: "02:00:00:00:0a:01", enabled: true},
		iface{name: "eth1", mac: "02:00:00:00:0a:02", enabled: true},
		iface{name: "eth2", mac: "02:00:00:00:0a:03", enabled: false}, // disabled: no port
		iface{name: "eth3", enabled: true})                            // no MAC: no port
	b, bID := e.device(t, "10.9.0.12/24", nil, iface{name: "eth0", mac: "02:00:00:00:0b:01", enabled: true})

	rep, out, err := e.sync(t, services.SyncIronicOpts{})
	require.NoError(t, err, out)
	require.Equal(t, map[string]string{a: services.SyncCreated, b: services.SyncCreated}, actions(rep), out)
	require.NotContains(t, out, "s3cr3t-a")
	na, err := e.admin.Node(ctxT(t, 30*time.Second), a)
	require.NoError(t, err)
	require.Equal(t, openstack.StateAvailable, na.ProvisionState, out)
	require.Equal(t, "10.9.0.11", na.DriverInfo["ipmi_address"])
	require.Equal(t, "admin", na.DriverInfo["ipmi_username"])
	require.Equal(t, "******", na.DriverInfo["ipmi_password"], "Ironic masks it")
	require.Equal(t, map[string]any{"cpu_arch": "x86_64", "cpus": float64(8)}, na.Properties)
	require.Equal(t, a, na.ResourceClass)
	require.Equal(t, e.tag, na.Extra["osism_conductor"])
	require.ElementsMatch(t, []string{"02:00:00:00:0a:01", "02:00:00:00:0a:02"}, e.ports(t, na.UUID))
	nbID, err := e.admin.Node(ctxT(t, 30*time.Second), b)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"02:00:00:00:0b:01"}, e.ports(t, nbID.UUID))

	t.Run("second sync writes nothing", func(t *testing.T) {
		e.proxy.reset()
		before, total := e.netboxWrites(), e.srv.TotalRequests()
		rep, out, err := e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUnchanged, b: services.SyncUnchanged}, actions(rep), out)
		reads, writes := e.proxy.counts()
		require.Empty(t, writes)
		require.LessOrEqual(t, reads, 3*2, "Ironic requests for 2 nodes")
		require.Equal(t, before, e.netboxWrites())
		require.LessOrEqual(t, e.srv.TotalRequests()-total, 2*2, "NetBox requests for 2 nodes")
	})

	t.Run("force updates", func(t *testing.T) {
		e.proxy.reset()
		rep, out, err := e.sync(t, services.SyncIronicOpts{Node: a, Force: true})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUpdated}, actions(rep), out)
		_, writes := e.proxy.counts()
		require.Len(t, writes, 1, "one PATCH")
		require.NotContains(t, out, "s3cr3t-a")
	})

	t.Run("a changed MAC moves the port", func(t *testing.T) {
		eth1 := 0
		is, err := e.nb.Interfaces(ctxT(t, 30*time.Second), netbox.InterfaceFilter{DeviceID: []int{aID}, Name: []string{"eth1"}})
		require.NoError(t, err)
		require.Len(t, is, 1)
		eth1 = is[0].ID
		e.setMAC(t, eth1, "02:00:00:00:0a:99")
		rep, out, err := e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUpdated, b: services.SyncUnchanged}, actions(rep), out)
		require.ElementsMatch(t, []string{"02:00:00:00:0a:01", "02:00:00:00:0a:99"}, e.ports(t, na.UUID))
		require.Contains(t, out, "port 02:00:00:00:0a:02 deleted")
	})

	t.Run("a MAC moved to another device moves its port", func(t *testing.T) {
		ifaceID := func(dev int, name string) int {
			is, err := e.nb.Interfaces(ctxT(t, 30*time.Second), netbox.InterfaceFilter{DeviceID: []int{dev}, Name: []string{name}})
			require.NoError(t, err)
			require.Len(t, is, 1)
			return is[0].ID
		}
		e.setMAC(t, ifaceID(aID, "eth1"), "02:00:00:00:0a:98")
		e.setMAC(t, ifaceID(bID, "eth0"), "02:00:00:00:0a:99")
		// b first: the MAC is still on a's node, which gives it up.
		rep, out, err := e.sync(t, services.SyncIronicOpts{Node: b})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{b: services.SyncUpdated}, actions(rep), out)
		require.Contains(t, out, "port 02:00:00:00:0a:99 taken from node "+a)
		rep, out, err = e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUpdated, b: services.SyncUnchanged}, actions(rep), out)
		require.ElementsMatch(t, []string{"02:00:00:00:0a:01", "02:00:00:00:0a:98"}, e.ports(t, na.UUID))
		require.ElementsMatch(t, []string{"02:00:00:00:0a:99"}, e.ports(t, nbID.UUID))
		rep, out, err = e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUnchanged, b: services.SyncUnchanged}, actions(rep), out)
	})

	t.Run("dry run writes nothing and masks secrets", func(t *testing.T) {
		c, _ := e.device(t, "10.9.0.13/24", map[string]any{"secrets": map[string]any{"remote_board_password": "s3cr3t-c"}},
			iface{name: "eth0", mac: "02:00:00:00:0c:01", enabled: true})
		require.NoError(t, e.srv.Update("dcim.device", bID, map[string]any{"custom_fields": map[string]any{
			"ironic_parameters": map[string]any{"properties": map[string]any{"memory_mb": 1024}}}}))
		e.proxy.reset()
		rep, out, err := e.sync(t, services.SyncIronicOpts{DryRun: true})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncUnchanged, b: services.SyncUpdated, c: services.SyncCreated}, actions(rep), out)
		_, writes := e.proxy.counts()
		require.Empty(t, writes)
		require.NotContains(t, out, "s3cr3t-c")
		require.Contains(t, out, "[DRY RUN] "+c+": would create the node")
		require.Contains(t, out, "[DRY RUN] "+b+": would set /properties/memory_mb to 1024")
		_, err = e.admin.Node(ctxT(t, 30*time.Second), c)
		require.ErrorIs(t, err, openstack.ErrNotFound)
		// Leave c out of the rest: untag it.
		require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", c), map[string]any{"status": "planned"}))
	})

	t.Run("a removed device's node goes only when safe", func(t *testing.T) {
		// b is powered on: not safe. a is available and off: safe.
		_, err := e.admin.Power(ctxT(t, time.Minute), nbID.UUID, openstack.PowerRequest{Target: openstack.PowerOn})
		require.NoError(t, err)
		require.NoError(t, e.srv.Delete("dcim.device", aID))
		require.NoError(t, e.srv.Update("dcim.device", bID, map[string]any{"status": "offline"}))
		rep, out, err := e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{a: services.SyncDeleted, b: services.SyncKept}, actions(rep), out)
		_, err = e.admin.Node(ctxT(t, 30*time.Second), a)
		require.ErrorIs(t, err, openstack.ErrNotFound)
		_, err = e.admin.Node(ctxT(t, 30*time.Second), b)
		require.NoError(t, err)
		require.Contains(t, out, "not safe to delete")

		_, err = e.admin.Power(ctxT(t, time.Minute), nbID.UUID, openstack.PowerRequest{Target: openstack.PowerOff})
		require.NoError(t, err)
		rep, out, err = e.sync(t, services.SyncIronicOpts{})
		require.NoError(t, err, out)
		require.Equal(t, map[string]string{b: services.SyncDeleted}, actions(rep), out)
	})
}

// A device NetBox says is active is adopted, and never powered off;
// --adopt adopts the others.
func TestSyncIronicAdopt(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	a, _ := e.device(t, "10.9.2.1/24", map[string]any{"provision_state": "active"}, iface{name: "eth0", mac: "02:00:00:00:1a:01", enabled: true})
	rep, out, err := e.sync(t, services.SyncIronicOpts{})
	require.NoError(t, err, out)
	require.Equal(t, map[string]string{a: services.SyncCreated}, actions(rep), out)
	n, err := e.admin.Node(ctxT(t, 30*time.Second), a)
	require.NoError(t, err)
	require.Equal(t, openstack.StateActive, n.ProvisionState, out)
	_, writes := e.proxy.counts()
	for _, w := range writes {
		require.NotContains(t, w, "/states/power", "an adopted node is never powered off")
	}

	b, _ := e.device(t, "10.9.2.2/24", nil, iface{name: "eth0", mac: "02:00:00:00:1b:01", enabled: true})
	rep, out, err = e.sync(t, services.SyncIronicOpts{Node: b, Adopt: true})
	require.NoError(t, err, out)
	require.Equal(t, map[string]string{b: services.SyncCreated}, actions(rep), out)
	n, err = e.admin.Node(ctxT(t, 30*time.Second), b)
	require.NoError(t, err)
	require.Equal(t, openstack.StateActive, n.ProvisionState, out)
}

// Bad input fails with an error naming it, and the device alone fails.
func TestSyncIronicErrors(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("test-vault-pass\n"), 0o600))
	vaultText, err := os.ReadFile("../ansible/testdata/vault/string.vault") // "ipmi-s3cret" under test-vault-pass
	require.NoError(t, err)
	ok, _ := e.device(t, "10.9.1.1/24", map[string]any{"ironic_parameters": map[string]any{
		"driver_info": map[string]any{"ipmi_password": string(vaultText)}}}, iface{name: "eth0", mac: "02:00:00:00:2a:01", enabled: true})
	undefined, _ := e.device(t, "10.9.1.2/24", map[string]any{"ironic_parameters": map[string]any{
		"driver_info": map[string]any{"ipmi_terminal_port": "{{ nope }}"}}})
	rep, out, err := e.sync(t, services.SyncIronicOpts{VaultPasswordFile: pw})
	require.ErrorIs(t, err, services.ErrSyncFailed)
	require.Equal(t, map[string]string{ok: services.SyncCreated, undefined: services.SyncFailed}, actions(rep), out)
	require.ErrorContains(t, err, `ironic_parameters.driver_info.ipmi_terminal_port: template variable "nope" is not defined`)
	require.NotContains(t, out, "ipmi-s3cret")

	// Without the password the vault text is an error that says so.
	rep, out, err = e.sync(t, services.SyncIronicOpts{Node: ok})
	require.ErrorIs(t, err, services.ErrSyncFailed)
	require.ErrorContains(t, err, "custom_fields.ironic_parameters.driver_info.ipmi_password is vault-encrypted but no vault password is configured")
	require.Equal(t, map[string]string{ok: services.SyncFailed}, actions(rep), out)

	_, _, err = e.sync(t, services.SyncIronicOpts{Node: "no-such-device-" + e.tag})
	require.ErrorContains(t, err, "not found in NetBox")

	notMap, _ := e.device(t, "10.9.1.3/24", map[string]any{"ironic_parameters": map[string]any{"properties": "cpus=8"}})
	_, _, err = e.sync(t, services.SyncIronicOpts{Node: notMap})
	require.ErrorContains(t, err, "ironic_parameters.properties: expected a mapping, got a string")

	noOOB, _ := e.device(t, "", nil)
	_, _, err = e.sync(t, services.SyncIronicOpts{Node: noOOB})
	require.ErrorContains(t, err, `template variable "remote_board_address" (the device has no OOB address, oob_ip) is not defined`)
}

// sync netbox writes Ironic's states to the primary NetBox and a
// secondary, and writes nothing when they hold them already.
func TestSyncNetBox(t *testing.T) {
	t.Parallel()
	ironicURL := testenv.Ironic(t)
	primary := netboxtest.New(t, netboxtest.WithSampleFabric())
	secondary := netboxtest.New(t, netboxtest.WithSampleFabric())
	name := uniqueName(t, "")
	for _, s := range []*netboxtest.Server{primary, secondary} {
		_, err := s.Create("dcim.device", map[string]any{"name": name, "status": "active",
			"site": s.ID("dcim.site", "dc1"), "device_type": s.ID("dcim.devicetype", "SYS-1029P"),
			"role": s.ID("dcim.devicerole", "compute"), "custom_fields": map[string]any{"power_state": "stale"}})
		require.NoError(t, err)
	}
	cfg := netbox.Config{URL: primary.URL(), Token: primary.Token(),
		Secondaries: []netbox.SecondaryConfig{{Name: "backup", URL: secondary.URL(), Token: secondary.Token()}}}
	nb, err := netbox.New(cfg)
	require.NoError(t, err)
	secs, err := netbox.OpenSecondaries(cfg)
	require.NoError(t, err)
	bm, err := openstack.NewBareMetal(ctxT(t, time.Minute), openstack.Config{Endpoint: ironicURL})
	require.NoError(t, err)
	n, err := bm.CreateNode(ctxT(t, time.Minute), openstack.CreateNode{Name: name, Driver: "fake-hardware"})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := bm.DeleteNode(ctx, n.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
	patches := func(s *netboxtest.Server) int { return s.Requests(http.MethodPatch, "/api/dcim/devices/") }

	tests := []struct {
		name        string
		before      func(t *testing.T)
		written     bool
		maintenance bool
	}{
		{"first sync writes both", nil, true, false},
		{"equal values are not written", nil, false, false},
		{"maintenance is written", func(t *testing.T) {
			require.NoError(t, bm.SetMaintenance(ctxT(t, 30*time.Second), n.UUID, "test"))
		}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			p0, s0 := patches(primary), patches(secondary)
			var out strings.Builder
			rep, err := services.SyncNetBox(ctxT(t, time.Minute), nb, secs, bm, services.SyncNetBoxOpts{Node: name, Out: &out})
			require.NoError(t, err, out.String())
			require.Len(t, rep.NetBoxes, 2)
			want := 0
			if tc.written {
				want = 1
			}
			require.Equal(t, want, patches(primary)-p0, out.String())
			require.Equal(t, want, patches(secondary)-s0, out.String())
			for _, s := range []*netboxtest.Server{primary, secondary} {
				id := s.ID("dcim.device", name)
				require.Equal(t, "enroll", s.CustomField("dcim.device", id, "provision_state"))
				require.Nil(t, s.CustomField("dcim.device", id, "power_state"))
				require.Equal(t, tc.maintenance, s.CustomField("dcim.device", id, "maintenance"))
			}
		})
	}
}

// The conductor worker runs sync ironic and sync netbox from the bus, with
// the bus's device locks; a sync of a device whose lock is held waits for
// it, and fails when the wait ends.
func TestConductorWorker(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	a, aID := e.device(t, "10.9.3.1/24", nil, iface{name: "eth0", mac: "02:00:00:00:4a:01", enabled: true})
	cfg := services.DefaultConfig()
	cfg.NetBox.URL, cfg.NetBox.Token = e.srv.URL(), e.srv.Token()
	cfg.OpenStack = openstack.Config{Endpoint: testenv.Ironic(t)}
	cfg.Conductor = e.cfg
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 2},
		Handlers: mustHandlers(t, cfg), Logger: slog.New(slog.DiscardHandler)})
	run := func(t *testing.T, args osism.Args) (*osism.Task, string) {
		t.Helper()
		ctx := ctxT(t, 2*time.Minute)
		res, err := bus.Client.Submit(ctx, args, nil)
		require.NoError(t, err)
		var out strings.Builder
		_, err = bus.Client.Follow(ctx, res.ID, &out, nil)
		require.NoError(t, err)
		task, err := bus.Client.Get(ctx, res.ID)
		require.NoError(t, err)
		return task, out.String()
	}

	task, out := run(t, osism.SyncIronicArgs{Node: a})
	require.Equal(t, osism.StateSucceeded, task.State, out)
	var rep services.SyncReport
	require.NoError(t, json.Unmarshal(task.Result, &rep))
	require.Equal(t, 1, rep.Created, out)

	task, out = run(t, osism.SyncNetBoxArgs{Node: a})
	require.Equal(t, osism.StateSucceeded, task.State, out)
	require.Equal(t, "available", e.srv.CustomField("dcim.device", aID, "provision_state"), out)

	// Hold the device's lock on the bus: the sync waits, then gives up.
	lock, err := bus.Client.Acquire(ctxT(t, 30*time.Second), osism.LockKey("conductor/sync_ironic/"+a), time.Minute, nil)
	require.NoError(t, err)
	var lout strings.Builder
	locked := e.cfg
	rep, err = services.SyncIronic(ctxT(t, time.Minute), e.nb, e.bm, locked, services.SyncIronicOpts{Node: a, Out: &lout,
		Locker: services.StateLocker(bus.Client, 30*time.Second), LockWait: 500 * time.Millisecond})
	require.ErrorIs(t, err, services.ErrSyncFailed)
	require.Contains(t, lout.String(), "waiting for the device's sync lock")
	require.Equal(t, map[string]string{a: services.SyncFailed}, actions(rep))
	require.NoError(t, lock.Release(ctxT(t, 30*time.Second)))
	rep, err = services.SyncIronic(ctxT(t, time.Minute), e.nb, e.bm, locked, services.SyncIronicOpts{Node: a,
		Locker: services.StateLocker(bus.Client, 30*time.Second)})
	require.NoError(t, err)
	require.Equal(t, map[string]string{a: services.SyncUnchanged}, actions(rep))
}

// Two syncs at once (a sync per device at a time, under one locker)
// create each node once: the second finds under the lock what the first
// made.
func TestSyncIronicConcurrent(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	for i := range 3 {
		e.device(t, "10.9.5."+string(rune('1'+i))+"/24", nil, iface{name: "eth0", mac: "02:00:00:00:5a:0" + string(rune('1'+i)), enabled: true})
	}
	locker := statemachine.NewMemoryLocker()
	reps := make([]services.SyncReport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = services.SyncIronic(ctxT(t, 2*time.Minute), e.nb, e.bm, e.cfg, services.SyncIronicOpts{Locker: locker})
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, 3, reps[0].Created+reps[1].Created, "%+v\n%+v", reps[0].Nodes, reps[1].Nodes)
	require.Equal(t, 3, reps[0].Unchanged+reps[1].Unchanged)
	for _, name := range e.names {
		n, err := e.admin.Node(ctxT(t, 30*time.Second), name)
		require.NoError(t, err)
		require.Len(t, e.ports(t, n.UUID), 1)
	}
}
