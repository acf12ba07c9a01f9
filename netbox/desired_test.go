package netbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestParseDesiredStateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, doc, want string
	}{
		{name: "not YAML", doc: "node-1: [", want: "f.yaml: not valid YAML"},
		{name: "top level list", doc: "- a", want: "f.yaml:1: expected a mapping of device name to interfaces, got a list"},
		{name: "interface not a mapping", doc: "node-1:\n  eth0: 5\n", want: `f.yaml:2: node-1.eth0: expected a mapping with type, device, interface, ..., got "5"`},
		{name: "unknown key", doc: "node-1:\n  eth0:\n    type: cat6\n    device: leaf-1\n    interface: swp1\n    vlan: 5\n", want: "f.yaml:6: node-1.eth0.vlan: unknown key; expected one of type, device"},
		{name: "missing type", doc: "node-1:\n  eth0:\n    device: leaf-1\n", want: "node-1.eth0.type: missing; expected a cable type"},
		{name: "cable without far end", doc: "node-1:\n  eth0:\n    type: cat6\n", want: `node-1.eth0: type "cat6" is a cable type, so device and interface (the far end) are required`},
		{name: "bad VLAN id", doc: "node-1:\n  v:\n    type: virtual\n    vlans:\n      5000: tagged\n", want: "f.yaml:5: node-1.v.vlans.5000: expected a VLAN id 1-4094 as key"},
		{name: "bad VLAN mode", doc: "node-1:\n  v:\n    type: virtual\n    vlans:\n      100: trunk\n", want: `node-1.v.vlans.100: expected untagged or tagged, got "trunk"`},
		{name: "two untagged", doc: "node-1:\n  v:\n    type: virtual\n    vlans:\n      100: untagged\n      200: untagged\n", want: "VLAN 100 is untagged already"},
		{name: "bad address", doc: "node-1:\n  v:\n    type: virtual\n    addresses: [10.0.0.1]\n", want: `node-1.v.addresses[0]: expected an address with prefix length like 192.0.2.10/24, got "10.0.0.1"`},
		{name: "primary IPv6", doc: "node-1:\n  v:\n    type: virtual\n    addresses:\n      - {address: 'fd00::1/64', primary: true}\n", want: "node-1.v.addresses[0].primary: only an IPv4 address can be primary"},
		{name: "bad MAC", doc: "node-1:\n  eth0:\n    type: cat6\n    device: l\n    interface: s\n    mac_address: xyz\n", want: `node-1.eth0.mac_address: expected a MAC address like 00:11:22:33:44:55, got "xyz"`},
		{name: "bad data field", doc: "node-1:\n  v:\n    type: virtual\n    data: {speed: 10}\n", want: "node-1.v.data.speed: unknown interface field; expected one of enabled, mtu, description, mgmt_only"},
		{name: "enabled not bool", doc: "node-1:\n  v:\n    type: virtual\n    data: {enabled: yes please}\n", want: `node-1.v.data.enabled: expected true or false, got "yes please"`},
		{name: "port-channel without members", doc: "node-1:\n  bond0:\n    type: port-channel\n    channel: 1\n", want: "node-1.bond0.interfaces: missing"},
		{name: "port-channel without channel", doc: "node-1:\n  bond0:\n    type: port-channel\n    interfaces: [eth0]\n", want: "node-1.bond0.channel: missing"},
		{name: "mlag incomplete", doc: "leaf-1:\n  m:\n    type: mlag\n    interfaces: [swp7]\n    mlag: {channel: 1}\n", want: "leaf-1.m.mlag: expected all of channel, vlan and address"},
		{name: "duplicate key", doc: "node-1:\n  v: {type: virtual}\n  v: {type: virtual}\n", want: "node-1.v: duplicate key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDesiredState("f.yaml", []byte(tc.doc))
			var fe *FileError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, "f.yaml", fe.File)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLoadDesiredStateMerges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rack1", "a.yaml"), `
node-1:
  eth0: {type: cat6, device: leaf-1, interface: swp1}
  eth1: {type: cat6, device: leaf-2, interface: swp1}
node-2:
  eth0: {type: cat6, device: leaf-1, interface: swp2}
`)
	writeFile(t, filepath.Join(dir, "rack1", "node-1", "a.yaml"), `
node-1:
  eth1:
    type: dac-passive
    device: leaf-2
    interface: swp1
    mac_address: 52:54:00:aa:bb:01
    addresses: [10.0.0.1/24, {address: 192.168.0.1/24, primary: true}]
    vlans: {100: untagged, 200: tagged}
`)
	ds, err := LoadDesiredState(dir, "rack1", "node-1", "0")
	require.NoError(t, err)
	require.Equal(t, []string{"node-1", "node-2"}, ds.Devices())
	require.Equal(t, "cat6", ds["node-1"]["eth0"].Type, "the collection's interface stays")
	e1 := ds["node-1"]["eth1"]
	require.Equal(t, "dac-passive", e1.Type, "the device's file wins")
	require.Equal(t, "52:54:00:AA:BB:01", e1.MACAddress)
	require.Equal(t, []Address{{Address: "10.0.0.1/24"}, {Address: "192.168.0.1/24", Primary: true}}, e1.Addresses)
	require.Equal(t, map[int]string{100: VLANUntagged, 200: VLANTagged}, e1.VLANs)

	_, err = LoadDesiredState(dir, "rack1", "node-9", "c")
	require.ErrorIs(t, err, ErrNoDesiredState)
	require.ErrorContains(t, err, filepath.Join(dir, "rack1", "node-9", "c.yaml"))

	_, err = LoadDesiredState(dir, "../etc", "node-1", "a")
	require.ErrorContains(t, err, `collection "../etc": want a plain name`)

	writeFile(t, filepath.Join(dir, "rack2", "node-5", "b.yaml"), "node-5:\n  eth0: {type: cat6}\n")
	_, err = LoadDesiredState(dir, "rack2", "node-5", "b")
	require.ErrorContains(t, err, filepath.Join(dir, "rack2", "node-5", "b.yaml")+":2: node-5.eth0")
}

func TestNormalizeState(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "a", "0": "a", "None": "a", "b": "b"} {
		require.Equal(t, want, NormalizeState(in), in)
	}
}

func TestCableLabel(t *testing.T) {
	t.Parallel()
	pos := func(f float64) *float64 { return &f }
	r1, r2 := &Ref{ID: 1, Name: "r1"}, &Ref{ID: 2, Name: "r2"}
	cases := []struct {
		name              string
		near, far         *Device
		nearPort, farPort string
		want              string
	}{
		{name: "same rack", near: &Device{Rack: r1, Position: pos(10)}, far: &Device{Rack: r1, Position: pos(40)}, nearPort: portOf("eth0"), farPort: portOf("swp1"), want: "10:eth0 / 40:swp1"},
		{name: "other rack", near: &Device{Rack: r1, Position: pos(10)}, far: &Device{Rack: r2, Position: pos(40.5)}, nearPort: "eth0", farPort: portOf("Ethernet12/1"), want: "10:eth0 / r2-40.5:12"},
		{name: "no rack", near: &Device{}, far: &Device{Rack: r2, Position: pos(1)}, nearPort: portOf("sfp-sfpplus3"), farPort: portOf("qsfp-qsfpplus4"), want: ":3 / r2-1:4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, cableLabel(tc.near, tc.nearPort, tc.far, tc.farPort))
		})
	}
}
