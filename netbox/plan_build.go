package netbox

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/osism/go-osism/internal/natural"
)

func (pl *planner) iface(dev *Device, name string) *ifModel {
	return pl.ifs[dev.ID][name]
}

// ensureIface returns the interface, planning its creation if missing.
func (pl *planner) ensureIface(dev *Device, name, typ string, data InterfaceData) *ifModel {
	if m := pl.iface(dev, name); m != nil {
		return m
	}
	m := &ifModel{r: &ref{}, dev: dev, name: name}
	pl.ifs[dev.ID][name] = m
	spec := InterfaceSpec{DeviceID: dev.ID, Name: name, Type: typ, Enabled: data.Enabled, MTU: data.MTU}
	pl.creates = append(pl.creates, op{
		changes: []Change{{Action: "create", Kind: "interface", Object: m.String(), Detail: "type " + typ}},
		run: func(ctx context.Context) error {
			got, err := pl.c.CreateInterface(ctx, spec)
			m.r.id = got.ID
			return err
		},
	})
	return m
}

func (pl *planner) vlan(vid int) *ref {
	if v := pl.vlans[vid]; v != nil {
		return v
	}
	v := &ref{}
	pl.vlans[vid] = v
	pl.creates = append([]op{{
		changes: []Change{{Action: "create", Kind: "vlan", Object: "VLAN " + strconv.Itoa(vid)}},
		run: func(ctx context.Context) error {
			got, err := pl.c.CreateVLAN(ctx, VLANSpec{VID: vid})
			v.id = got.ID
			return err
		},
	}}, pl.creates...)
	return v
}

// build walks the desired state as upstream's manage_device.py does:
// cabled interfaces, port-channels, virtual interfaces, MLAGs.
func (pl *planner) build() error {
	d := pl.device
	names := sortedNames(pl.spec)
	lagMembers := map[string]bool{}
	for _, n := range names {
		if s := pl.spec[n]; s.Type == TypePortChannel {
			for _, m := range s.Interfaces {
				lagMembers[m] = true
			}
		}
	}
	managedIPs := map[string]bool{} // interfaces whose addresses the state owns
	primary := (*ref)(nil)
	for _, n := range names {
		s := pl.spec[n]
		if !s.Cabled() {
			continue
		}
		a := pl.iface(d, n)
		if a == nil {
			return fmt.Errorf("interface %s %s: %w", d.Name, n, ErrNotFound)
		}
		peer := pl.devs[s.Device]
		b := pl.iface(peer, s.Interface)
		if b == nil {
			return fmt.Errorf("interface %s %s (the far end of %s %s): %w", peer.Name, s.Interface, d.Name, n, ErrNotFound)
		}
		pl.touch(a, b)
		if err := pl.cable(a, b, s.Type); err != nil {
			return err
		}
		// Upstream cleared a MAC the state does not name; on NetBox 4.2+
		// that write was a silent no-op (mac_address became read-only), so
		// an undeclared MAC is left alone here.
		if s.MACAddress != "" {
			a.want.mac = some(s.MACAddress)
		}
		pl.data(a, s.Data)
		enabled := true
		if s.Data.Enabled != nil {
			enabled = *s.Data.Enabled
		}
		a.want.enabled, b.want.enabled = some(enabled), some(enabled)
		pa, pb := portOf(a.name), portOf(b.name)
		a.want.label = some(cableLabel(d, pa, peer, pb))
		b.want.label = some(cableLabel(peer, pb, d, pa))
		if p := pl.addresses(a, s.Addresses); p != nil {
			primary = p
		}
		managedIPs[n] = true
		if s.VLANs != nil {
			ends := []*ifModel{a}
			if !lagMembers[n] {
				ends = append(ends, b)
			}
			pl.setVLANs(s.VLANs, ends...)
		}
	}
	for _, n := range names {
		s := pl.spec[n]
		if s.Type != TypePortChannel {
			continue
		}
		lag := pl.ensureIface(d, n, "lag", InterfaceData{})
		pl.touch(lag)
		remotes := []*ifModel{}
		for _, mn := range s.Interfaces {
			m := pl.iface(d, mn)
			if m == nil {
				return fmt.Errorf("member %s of port-channel %s %s: %w", mn, d.Name, n, ErrNotFound)
			}
			pl.touch(m)
			m.want.lag = some(lag.r)
			p, err := pl.farEnd(m)
			if err != nil {
				return fmt.Errorf("member %s of port-channel %s %s: %w", mn, d.Name, n, err)
			}
			rl := pl.ensureIface(p.dev, "Port-Channel"+strconv.Itoa(s.Channel), "lag", InterfaceData{})
			pl.touch(p, rl)
			p.want.lag = some(rl.r)
			p.want.untagged = some((*ref)(nil))
			p.want.tagged = some([]*ref{})
			if !slices.Contains(remotes, rl) {
				remotes = append(remotes, rl)
			}
		}
		if pr := pl.addresses(lag, s.Addresses); pr != nil {
			primary = pr
		}
		managedIPs[n] = true
		ends := append([]*ifModel{lag}, remotes...)
		if s.VLANs != nil {
			pl.setVLANs(s.VLANs, ends...)
		} else {
			for _, e := range ends {
				e.want.untagged = some((*ref)(nil))
				e.want.tagged = some([]*ref{})
			}
		}
	}
	mlagVirtual := map[string]bool{}
	for _, n := range names {
		if s := pl.spec[n]; s.Type == TypeMLAG {
			mlagVirtual["Vlan"+strconv.Itoa(s.MLAG.VLAN)] = true
		}
	}
	for _, n := range names {
		s := pl.spec[n]
		if s.Type != TypeVirtual {
			continue
		}
		v := pl.ensureIface(d, n, "virtual", s.Data)
		pl.touch(v)
		pl.data(v, s.Data)
		if pr := pl.addresses(v, s.Addresses); pr != nil {
			primary = pr
		}
		managedIPs[n] = true
		if s.VLANs != nil {
			pl.setVLANs(s.VLANs, v)
		}
	}
	for _, n := range names {
		s := pl.spec[n]
		if s.Type != TypeMLAG {
			continue
		}
		pc := pl.ensureIface(d, "Port-Channel"+strconv.Itoa(s.MLAG.Channel), "lag", InterfaceData{})
		pl.touch(pc)
		for _, mn := range s.Interfaces {
			m := pl.iface(d, mn)
			if m == nil {
				return fmt.Errorf("member %s of mlag %s %s: %w", mn, d.Name, n, ErrNotFound)
			}
			pl.touch(m)
			m.want.lag = some(pc.r)
		}
		v := pl.ensureIface(d, "Vlan"+strconv.Itoa(s.MLAG.VLAN), "virtual", InterfaceData{})
		pl.touch(v)
		v.want.untagged = some(pl.vlan(s.MLAG.VLAN))
		// NetBox drops the untagged VLAN of an interface without a mode;
		// upstream set none and so lost it on every run.
		v.want.mode = some("access")
		v.want.parent = some(pc.r)
		pl.addresses(v, []Address{{Address: s.MLAG.Address}})
	}
	pl.removeStale(names, managedIPs, mlagVirtual)
	pl.primary(primary, managedIPs)
	return nil
}

func (pl *planner) touch(ms ...*ifModel) {
	for _, m := range ms {
		if !slices.Contains(pl.order, m) {
			pl.order = append(pl.order, m)
		}
	}
}

func (pl *planner) data(m *ifModel, d InterfaceData) {
	if d.Enabled != nil {
		m.want.enabled = some(*d.Enabled)
	}
	if d.MTU != nil {
		m.want.mtu = some(*d.MTU)
	}
	if d.Description != nil {
		m.want.desc = some(*d.Description)
	}
	if d.MgmtOnly != nil {
		m.want.mgmt = some(*d.MgmtOnly)
	}
}

func (pl *planner) setVLANs(vlans map[int]string, ends ...*ifModel) {
	var untagged *ref
	tagged := []*ref{}
	for _, vid := range sortedInts(boolKeys(vlans)) {
		v := pl.vlan(vid)
		if vlans[vid] == VLANUntagged {
			untagged = v
		} else {
			tagged = append(tagged, v)
		}
	}
	mode := "access"
	if len(tagged) > 0 {
		mode = "tagged"
	}
	for _, e := range ends {
		e.want.mode = some(mode)
		e.want.untagged = some(untagged)
		e.want.tagged = some(tagged)
	}
}

// farEnd is the interface at the other end of m's cable, or the one the
// desired state cables m to.
func (pl *planner) farEnd(m *ifModel) (*ifModel, error) {
	if m.cur != nil && m.cur.LinkPeersType == "dcim.interface" && len(m.cur.LinkPeers) == 1 {
		lp := m.cur.LinkPeers[0]
		for _, ifs := range pl.ifs {
			for _, p := range ifs {
				if p.cur != nil && p.cur.ID == lp.ID {
					return p, nil
				}
			}
		}
	}
	if s, ok := pl.spec[m.name]; ok && s.Cabled() && m.dev == pl.device {
		if p := pl.iface(pl.devs[s.Device], s.Interface); p != nil {
			return p, nil
		}
	}
	return nil, errors.New("not cabled, and the desired state does not cable it")
}

func (pl *planner) cable(a, b *ifModel, typ string) error {
	connected := func(x, y *ifModel) bool {
		if x.cur == nil || x.cur.Cable == nil || x.cur.LinkPeersType != "dcim.interface" {
			return false
		}
		for _, lp := range x.cur.LinkPeers {
			if y.cur != nil && lp.ID == y.cur.ID {
				return true
			}
		}
		return false
	}
	if connected(a, b) {
		return nil
	}
	for _, x := range []*ifModel{a, b} {
		if x.cur != nil && x.cur.Cable != nil {
			return fmt.Errorf("interface %s is cabled (cable %d) to something else than the desired %s; remove that cable first", x, x.cur.Cable.ID, other(x, a, b))
		}
	}
	pl.cables = append(pl.cables, op{
		changes: []Change{{Action: "create", Kind: "cable", Object: a.String() + " <-> " + b.String(), Detail: "type " + typ}},
		run: func(ctx context.Context) error {
			_, err := pl.c.CreateCable(ctx, CableSpec{AInterface: a.r.id, BInterface: b.r.id, Type: typ})
			return err
		},
	})
	return nil
}

func other(x, a, b *ifModel) *ifModel {
	if x == a {
		return b
	}
	return a
}

// addresses plans the interface's addresses and returns the primary one.
func (pl *planner) addresses(m *ifModel, as []Address) *ref {
	var primary *ref
	for _, a := range as {
		id := pl.ip(m, a)
		if a.Primary {
			primary = id
		}
	}
	return primary
}

func (pl *planner) ip(m *ifModel, a Address) *ref {
	if id := pl.newIPs[a.Address]; id != nil {
		return id
	}
	if cur, ok := pl.ips[a.Address]; ok {
		id := &ref{id: cur.ID}
		if m.cur == nil || cur.InterfaceID() != m.cur.ID {
			pl.ipOps = append(pl.ipOps, op{
				changes: []Change{{Action: "update", Kind: "ip-address", Object: a.Address, Detail: "assign to " + m.String()}},
				run:     func(ctx context.Context) error { return pl.c.AssignIPAddress(ctx, id.id, m.r.id) },
			})
		}
		return id
	}
	id := &ref{}
	pl.newIPs[a.Address] = id
	pl.ipOps = append(pl.ipOps, op{
		changes: []Change{{Action: "create", Kind: "ip-address", Object: a.Address, Detail: "on " + m.String()}},
		run: func(ctx context.Context) error {
			got, err := pl.c.CreateIPAddress(ctx, IPAddressSpec{Address: a.Address, InterfaceID: m.r.id, Status: a.Status, DNSName: a.DNSName, Description: a.Description})
			id.id = got.ID
			return err
		},
	})
	return id
}

// removeStale deletes what upstream's remove_* steps delete: addresses no
// longer listed on managed interfaces, LAGs and virtual interfaces no
// longer declared (keeping Port-Channel<n> LAGs and MLAG Vlan<n>).
func (pl *planner) removeStale(names []string, managedIPs, mlagVirtual map[string]bool) {
	d := pl.device
	keep := map[string]bool{}
	for _, n := range names {
		for _, a := range pl.spec[n].Addresses {
			keep[n+"|"+a.Address] = true
		}
	}
	for _, a := range pl.devIPs {
		if a.AssignedObject == nil || !managedIPs[a.AssignedObject.Name] {
			continue
		}
		pf, err := netip.ParsePrefix(a.Address)
		if err != nil || keep[a.AssignedObject.Name+"|"+pf.String()] || pl.newIPs[pf.String()] != nil {
			continue
		}
		if _, wanted := pl.ips[pf.String()]; wanted && pl.wantedElsewhere(pf.String()) {
			continue
		}
		id := a.ID
		pl.deletes = append(pl.deletes, op{
			changes: []Change{{Action: "delete", Kind: "ip-address", Object: a.Address, Detail: "from " + d.Name + " " + a.AssignedObject.Name}},
			run:     func(ctx context.Context) error { return pl.c.DeleteIPAddress(ctx, id) },
		})
	}
	ifNames := make([]string, 0, len(pl.ifs[d.ID]))
	for n := range pl.ifs[d.ID] {
		ifNames = append(ifNames, n)
	}
	sort.Slice(ifNames, func(i, j int) bool { return natural.Less(ifNames[i], ifNames[j]) })
	for _, n := range ifNames {
		m := pl.ifs[d.ID][n]
		if m.cur == nil {
			continue
		}
		s, declared := pl.spec[n]
		switch m.cur.Type.Value {
		case "lag":
			if (declared && s.Type == TypePortChannel) || strings.Contains(n, "Port-Channel") {
				continue
			}
			// The far ends' LAGs built for this one go with it.
			for _, mem := range pl.ifs[d.ID] {
				if mem.cur == nil || mem.cur.LAG == nil || mem.cur.LAG.ID != m.cur.ID {
					continue
				}
				if p, err := pl.farEnd(mem); err == nil && p.cur != nil && p.cur.LAG != nil {
					if rl := pl.byID(p.dev, p.cur.LAG.ID); rl != nil {
						pl.deleteIface(rl)
					}
				}
			}
			pl.deleteIface(m)
		case "virtual":
			if (declared && s.Type == TypeVirtual) || mlagVirtual[n] {
				continue
			}
			pl.deleteIface(m)
		}
	}
}

func (pl *planner) wantedElsewhere(addr string) bool {
	for _, s := range pl.spec {
		for _, a := range s.Addresses {
			if a.Address == addr {
				return true
			}
		}
		if s.MLAG != nil && s.MLAG.Address == addr {
			return true
		}
	}
	return false
}

func (pl *planner) byID(dev *Device, id int) *ifModel {
	for _, m := range pl.ifs[dev.ID] {
		if m.cur != nil && m.cur.ID == id {
			return m
		}
	}
	return nil
}

func (pl *planner) deleteIface(m *ifModel) {
	for _, o := range pl.deletes {
		if o.changes[0].Kind == "interface" && o.changes[0].Object == m.String() {
			return
		}
	}
	id := m.cur.ID
	pl.deletes = append(pl.deletes, op{
		changes: []Change{{Action: "delete", Kind: "interface", Object: m.String(), Detail: "no longer declared"}},
		run:     func(ctx context.Context) error { return pl.c.DeleteInterface(ctx, id) },
	})
	// Nothing else should be planned on it.
	m.want = ifWant{}
}

// primary plans primary_ip4. Upstream cleared it whenever the state
// declared no primary address; here a primary on an interface the state
// does not manage (the IPMI port, typically) is left alone.
func (pl *planner) primary(p *ref, managed map[string]bool) {
	d := pl.device
	cur := 0
	if d.PrimaryIP4 != nil {
		cur = d.PrimaryIP4.ID
	}
	if p != nil && p.id != 0 && p.id == cur || p == nil && cur == 0 {
		return
	}
	if p == nil {
		for _, a := range pl.devIPs {
			if a.ID == cur && (a.AssignedObject == nil || !managed[a.AssignedObject.Name]) {
				return
			}
		}
	}
	detail := "clear primary_ip4"
	if p != nil {
		detail = "set primary_ip4"
		for a, id := range pl.newIPs {
			if id == p {
				detail += " to " + a
			}
		}
		for a, ip := range pl.ips {
			if ip.ID == p.id && p.id != 0 {
				detail += " to " + a
			}
		}
	}
	pl.deletes = append(pl.deletes, op{
		changes: []Change{{Action: "update", Kind: "device", Object: d.Name, Detail: detail}},
		run: func(ctx context.Context) error {
			id := 0
			if p != nil {
				id = p.id
			}
			return pl.c.SetPrimaryIPv4(ctx, d.ID, id)
		},
	})
}
