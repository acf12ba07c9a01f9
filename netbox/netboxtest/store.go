package netboxtest

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// gref points at an object of any kind, as NetBox's generic relations do.
type gref struct {
	typ string
	id  int
}

// object is one stored NetBox object. Field values are kept in their written form: strings, ints,
// float64, bools, choice values, related ids (0 for none), []int, gref, []gref and decoded JSON.
type object struct {
	id      int
	k       *kind
	f       map[string]any
	tags    []int
	cf      map[string]any
	created time.Time
	updated time.Time
	// cc is the config context rendered from NetBox's config contexts; fixtures seed it and
	// local_context_data is merged over it as NetBox does.
	cc    map[string]any
	cache atomic.Pointer[rendered]
}

// rendered caches an object's JSON for one store generation and one base URL, so that listing
// thousands of devices costs a copy, not a serialisation.
type rendered struct {
	gen  uint64
	base string
	full []byte
}

func (o *object) str(n string) string { v, _ := o.f[n].(string); return v }
func (o *object) int(n string) int    { v, _ := o.f[n].(int); return v }

func (o *object) clone() *object {
	c := &object{id: o.id, k: o.k, created: o.created, updated: o.updated, cc: o.cc}
	c.f = make(map[string]any, len(o.f))
	for k, v := range o.f {
		switch x := v.(type) {
		case []int:
			c.f[k] = append([]int(nil), x...)
		case []gref:
			c.f[k] = append([]gref(nil), x...)
		default:
			c.f[k] = v
		}
	}
	c.tags = append([]int(nil), o.tags...)
	if o.cf != nil {
		c.cf = make(map[string]any, len(o.cf))
		for k, v := range o.cf {
			c.cf[k] = v
		}
	}
	return c
}

type table struct {
	k      *kind
	byID   map[int]*object
	sorted []*object
	dirty  bool
	next   int
	// listMu serialises the rebuild of sorted by readers, which hold the
	// store's lock for reading only.
	listMu sync.Mutex
}

// list returns the objects by id. Readers may call it at once: a rebuild
// makes a new slice, so a list handed out earlier stays as it was.
func (t *table) list() []*object {
	t.listMu.Lock()
	defer t.listMu.Unlock()
	if t.dirty {
		sorted := make([]*object, 0, len(t.byID))
		for _, o := range t.byID {
			sorted = append(sorted, o)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].id < sorted[j].id })
		t.sorted, t.dirty = sorted, false
	}
	return t.sorted
}

type idset map[int]struct{}

// store holds every object. One RWMutex guards it: the double serves tests and benchmarks, where a
// simple, obviously correct lock beats a clever one.
type store struct {
	mu     sync.RWMutex
	gen    atomic.Uint64
	tables map[string]*table
	// index maps "kind.field" and a target to the ids of the objects that point at the target, so that
	// counts, peers and device_id filters stay O(1) with 10,000 devices.
	index map[string]map[gref]idset
	now   func() time.Time

	journal *tx

	cfMu    sync.Mutex
	cfGen   uint64
	cfByObj map[string][]*object
}

func newStore() *store {
	s := &store{tables: map[string]*table{}, index: map[string]map[gref]idset{}, now: func() time.Time { return time.Now().UTC() }}
	for _, k := range kindOrder {
		s.tables[k.name] = &table{k: k, byID: map[int]*object{}, next: 1}
	}
	return s
}

func (s *store) get(kindName string, id int) *object {
	t := s.tables[kindName]
	if t == nil {
		return nil
	}
	return t.byID[id]
}

func (s *store) bump() { s.gen.Add(1) }

// refsOf lists what an object points at, per index key.
func refsOf(o *object, visit func(key string, target gref)) {
	k := o.k
	for _, f := range k.fields {
		switch f.typ {
		case tRef:
			if id := o.int(f.name); id != 0 {
				visit(k.name+"."+f.name, gref{f.target, id})
			}
		case tRefs:
			ids, _ := o.f[f.name].([]int)
			for _, id := range ids {
				visit(k.name+"."+f.name, gref{f.target, id})
			}
		case tGRef:
			switch v := o.f[f.name].(type) {
			case gref:
				if v.id != 0 {
					visit(k.name+"."+f.name, v)
				}
			case []gref:
				for _, g := range v {
					visit(k.name+"."+f.name, g)
				}
			}
		}
	}
	for _, t := range o.tags {
		visit(k.name+".tags", gref{"extras.tag", t})
	}
}

func (s *store) addIndex(o *object) {
	refsOf(o, func(key string, target gref) {
		m := s.index[key]
		if m == nil {
			m = map[gref]idset{}
			s.index[key] = m
		}
		set := m[target]
		if set == nil {
			set = idset{}
			m[target] = set
		}
		set[o.id] = struct{}{}
	})
}

func (s *store) dropIndex(o *object) {
	refsOf(o, func(key string, target gref) {
		if m := s.index[key]; m != nil {
			delete(m[target], o.id)
		}
	})
}

// referrers returns the ids of objects of kind `of` whose field `via` points at target.
func (s *store) referrers(of, via string, target gref) idset {
	return s.index[of+"."+via][target]
}

func (s *store) countRefs(of, via, targetKind string, id int) int {
	return len(s.referrers(of, via, gref{targetKind, id}))
}

func (s *store) countGRefs(of, via string, o *object) int {
	return len(s.referrers(of, via, gref{o.k.name, o.id}))
}

func (s *store) taggedItems(tagID int) int {
	n := 0
	for _, k := range kindOrder {
		n += len(s.referrers(k.name, "tags", gref{"extras.tag", tagID}))
	}
	return n
}

// insert stores a new object, assigning its id.
func (s *store) insert(o *object) {
	t := s.tables[o.k.name]
	if o.id == 0 {
		o.id = t.next
	}
	if o.id >= t.next {
		t.next = o.id + 1
	}
	now := s.now()
	o.created, o.updated = now, now
	s.record(o.k.name, o.id, nil)
	t.byID[o.id] = o
	if n := len(t.sorted); !t.dirty && (n == 0 || t.sorted[n-1].id < o.id) {
		t.sorted = append(t.sorted, o)
	} else {
		t.dirty = true
	}
	s.addIndex(o)
	s.bump()
}

// replace swaps an object for its updated copy.
func (s *store) replace(o *object) {
	t := s.tables[o.k.name]
	old := t.byID[o.id]
	s.record(o.k.name, o.id, old)
	if old != nil {
		s.dropIndex(old)
	}
	o.updated = s.now()
	t.byID[o.id] = o
	t.dirty = true
	s.addIndex(o)
	s.bump()
}

// conflict is a refused delete, answered 409 as NetBox does for protected relations.
type conflict struct{ msg string }

// remove deletes an object and applies each relation's on-delete rule: protect, set null or cascade.
func (s *store) remove(o *object) *conflict {
	var blockers []string
	s.walkReferrers(o, func(ref *object, f *field) {
		if f.onDelete == delProtect {
			blockers = append(blockers, ref.k.display(&rctx{s: s}, ref)+" ("+strconv.Itoa(ref.id)+")")
		}
	})
	if len(blockers) > 0 {
		sort.Strings(blockers)
		msg := "Unable to delete object. " + strconv.Itoa(len(blockers)) + " dependent objects were found: "
		for i, b := range blockers {
			if i > 0 {
				msg += ", "
			}
			msg += b
		}
		return &conflict{msg}
	}
	s.removeUnchecked(o)
	return nil
}

func (s *store) removeUnchecked(o *object) {
	t := s.tables[o.k.name]
	if t.byID[o.id] == nil {
		return
	}
	var cascade []*object
	type nulling struct {
		ref *object
		f   *field
	}
	var nulls []nulling
	s.walkReferrers(o, func(ref *object, f *field) {
		if f.onDelete == delCascade {
			cascade = append(cascade, ref)
		} else {
			nulls = append(nulls, nulling{ref, f})
		}
	})
	s.record(o.k.name, o.id, o)
	s.dropIndex(o)
	delete(t.byID, o.id)
	t.dirty = true
	for _, n := range nulls {
		cur := s.get(n.ref.k.name, n.ref.id)
		if cur == nil {
			continue
		}
		c := cur.clone()
		switch n.f.typ {
		case tRef:
			c.f[n.f.name] = 0
		case tRefs:
			c.f[n.f.name] = without(c.f[n.f.name].([]int), o.id)
		}
		s.replace(c)
	}
	for _, c := range cascade {
		if cur := s.get(c.k.name, c.id); cur != nil {
			s.removeUnchecked(cur)
		}
	}
	// A cable whose termination is gone is gone too: NetBox deletes the cable with its interface's
	// termination, and the other end becomes free.
	if o.k.name == "dcim.interface" {
		for _, side := range []string{"a_terminations", "b_terminations"} {
			for id := range s.referrers("dcim.cable", side, gref{"dcim.interface", o.id}) {
				if c := s.get("dcim.cable", id); c != nil {
					s.removeUnchecked(c)
				}
			}
		}
	}
	if o.k.name == "extras.tag" {
		for _, k := range kindOrder {
			for id := range s.referrers(k.name, "tags", gref{"extras.tag", o.id}) {
				if cur := s.get(k.name, id); cur != nil {
					c := cur.clone()
					c.tags = without(c.tags, o.id)
					s.replace(c)
				}
			}
		}
	}
	s.bump()
}

// walkReferrers calls fn for every object and field that points at o through a tRef, tRefs or an
// assigned-object relation.
func (s *store) walkReferrers(o *object, fn func(ref *object, f *field)) {
	for _, k := range kindOrder {
		for _, f := range k.fields {
			var ids idset
			switch {
			case (f.typ == tRef || f.typ == tRefs) && f.target == o.k.name:
				ids = s.referrers(k.name, f.name, gref{o.k.name, o.id})
			case f.typ == tGRef && f.name == "assigned_object":
				ids = s.referrers(k.name, f.name, gref{o.k.name, o.id})
			default:
				continue
			}
			for _, id := range sortedIDs(ids) {
				if ref := s.get(k.name, id); ref != nil && ref != o {
					fn(ref, f)
				}
			}
		}
	}
}

func sortedIDs(set idset) []int {
	out := make([]int, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

func without(ids []int, id int) []int {
	out := ids[:0:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// customFieldsFor returns the custom fields defined for a kind, in NetBox's order (weight, name).
func (s *store) customFieldsFor(kindName string) []*object {
	gen := s.gen.Load()
	s.cfMu.Lock()
	defer s.cfMu.Unlock()
	if s.cfByObj == nil || s.cfGen != gen {
		s.cfByObj = map[string][]*object{}
		s.cfGen = gen
		for _, cf := range s.tables["extras.customfield"].list() {
			types, _ := cf.f["object_types"].([]string)
			for _, t := range types {
				s.cfByObj[t] = append(s.cfByObj[t], cf)
			}
		}
		for _, list := range s.cfByObj {
			sort.SliceStable(list, func(i, j int) bool {
				wi, wj := list[i].int("weight"), list[j].int("weight")
				if wi != wj {
					return wi < wj
				}
				return list[i].str("name") < list[j].str("name")
			})
		}
	}
	return s.cfByObj[kindName]
}

func (s *store) customField(kindName, name string) *object {
	for _, cf := range s.customFieldsFor(kindName) {
		if cf.str("name") == name {
			return cf
		}
	}
	return nil
}

// findBy returns the first object of a kind whose string field equals value.
func (s *store) findBy(kindName, fieldName, value string) *object {
	t := s.tables[kindName]
	if t == nil {
		return nil
	}
	for _, o := range t.list() {
		if o.str(fieldName) == value {
			return o
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// tx journals changes so that a bulk write that fails part way leaves no trace, as NetBox's
// transaction.atomic does.
type tx struct {
	s       *store
	entries []txEntry
}

type txEntry struct {
	kind   string
	id     int
	before *object // nil when the object was created
}

func (s *store) begin() *tx {
	t := &tx{s: s}
	s.journal = t
	return t
}

func (s *store) record(kindName string, id int, before *object) {
	if s.journal != nil {
		s.journal.entries = append(s.journal.entries, txEntry{kindName, id, before})
	}
}

func (t *tx) commit() { t.s.journal = nil }

func (t *tx) rollback() {
	s := t.s
	s.journal = nil
	for i := len(t.entries) - 1; i >= 0; i-- {
		e := t.entries[i]
		tbl := s.tables[e.kind]
		if cur := tbl.byID[e.id]; cur != nil {
			s.dropIndex(cur)
			delete(tbl.byID, e.id)
		}
		if e.before != nil {
			tbl.byID[e.id] = e.before
			s.addIndex(e.before)
		}
		tbl.dirty = true
	}
	s.bump()
}
