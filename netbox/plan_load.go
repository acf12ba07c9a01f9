package netbox

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// load reads what the plan compares against, in a few list requests.
func (pl *planner) load(ctx context.Context, device string) error {
	var peerNames []string
	vids := map[int]bool{}
	var addrs, macs []string
	for _, name := range sortedNames(pl.spec) {
		s := pl.spec[name]
		if s.Cabled() && s.Device != device && !slices.Contains(peerNames, s.Device) {
			peerNames = append(peerNames, s.Device)
		}
		for vid := range s.VLANs {
			vids[vid] = true
		}
		for _, a := range s.Addresses {
			addrs = append(addrs, a.Address)
		}
		if s.MLAG != nil {
			vids[s.MLAG.VLAN] = true
			addrs = append(addrs, s.MLAG.Address)
		}
		if s.MACAddress != "" {
			macs = append(macs, s.MACAddress)
		}
	}
	// A handful of devices: no need for ?exclude=config_context.
	devs, err := list[Device](ctx, pl.c, pathDevices, url.Values{"name": append([]string{device}, peerNames...)})
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	for i := range devs {
		pl.devs[devs[i].Name] = &devs[i]
	}
	if pl.device = pl.devs[device]; pl.device == nil {
		return fmt.Errorf("device %q: %w", device, ErrNotFound)
	}
	for _, n := range peerNames {
		if pl.devs[n] == nil {
			return fmt.Errorf("peer device %q (in the desired state of %s): %w", n, device, ErrNotFound)
		}
	}
	if err := pl.loadInterfaces(ctx, devs); err != nil {
		return err
	}
	// Members of a LAG may be cabled to devices the desired state does not
	// name; their far ends get the remote Port-Channel.
	var extra []int
	for _, m := range pl.ifs[pl.device.ID] {
		for _, lp := range m.cur.LinkPeers {
			if _, ok := pl.ifs[lp.Device.ID]; !ok && lp.Device.ID != 0 && !slices.Contains(extra, lp.Device.ID) && m.cur.LinkPeersType == "dcim.interface" {
				extra = append(extra, lp.Device.ID)
			}
		}
	}
	if len(extra) > 0 {
		q := url.Values{}
		for _, id := range extra {
			q.Add("id", strconv.Itoa(id))
		}
		more, err := list[Device](ctx, pl.c, pathDevices, q)
		if err != nil {
			return fmt.Errorf("list devices: %w", err)
		}
		for i := range more {
			pl.devs[more[i].Name] = &more[i]
		}
		if err := pl.loadInterfaces(ctx, more); err != nil {
			return err
		}
	}
	if len(vids) > 0 {
		vs, err := pl.c.VLANs(ctx, VLANFilter{VID: sortedInts(vids)})
		if err != nil {
			return err
		}
		pl.pickVLANs(vs)
	}
	if len(addrs) > 0 {
		as, err := pl.c.IPAddresses(ctx, IPAddressFilter{Address: addrs})
		if err != nil {
			return err
		}
		for _, a := range as {
			if pf, err := netip.ParsePrefix(a.Address); err == nil {
				pl.ips[pf.String()] = a
			}
		}
	}
	if pl.devIPs, err = pl.c.IPAddresses(ctx, IPAddressFilter{DeviceID: []int{pl.device.ID}}); err != nil {
		return err
	}
	if len(macs) > 0 {
		ms, err := list[macAddress](ctx, pl.c, pathMACs, valuesOf("mac_address", macs))
		if err != nil {
			return fmt.Errorf("list MAC addresses: %w", err)
		}
		for _, m := range ms {
			k := strings.ToUpper(m.MACAddress)
			pl.macs[k] = append(pl.macs[k], m)
		}
	}
	return nil
}

func (pl *planner) loadInterfaces(ctx context.Context, devs []Device) error {
	ids := make([]int, 0, len(devs))
	byID := map[int]*Device{}
	for i := range devs {
		ids = append(ids, devs[i].ID)
		byID[devs[i].ID] = pl.devs[devs[i].Name]
		pl.ifs[devs[i].ID] = map[string]*ifModel{}
	}
	is, err := pl.c.Interfaces(ctx, InterfaceFilter{DeviceID: ids})
	if err != nil {
		return err
	}
	for i := range is {
		d := byID[is[i].Device.ID]
		if d == nil {
			continue
		}
		pl.ifs[d.ID][is[i].Name] = &ifModel{r: &ref{id: is[i].ID}, dev: d, name: is[i].Name, cur: &is[i]}
	}
	return nil
}

// pickVLANs prefers the VLAN of the device's site over a global one, as
// NetBox only lets an interface use those two.
func (pl *planner) pickVLANs(vs []VLAN) {
	rank := func(v VLAN) int {
		switch {
		case v.Site != nil && v.Site.ID == pl.device.Site.ID:
			return 2
		case v.Site == nil && v.Group == nil:
			return 1
		}
		return 0
	}
	best := map[int]VLAN{}
	for _, v := range vs {
		if rank(v) == 0 {
			continue
		}
		if b, ok := best[v.VID]; !ok || rank(v) > rank(b) {
			best[v.VID] = v
		}
	}
	for vid, v := range best {
		pl.vlans[vid] = &ref{id: v.ID}
	}
}

func valuesOf(key string, vs []string) url.Values {
	return url.Values{key: vs}
}
