package netbox_test

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/netbox/netboxtest/conformance"
	"github.com/osism/go-osism/statemachine"
)

// fabric starts the double with the sample fabric, every answer checked
// against NetBox's schema, and a client on it.
func fabric(t *testing.T, opts ...netboxtest.Option) (*netboxtest.Server, *netbox.Client) {
	t.Helper()
	srv := netboxtest.New(t, append([]netboxtest.Option{netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New())}, opts...)...)
	return srv, client(t, srv, srv.Token())
}

func client(t *testing.T, srv *netboxtest.Server, token string) *netbox.Client {
	t.Helper()
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: token, RetryBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	return c
}

func names(ds []netbox.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}

func TestDeviceFilters(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	nodes := []string{"node-1", "node-2", "node-3", "node-4"}
	cases := []struct {
		name string
		f    netbox.DeviceFilter
		want []string
	}{
		{name: "all", f: netbox.DeviceFilter{}, want: append([]string{"leaf-1", "leaf-2"}, nodes...)},
		{name: "by name, OR", f: netbox.DeviceFilter{Name: []string{"node-1", "leaf-2"}}, want: []string{"leaf-2", "node-1"}},
		{name: "by tag", f: netbox.DeviceFilter{Tag: []string{netbox.TagManagedByOSISM}}, want: []string{"leaf-1", "leaf-2"}},
		{name: "by role", f: netbox.DeviceFilter{Role: []string{"compute"}}, want: nodes},
		{name: "by site", f: netbox.DeviceFilter{Site: []string{"dc1"}}, want: append([]string{"leaf-1", "leaf-2"}, nodes...)},
		{name: "by status", f: netbox.DeviceFilter{Status: []string{"offline"}}, want: nil},
		{name: "by custom field", f: netbox.DeviceFilter{CustomFields: map[string]string{"device_type": "switch"}}, want: []string{"leaf-1", "leaf-2"}},
		{name: "custom field AND tag", f: netbox.DeviceFilter{Tag: []string{netbox.TagManagedByIronic}, CustomFields: map[string]string{"device_type": "switch"}}, want: nil},
		{name: "by id", f: netbox.DeviceFilter{ID: []int{1}}, want: []string{"leaf-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds, err := c.Devices(context.Background(), tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.want, names(ds))
		})
	}
	_, err := c.Devices(context.Background(), netbox.DeviceFilter{CustomFields: map[string]string{"Bad Name": "x"}})
	require.ErrorContains(t, err, `custom field name "Bad Name"`)
}

func TestReads(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	ctx := context.Background()

	d, err := c.Device(ctx, "leaf-1")
	require.NoError(t, err)
	require.True(t, d.HasTag(netbox.TagManagedByOSISM))
	require.Equal(t, "switch", d.CustomFields.String("device_type"))
	require.Equal(t, "rack-1", d.Rack.Name)
	byID, err := c.DeviceByID(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.Name, byID.Name)

	_, err = c.Device(ctx, "nope")
	require.ErrorIs(t, err, netbox.ErrNotFound)
	require.ErrorContains(t, err, `get device "nope"`)
	_, err = c.DeviceByID(ctx, 99999)
	require.ErrorIs(t, err, netbox.ErrNotFound)

	cc, err := c.ConfigContext(ctx, "leaf-1")
	require.NoError(t, err)
	require.EqualValues(t, 65101, cc["frr_asn"])

	is, err := c.DeviceInterfaces(ctx, "leaf-1")
	require.NoError(t, err)
	var ifNames []string
	for _, i := range is {
		ifNames = append(ifNames, i.Name)
	}
	require.Equal(t, []string{"eth0", "peerlink", "swp1", "swp2", "swp3", "swp4", "swp5", "swp6", "swp7", "swp8", "swp31", "swp32"}, ifNames)

	peers, err := c.Peers(ctx, "node-1")
	require.NoError(t, err)
	got := map[string]string{}
	for _, p := range peers {
		got[p.Interface.Name] = p.PeerDevice.Name + " " + p.PeerName
		require.Equal(t, "dcim.interface", p.PeerType)
	}
	require.Equal(t, map[string]string{"eth0": "leaf-1 swp1", "eth1": "leaf-2 swp1"}, got)

	lags, err := c.LAGs(ctx, "leaf-1")
	require.NoError(t, err)
	require.Len(t, lags, 1)
	require.Equal(t, "peerlink", lags[0].Interface.Name)
	require.Len(t, lags[0].Members, 2)

	vs, err := c.VLANs(ctx, netbox.VLANFilter{VID: []int{100, 300}})
	require.NoError(t, err)
	require.Len(t, vs, 2)

	ips, err := c.IPAddresses(ctx, netbox.IPAddressFilter{Device: []string{"node-1"}})
	require.NoError(t, err)
	var addrs []string
	for _, a := range ips {
		addrs = append(addrs, a.Address)
	}
	sort.Strings(addrs)
	require.Equal(t, []string{"192.168.16.21/24", "192.168.32.21/24"}, addrs)

	tags, err := c.Tags(ctx)
	require.NoError(t, err)
	require.Len(t, tags, 2)

	cables, err := c.Cables(ctx, "node-1")
	require.NoError(t, err)
	require.Len(t, cables, 2)
}

func TestTokenKindsAgainstDouble(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()), netboxtest.WithReadOnlyToken("1111111111111111111111111111111111111111"))
	cases := []struct {
		name    string
		token   string
		kind    netbox.TokenKind
		readErr error
		write   bool
	}{
		{name: "v1", token: srv.Token(), kind: netbox.TokenV1, write: true},
		{name: "v2", token: srv.TokenV2(), kind: netbox.TokenV2, write: true},
		{name: "read-only v1", token: "1111111111111111111111111111111111111111", kind: netbox.TokenV1},
		{name: "wrong v1", token: "2222222222222222222222222222222222222222", kind: netbox.TokenV1, readErr: netbox.ErrUnauthorized},
		{name: "wrong v2", token: "nbt_wrongkey.wrongsecret", kind: netbox.TokenV2, readErr: netbox.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := client(t, srv, tc.token)
			require.Equal(t, tc.kind, c.TokenKind())
			d, err := c.Device(context.Background(), "node-3")
			if tc.readErr != nil {
				require.ErrorIs(t, err, tc.readErr)
				return
			}
			require.NoError(t, err)
			err = c.UpdateDeviceCustomFields(context.Background(), d.ID, map[string]any{"power_state": "power on"})
			if tc.write {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, netbox.ErrUnauthorized)
			}
		})
	}
}

func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()
	s := netbox.NewStore(c)

	rec, err := s.Load(ctx, "node-1")
	require.NoError(t, err)
	require.Equal(t, statemachine.Record{State: "a", Transition: ""}, rec)

	srv.ResetCounters()
	want := statemachine.Record{State: "b-phase_1", Transition: "from_a-to_b-phase_1"}
	require.NoError(t, s.Save(ctx, "node-1", want))
	require.Equal(t, 1, srv.TotalRequests(), "a Save after a Load is one PATCH")
	require.Equal(t, 1, srv.Requests("PATCH", "/api/dcim/devices/{id}/"))

	got, err := netbox.NewStore(c).Load(ctx, "node-1")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Null custom fields read as "".
	id := srv.ID("dcim.device", "node-2")
	require.NoError(t, srv.Update("dcim.device", id, map[string]any{"custom_fields": map[string]any{"device_state": nil, "device_transition": nil}}))
	got, err = s.Load(ctx, "node-2")
	require.NoError(t, err)
	require.Equal(t, statemachine.Record{}, got)

	_, err = s.Load(ctx, "node-99")
	require.ErrorIs(t, err, statemachine.ErrDeviceNotFound)
	require.ErrorIs(t, err, netbox.ErrNotFound)
	err = s.Save(ctx, "node-99", want)
	require.ErrorIs(t, err, statemachine.ErrDeviceNotFound)

	// A device deleted and created again under a new id: the cached id is
	// stale, Save looks the device up again.
	require.NoError(t, s.Save(ctx, "node-3", want))
	old := srv.ID("dcim.device", "node-3")
	dev, ok := srv.Get("dcim.device", old)
	require.True(t, ok)
	require.NoError(t, srv.Delete("dcim.device", old))
	_, err = srv.Create("dcim.device", map[string]any{
		"name": "node-3", "role": idOf(dev["role"]), "device_type": idOf(dev["device_type"]), "site": idOf(dev["site"]),
	})
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, "node-3", want))
	got, err = s.Load(ctx, "node-3")
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func idOf(v any) any {
	if m, ok := v.(map[string]any); ok {
		return m["id"]
	}
	return v
}

func TestBulkCustomFields(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()
	ds, err := c.Devices(ctx, netbox.DeviceFilter{Tag: []string{netbox.TagManagedByIronic}})
	require.NoError(t, err)
	updates := map[int]map[string]any{}
	for _, d := range ds {
		updates[d.ID] = map[string]any{"maintenance": true, "provision_state": "manageable"}
	}
	srv.ResetCounters()
	require.NoError(t, c.UpdateDevicesCustomFields(ctx, updates))
	require.Equal(t, 1, srv.TotalRequests())
	require.Equal(t, 1, srv.Requests("PATCH", "/api/dcim/devices/"))
	ds, err = c.Devices(ctx, netbox.DeviceFilter{CustomFields: map[string]string{"maintenance": "true"}})
	require.NoError(t, err)
	require.Equal(t, []string{"node-1", "node-2", "node-3", "node-4"}, names(ds))
	for _, d := range ds {
		require.Equal(t, "manageable", d.CustomFields.String("provision_state"))
		require.Equal(t, "a", d.CustomFields.String("device_state"), "PATCH merges custom fields")
	}

	err = c.UpdateDevicesCustomFields(ctx, map[int]map[string]any{ds[0].ID: {"no_such_field": 1}})
	var ae *netbox.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 400, ae.StatusCode)
	require.ErrorContains(t, err, "update custom fields of 1 devices")
}

func TestRetriesAgainstDouble(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()
	srv.ResetCounters()
	srv.FailNext(2, 503)
	_, err := c.Device(ctx, "node-1")
	require.NoError(t, err)
	require.Equal(t, 3, srv.Requests("GET", "/api/dcim/devices/"))

	srv.ResetCounters()
	srv.FailNext(1, 503)
	_, err = c.CreateVLAN(ctx, netbox.VLANSpec{VID: 999})
	require.True(t, netbox.StatusIs(err, 503))
	require.Equal(t, 1, srv.Requests("POST", "/api/ipam/vlans/"), "POST is not retried")
	vs, err := c.VLANs(ctx, netbox.VLANFilter{VID: []int{999}})
	require.NoError(t, err)
	require.Empty(t, vs)
}

func TestSetupAndCheck(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithChecker(conformance.New()))
	c := client(t, srv, srv.Token())
	ctx := context.Background()

	r, err := c.Check(ctx)
	require.NoError(t, err)
	require.True(t, r.Reachable)
	require.NotEmpty(t, r.Version)
	require.False(t, r.OK())
	require.Len(t, r.MissingFields, len(netbox.RequiredFields))
	require.Contains(t, r.MissingFields, "network_interface_name (dcim.interface)")
	require.Equal(t, []string{netbox.TagManagedByOSISM, netbox.TagManagedByIronic}, r.MissingTags)

	rep, err := c.Setup(ctx)
	require.NoError(t, err)
	require.Len(t, rep.CreatedFields, len(netbox.RequiredFields))
	require.Len(t, rep.CreatedTags, 2)

	r, err = c.Check(ctx)
	require.NoError(t, err)
	require.True(t, r.OK(), "%+v", r)

	srv.ResetCounters()
	rep, err = c.Setup(ctx)
	require.NoError(t, err)
	require.Empty(t, rep.CreatedFields)
	require.Empty(t, rep.CreatedTags)
	require.Zero(t, srv.Requests("POST", "/api/extras/custom-fields/")+srv.Requests("POST", "/api/extras/tags/"))

	// The sample fabric has everything.
	_, fc := fabric(t)
	r, err = fc.Check(ctx)
	require.NoError(t, err)
	require.True(t, r.OK(), "%+v", r)

	// Unreachable: reported, not an error.
	dead := client(t, srv, srv.Token())
	srv.Close()
	r, err = dead.Check(ctx)
	require.NoError(t, err)
	require.False(t, r.Reachable)
	require.NotEmpty(t, r.Error)
}

var writeEndpoints = []string{
	"/api/dcim/devices/", "/api/dcim/devices/{id}/", "/api/dcim/interfaces/", "/api/dcim/interfaces/{id}/",
	"/api/dcim/cables/", "/api/dcim/cables/{id}/", "/api/dcim/mac-addresses/", "/api/dcim/mac-addresses/{id}/",
	"/api/ipam/vlans/", "/api/ipam/vlans/{id}/", "/api/ipam/ip-addresses/", "/api/ipam/ip-addresses/{id}/",
}

func writes(srv *netboxtest.Server) int {
	n := 0
	for _, p := range writeEndpoints {
		for _, m := range []string{"POST", "PATCH", "PUT", "DELETE"} {
			n += srv.Requests(m, p)
		}
	}
	return n
}

func iface(t *testing.T, c *netbox.Client, device, name string) netbox.Interface {
	t.Helper()
	is, err := c.Interfaces(context.Background(), netbox.InterfaceFilter{Device: []string{device}, Name: []string{name}})
	require.NoError(t, err)
	require.Len(t, is, 1, "%s %s", device, name)
	return is[0]
}

func vids(i netbox.Interface) (untagged int, tagged []int) {
	if i.UntaggedVLAN != nil {
		untagged = i.UntaggedVLAN.VID
	}
	for _, v := range i.TaggedVLANs {
		tagged = append(tagged, v.VID)
	}
	slices.Sort(tagged)
	return untagged, tagged
}

func TestDesiredStatePlanApply(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("netboxtest", "sample", "desired")
	cases := []struct {
		name, device, state string
		check               func(t *testing.T, srv *netboxtest.Server, c *netbox.Client)
	}{
		{name: "node-1 to b: VLANs, MTU, loopback, labels", device: "node-1", state: "b", check: func(t *testing.T, srv *netboxtest.Server, c *netbox.Client) {
			e0 := iface(t, c, "node-1", "eth0")
			require.Equal(t, "11:eth0 / 42:swp1", e0.Label)
			require.Equal(t, "tagged", e0.Mode.Value)
			u, tg := vids(e0)
			require.Equal(t, 100, u)
			require.Equal(t, []int{200, 300}, tg)
			s1 := iface(t, c, "leaf-1", "swp1")
			require.Equal(t, "42:swp1 / 11:eth0", s1.Label)
			require.Equal(t, "tagged", s1.Mode.Value, "the far end gets the VLANs too")
			e1 := iface(t, c, "node-1", "eth1")
			require.Equal(t, "11:eth1 / rack-2-42:swp1", e1.Label)
			require.Equal(t, 9000, *e1.MTU)
			require.Equal(t, "storage uplink", e1.Description)
			require.Equal(t, "42:swp1 / rack-1-11:eth1", iface(t, c, "leaf-2", "swp1").Label)
			lo := iface(t, c, "node-1", "loopback0")
			require.Equal(t, "virtual", lo.Type.Value)
			ips, err := c.IPAddresses(context.Background(), netbox.IPAddressFilter{Address: []string{"10.10.1.21/32"}})
			require.NoError(t, err)
			require.Len(t, ips, 1)
			require.Equal(t, lo.ID, ips[0].InterfaceID())
			d, err := c.Device(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, "192.168.16.21/24", d.PrimaryIP4.Address, "a primary on the unmanaged IPMI port stays")
		}},
		{name: "node-2 to c: bond, remote port-channels, primary IP", device: "node-2", state: "c", check: func(t *testing.T, srv *netboxtest.Server, c *netbox.Client) {
			bond := iface(t, c, "node-2", "bond0")
			require.Equal(t, "lag", bond.Type.Value)
			for _, m := range []string{"eth0", "eth1"} {
				require.Equal(t, bond.ID, iface(t, c, "node-2", m).LAG.ID)
			}
			for _, leaf := range []string{"leaf-1", "leaf-2"} {
				pc := iface(t, c, leaf, "Port-Channel2")
				require.Equal(t, pc.ID, iface(t, c, leaf, "swp2").LAG.ID)
				u, tg := vids(pc)
				require.Equal(t, 100, u)
				require.Equal(t, []int{300}, tg)
				sw := iface(t, c, leaf, "swp2")
				require.Nil(t, sw.UntaggedVLAN, "a LAG member's far end carries no VLANs of its own")
			}
			d, err := c.Device(context.Background(), "node-2")
			require.NoError(t, err)
			require.Equal(t, "10.0.100.22/24", d.PrimaryIP4.Address)
			ips, err := c.IPAddresses(context.Background(), netbox.IPAddressFilter{Address: []string{"192.168.32.22/24"}})
			require.NoError(t, err)
			require.Empty(t, ips, "an address the state no longer lists on a managed interface is removed")
		}},
		{name: "leaf-1 to a: MLAG", device: "leaf-1", state: "a", check: func(t *testing.T, srv *netboxtest.Server, c *netbox.Client) {
			pc := iface(t, c, "leaf-1", "Port-Channel1")
			require.Equal(t, pc.ID, iface(t, c, "leaf-1", "swp31").LAG.ID)
			v := iface(t, c, "leaf-1", "Vlan4094")
			require.Equal(t, pc.ID, v.Parent.ID)
			require.Equal(t, 4094, v.UntaggedVLAN.VID)
			is, err := c.Interfaces(context.Background(), netbox.InterfaceFilter{Device: []string{"leaf-1"}, Name: []string{"peerlink"}})
			require.NoError(t, err)
			require.Empty(t, is, "the undeclared LAG is removed, as upstream does")
		}},
		{name: "node-3 to a: collection file only", device: "node-3", state: "0", check: func(t *testing.T, srv *netboxtest.Server, c *netbox.Client) {
			require.Equal(t, "13:eth0 / rack-1-42:swp3", iface(t, c, "node-3", "eth0").Label)
			require.Equal(t, "access", iface(t, c, "leaf-1", "swp3").Mode.Value)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := fabric(t)
			ctx := context.Background()
			ds, err := netbox.LoadDesiredState(dir, "dc1", tc.device, tc.state)
			require.NoError(t, err)

			srv.ResetCounters()
			plan, err := c.Plan(ctx, tc.device, ds)
			require.NoError(t, err)
			require.NotEmpty(t, plan.Changes)
			require.Zero(t, writes(srv), "Plan does not write")

			applied, err := c.Apply(ctx, tc.device, ds)
			require.NoError(t, err)
			require.Equal(t, plan.Changes, applied.Changes, "Apply does what Plan said")
			tc.check(t, srv, c)

			srv.ResetCounters()
			again, err := c.Apply(ctx, tc.device, ds)
			require.NoError(t, err)
			require.Empty(t, again.Changes, "%s", again)
			require.Zero(t, writes(srv), "a second Apply writes nothing")
			require.LessOrEqual(t, srv.TotalRequests(), 10, "the comparison costs a few list requests")
		})
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	ctx := context.Background()
	parse := func(doc string) netbox.DesiredState {
		ds, err := netbox.ParseDesiredState("t.yaml", []byte(doc))
		require.NoError(t, err)
		return ds
	}
	cases := []struct {
		name, device, doc, want string
	}{
		{name: "device not in state", device: "node-2", doc: "node-1: {}\n", want: `plan "node-2": the desired state has no entry for this device (it has node-1)`},
		{name: "unknown device", device: "node-9", doc: "node-9: {}\n", want: `device "node-9": netbox: not found`},
		{name: "unknown peer", device: "node-1", doc: "node-1:\n  eth0: {type: cat6, device: spine-9, interface: e1}\n", want: `peer device "spine-9"`},
		{name: "unknown interface", device: "node-1", doc: "node-1:\n  eth7: {type: cat6, device: leaf-1, interface: swp1}\n", want: "interface node-1 eth7: netbox: not found"},
		{name: "cabled elsewhere", device: "node-1", doc: "node-1:\n  eth0: {type: cat6, device: leaf-1, interface: swp5}\n", want: "interface node-1 eth0 is cabled (cable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Plan(ctx, tc.device, parse(tc.doc))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestCreateCableAndMAC(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	ctx := context.Background()
	ds, err := netbox.ParseDesiredState("t.yaml", []byte(`
node-4:
  eth0: {type: dac-passive, device: leaf-1, interface: swp4, mac_address: "02:00:00:01:04:aa"}
  eth1: {type: dac-passive, device: leaf-2, interface: swp4}
  ipmi: {type: cat6, device: leaf-1, interface: swp8, addresses: [{address: 192.168.16.24/24, primary: true}]}
`))
	require.NoError(t, err)
	p, err := c.Apply(ctx, "node-4", ds)
	require.NoError(t, err)
	var kinds []string
	for _, ch := range p.Changes {
		kinds = append(kinds, ch.Action+" "+ch.Kind)
	}
	require.Contains(t, kinds, "create cable")
	require.Contains(t, kinds, "create mac-address")
	peers, err := c.Peers(ctx, "node-4")
	require.NoError(t, err)
	require.Len(t, peers, 3)
	e0 := iface(t, c, "node-4", "eth0")
	require.Equal(t, "02:00:00:01:04:AA", e0.PrimaryMAC.MACAddress)
	require.Equal(t, "14:ipmi / rack-1-42:swp8", iface(t, c, "node-4", "ipmi").Label)
	d, err := c.Device(ctx, "node-4")
	require.NoError(t, err)
	require.Equal(t, "192.168.16.24/24", d.PrimaryIP4.Address)
	again, err := c.Plan(ctx, "node-4", ds)
	require.NoError(t, err)
	require.True(t, again.Empty(), "%s", again)
}
