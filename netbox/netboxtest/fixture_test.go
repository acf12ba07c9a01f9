package netboxtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSampleFabric(t *testing.T) {
	t.Parallel()
	f, err := SampleFabric()
	require.NoError(t, err)
	require.Len(t, f.Devices, 6)
	s := New(t, WithFixture(f))
	tests := []struct {
		objectType string
		want       int
	}{
		{"dcim.site", 1}, {"dcim.rack", 2}, {"dcim.device", 6}, {"extras.tag", 2}, {"extras.customfield", 13},
		{"ipam.vlan", 3}, {"dcim.cable", 10}, {"ipam.ipaddress", 10},
		{"dcim.interface", 2*12 + 4*3},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, s.Count(tc.objectType), tc.objectType)
	}
	for _, name := range []string{"leaf-1", "leaf-2"} {
		d, ok := s.Find("dcim.device", name)
		require.True(t, ok)
		cf := d["custom_fields"].(map[string]any)
		require.Equal(t, "switch", cf["device_type"])
		require.Equal(t, "frr", cf["deployment_type"])
		require.Equal(t, true, cf["deployment_enabled"])
		require.Equal(t, "leaf", d["role"].(map[string]any)["slug"])
	}
	for _, name := range []string{"node-1", "node-2", "node-3", "node-4"} {
		d, ok := s.Find("dcim.device", name)
		require.True(t, ok)
		cf := d["custom_fields"].(map[string]any)
		require.Equal(t, "a", cf["device_state"])
		require.Equal(t, "", cf["device_transition"])
		require.Equal(t, "managed-by-ironic", d["tags"].([]any)[0].(map[string]any)["slug"])
		for iface, leaf := range map[string]string{"eth0": "leaf-1", "eth1": "leaf-2"} {
			got, ok := s.Find("dcim.interface", name+":"+iface)
			require.True(t, ok)
			peer := got["link_peers"].([]any)[0].(map[string]any)
			require.Equal(t, leaf, peer["device"].(map[string]any)["name"], "%s:%s", name, iface)
		}
	}
	tag, ok := s.Find("extras.tag", "Managed by OSISM")
	require.True(t, ok)
	require.Equal(t, "managed-by-osism", tag["slug"])
}

func TestLoadFixtureErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "devices:\n  - name: x\n    rol: leaf\n", []string{"line 3", `unknown key "rol"`, "in Device", "role"}},
		{"wrong type", "vlans:\n  - vid: hundred\n", []string{"line 2", "hundred"}},
		{"unknown reference", "sites: [{name: dc1}]\ndevices:\n  - {name: x, role: leaf, device_type: t, site: dc1}\n",
			[]string{"devices[0] (x)", "role", `no device role named "leaf"`}},
		{"invalid value", "sites: [{name: dc1, status: broken}]\n", []string{"sites[0]", "status", `"broken" is not a valid choice.`}},
		{"bad custom field value", "custom_fields: [{name: maintenance, type: boolean}]\nsites: [{name: s}]\nmanufacturers: [{name: m}]\n" +
			"device_types: [{manufacturer: m, model: t}]\nroles: [{name: r}]\ndevices: [{name: d, role: r, device_type: t, site: s, custom_fields: {maintenance: maybe}}]\n",
			[]string{"devices[0] (d)", "custom_fields", "Value must be true or false."}},
		{"cable to a missing interface", "cables: [{a: {device: x, interface: eth0}, b: {device: y, interface: eth0}}]\n",
			[]string{"cables[0].a", `no interface "eth0" on device "x"`}},
		{"unknown VLAN", "sites: [{name: s}]\nmanufacturers: [{name: m}]\ndevice_types: [{manufacturer: m, model: t}]\nroles: [{name: r}]\n" +
			"devices: [{name: d, role: r, device_type: t, site: s, interfaces: [{name: e, untagged_vlan: 7, mode: access}]}]\n",
			[]string{"interfaces[0] (e)", "untagged_vlan", "vid 7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadFixture([]byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestFixtureFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fabric.yaml")
	require.NoError(t, os.WriteFile(path, []byte("sites: [{name: lab}]\nvlans: [{vid: 10, name: ten, site: lab}]\n"), 0o600))
	s := New(t, WithFixtureFile(path))
	require.Equal(t, 1, s.Count("dcim.site"))
	require.NotZero(t, s.ID("ipam.vlan", "ten"))

	_, err := Start(WithFixtureFile(filepath.Join(t.TempDir(), "missing.yaml")))
	require.ErrorContains(t, err, "missing.yaml")
}

func TestEmptyFixture(t *testing.T) {
	t.Parallel()
	f, err := LoadFixture(nil)
	require.NoError(t, err)
	s := New(t, WithFixture(f))
	require.Zero(t, s.Count("dcim.device"))
}
