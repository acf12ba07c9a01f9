package netbox

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// diffInterfaces compares each touched interface with what is wanted and
// plans one bulk PATCH for all of them.
func (pl *planner) diffInterfaces() error {
	type upd struct {
		m     *ifModel
		build func() InterfaceUpdate
	}
	var ups []upd
	var changes []Change
	for _, m := range pl.order {
		var diffs []string
		var fns []func(*InterfaceUpdate)
		w, cur := m.want, m.cur
		if cur == nil {
			cur = &Interface{}
		}
		str := func(name string, o opt[string], have string, set func(*InterfaceUpdate, string)) {
			if o.set && (o.v != have || m.cur == nil) && !(m.cur == nil && o.v == "") {
				diffs = append(diffs, fmt.Sprintf("%s %q -> %q", name, have, o.v))
				v := o.v
				fns = append(fns, func(u *InterfaceUpdate) { set(u, v) })
			}
		}
		str("label", w.label, cur.Label, func(u *InterfaceUpdate, v string) { u.Label = &v })
		str("description", w.desc, cur.Description, func(u *InterfaceUpdate, v string) { u.Description = &v })
		str("mode", w.mode, cur.Mode.Value, func(u *InterfaceUpdate, v string) { u.Mode = &v })
		if w.enabled.set && (w.enabled.v != cur.Enabled || m.cur == nil && !w.enabled.v) {
			diffs = append(diffs, fmt.Sprintf("enabled %t -> %t", cur.Enabled, w.enabled.v))
			v := w.enabled.v
			fns = append(fns, func(u *InterfaceUpdate) { u.Enabled = &v })
		}
		if w.mgmt.set && w.mgmt.v != cur.MgmtOnly {
			diffs = append(diffs, fmt.Sprintf("mgmt_only %t -> %t", cur.MgmtOnly, w.mgmt.v))
			v := w.mgmt.v
			fns = append(fns, func(u *InterfaceUpdate) { u.MgmtOnly = &v })
		}
		if w.mtu.set && (cur.MTU == nil || *cur.MTU != w.mtu.v) {
			diffs = append(diffs, fmt.Sprintf("mtu -> %d", w.mtu.v))
			v := w.mtu.v
			fns = append(fns, func(u *InterfaceUpdate) { u.MTU = &v })
		}
		refField := func(name string, o opt[*ref], have int, set func(*InterfaceUpdate, *int)) {
			if !o.set {
				return
			}
			if o.v == nil {
				if have != 0 {
					diffs = append(diffs, name+" cleared")
					fns = append(fns, func(u *InterfaceUpdate) { set(u, ptr(0)) })
				}
				return
			}
			if o.v.id == 0 || o.v.id != have {
				diffs = append(diffs, name+" set")
				rf := o.v
				fns = append(fns, func(u *InterfaceUpdate) { set(u, ptr(rf.id)) })
			}
		}
		haveUntagged, haveLAG, haveParent := 0, 0, 0
		if cur.UntaggedVLAN != nil {
			haveUntagged = cur.UntaggedVLAN.ID
		}
		if cur.LAG != nil {
			haveLAG = cur.LAG.ID
		}
		if cur.Parent != nil {
			haveParent = cur.Parent.ID
		}
		refField("untagged_vlan", w.untagged, haveUntagged, func(u *InterfaceUpdate, v *int) { u.UntaggedVLAN = v })
		refField("lag", w.lag, haveLAG, func(u *InterfaceUpdate, v *int) { u.LAG = v })
		refField("parent", w.parent, haveParent, func(u *InterfaceUpdate, v *int) { u.Parent = v })
		if w.tagged.set {
			have := make([]int, 0, len(cur.TaggedVLANs))
			for _, v := range cur.TaggedVLANs {
				have = append(have, v.ID)
			}
			sort.Ints(have)
			same := len(have) == len(w.tagged.v)
			for _, v := range w.tagged.v {
				if v.id == 0 || !slices.Contains(have, v.id) {
					same = false
				}
			}
			if !same {
				diffs = append(diffs, fmt.Sprintf("tagged_vlans %d -> %d", len(have), len(w.tagged.v)))
				refs := w.tagged.v
				fns = append(fns, func(u *InterfaceUpdate) {
					ids := make([]int, 0, len(refs))
					for _, rf := range refs {
						ids = append(ids, rf.id)
					}
					u.TaggedVLANs = &ids
				})
			}
		}
		if w.mac.set {
			haveMAC := ""
			if cur.PrimaryMAC != nil {
				haveMAC = strings.ToUpper(cur.PrimaryMAC.MACAddress)
			}
			switch {
			case w.mac.v == "" && haveMAC != "":
				diffs = append(diffs, "primary MAC cleared")
				fns = append(fns, func(u *InterfaceUpdate) { u.PrimaryMAC = ptr(0) })
			case w.mac.v != "" && w.mac.v != haveMAC:
				macRef := pl.macFor(m, w.mac.v)
				diffs = append(diffs, fmt.Sprintf("primary MAC %q -> %q", haveMAC, w.mac.v))
				fns = append(fns, func(u *InterfaceUpdate) { u.PrimaryMAC = ptr(macRef.id) })
			}
		}
		if len(fns) == 0 {
			continue
		}
		changes = append(changes, Change{Action: "update", Kind: "interface", Object: m.String(), Detail: strings.Join(diffs, ", ")})
		ups = append(ups, upd{m: m, build: func() InterfaceUpdate {
			var u InterfaceUpdate
			for _, f := range fns {
				f(&u)
			}
			return u
		}})
	}
	if len(ups) == 0 {
		return nil
	}
	pl.updates = append(pl.updates, op{
		changes: changes,
		run: func(ctx context.Context) error {
			all := map[int]InterfaceUpdate{}
			for _, u := range ups {
				all[u.m.r.id] = u.build()
			}
			return pl.c.UpdateInterfaces(ctx, all)
		},
	})
	return nil
}

// macFor returns the MAC address object mac on m, planning its creation.
func (pl *planner) macFor(m *ifModel, mac string) *ref {
	if m.cur != nil {
		for _, o := range pl.macs[mac] {
			if o.AssignedObjectType == "dcim.interface" && o.AssignedObjectID != nil && *o.AssignedObjectID == m.cur.ID {
				return &ref{id: o.ID}
			}
		}
	}
	id := &ref{}
	pl.macOps = append(pl.macOps, op{
		changes: []Change{{Action: "create", Kind: "mac-address", Object: mac, Detail: "on " + m.String()}},
		run: func(ctx context.Context) error {
			got, err := pl.c.createMAC(ctx, m.r.id, mac)
			id.id = got
			return err
		},
	})
	return id
}
