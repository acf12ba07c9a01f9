package netboxtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// fieldErrors is NetBox's answer to a bad write: field name -> messages.
type fieldErrors map[string][]string

func (e fieldErrors) add(name, msg string) {
	e[name] = append(e[name], msg)
}

const (
	msgRequired = "This field is required."
	msgNull     = "This field may not be null."
	msgBlank    = "This field may not be blank."
)

// decode applies a written body to a copy of prev (or to a new object when prev is nil) and validates
// it as NetBox's serializer and model would. partial is true for PATCH.
func (s *store) decode(k *kind, in map[string]any, prev *object, partial bool) (*object, fieldErrors) {
	errs := fieldErrors{}
	var o *object
	if prev != nil {
		o = prev.clone()
	} else {
		o = &object{k: k, f: map[string]any{}, cf: map[string]any{}}
		for _, f := range k.fields {
			switch f.typ {
			case tRef:
				o.f[f.name] = 0
			case tRefs:
				o.f[f.name] = []int{}
			case tComputed, tNull, tEmptyList:
			default:
				if f.def != nil {
					o.f[f.name] = f.def
				} else if f.typ != tGRef {
					o.f[f.name] = nil
				}
			}
		}
	}
	for _, f := range k.fields {
		switch f.typ {
		case tComputed:
			continue
		case tGRef:
			if f.name == "assigned_object" {
				s.decodeAssigned(in, o, errs)
				continue
			}
		}
		raw, present := in[f.name]
		if !present {
			if f.required && (prev == nil || !partial) {
				errs.add(f.name, msgRequired)
			}
			continue
		}
		v, msg := s.parse(f, raw)
		if msg != "" {
			errs.add(f.name, msg)
			continue
		}
		o.f[f.name] = v
	}
	if raw, ok := in["tags"]; ok && k.hasTags {
		ids, msg := s.parseTags(raw)
		if msg != "" {
			errs.add("tags", msg)
		} else {
			o.tags = ids
		}
	}
	if k.hasCF {
		if raw, ok := in["custom_fields"]; ok {
			s.decodeCustomFields(k, raw, o, errs)
		}
		if prev == nil {
			for _, cf := range s.customFieldsFor(k.name) {
				name := cf.str("name")
				if _, set := o.cf[name]; !set && cf.f["default"] != nil {
					o.cf[name] = cf.f["default"]
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if k.validate != nil {
		if e := k.validate(s, o, prev, in); len(e) > 0 {
			return nil, e
		}
	}
	if e := s.checkUnique(o); len(e) > 0 {
		return nil, e
	}
	return o, nil
}

func (s *store) parse(f *field, raw any) (any, string) {
	if raw == nil {
		switch f.typ {
		case tRef:
			if f.nullable {
				return 0, ""
			}
			return nil, msgNull
		case tRefs, tStrList, tEmptyList:
			return nil, msgNull
		case tChoice:
			if f.required {
				return nil, msgNull
			}
			return nil, ""
		case tNull, tJSON:
			return nil, ""
		}
		if !f.nullable {
			return nil, msgNull
		}
		return nil, ""
	}
	switch f.typ {
	case tStr, tNStr:
		var str string
		switch x := raw.(type) {
		case string:
			str = x
		case float64:
			str = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, "Not a valid string."
		}
		if f.required && !f.blankOK && strings.TrimSpace(str) == "" {
			return nil, msgBlank
		}
		if f.max > 0 && len([]rune(str)) > f.max {
			return nil, fmt.Sprintf("Ensure this field has no more than %d characters.", f.max)
		}
		return str, ""
	case tInt:
		n, ok := toInt(raw)
		if !ok {
			return nil, "A valid integer is required."
		}
		if f.hasMin && n < f.min {
			return nil, fmt.Sprintf("Ensure this value is greater than or equal to %d.", f.min)
		}
		if f.max > 0 && n > f.max {
			return nil, fmt.Sprintf("Ensure this value is less than or equal to %d.", f.max)
		}
		return n, ""
	case tFloat:
		switch x := raw.(type) {
		case float64:
			if f.hasMin && x < float64(f.min) {
				return nil, fmt.Sprintf("Ensure this value is greater than or equal to %d.", f.min)
			}
			if f.max > 0 && x > float64(f.max) {
				return nil, fmt.Sprintf("Ensure this value is less than or equal to %d.", f.max)
			}
			return x, ""
		case string:
			if v, err := strconv.ParseFloat(x, 64); err == nil {
				return v, ""
			}
		}
		return nil, "A valid number is required."
	case tBool:
		switch x := raw.(type) {
		case bool:
			return x, ""
		case string:
			switch strings.ToLower(x) {
			case "true", "1", "yes", "on":
				return true, ""
			case "false", "0", "no", "off":
				return false, ""
			}
		case float64:
			if x == 1 || x == 0 {
				return x == 1, ""
			}
		}
		return nil, "Must be a valid boolean."
	case tChoice:
		switch raw.(type) {
		case map[string]any, []any:
			return nil, `Value must be passed directly (e.g. "foo": 123); do not use a dictionary or list.`
		}
		if str, ok := raw.(string); ok && str == "" && !f.required {
			return nil, ""
		}
		for _, ch := range choiceSets[f.choices] {
			switch cv := ch.value.(type) {
			case string:
				if raw == cv {
					return cv, ""
				}
			case int:
				if n, ok := toInt(raw); ok && n == cv {
					return cv, ""
				}
			}
		}
		return nil, fmt.Sprintf("%q is not a valid choice.", fmt.Sprint(raw))
	case tRef:
		o, msg := s.resolve(f.target, raw)
		if msg != "" {
			return nil, msg
		}
		return o.id, ""
	case tRefs:
		list, ok := raw.([]any)
		if !ok {
			return nil, fmt.Sprintf("Expected a list of items but got type %q.", pyType(raw))
		}
		ids := make([]int, 0, len(list))
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				item = m["id"]
			}
			n, ok := toInt(item)
			if !ok {
				return nil, fmt.Sprintf("Incorrect type. Expected pk value, received %s.", pyType(item))
			}
			if s.get(f.target, n) == nil {
				return nil, fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", n)
			}
			ids = append(ids, n)
		}
		return ids, ""
	case tGRef:
		return s.parseTerminations(raw)
	case tStrList:
		list, ok := raw.([]any)
		if !ok {
			return nil, fmt.Sprintf("Expected a list of items but got type %q.", pyType(raw))
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			str, ok := item.(string)
			if !ok {
				return nil, "Not a valid string."
			}
			out = append(out, str)
		}
		return out, ""
	case tNull:
		if n, ok := toInt(raw); ok {
			return nil, fmt.Sprintf("Related object not found using the provided numeric ID: %d", n)
		}
		return nil, fmt.Sprintf("Related objects must be referenced by numeric ID or by dictionary of attributes. Received an unrecognized value: %v", raw)
	case tEmptyList:
		if list, ok := raw.([]any); ok && len(list) == 0 {
			return nil, ""
		}
		return nil, "The double does not serve this relation; only an empty list is accepted."
	case tJSON:
		return raw, ""
	}
	return raw, ""
}

// resolve finds a related object referenced as NetBox allows: a numeric id, or a dictionary of
// attributes (usually {"id": n} or {"name": ...}).
func (s *store) resolve(kindName string, raw any) (*object, string) {
	if m, ok := raw.(map[string]any); ok {
		t := s.tables[kindName]
		var match *object
		count := 0
		for _, o := range t.list() {
			if matchesAttrs(o, m) {
				match = o
				count++
			}
		}
		if count != 1 {
			if count == 0 {
				return nil, "Related object not found using the provided attributes: " + pyDict(m)
			}
			return nil, "Multiple objects match the provided attributes: " + pyDict(m)
		}
		return match, ""
	}
	n, ok := toInt(raw)
	if !ok {
		return nil, fmt.Sprintf("Related objects must be referenced by numeric ID or by dictionary of attributes. Received an unrecognized value: %v", raw)
	}
	o := s.get(kindName, n)
	if o == nil {
		return nil, fmt.Sprintf("Related object not found using the provided numeric ID: %d", n)
	}
	return o, ""
}

func matchesAttrs(o *object, attrs map[string]any) bool {
	for k, v := range attrs {
		if k == "id" {
			n, ok := toInt(v)
			if !ok || n != o.id {
				return false
			}
			continue
		}
		got, ok := o.f[k]
		if !ok {
			return false
		}
		if n, isInt := toInt(v); isInt {
			if gi, ok := got.(int); ok && gi == n && o.k.field(k).typ != tStr {
				continue
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

func (s *store) parseTags(raw any) ([]int, string) {
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Sprintf("Expected a list of items but got type %q.", pyType(raw))
	}
	ids := []int{}
	seen := map[int]bool{}
	for _, item := range list {
		o, msg := s.resolve("extras.tag", item)
		if msg != "" {
			return nil, msg
		}
		if !seen[o.id] {
			ids = append(ids, o.id)
			seen[o.id] = true
		}
	}
	return ids, ""
}

func (s *store) decodeAssigned(in map[string]any, o *object, errs fieldErrors) {
	rawType, hasType := in["assigned_object_type"]
	rawID, hasID := in["assigned_object_id"]
	if !hasType && !hasID {
		return
	}
	cur, _ := o.f["assigned_object"].(gref)
	if hasType {
		if rawType == nil {
			cur.typ = ""
		} else if str, ok := rawType.(string); ok {
			cur.typ = str
		} else {
			errs.add("assigned_object_type", "Not a valid string.")
			return
		}
	}
	if hasID {
		if rawID == nil {
			cur.id = 0
		} else if n, ok := toInt(rawID); ok {
			cur.id = n
		} else {
			errs.add("assigned_object_id", "A valid integer is required.")
			return
		}
	}
	if cur.typ == "" || cur.id == 0 {
		o.f["assigned_object"] = gref{}
		return
	}
	if cur.typ != "dcim.interface" {
		errs.add("assigned_object_type", fmt.Sprintf("%q is not a valid choice.", cur.typ))
		return
	}
	if s.get(cur.typ, cur.id) == nil {
		errs.add("assigned_object_id", fmt.Sprintf("Related object not found using the provided numeric ID: %d", cur.id))
		return
	}
	o.f["assigned_object"] = cur
}

func (s *store) parseTerminations(raw any) (any, string) {
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Sprintf("Expected a list of items but got type %q.", pyType(raw))
	}
	out := make([]gref, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, "Invalid data. Expected a dictionary, but got " + pyType(item) + "."
		}
		typ, _ := m["object_type"].(string)
		id, okID := toInt(m["object_id"])
		if typ == "" || !okID {
			return nil, "Each termination needs object_type and object_id."
		}
		if typ != "dcim.interface" {
			return nil, fmt.Sprintf("Invalid object type %q: the double cables interfaces only.", typ)
		}
		if s.get(typ, id) == nil {
			return nil, fmt.Sprintf("Related object not found using the provided numeric ID: %d", id)
		}
		out = append(out, gref{typ, id})
	}
	return out, ""
}

// decodeCustomFields merges written custom fields key by key over the stored ones, as NetBox does for
// both PATCH and PUT, and checks names and value types against the custom field definitions.
func (s *store) decodeCustomFields(k *kind, raw any, o *object, errs fieldErrors) {
	m, ok := raw.(map[string]any)
	if !ok {
		errs.add("custom_fields", "Invalid data format. Custom field data must be passed as a dictionary mapping field names to their values.")
		return
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	merged := map[string]any{}
	for n, v := range o.cf {
		merged[n] = v
	}
	for _, name := range names {
		v := m[name]
		cf := s.customField(k.name, name)
		if cf == nil {
			errs.add("custom_fields", fmt.Sprintf("Custom field '%s' does not exist for this object type.", name))
			continue
		}
		cv, msg := validateCFValue(cf, v)
		if msg != "" {
			errs.add("custom_fields", fmt.Sprintf("Invalid value for custom field '%s': %s", name, msg))
			continue
		}
		merged[name] = cv
	}
	for _, cf := range s.customFieldsFor(k.name) {
		if cf.f["required"] == true && merged[cf.str("name")] == nil {
			errs.add("custom_fields", fmt.Sprintf("Missing required custom field '%s'.", cf.str("name")))
		}
	}
	o.cf = merged
}

func validateCFValue(cf *object, v any) (any, string) {
	if v == nil {
		if cf.f["required"] == true {
			return nil, "Required field cannot be empty."
		}
		return nil, ""
	}
	switch cf.f["type"] {
	case "text", "longtext", "url":
		str, ok := v.(string)
		if !ok {
			return nil, "Value must be a string."
		}
		if re := cf.str("validation_regex"); re != "" {
			if rx, err := regexp.Compile(re); err == nil && !rx.MatchString(str) {
				return nil, fmt.Sprintf("Value must match regex '%s'", re)
			}
		}
		return str, ""
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) {
			return nil, "Value must be an integer."
		}
		return int(f), ""
	case "decimal":
		if _, ok := v.(float64); !ok {
			return nil, "Value must be a decimal."
		}
		return v, ""
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, ""
		case float64:
			if x == 0 || x == 1 {
				return x == 1, ""
			}
		}
		return nil, "Value must be true or false."
	case "date":
		str, ok := v.(string)
		if !ok || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(str) {
			return nil, "Date values must be in ISO 8601 format (YYYY-MM-DD)."
		}
		return str, ""
	}
	return v, ""
}

func (s *store) checkUnique(o *object) fieldErrors {
	for _, set := range o.k.unique {
		candidates := s.tables[o.k.name].list()
		if f := o.k.field(set[0]); f.typ == tRef {
			// Narrow by the parent through the index: interfaces are unique per device.
			candidates = candidates[:0:0]
			for _, id := range sortedIDs(s.referrers(o.k.name, f.name, gref{f.target, o.int(f.name)})) {
				candidates = append(candidates, s.get(o.k.name, id))
			}
		}
		for _, other := range candidates {
			if other.id == o.id {
				continue
			}
			same := true
			for _, name := range set {
				if fmt.Sprint(other.f[name]) != fmt.Sprint(o.f[name]) {
					same = false
					break
				}
			}
			if !same {
				continue
			}
			if len(set) == 1 {
				return fieldErrors{set[0]: {fmt.Sprintf("%s with this %s already exists.", o.k.verbose, set[0])}}
			}
			return fieldErrors{"__all__": {fmt.Sprintf("%s with this %s already exists.",
				strings.ToUpper(o.k.verbose[:1])+o.k.verbose[1:], strings.Join(set, " and "))}}
		}
	}
	return nil
}

func validateDevice(s *store, o *object, _ *object, _ map[string]any) fieldErrors {
	errs := fieldErrors{}
	if rack := s.get("dcim.rack", o.int("rack")); rack != nil && rack.int("site") != o.int("site") {
		errs.add("rack", fmt.Sprintf("Rack %s does not belong to site %s.", rack.str("name"), s.get("dcim.site", o.int("site")).str("name")))
	}
	for _, f := range []string{"primary_ip4", "primary_ip6", "oob_ip"} {
		ip := s.get("ipam.ipaddress", o.int(f))
		if ip == nil {
			continue
		}
		if f == "primary_ip4" && strings.Contains(ip.str("address"), ":") {
			errs.add(f, fmt.Sprintf("%s is not an IPv4 address.", ip.str("address")))
			continue
		}
		if f == "primary_ip6" && !strings.Contains(ip.str("address"), ":") {
			errs.add(f, fmt.Sprintf("%s is not an IPv6 address.", ip.str("address")))
			continue
		}
		g, _ := ip.f["assigned_object"].(gref)
		iface := s.get(g.typ, g.id)
		if iface == nil || iface.int("device") != o.id {
			errs.add(f, fmt.Sprintf("The specified IP address (%s) is not assigned to this device.", ip.str("address")))
		}
	}
	// Device names are unique per site (and tenant) in NetBox.
	if name := o.str("name"); name != "" {
		for id := range s.referrers("dcim.device", "site", gref{"dcim.site", o.int("site")}) {
			if other := s.get("dcim.device", id); other != nil && other.id != o.id && other.str("name") == name {
				errs.add("__all__", "Device name must be unique per site.")
				break
			}
		}
	}
	return errs
}

func validateInterface(s *store, o *object, prev *object, in map[string]any) fieldErrors {
	errs := fieldErrors{}
	mode, _ := o.f["mode"].(string)
	tagged, _ := o.f["tagged_vlans"].([]int)
	_, taggedWritten := in["tagged_vlans"]
	_, untaggedWritten := in["untagged_vlan"]
	switch {
	case mode == "":
		if untaggedWritten && o.int("untagged_vlan") != 0 {
			errs.add("untagged_vlan", "Interface mode does not support untagged vlan")
		}
		if taggedWritten && len(tagged) > 0 {
			errs.add("tagged_vlans", "Interface mode does not support tagged vlans")
		}
	case mode == "access" || mode == "tagged-all":
		if taggedWritten && len(tagged) > 0 {
			errs.add("tagged_vlans", "Interface mode does not support tagged vlans")
		}
	}
	if len(errs) > 0 {
		return errs
	}
	dev := s.get("dcim.device", o.int("device"))
	for _, id := range tagged {
		vlan := s.get("ipam.vlan", id)
		if vlan != nil && dev != nil && vlan.int("site") != 0 && vlan.int("site") != dev.int("site") {
			errs.add("tagged_vlans", fmt.Sprintf("VLAN %s (%d) must belong to the same site as the interface's parent device, or it must be global.", vlan.str("name"), vlan.int("vid")))
		}
	}
	for _, f := range []string{"lag", "parent", "bridge"} {
		peer := s.get("dcim.interface", o.int(f))
		if peer == nil {
			continue
		}
		if peer.id == o.id {
			errs.add(f, fmt.Sprintf("An interface cannot be its own %s.", f))
		} else if peer.int("device") != o.int("device") {
			errs.add(f, fmt.Sprintf("The selected %s interface (%s) belongs to a different device.", f, peer.str("name")))
		} else if f == "lag" && peer.f["type"] != "lag" {
			errs.add(f, fmt.Sprintf("The selected LAG interface (%s) is not a LAG.", peer.str("name")))
		}
	}
	if mac := s.get("dcim.macaddress", o.int("primary_mac_address")); mac != nil {
		if g, _ := mac.f["assigned_object"].(gref); g.typ != "dcim.interface" || g.id != o.id {
			errs.add("primary_mac_address", fmt.Sprintf("MAC address %s is not assigned to this interface.", mac.str("mac_address")))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// As NetBox's Interface.save(): no untagged VLAN without a mode, tagged VLANs only in tagged mode.
	if mode == "" {
		o.f["untagged_vlan"] = 0
	}
	if prev != nil && mode != "tagged" {
		o.f["tagged_vlans"] = []int{}
	}
	return nil
}

func validateMAC(_ *store, o *object, _ *object, _ map[string]any) fieldErrors {
	mac := o.str("mac_address")
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return fieldErrors{"mac_address": {fmt.Sprintf("Invalid MAC address format: %s", mac)}}
	}
	o.f["mac_address"] = strings.ToUpper(hw.String())
	if g, _ := o.f["assigned_object"].(gref); g.id == 0 {
		o.f["assigned_object"] = gref{}
	}
	return nil
}

func validateIP(_ *store, o *object, _ *object, _ map[string]any) fieldErrors {
	addr := o.str("address")
	p, err := netip.ParsePrefix(addr)
	if err != nil {
		a, err2 := netip.ParseAddr(addr)
		if err2 != nil {
			return fieldErrors{"address": {fmt.Sprintf("Invalid IP address format: %s", addr)}}
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	o.f["address"] = p.String()
	if g, _ := o.f["assigned_object"].(gref); g.id == 0 {
		o.f["assigned_object"] = gref{}
	}
	return nil
}

func validateCable(s *store, o *object, _ *object, _ map[string]any) fieldErrors {
	errs := fieldErrors{}
	a, _ := o.f["a_terminations"].([]gref)
	b, _ := o.f["b_terminations"].([]gref)
	if len(a) == 0 || len(b) == 0 {
		errs.add("__all__", "Must define A and B terminations when creating a new cable.")
		return errs
	}
	seen := map[gref]bool{}
	for _, side := range [][]gref{a, b} {
		for _, g := range side {
			if seen[g] {
				errs.add("__all__", fmt.Sprintf("A and B terminations cannot connect to the same object (%s %d).", g.typ, g.id))
				return errs
			}
			seen[g] = true
			iface := s.get(g.typ, g.id)
			if cable, _ := interfaceCable(s, iface); cable != nil && cable.id != o.id {
				errs.add("__all__", fmt.Sprintf("Duplicate termination found for %s %d: cable %d", g.typ, g.id, cable.id))
				return errs
			}
			if t, _ := iface.f["type"].(string); t == "virtual" || t == "lag" || t == "bridge" {
				errs.add("__all__", fmt.Sprintf("Cables cannot be terminated to %s interfaces", t))
				return errs
			}
		}
	}
	if c, _ := o.f["color"].(string); c != "" && !regexp.MustCompile(`^[0-9a-f]{6}$`).MatchString(c) {
		errs.add("color", "Enter a valid hexadecimal RGB color code.")
		return errs
	}
	if t, ok := o.f["type"].(string); ok && t != "" {
		valid := false
		for _, ct := range cableTypes {
			if ct == t {
				valid = true
			}
		}
		if !valid {
			errs.add("type", fmt.Sprintf("%q is not a valid choice.", t))
			return errs
		}
	}
	return nil
}

var cableTypes = []string{"cat3", "cat5", "cat5e", "cat6", "cat6a", "cat7", "cat7a", "cat8", "dac-active", "dac-passive",
	"mrj21-trunk", "coaxial", "mmf", "mmf-om1", "mmf-om2", "mmf-om3", "mmf-om4", "mmf-om5", "smf", "smf-os1", "smf-os2",
	"aoc", "usb", "power"}

func validateCustomField(_ *store, o *object, _ *object, _ map[string]any) fieldErrors {
	if !regexp.MustCompile(`^[a-z0-9_]+$`).MatchString(o.str("name")) {
		return fieldErrors{"name": {"Only alphanumeric characters and underscores are allowed."}}
	}
	return nil
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x), true
		}
	case int:
		return x, true
	case json.Number:
		n, err := x.Int64()
		return int(n), err == nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

func pyType(v any) string {
	switch v.(type) {
	case string:
		return "str"
	case float64:
		return "int"
	case bool:
		return "bool"
	case map[string]any:
		return "dict"
	case []any:
		return "list"
	case nil:
		return "NoneType"
	}
	return fmt.Sprintf("%T", v)
}

func pyDict(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if s, ok := v.(string); ok {
			parts = append(parts, fmt.Sprintf("'%s': '%s'", k, s))
		} else {
			parts = append(parts, fmt.Sprintf("'%s': %v", k, v))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
