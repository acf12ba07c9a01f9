package netboxtest

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// filterFunc compiles the values of one query parameter into a predicate, or returns NetBox's error
// message for a bad value.
type filterFunc func(s *store, vals []string) (func(o *object) bool, string)

// reserved are the query parameters that are not filters.
var reserved = map[string]bool{"limit": true, "offset": true, "brief": true, "ordering": true, "fields": true, "format": true, "exclude": true}

const msgUnknownFilter = "Unknown filter. NetBox ignores unknown query parameters; the test double refuses them so that a typo cannot silently match every object."

// compileFilters turns a query into one predicate. Repeated parameters are OR (tag is AND, as in
// NetBox), different parameters are AND.
func compileFilters(s *store, k *kind, q url.Values) (func(o *object) bool, fieldErrors) {
	errs := fieldErrors{}
	var preds []func(o *object) bool
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if reserved[name] {
			continue
		}
		vals := q[name]
		if strings.HasPrefix(name, "cf_") && k.hasCF {
			cf := s.customField(k.name, strings.TrimPrefix(name, "cf_"))
			if cf == nil || cf.f["filter_logic"] == "disabled" {
				errs.add(name, msgUnknownFilter)
				continue
			}
			p, msg := cfFilter(cf, vals)
			if msg != "" {
				errs.add(name, msg)
				continue
			}
			preds = append(preds, p)
			continue
		}
		fn := k.filters[name]
		if fn == nil {
			errs.add(name, msgUnknownFilter)
			continue
		}
		p, msg := fn(s, vals)
		if msg != "" {
			errs.add(name, msg)
			continue
		}
		if p != nil {
			preds = append(preds, p)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return func(o *object) bool {
		for _, p := range preds {
			if !p(o) {
				return false
			}
		}
		return true
	}, nil
}

func cfFilter(cf *object, vals []string) (func(o *object) bool, string) {
	name := cf.str("name")
	typ, _ := cf.f["type"].(string)
	exact := cf.f["filter_logic"] == "exact"
	var match []func(v any) bool
	for _, raw := range vals {
		switch typ {
		case "boolean":
			var want bool
			switch strings.ToLower(raw) {
			case "true", "1", "yes", "on":
				want = true
			case "false", "0", "no", "off":
				want = false
			default:
				return nil, "Select a valid choice. " + raw + " is not one of the available choices."
			}
			match = append(match, func(v any) bool { b, ok := v.(bool); return ok && b == want })
		case "integer":
			n, err := strconv.Atoi(raw)
			if err != nil {
				return nil, "Enter a number."
			}
			match = append(match, func(v any) bool { i, ok := v.(int); return ok && i == n })
		case "text", "longtext", "url":
			if exact {
				match = append(match, func(v any) bool { s, ok := v.(string); return ok && s == raw })
			} else {
				// "loose" filter logic: a case-insensitive substring match, as NetBox does for text fields.
				low := strings.ToLower(raw)
				match = append(match, func(v any) bool { s, ok := v.(string); return ok && strings.Contains(strings.ToLower(s), low) })
			}
		default:
			match = append(match, func(v any) bool { return fmt.Sprint(v) == raw })
		}
	}
	return func(o *object) bool {
		v := o.cf[name]
		for _, m := range match {
			if m(v) {
				return true
			}
		}
		return false
	}, ""
}

// strFilter matches a string field exactly, OR over the values.
func strFilter(field string) filterFunc {
	return func(_ *store, vals []string) (func(o *object) bool, string) {
		return func(o *object) bool {
			got := o.str(field)
			for _, v := range vals {
				if got == v {
					return true
				}
			}
			return false
		}, ""
	}
}

// lookupFilter implements NetBox's lookup suffixes on a string field: n, ic, nic, ie, nie, isw, iew.
func lookupFilter(field, lookup string) filterFunc {
	return func(_ *store, vals []string) (func(o *object) bool, string) {
		return func(o *object) bool {
			got := o.str(field)
			lg := strings.ToLower(got)
			neg := strings.HasPrefix(lookup, "n")
			any := false
			for _, v := range vals {
				lv := strings.ToLower(v)
				var m bool
				switch strings.TrimPrefix(lookup, "n") {
				case "":
					m = got == v
				case "ic":
					m = strings.Contains(lg, lv)
				case "ie":
					m = lg == lv
				case "isw":
					m = strings.HasPrefix(lg, lv)
				case "iew":
					m = strings.HasSuffix(lg, lv)
				}
				if m {
					any = true
				}
			}
			if neg {
				return !any
			}
			return any
		}, ""
	}
}

func intFilter(get func(o *object) int) filterFunc {
	return func(_ *store, vals []string) (func(o *object) bool, string) {
		want := map[int]bool{}
		for _, v := range vals {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, "Enter a number."
			}
			want[n] = true
		}
		return func(o *object) bool { return want[get(o)] }, ""
	}
}

func boolFilter(field string) filterFunc {
	return func(_ *store, vals []string) (func(o *object) bool, string) {
		want := map[bool]bool{}
		for _, v := range vals {
			switch strings.ToLower(v) {
			case "true", "1", "yes", "on":
				want[true] = true
			case "false", "0", "no", "off":
				want[false] = true
			default:
				return nil, "Select a valid choice. " + v + " is not one of the available choices."
			}
		}
		return func(o *object) bool { b, _ := o.f[field].(bool); return want[b] }, ""
	}
}

func choiceFilter(field, set string) filterFunc {
	return func(_ *store, vals []string) (func(o *object) bool, string) {
		want := map[string]bool{}
		for _, v := range vals {
			ok := false
			for _, ch := range choiceSets[set] {
				if fmt.Sprint(ch.value) == v {
					ok = true
				}
			}
			if !ok {
				return nil, "Select a valid choice. " + v + " is not one of the available choices."
			}
			want[v] = true
		}
		return func(o *object) bool {
			v := o.f[field]
			return v != nil && want[fmt.Sprint(v)]
		}, ""
	}
}

// refFilter matches a relation by an attribute of the related object (slug, or name for devices); an
// unknown value is a 400, as django-filter's model choice filters answer.
func refFilter(field, target, attr string, strict bool) filterFunc {
	return func(s *store, vals []string) (func(o *object) bool, string) {
		want := map[int]bool{}
		for _, v := range vals {
			found := false
			for _, t := range s.tables[target].list() {
				if t.str(attr) == v {
					want[t.id] = true
					found = true
				}
			}
			if !found && strict {
				return nil, "Select a valid choice. " + v + " is not one of the available choices."
			}
		}
		return func(o *object) bool { return want[o.int(field)] }, ""
	}
}

func refIDFilter(field, target string) filterFunc {
	return func(s *store, vals []string) (func(o *object) bool, string) {
		want := map[int]bool{}
		for _, v := range vals {
			if v == "null" {
				want[0] = true
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || s.get(target, n) == nil {
				return nil, "Select a valid choice. " + v + " is not one of the available choices."
			}
			want[n] = true
		}
		return func(o *object) bool { return want[o.int(field)] }, ""
	}
}

// viaInterface resolves a filter on an interface attribute for objects assigned to interfaces or
// terminating on them (IP addresses, MAC addresses, cables).
func viaInterface(ifaces func(o *object) []int, test func(s *store, iface *object) bool) func(s *store) func(o *object) bool {
	return func(s *store) func(o *object) bool {
		return func(o *object) bool {
			for _, id := range ifaces(o) {
				if iface := s.get("dcim.interface", id); iface != nil && test(s, iface) {
					return true
				}
			}
			return false
		}
	}
}

func assignedIface(o *object) []int {
	if g, _ := o.f["assigned_object"].(gref); g.typ == "dcim.interface" && g.id != 0 {
		return []int{g.id}
	}
	return nil
}

func cableIfaces(o *object) []int {
	var out []int
	for _, side := range []string{"a_terminations", "b_terminations"} {
		list, _ := o.f[side].([]gref)
		for _, g := range list {
			if g.typ == "dcim.interface" {
				out = append(out, g.id)
			}
		}
	}
	return out
}

func ifaceDeviceFilter(ifaces func(o *object) []int, byName bool) filterFunc {
	return func(s *store, vals []string) (func(o *object) bool, string) {
		want := map[int]bool{}
		for _, v := range vals {
			if byName {
				found := false
				for _, d := range s.tables["dcim.device"].list() {
					if d.str("name") == v {
						want[d.id] = true
						found = true
					}
				}
				if !found {
					return nil, "Select a valid choice. " + v + " is not one of the available choices."
				}
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || s.get("dcim.device", n) == nil {
				return nil, "Select a valid choice. " + v + " is not one of the available choices."
			}
			want[n] = true
		}
		return viaInterface(ifaces, func(_ *store, iface *object) bool { return want[iface.int("device")] })(s), ""
	}
}

func ifaceIDFilter(ifaces func(o *object) []int) filterFunc {
	return func(s *store, vals []string) (func(o *object) bool, string) {
		want := map[int]bool{}
		for _, v := range vals {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, "Enter a number."
			}
			want[n] = true
		}
		return func(o *object) bool {
			for _, id := range ifaces(o) {
				if want[id] {
					return true
				}
			}
			return false
		}, ""
	}
}

func addCommonFilters(k *kind) {
	f := k.filters
	f["id"] = intFilter(func(o *object) int { return o.id })
	f["q"] = func(_ *store, vals []string) (func(o *object) bool, string) {
		needle := strings.ToLower(strings.TrimSpace(vals[len(vals)-1]))
		if needle == "" || k.search == nil {
			return nil, ""
		}
		return func(o *object) bool {
			for _, h := range k.search(o) {
				if strings.Contains(strings.ToLower(h), needle) {
					return true
				}
			}
			return false
		}, ""
	}
	for _, name := range []string{"name", "slug", "model", "label", "description", "serial", "mac_address", "dns_name"} {
		if fl := k.field(name); fl != nil && (fl.typ == tStr || fl.typ == tNStr) {
			f[name] = strFilter(name)
			for _, l := range []string{"n", "ic", "nic", "ie", "nie", "isw", "iew"} {
				f[name+"__"+l] = lookupFilter(name, l)
			}
		}
	}
	if k.hasTags {
		f["tag"] = func(s *store, vals []string) (func(o *object) bool, string) {
			var want []int
			for _, v := range vals {
				t := s.findBy("extras.tag", "slug", v)
				if t == nil {
					return nil, "Select a valid choice. " + v + " is not one of the available choices."
				}
				want = append(want, t.id)
			}
			// Several tags must all be present: NetBox's TagFilter is conjoined.
			return func(o *object) bool {
				for _, w := range want {
					if !containsInt(o.tags, w) {
						return false
					}
				}
				return true
			}, ""
		}
	}
	for _, fl := range k.fields {
		switch fl.typ {
		case tChoice:
			if fl.name == "status" || fl.name == "type" || fl.name == "mode" || fl.name == "role" {
				f[fl.name] = choiceFilter(fl.name, fl.choices)
			}
		case tBool:
			f[fl.name] = boolFilter(fl.name)
		case tInt:
			if fl.name == "vid" || fl.name == "mtu" || fl.name == "speed" {
				name := fl.name
				f[name] = intFilter(func(o *object) int { return o.int(name) })
			}
		case tRef:
			name, target := fl.name, fl.target
			f[name+"_id"] = refIDFilter(name, target)
			switch {
			case kinds[target] != nil && kinds[target].field("slug") != nil:
				f[name] = refFilter(name, target, "slug", true)
			case target == "dcim.device" || target == "dcim.interface":
				f[name] = refFilter(name, target, "name", true)
			}
		}
	}
	switch k.name {
	case "dcim.device":
		f["manufacturer"] = func(s *store, vals []string) (func(o *object) bool, string) {
			p, msg := refFilter("manufacturer", "dcim.manufacturer", "slug", true)(s, vals)
			if msg != "" {
				return nil, msg
			}
			return func(o *object) bool {
				dt := s.get("dcim.devicetype", o.int("device_type"))
				return dt != nil && p(dt)
			}, ""
		}
		f["has_primary_ip"] = func(_ *store, vals []string) (func(o *object) bool, string) {
			want := strings.ToLower(vals[len(vals)-1]) == "true"
			return func(o *object) bool { return (o.int("primary_ip4") != 0 || o.int("primary_ip6") != 0) == want }, ""
		}
	case "dcim.interface":
		f["cabled"] = func(s *store, vals []string) (func(o *object) bool, string) {
			want := strings.ToLower(vals[len(vals)-1]) == "true"
			return func(o *object) bool { c, _ := interfaceCable(s, o); return (c != nil) == want }, ""
		}
		f["vlan_id"] = intFilterS(func(s *store, o *object, n int) bool {
			if o.int("untagged_vlan") == n {
				return true
			}
			ids, _ := o.f["tagged_vlans"].([]int)
			return containsInt(ids, n)
		})
		f["mac_address"] = func(s *store, vals []string) (func(o *object) bool, string) {
			return func(o *object) bool {
				m := ifaceMAC(&rctx{s: s}, o)
				for _, v := range vals {
					if m != nil && strings.EqualFold(m.(string), v) {
						return true
					}
				}
				return false
			}, ""
		}
	case "ipam.ipaddress", "dcim.macaddress":
		f["device"] = ifaceDeviceFilter(assignedIface, true)
		f["device_id"] = ifaceDeviceFilter(assignedIface, false)
		f["interface_id"] = ifaceIDFilter(assignedIface)
		f["assigned_object_id"] = intFilter(func(o *object) int { g, _ := o.f["assigned_object"].(gref); return g.id })
		f["assigned_object_type"] = func(_ *store, vals []string) (func(o *object) bool, string) {
			return func(o *object) bool {
				g, _ := o.f["assigned_object"].(gref)
				for _, v := range vals {
					if g.typ == v {
						return true
					}
				}
				return false
			}, ""
		}
		if k.name == "ipam.ipaddress" {
			f["address"] = func(_ *store, vals []string) (func(o *object) bool, string) {
				return func(o *object) bool {
					addr := o.str("address")
					host := strings.SplitN(addr, "/", 2)[0]
					for _, v := range vals {
						if addr == v || host == v {
							return true
						}
					}
					return false
				}, ""
			}
			f["family"] = intFilter(func(o *object) int {
				if strings.Contains(o.str("address"), ":") {
					return 6
				}
				return 4
			})
		}
	case "dcim.cable":
		f["device"] = ifaceDeviceFilter(cableIfaces, true)
		f["device_id"] = ifaceDeviceFilter(cableIfaces, false)
		f["interface_id"] = ifaceIDFilter(cableIfaces)
		f["type"] = strFilter("type")
		f["color"] = strFilter("color")
	case "extras.customfield":
		f["object_type"] = func(_ *store, vals []string) (func(o *object) bool, string) {
			return func(o *object) bool {
				types, _ := o.f["object_types"].([]string)
				for _, v := range vals {
					for _, t := range types {
						if t == v {
							return true
						}
					}
				}
				return false
			}, ""
		}
	case "extras.tag":
		f["object_types"] = func(_ *store, vals []string) (func(o *object) bool, string) {
			return func(o *object) bool {
				types, _ := o.f["object_types"].([]string)
				if len(types) == 0 {
					return true
				}
				for _, v := range vals {
					for _, t := range types {
						if t == v {
							return true
						}
					}
				}
				return false
			}, ""
		}
	}
}

func intFilterS(test func(s *store, o *object, n int) bool) filterFunc {
	return func(s *store, vals []string) (func(o *object) bool, string) {
		var want []int
		for _, v := range vals {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, "Enter a number."
			}
			want = append(want, n)
		}
		return func(o *object) bool {
			for _, n := range want {
				if test(s, o, n) {
					return true
				}
			}
			return false
		}, ""
	}
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
