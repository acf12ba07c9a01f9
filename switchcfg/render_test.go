package switchcfg_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/netbox/netboxtest/conformance"
	"github.com/osism/go-osism/switchcfg"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fabric starts the NetBox double with the sample fabric, every answer
// checked against NetBox's schema, and a client on it.
func fabric(t *testing.T) (*netboxtest.Server, *netbox.Client) {
	t.Helper()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), RetryBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	return srv, c
}

func renderer(t *testing.T, c *netbox.Client, opts ...switchcfg.Option) *switchcfg.Renderer {
	t.Helper()
	r, err := switchcfg.NewRenderer(c, opts...)
	require.NoError(t, err)
	return r
}

// golden compares got with testdata/golden/<name>, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.WriteFile(file, got, 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test ./switchcfg -run Golden -update to create it")
	require.Equal(t, string(want), string(got), "%s differs; if the change is intended, run go test ./switchcfg -run Golden -update", file)
}

// vtyshCheck has FRR's vtysh parse the configuration (vtysh -C, no daemons
// needed), so that every rendered line is one FRR accepts.
func vtyshCheck(t *testing.T, name string, cfg []byte) {
	t.Helper()
	vtysh, err := exec.LookPath("vtysh")
	if err != nil {
		if testenv.RequireIntegration() {
			t.Fatalf("vtysh not found (install frr): %v", err)
		}
		t.Logf("vtysh not found, %s not checked by FRR (install frr)", name)
		return
	}
	file := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(file, cfg, 0o644))
	out, err := exec.Command(vtysh, "-C", "-f", file).CombinedOutput()
	require.NoError(t, err, "vtysh -C rejects %s:\n%s", name, out)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	rs, err := renderer(t, c).Render(context.Background(), "leaf-1", "leaf-2")
	require.NoError(t, err)
	require.Len(t, rs, 2)
	for _, r := range rs {
		require.Equal(t, switchcfg.DefaultTemplate, r.Template)
		golden(t, r.Switch+".cfg", r.Config)
		vtyshCheck(t, r.Switch+".cfg", r.Config)
	}
}

// An MLAG written by phase 1 (netbox.Apply) on both leaves shows in the
// context and the configuration.
func TestGoldenMLAG(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	ctx := context.Background()
	for i, leaf := range []string{"leaf-1", "leaf-2"} {
		ds := netbox.DesiredState{leaf: {"peerlink": {
			Type:       netbox.TypeMLAG,
			Interfaces: []string{"swp31", "swp32"},
			MLAG:       &netbox.MLAGState{Channel: 1, VLAN: 4094, Address: []string{"10.255.255.1/30", "10.255.255.2/30"}[i]},
		}}}
		_, err := c.Apply(ctx, leaf, ds)
		require.NoError(t, err)
	}
	r := renderer(t, c)
	cs, err := r.Contexts(ctx, "leaf-1")
	require.NoError(t, err)
	require.Equal(t, &switchcfg.MLAG{
		Peer: "leaf-2", PeerLink: "Port-Channel1", Members: []string{"swp31", "swp32"},
		Interface: "Vlan4094", VLAN: 4094, Address: "10.255.255.1/30",
		PeerAddress: "10.255.255.2/30", PeerIP: "10.255.255.2", DomainID: 1,
	}, cs[0].MLAG)

	rs, err := r.Render(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	for _, r := range rs {
		golden(t, r.Switch+"-mlag.cfg", r.Config)
		vtyshCheck(t, r.Switch+"-mlag.cfg", r.Config)
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	cs, err := renderer(t, c).Contexts(context.Background(), "leaf-1")
	require.NoError(t, err)
	require.Len(t, cs, 1)
	x := cs[0]
	require.Equal(t, "leaf-1", x.Device.Name)
	require.Equal(t, switchcfg.Named{Name: "Edgecore", Slug: "edgecore"}, x.Device.Manufacturer)
	require.Equal(t, "AS7326-56X", x.Device.Model)
	require.Equal(t, "sonic", x.Device.Platform.Slug)
	require.Equal(t, "leaf", x.Device.Role.Slug)
	require.Equal(t, "dc1", x.Device.Site.Name)
	require.Equal(t, "frr", x.Device.DeploymentType)
	require.Equal(t, []string{"managed-by-osism"}, x.Device.Tags)
	require.Equal(t, "192.168.16.11/24", x.Device.PrimaryIP4)
	require.Equal(t, switchcfg.BGP{ASN: 65101, RouterID: "10.10.0.1"}, x.BGP)
	require.Nil(t, x.MLAG)

	byName := map[string]switchcfg.Interface{}
	var names []string
	for _, i := range x.Interfaces {
		byName[i.Name] = i
		names = append(names, i.Name)
	}
	require.Equal(t, []string{"eth0", "peerlink", "swp1", "swp2", "swp3", "swp4", "swp5", "swp6", "swp7", "swp8", "swp31", "swp32"}, names)
	require.Equal(t, &switchcfg.Peer{Device: "node-1", Interface: "eth0", Kind: switchcfg.PeerNode, Role: "compute", Cable: "node-1:eth0 / leaf-1:swp1"}, byName["swp1"].Peer)
	require.Equal(t, &switchcfg.Peer{Device: "leaf-2", Interface: "swp31", Kind: switchcfg.PeerSwitch, Role: "leaf"}, byName["swp31"].Peer)
	require.Equal(t, "peerlink", byName["swp31"].LAG)
	require.Equal(t, switchcfg.KindLAG, byName["peerlink"].Kind)
	require.Equal(t, []string{"swp31", "swp32"}, byName["peerlink"].Members)
	require.Equal(t, []string{"leaf-2"}, byName["peerlink"].PeerDevices)
	require.Equal(t, []string{"192.168.16.11/24"}, byName["eth0"].Addresses)
	require.True(t, byName["eth0"].MgmtOnly)
	swp5 := byName["swp5"]
	require.Equal(t, "tagged", swp5.Mode)
	require.Equal(t, &switchcfg.VLANRef{VID: 100, Name: "mgmt"}, swp5.UntaggedVLAN)
	require.Equal(t, []switchcfg.VLANRef{{VID: 200, Name: "storage"}, {VID: 300, Name: "tenant"}}, swp5.TaggedVLANs)
	require.Equal(t, []switchcfg.VLAN{
		{VID: 100, Name: "mgmt", Untagged: []string{"swp5", "swp6", "swp7", "swp8"}, Tagged: []string{}},
		{VID: 200, Name: "storage", Untagged: []string{}, Tagged: []string{"swp5", "swp6", "swp7", "swp8"}},
		{VID: 300, Name: "tenant", Untagged: []string{}, Tagged: []string{"swp5", "swp6", "swp7", "swp8"}},
	}, x.VLANs)
}

// Rendering stays within a fixed number of NetBox requests, for one switch
// or several: what a transition of a node on two leaves pays.
func TestRequestCount(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()
	r := renderer(t, c)

	srv.ResetCounters()
	_, err := r.Render(ctx, "leaf-1")
	require.NoError(t, err)
	one := srv.TotalRequests()
	require.Equal(t, 5, one, "one switch, cold cache")

	srv.ResetCounters()
	_, err = r.Render(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	require.Equal(t, 4, srv.TotalRequests(), "two switches, device types cached")

	srv.ResetCounters()
	_, err = renderer(t, c).Render(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	require.Equal(t, 5, srv.TotalRequests(), "two switches, cold cache")

	srv.ResetCounters()
	_, err = renderer(t, c).Render(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, srv.TotalRequests(), "all managed switches, cold cache")
}

func TestSwitches(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	// A device whose device_type only contains "switch" passes NetBox's
	// loose filter but is not a switch.
	id := srv.ID("dcim.device", "node-1")
	require.NoError(t, srv.Update("dcim.device", id, map[string]any{
		"tags":          []any{map[string]any{"slug": "managed-by-osism"}},
		"custom_fields": map[string]any{"device_type": "switches"},
	}))
	ds, err := switchcfg.Switches(context.Background(), c)
	require.NoError(t, err)
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	require.Equal(t, []string{"leaf-1", "leaf-2"}, names)
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	r := renderer(t, c)
	ctx := context.Background()

	_, err := r.Render(ctx, "leaf-9")
	require.ErrorIs(t, err, netbox.ErrNotFound)
	require.ErrorContains(t, err, `"leaf-9"`)

	_, err = r.Render(ctx, "node-1")
	require.ErrorIs(t, err, switchcfg.ErrNotSwitch)
	require.ErrorContains(t, err, `switch "node-1"`)

	_, err = switchcfg.NewRenderer(c, switchcfg.WithTemplateDir(filepath.Join(t.TempDir(), "missing")))
	require.ErrorContains(t, err, "missing")

	_, err = r.Contexts(ctx, "")
	require.ErrorContains(t, err, "empty")
}

// Render a context built by hand, without NetBox.
func leafContext(name, manufacturer string) *switchcfg.Context {
	return &switchcfg.Context{
		Device: switchcfg.Device{
			Name:          name,
			Manufacturer:  switchcfg.Named{Name: manufacturer, Slug: strings.ToLower(manufacturer)},
			Tags:          []string{},
			CustomFields:  map[string]any{},
			ConfigContext: map[string]any{"frr_asn": 65001},
		},
		Interfaces: []switchcfg.Interface{},
		VLANs:      []switchcfg.VLAN{},
		BGP:        switchcfg.BGP{ASN: 65001},
	}
}

func TestTemplatePrecedence(t *testing.T) {
	t.Parallel()
	all := fstest.MapFS{
		"leaf-1.cfg.j2":   {Data: []byte("device {{ device.name }}\n")},
		"edgecore.cfg.j2": {Data: []byte("manufacturer {{ device.manufacturer.slug }}\n")},
		"default.cfg.j2":  {Data: []byte("default\n")},
	}
	cases := []struct {
		name     string
		ctx      *switchcfg.Context
		drop     []string
		want     string
		template string
	}{
		{name: "device first", ctx: leafContext("leaf-1", "Edgecore"), want: "device leaf-1\n", template: "leaf-1.cfg.j2"},
		{name: "manufacturer next", ctx: leafContext("leaf-2", "Edgecore"), want: "manufacturer edgecore\n", template: "edgecore.cfg.j2"},
		{name: "manufacturer without device template", ctx: leafContext("leaf-1", "Edgecore"), drop: []string{"leaf-1.cfg.j2"}, want: "manufacturer edgecore\n", template: "edgecore.cfg.j2"},
		{name: "default last", ctx: leafContext("leaf-2", "Dell"), want: "default\n", template: "default.cfg.j2"},
		{name: "no manufacturer", ctx: leafContext("leaf-2", ""), want: "default\n", template: "default.cfg.j2"},
		{name: "device name with a slash", ctx: leafContext("a/b", "Dell"), want: "default\n", template: "default.cfg.j2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for k, v := range all {
				fsys[k] = v
			}
			for _, d := range tc.drop {
				delete(fsys, d)
			}
			r := renderer(t, nil, switchcfg.WithTemplateFS(fsys, "test templates"))
			got, err := r.RenderContext(tc.ctx)
			require.NoError(t, err)
			require.Equal(t, tc.template, got.Template)
			require.Equal(t, tc.want, string(got.Config))
		})
	}
}

func TestTemplateDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "edgecore.cfg.j2"), []byte("{% include \"common.j2\" %}{{ bgp.asn }}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "common.j2"), []byte("asn "), 0o644))
	r := renderer(t, nil, switchcfg.WithTemplateDir(dir))

	got, err := r.RenderContext(leafContext("leaf-1", "Edgecore"))
	require.NoError(t, err)
	require.Equal(t, "asn 65001\n", string(got.Config))

	// No fallback to the built-in templates once a directory is set.
	_, err = r.RenderContext(leafContext("leaf-1", "Dell"))
	require.ErrorIs(t, err, switchcfg.ErrNoTemplate)
	var nt *switchcfg.NoTemplateError
	require.True(t, errors.As(err, &nt))
	require.Equal(t, []string{"leaf-1.cfg.j2", "dell.cfg.j2", "default.cfg.j2"}, nt.Tried)
	require.Equal(t, `no template for switch "leaf-1" in `+dir+`: tried leaf-1.cfg.j2, dell.cfg.j2, default.cfg.j2`, err.Error())
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		line      int
		contains  string
	}{
		{name: "unclosed expression", src: "a\nb\n{{ device.name \nc\n", line: 3},
		{name: "bad expression", src: "a\nb\n{{ a b }}\n", line: 3, contains: "near"},
		{name: "empty if", src: "a\n{% if %}\nb\n{% endif %}\n", line: 2, contains: "if"},
		{name: "missing endfor", src: "a\n{% for i in interfaces %}\nb\n", line: 4, contains: "endfor"},
		{name: "unknown tag", src: "a\n\n{% frobnicate %}\n", line: 3, contains: "frobnicate"},
		{name: "undefined variable", src: "a\nb\nc\n{{ nope }}\n", line: 4, contains: "nope"},
		{name: "undefined attribute in a loop", src: "a\n{% for v in vlans %}\n{% endfor %}\n{% for x in [1] %}\n{{ device.nope }}\n{% endfor %}\n", line: 5, contains: "nope"},
		{name: "unknown filter", src: "a\n{{ device.name | frobnicate }}\n", line: 2, contains: "frobnicate"},
		{name: "missing include", src: "a\n{% include 'missing.j2' %}\nb\n", line: 2, contains: "missing.j2"},
		{name: "missing include at the end", src: "a\n{% include 'missing.j2' %}\n", line: 2, contains: "missing.j2"},
		{name: "bad loop", src: "a\n{% for x in device.nope %}\nb\n{% endfor %}\n", line: 2, contains: "nope"},
		{name: "bad condition", src: "a\n{% if device.nope.x %}\nb\n{% endif %}\n", line: 2, contains: "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := renderer(t, nil, switchcfg.WithTemplateFS(fstest.MapFS{"default.cfg.j2": {Data: []byte(tc.src)}}, "/srv/templates"))
			_, err := r.RenderContext(leafContext("leaf-1", "Edgecore"))
			require.Error(t, err)
			var te *switchcfg.TemplateError
			require.True(t, errors.As(err, &te), "%T: %v", err, err)
			require.Equal(t, "/srv/templates/default.cfg.j2", te.Template)
			require.Equal(t, tc.line, te.Line, "%v", err)
			require.ErrorContains(t, err, "/srv/templates/default.cfg.j2:")
			require.ErrorContains(t, err, tc.contains)
			require.NotContains(t, err.Error(), "\n", "the message quotes no template source")
			require.NotContains(t, err.Error(), "Col=", "gonja's positions are left out")
		})
	}
}

// The same NetBox data renders the same bytes, whatever order NetBox lists
// it in, and a switch renders the same alone or with others.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	srv, c := fabric(t)
	ctx := context.Background()
	render := func(names ...string) map[string]string {
		t.Helper()
		rs, err := renderer(t, c).Render(ctx, names...)
		require.NoError(t, err)
		out := map[string]string{}
		for _, r := range rs {
			out[r.Switch] = string(r.Config)
		}
		return out
	}
	first := render("leaf-1", "leaf-2")
	require.Equal(t, first, render("leaf-1", "leaf-2"))
	require.Equal(t, first, render("leaf-2", "leaf-1"))
	require.Equal(t, first["leaf-1"], render("leaf-1")["leaf-1"])
	require.Equal(t, first["leaf-2"], render("leaf-2")["leaf-2"])

	// Re-create swp5 (now the last interface by id, tagged VLANs listed the
	// other way round) and swp1's cable (a new id): the same data, listed
	// in another order.
	leaf1 := srv.ID("dcim.device", "leaf-1")
	var swp5, swp1 map[string]any
	for _, i := range mustInterfaces(t, c, "leaf-1") {
		switch i.Name {
		case "swp5":
			swp5 = map[string]any{"id": i.ID}
		case "swp1":
			swp1 = map[string]any{"id": i.ID, "cable": i.Cable.ID}
		}
	}
	require.NoError(t, srv.Delete("dcim.interface", swp5["id"].(int)))
	_, err := srv.Create("dcim.interface", map[string]any{
		"device": leaf1, "name": "swp5", "type": "25gbase-x-sfp28", "mode": "tagged",
		"untagged_vlan": srv.ID("ipam.vlan", "mgmt"),
		"tagged_vlans":  []any{srv.ID("ipam.vlan", "tenant"), srv.ID("ipam.vlan", "storage")},
	})
	require.NoError(t, err)
	require.NoError(t, srv.Delete("dcim.cable", swp1["cable"].(int)))
	node1eth0 := 0
	for _, i := range mustInterfaces(t, c, "node-1") {
		if i.Name == "eth0" {
			node1eth0 = i.ID
		}
	}
	_, err = srv.Create("dcim.cable", map[string]any{
		"a_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": swp1["id"]}},
		"b_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": node1eth0}},
		"type":           "dac-passive", "label": "node-1:eth0 / leaf-1:swp1",
	})
	require.NoError(t, err)
	require.Equal(t, first, render("leaf-1", "leaf-2"))
}

// One renderer serves goroutines at once; each gets what it would alone.
func TestRenderConcurrent(t *testing.T) {
	t.Parallel()
	_, c := fabric(t)
	ctx := context.Background()
	r := renderer(t, c)
	want := map[string]string{}
	for _, sw := range []string{"leaf-1", "leaf-2"} {
		rs, err := renderer(t, c).Render(ctx, sw)
		require.NoError(t, err)
		want[sw] = string(rs[0].Config)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			sw := []string{"leaf-1", "leaf-2"}[i%2]
			rs, err := r.Render(ctx, sw)
			if err != nil {
				t.Error(err)
				return
			}
			if got := string(rs[0].Config); got != want[sw] {
				t.Errorf("%s rendered concurrently differs:\n%s", sw, got)
			}
		})
	}
	wg.Wait()
}

func mustInterfaces(t *testing.T, c *netbox.Client, device string) []netbox.Interface {
	t.Helper()
	is, err := c.DeviceInterfaces(context.Background(), device)
	require.NoError(t, err)
	return is
}

// The built-in template renders without NetBox and passes FRR's parser.
func TestBuiltinTemplate(t *testing.T) {
	t.Parallel()
	r := renderer(t, nil)
	c := leafContext("leaf-9", "Edgecore")
	c.Interfaces = []switchcfg.Interface{
		{Name: "swp1", Kind: switchcfg.KindEthernet, Enabled: true, Peer: &switchcfg.Peer{Device: "spine-1", Interface: "swp9", Kind: switchcfg.PeerSwitch},
			TaggedVLANs: []switchcfg.VLANRef{}, Addresses: []string{}, Members: []string{}, PeerDevices: []string{}},
		{Name: "swp2", Kind: switchcfg.KindEthernet, Enabled: false, Description: "spare",
			TaggedVLANs: []switchcfg.VLANRef{}, Addresses: []string{"192.0.2.1/31", "2001:db8::1/127"}, Members: []string{}, PeerDevices: []string{}},
	}
	got, err := r.RenderContext(c)
	require.NoError(t, err)
	s := string(got.Config)
	require.Contains(t, s, "interface swp1\n description spine-1:swp9\nexit\n")
	require.Contains(t, s, "interface swp2\n description spare\n ip address 192.0.2.1/31\n ipv6 address 2001:db8::1/127\n shutdown\nexit\n")
	require.Contains(t, s, "router bgp 65001\n")
	require.Contains(t, s, " neighbor swp1 interface peer-group fabric\n")
	require.NotContains(t, s, "neighbor swp2")
	require.NotContains(t, s, "hostname")
	vtyshCheck(t, "leaf-9.cfg", got.Config)

	// Without an ASN there is no router bgp.
	c.BGP.ASN = 0
	got, err = r.RenderContext(c)
	require.NoError(t, err)
	require.NotContains(t, string(got.Config), "router bgp")
}
