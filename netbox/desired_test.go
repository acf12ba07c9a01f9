package netbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

func TestCollectionDevices(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		files      map[string]string // path under <dir>/<collection> -> content; a trailing / makes a directory
		collection string            // default "c1"
		want       []string
		wantErr    string
		wantFile   string // the *FileError's file, under <dir>/<collection>
		wantLine   int
	}{
		{
			name: "keys of the state files and device directories, sorted and once",
			files: map[string]string{
				"a.yaml":          "node-2:\n  eth0: {type: cat6, device: leaf-1, interface: swp2}\nnode-1:\n",
				"b.yml":           "leaf-1:\nnode-1:\n",
				"node-3/":         "",
				"node-1/b.yaml":   "node-1:\n",
				"README.md":       "node-9: not a state file\n",
				"empty.yaml":      "",
				"null.yaml":       "~\n",
				"comments.yaml":   "# nothing yet\n",
				"notes.txt":       "node-8:\n",
				"node-10/c.yaml":  "",
				"bad-iface.yaml":  "node-4:\n  eth0: 5\n", // only the top level is read
				"other/deep.yaml": "node-7:\n",            // a device directory; its files are not read here
			},
			want: []string{"leaf-1", "node-1", "node-10", "node-2", "node-3", "node-4", "other"},
		},
		{name: "an empty collection", files: map[string]string{"x/": ""}, want: []string{"x"}},
		{name: "malformed YAML", files: map[string]string{"a.yaml": "node-1:\n", "b.yaml": "node-1: ["},
			wantErr: "not valid YAML", wantFile: "b.yaml"},
		{name: "top level is a list", files: map[string]string{"a.yaml": "- node-1\n"},
			wantErr: "expected a mapping of device name to interfaces, got a list", wantFile: "a.yaml", wantLine: 1},
		{name: "top level is a scalar", files: map[string]string{"a.yml": "node-1\n"},
			wantErr: `expected a mapping of device name to interfaces, got "node-1"`, wantFile: "a.yml", wantLine: 1},
		{name: "duplicate device", files: map[string]string{"a.yaml": "node-1:\nnode-2:\nnode-1:\n"},
			wantErr: "node-1: duplicate key", wantFile: "a.yaml", wantLine: 3},
		{name: "missing collection directory", collection: "nope", wantErr: "collection nope: open "},
		{name: "collection not a plain name", collection: "../c1", wantErr: `desired-state collection "../c1": want a plain name`},
		{name: "collection too long for a file name", collection: strings.Repeat("ü", 128), wantErr: "at most 250 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			root := filepath.Join(dir, "c1")
			require.NoError(t, os.MkdirAll(root, 0o755))
			for name, content := range tc.files {
				if strings.HasSuffix(name, "/") {
					require.NoError(t, os.MkdirAll(filepath.Join(root, name), 0o755))
					continue
				}
				writeFile(t, filepath.Join(root, name), content)
			}
			collection := tc.collection
			if collection == "" {
				collection = "c1"
			}
			got, err := CollectionDevices(dir, collection)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			require.Nil(t, got)
			if tc.wantFile != "" {
				var fe *FileError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, filepath.Join(root, tc.wantFile), fe.File)
				require.Equal(t, tc.wantLine, fe.Line)
				require.ErrorContains(t, err, fe.File, "the message names the file")
			}
		})
	}
	t.Run("empty collection name", func(t *testing.T) {
		t.Parallel()
		_, err := CollectionDevices(t.TempDir(), "")
		require.EqualError(t, err, `devices of desired-state collection "": want a plain name (no path separator or control character, at most 250 bytes)`)
	})
	t.Run("missing directory is fs.ErrNotExist", func(t *testing.T) {
		t.Parallel()
		_, err := CollectionDevices(t.TempDir(), "nope")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("the sample fabric's collection", func(t *testing.T) {
		t.Parallel()
		got, err := CollectionDevices(filepath.Join("netboxtest", "sample", "desired"), "dc1")
		require.NoError(t, err)
		require.Equal(t, []string{"leaf-1", "node-1", "node-2", "node-3", "node-4"}, got)
	})
}

// A description written as YAML null clears it rather than setting the
// text "null" or "~".
func TestDesiredStateNullDescription(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"null", "~", "", `""`} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			ds, err := ParseDesiredState("x.yaml", []byte("n:\n  eth0: {type: virtual, data: {description: "+v+"}}\n"))
			require.NoError(t, err)
			d := ds["n"]["eth0"].Data.Description
			require.NotNil(t, d)
			require.Equal(t, "", *d)
		})
	}
}
