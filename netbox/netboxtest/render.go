package netboxtest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// rctx renders objects the way NetBox's serializers do, with absolute URLs under base.
type rctx struct {
	s    *store
	base string
}

// jw appends JSON to a byte slice; the double writes answers by hand so that keys keep NetBox's order
// and large lists stay cheap.
type jw struct{ b []byte }

func (w *jw) raw(s string) { w.b = append(w.b, s...) }

func (w *jw) key(k string) {
	w.str(k)
	w.b = append(w.b, ':')
}

func (w *jw) str(s string) {
	w.b = append(w.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			w.b = append(w.b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				w.b = append(w.b, `\ufffd`...)
			} else {
				w.b = append(w.b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"':
			w.b = append(w.b, `\"`...)
		case '\\':
			w.b = append(w.b, `\\`...)
		case '\n':
			w.b = append(w.b, `\n`...)
		case '\r':
			w.b = append(w.b, `\r`...)
		case '\t':
			w.b = append(w.b, `\t`...)
		default:
			w.b = append(w.b, `\u00`...)
			w.b = append(w.b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		i++
	}
	w.b = append(w.b, '"')
}

// ordered is a JSON object whose keys keep their order.
type ordered []kv

type kv struct {
	k string
	v any
}

func (w *jw) val(v any) {
	switch x := v.(type) {
	case nil:
		w.raw("null")
	case string:
		w.str(x)
	case bool:
		if x {
			w.raw("true")
		} else {
			w.raw("false")
		}
	case int:
		w.b = strconv.AppendInt(w.b, int64(x), 10)
	case int64:
		w.b = strconv.AppendInt(w.b, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			w.raw("null")
			return
		}
		w.b = strconv.AppendFloat(w.b, x, 'f', -1, 64)
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			// Python's json writes 1.0 for a float; keep that so numbers look like NetBox's.
			w.raw(".0")
		}
	case json.RawMessage:
		w.b = append(w.b, x...)
	case ordered:
		w.b = append(w.b, '{')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.key(e.k)
			w.val(e.v)
		}
		w.b = append(w.b, '}')
	case []any:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.val(e)
		}
		w.b = append(w.b, ']')
	case []string:
		w.b = append(w.b, '[')
		for i, e := range x {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.str(e)
		}
		w.b = append(w.b, ']')
	default:
		data, err := json.Marshal(x)
		if err != nil {
			w.raw("null")
			return
		}
		w.b = append(w.b, data...)
	}
}

// full returns an object's full representation, cached per store generation.
func (c *rctx) full(o *object) []byte {
	gen := c.s.gen.Load()
	if r := o.cache.Load(); r != nil && r.gen == gen && r.base == c.base {
		return r.full
	}
	w := &jw{b: make([]byte, 0, 1024)}
	c.obj(w, o, nil, false)
	o.cache.Store(&rendered{gen: gen, base: c.base, full: w.b})
	return w.b
}

func (c *rctx) url(o *object) string {
	return c.base + o.k.path + strconv.Itoa(o.id) + "/"
}

// obj writes o with the fields in set (all when nil). legacy selects NetBox's older Nested*
// serializers, which nest the device as NestedDevice and the cable as a bare id.
func (c *rctx) obj(w *jw, o *object, set []string, legacy bool) {
	w.b = append(w.b, '{')
	first := true
	sep := func() {
		if !first {
			w.b = append(w.b, ',')
		}
		first = false
	}
	for _, f := range o.k.fields {
		if set != nil && !contains(set, f.name) {
			continue
		}
		if f.typ == tGRef && f.name == "assigned_object" {
			g, _ := o.f[f.name].(gref)
			sep()
			w.key("assigned_object_type")
			if g.id == 0 {
				w.raw("null,")
				w.key("assigned_object_id")
				w.raw("null,")
				w.key("assigned_object")
				w.raw("null")
				continue
			}
			w.str(g.typ)
			w.b = append(w.b, ',')
			w.key("assigned_object_id")
			w.val(g.id)
			w.b = append(w.b, ',')
			w.key("assigned_object")
			c.nestedRef(w, g)
			continue
		}
		sep()
		w.key(f.name)
		c.value(w, o, f, legacy)
	}
	w.b = append(w.b, '}')
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// nested writes a related object as NetBox nests it: its brief fields without counts.
func (c *rctx) nested(w *jw, o *object) {
	if o == nil {
		w.raw("null")
		return
	}
	if o.k.name == "extras.tag" {
		// Tags are nested with NestedTagSerializer, which has display_url and no description.
		c.obj(w, o, []string{"id", "url", "display_url", "display", "name", "slug", "color"}, false)
		return
	}
	c.obj(w, o, o.k.nestedSet, false)
}

func (c *rctx) nestedRef(w *jw, g gref) {
	c.nested(w, c.s.get(g.typ, g.id))
}

func (c *rctx) value(w *jw, o *object, f *field, legacy bool) {
	switch f.name {
	case "id":
		w.val(o.id)
		return
	case "url":
		w.str(c.url(o))
		return
	case "display_url":
		w.str(c.base + o.k.uiPath + strconv.Itoa(o.id) + "/")
		return
	case "display":
		w.str(o.k.display(c, o))
		return
	case "tags":
		w.b = append(w.b, '[')
		for i, id := range o.tags {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			c.nested(w, c.s.get("extras.tag", id))
		}
		w.b = append(w.b, ']')
		return
	case "custom_fields":
		c.customFields(w, o)
		return
	case "created":
		w.str(o.created.Format(timeLayout))
		return
	case "last_updated":
		w.str(o.updated.Format(timeLayout))
		return
	}
	if legacy {
		switch f.name {
		case "device":
			c.obj(w, c.s.get("dcim.device", o.int("device")), []string{"id", "url", "display_url", "display", "name"}, false)
			return
		case "cable":
			if cable, _ := interfaceCable(c.s, o); cable != nil {
				w.val(cable.id)
			} else {
				w.raw("null")
			}
			return
		}
	}
	switch f.typ {
	case tChoice:
		v := o.f[f.name]
		if v == nil {
			// NetBox sends null for an unset choice although its schema says the field is an object.
			w.raw("null")
			return
		}
		w.val(ordered{{"value", v}, {"label", choiceLabel(f.choices, v)}})
	case tRef:
		id := o.int(f.name)
		if id == 0 {
			w.raw("null")
			return
		}
		target := c.s.get(f.target, id)
		if target == nil {
			w.raw("null")
			return
		}
		if f.nested != nil {
			c.obj(w, target, f.nested, true)
			return
		}
		c.nested(w, target)
	case tRefs:
		ids, _ := o.f[f.name].([]int)
		w.b = append(w.b, '[')
		for i, id := range ids {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			c.nested(w, c.s.get(f.target, id))
		}
		w.b = append(w.b, ']')
	case tGRef:
		list, _ := o.f[f.name].([]gref)
		w.b = append(w.b, '[')
		for i, g := range list {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, '{')
			w.key("object_type")
			w.str(g.typ)
			w.b = append(w.b, ',')
			w.key("object_id")
			w.val(g.id)
			w.b = append(w.b, ',')
			w.key("object")
			c.nestedRef(w, g)
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	case tNull:
		w.raw("null")
	case tEmptyList:
		w.raw("[]")
	case tStrList:
		list, _ := o.f[f.name].([]string)
		if list == nil {
			list = []string{}
		}
		w.val(list)
	case tComputed:
		if f.compute == nil {
			w.raw("null")
			return
		}
		w.val(f.compute(c, o))
	default:
		w.val(o.f[f.name])
	}
}

const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func (c *rctx) customFields(w *jw, o *object) {
	w.b = append(w.b, '{')
	for i, cf := range c.s.customFieldsFor(o.k.name) {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		name := cf.str("name")
		w.key(name)
		// An unset custom field is null, as NetBox sends it.
		w.val(o.cf[name])
	}
	w.b = append(w.b, '}')
}

func choiceLabel(set string, v any) string {
	for _, ch := range choiceSets[set] {
		if ch.value == v {
			return ch.label
		}
	}
	return ""
}

// choice is one NetBox choice: its value (string or int) and label.
type choice struct {
	value any
	label string
}

func nestedVal(c *rctx, o *object) any {
	if o == nil {
		return nil
	}
	w := &jw{}
	c.nested(w, o)
	return json.RawMessage(w.b)
}

func primaryIP(c *rctx, o *object) any {
	if id := o.int("primary_ip6"); id != 0 {
		return nestedVal(c, c.s.get("ipam.ipaddress", id))
	}
	if id := o.int("primary_ip4"); id != 0 {
		return nestedVal(c, c.s.get("ipam.ipaddress", id))
	}
	return nil
}

func configContext(_ *rctx, o *object) any {
	merged := map[string]any{}
	deepMerge(merged, o.cc)
	if local, ok := o.f["local_context_data"].(map[string]any); ok {
		deepMerge(merged, local)
	}
	return merged
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
			cp := map[string]any{}
			deepMerge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// interfaceCable finds the cable attached to an interface and the end ("A" or "B") it is on.
func interfaceCable(s *store, o *object) (*object, string) {
	for _, side := range []struct{ f, end string }{{"a_terminations", "A"}, {"b_terminations", "B"}} {
		for id := range s.referrers("dcim.cable", side.f, gref{o.k.name, o.id}) {
			if c := s.get("dcim.cable", id); c != nil {
				return c, side.end
			}
		}
	}
	return nil, ""
}

func ifaceCable(c *rctx, o *object) any {
	cable, _ := interfaceCable(c.s, o)
	return nestedVal(c, cable)
}

func ifaceCableEnd(c *rctx, o *object) any {
	_, end := interfaceCable(c.s, o)
	if end == "" {
		// NetBox sends null for an uncabled interface although its schema says a string.
		return nil
	}
	return end
}

func peers(s *store, o *object) []gref {
	cable, end := interfaceCable(s, o)
	if cable == nil {
		return nil
	}
	other := "b_terminations"
	if end == "B" {
		other = "a_terminations"
	}
	list, _ := cable.f[other].([]gref)
	return list
}

func ifacePeers(c *rctx, o *object) any {
	list := peers(c.s, o)
	out := make([]any, 0, len(list))
	for _, g := range list {
		out = append(out, nestedVal(c, c.s.get(g.typ, g.id)))
	}
	return out
}

func ifacePeersType(c *rctx, o *object) any {
	list := peers(c.s, o)
	if len(list) == 0 {
		return nil
	}
	return list[0].typ
}

func ifaceEndpoints(c *rctx, o *object) any {
	if len(peers(c.s, o)) == 0 {
		return nil
	}
	return ifacePeers(c, o)
}

func ifaceReachable(c *rctx, o *object) any {
	cable, _ := interfaceCable(c.s, o)
	return cable != nil && cable.f["status"] == "connected"
}

func ifaceOccupied(c *rctx, o *object) any {
	cable, _ := interfaceCable(c.s, o)
	return cable != nil || o.f["mark_connected"] == true
}

func ifaceMAC(c *rctx, o *object) any {
	if m := c.s.get("dcim.macaddress", o.int("primary_mac_address")); m != nil {
		return m.str("mac_address")
	}
	return nil
}

func ifaceMACs(c *rctx, o *object) any {
	ids := sortedIDs(c.s.referrers("dcim.macaddress", "assigned_object", gref{o.k.name, o.id}))
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, nestedVal(c, c.s.get("dcim.macaddress", id)))
	}
	return out
}

func ipFamily(_ *rctx, o *object) any {
	if strings.Contains(o.str("address"), ":") {
		return ordered{{"value", 6}, {"label", "IPv6"}}
	}
	return ordered{{"value", 4}, {"label", "IPv4"}}
}

func cfDataType(_ *rctx, o *object) any {
	switch o.f["type"] {
	case "integer":
		return "integer"
	case "decimal":
		return "decimal"
	case "boolean":
		return "boolean"
	case "json", "object":
		return "object"
	case "multiselect", "multiobject":
		return "array"
	default:
		return "string"
	}
}
