package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/osism/go-osism/netbox/netboxtest"
)

// layout is the benchmark's fabric: leaves in pairs (one rack per pair),
// each node cabled eth0 to the pair's first leaf and, with two uplinks,
// eth1 to the second one at the same port. With one uplink every leaf is a
// rack of its own and gets nodes/leaves nodes on eth0.
type layout struct {
	nodes, leaves, uplinks int
}

func (l layout) nodeName(i int) string { return fmt.Sprintf("node-%04d", i+1) }
func (l layout) leafName(j int) string { return fmt.Sprintf("leaf-%02d", j+1) }

// groups are the racks: a leaf pair, or a single leaf.
func (l layout) groups() int { return l.leaves / l.uplinks }

// place returns the leaves node i is cabled to (eth0, then eth1) and the
// leaf port, swp<port>. Nodes go round robin over the groups, so
// consecutive nodes hit different leaves.
func (l layout) place(i int) (leaves []int, port int) {
	g := i % l.groups()
	for u := range l.uplinks {
		leaves = append(leaves, g*l.uplinks+u)
	}
	return leaves, i/l.groups() + 1
}

// ports is the number of node ports per leaf.
func (l layout) ports() int { return (l.nodes + l.groups() - 1) / l.groups() }

func (l layout) rack(j int) string { return fmt.Sprintf("rack-%02d", j/l.uplinks+1) }

// expectedNeighbors is how many BGP unnumbered neighbors leaf j has once
// every node is in state b: state b puts eth0 into VLANs (802.1Q mode
// tagged on both ends), which takes the leaf's port out of BGP; eth1 stays
// routed.
func (l layout) expectedNeighbors(j int) int {
	n := 0
	for i := range l.nodes {
		leaves, _ := l.place(i)
		for u, lj := range leaves {
			if lj == j && u > 0 {
				n++
			}
		}
	}
	return n
}

// cableLabel is netbox's label of a cabled port ("<pos>:<port> /
// [<rack>-]<pos>:<port>"), so that the fixture already holds what state a
// wrote and phase 1 of a -> b changes only what b changes.
func cableLabel(nearPos, nearRack, nearPort, farPos, farRack, farPort string) string {
	far := farPos + ":" + farPort
	if nearRack != farRack {
		far = farRack + "-" + far
	}
	return nearPos + ":" + nearPort + " / " + far
}

// fixture builds the fabric in the form of the NetBox double's fixtures,
// with the tags and custom fields of its sample fabric: leaves are managed
// FRR switches (custom field device_type=switch, deployment_type=frr, tag
// managed-by-osism, config context frr_asn), nodes are in state a.
func (l layout) fixture() (*netboxtest.Fixture, error) {
	sample, err := netboxtest.SampleFabric()
	if err != nil {
		return nil, err
	}
	fx := &netboxtest.Fixture{
		Tags:          sample.Tags,
		CustomFields:  sample.CustomFields,
		Sites:         []netboxtest.SiteSpec{{NamedSpec: netboxtest.NamedSpec{Name: "bench-dc", Description: "fabricbench"}}},
		Manufacturers: []netboxtest.NamedSpec{{Name: "Edgecore"}, {Name: "Supermicro"}},
		DeviceTypes: []netboxtest.DeviceTypeSpec{
			{Manufacturer: "Edgecore", Model: "AS7326-56X"},
			{Manufacturer: "Supermicro", Model: "SYS-1029P", UHeight: 1},
		},
		Roles:     []netboxtest.RoleSpec{{NamedSpec: netboxtest.NamedSpec{Name: "leaf"}, Color: "ff9800"}, {NamedSpec: netboxtest.NamedSpec{Name: "compute"}, Color: "3f51b5"}},
		Platforms: []netboxtest.PlatformSpec{{NamedSpec: netboxtest.NamedSpec{Name: "SONiC", Slug: "sonic"}, Manufacturer: "Edgecore"}, {NamedSpec: netboxtest.NamedSpec{Name: "Ubuntu", Slug: "ubuntu"}}},
		VLANs: []netboxtest.VLANSpec{
			{VID: 100, Name: "provisioning", Site: "bench-dc"},
			{VID: 200, Name: "storage", Site: "bench-dc"},
		},
	}
	for g := range l.groups() {
		fx.Racks = append(fx.Racks, netboxtest.RackSpec{Name: l.rack(g * l.uplinks), Site: "bench-dc"})
	}
	leafPos := func(j int) float64 { return float64(42 - j%l.uplinks) }
	leafPort := map[[2]int]*netboxtest.InterfaceSpec{} // leaf, port -> interface
	for j := range l.leaves {
		d := netboxtest.DeviceSpec{
			Name: l.leafName(j), Role: "leaf", DeviceType: "AS7326-56X", Site: "bench-dc", Rack: l.rack(j),
			Position: leafPos(j), Platform: "sonic", Serial: fmt.Sprintf("EC%04d", j+1), Tags: []string{"managed-by-osism"},
			CustomFields: map[string]any{"device_type": "switch", "deployment_type": "frr", "deployment_enabled": true,
				"device_state": "a", "device_transition": "", "configuration_template": "leaf"},
			ConfigContext: map[string]any{"frr_asn": 65101 + j, "loopback": fmt.Sprintf("10.10.0.%d", j+1)},
			Interfaces:    []netboxtest.InterfaceSpec{{Name: "eth0", Type: "1000base-t", MgmtOnly: true}},
		}
		for p := 1; p <= l.ports(); p++ {
			d.Interfaces = append(d.Interfaces, netboxtest.InterfaceSpec{Name: "swp" + strconv.Itoa(p), Type: "25gbase-x-sfp28"})
		}
		fx.Devices = append(fx.Devices, d)
	}
	for j := range l.leaves {
		ifs := fx.Devices[j].Interfaces
		for p := 1; p < len(ifs); p++ {
			leafPort[[2]int{j, p}] = &ifs[p]
		}
	}
	for i := range l.nodes {
		leaves, port := l.place(i)
		rack := l.rack(leaves[0])
		d := netboxtest.DeviceSpec{
			Name: l.nodeName(i), Role: "compute", DeviceType: "SYS-1029P", Site: "bench-dc", Rack: rack,
			Platform: "ubuntu", Serial: fmt.Sprintf("SM%06d", i+1), Tags: []string{"managed-by-ironic"},
			CustomFields: map[string]any{"device_state": "a", "device_transition": "", "ironic_enabled": true,
				"deployment_enabled": false, "maintenance": false, "provision_state": "available", "power_state": "power off"},
		}
		for u, nic := range []string{"eth0", "eth1"} {
			it := netboxtest.InterfaceSpec{Name: nic, Type: "25gbase-x-sfp28",
				CustomFields: map[string]any{"network_interface_name": fmt.Sprintf("enp1s0f%d", u)}}
			if u < len(leaves) {
				lj := leaves[u]
				swp := "swp" + strconv.Itoa(port)
				lpos := strconv.FormatFloat(leafPos(lj), 'f', -1, 64)
				it.Label = cableLabel("", rack, nic, lpos, l.rack(lj), swp)
				leafPort[[2]int{lj, port}].Label = cableLabel(lpos, l.rack(lj), swp, "", rack, nic)
				fx.Cables = append(fx.Cables, netboxtest.CableSpec{
					A: netboxtest.CableEnd{Device: d.Name, Interface: nic}, B: netboxtest.CableEnd{Device: l.leafName(lj), Interface: swp},
					Type: "dac-passive", Label: d.Name + ":" + nic + " / " + l.leafName(lj) + ":" + swp})
			}
			d.Interfaces = append(d.Interfaces, it)
		}
		d.Interfaces = append(d.Interfaces, netboxtest.InterfaceSpec{Name: "ipmi", Type: "1000base-t", MgmtOnly: true})
		fx.Devices = append(fx.Devices, d)
	}
	return fx, nil
}

// writeDesired writes the desired state b of every node as
// <dir>/<collection>/<node>/b.yaml: the same cables as now, and eth0 into
// the provisioning VLAN (untagged) and the storage VLAN (tagged). Phase 1
// then changes one bulk PATCH worth of interfaces (the node's eth0 and the
// leaf port), and the leaf's configuration loses that port's BGP neighbor.
// A file per node keeps phase 1 from parsing 1,000 nodes' states each time.
func (l layout) writeDesired(dir, collection string) error {
	for i := range l.nodes {
		leaves, port := l.place(i)
		var b strings.Builder
		fmt.Fprintf(&b, "# fabricbench: %s in state b\n%s:\n", l.nodeName(i), l.nodeName(i))
		for u, lj := range leaves {
			fmt.Fprintf(&b, "  eth%d:\n    type: dac-passive\n    device: %s\n    interface: swp%d\n", u, l.leafName(lj), port)
			if u == 0 {
				b.WriteString("    vlans: {100: untagged, 200: tagged}\n")
			}
		}
		p := filepath.Join(dir, collection, l.nodeName(i))
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(p, "b.yaml"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
