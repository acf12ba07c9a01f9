package netboxtest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/osism/go-osism/internal/yamljson"
)

// The helpers below let tests seed and inspect the double without going through HTTP. Object types
// are NetBox's ("dcim.device", "dcim.interface", "ipam.vlan", ...); the list path of the endpoint
// ("/api/dcim/devices/") works too.

func kindOf(objectType string) (*kind, error) {
	if k, ok := kinds[objectType]; ok {
		return k, nil
	}
	if k, ok := kindsByPath[objectType]; ok {
		return k, nil
	}
	names := make([]string, 0, len(kindOrder))
	for _, k := range kindOrder {
		names = append(names, k.name)
	}
	return nil, fmt.Errorf("unknown object type %q (expected one of: %s)", objectType, strings.Join(names, ", "))
}

// Count returns how many objects of a type exist (0 for an unknown type).
func (s *Server) Count(objectType string) int {
	k, err := kindOf(objectType)
	if err != nil {
		return 0
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	return len(s.st.tables[k.name].byID)
}

// ID returns the id of the object of a type with that name (model for device types, address for IP
// addresses, "<device>:<interface>" for interfaces), or 0.
func (s *Server) ID(objectType, name string) int {
	k, err := kindOf(objectType)
	if err != nil {
		return 0
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if o := s.st.lookup(k, name); o != nil {
		return o.id
	}
	return 0
}

func (st *store) lookup(k *kind, name string) *object {
	if k.name == "dcim.interface" {
		dev, iface, ok := strings.Cut(name, ":")
		if !ok {
			return nil
		}
		d := st.findBy("dcim.device", "name", dev)
		if d == nil {
			return nil
		}
		for _, id := range sortedIDs(st.referrers("dcim.interface", "device", gref{"dcim.device", d.id})) {
			if o := st.get(k.name, id); o.str("name") == iface {
				return o
			}
		}
		return nil
	}
	for _, attr := range []string{"name", "model", "address", "mac_address", "label", "slug"} {
		if k.field(attr) == nil {
			continue
		}
		if o := st.findBy(k.name, attr, name); o != nil {
			return o
		}
	}
	return nil
}

// Get returns an object's full REST representation, decoded, as GET /api/.../{id}/ answers it.
func (s *Server) Get(objectType string, id int) (map[string]any, bool) {
	k, err := kindOf(objectType)
	if err != nil {
		return nil, false
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	o := s.st.get(k.name, id)
	if o == nil {
		return nil, false
	}
	var out map[string]any
	if err := json.Unmarshal((&rctx{s: s.st, base: s.URL()}).full(o), &out); err != nil {
		return nil, false
	}
	return out, true
}

// Find is Get by name (see ID for what name means per type).
func (s *Server) Find(objectType, name string) (map[string]any, bool) {
	id := s.ID(objectType, name)
	if id == 0 {
		return nil, false
	}
	return s.Get(objectType, id)
}

// CustomField returns an object's custom field value (nil when unset or unknown).
func (s *Server) CustomField(objectType string, id int, name string) any {
	k, err := kindOf(objectType)
	if err != nil {
		return nil
	}
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	if o := s.st.get(k.name, id); o != nil {
		return o.cf[name]
	}
	return nil
}

// SetCustomField sets one custom field as a PATCH would, with the same validation.
func (s *Server) SetCustomField(objectType string, id int, name string, value any) error {
	return s.Update(objectType, id, map[string]any{"custom_fields": map[string]any{name: value}})
}

// Create creates an object from a body shaped as a POST would send it and returns its id. Numbers may
// be Go ints.
func (s *Server) Create(objectType string, body map[string]any) (int, error) {
	k, err := kindOf(objectType)
	if err != nil {
		return 0, err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	o, errs := s.st.decode(k, yamljson.Normalize(body).(map[string]any), nil, false)
	if errs != nil {
		return 0, fmt.Errorf("create %s: %s", k.name, errorsJSON(errs))
	}
	s.st.insert(o)
	return o.id, nil
}

// Update changes an object as a PATCH would.
func (s *Server) Update(objectType string, id int, body map[string]any) error {
	k, err := kindOf(objectType)
	if err != nil {
		return err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	prev := s.st.get(k.name, id)
	if prev == nil {
		return fmt.Errorf("update %s %d: no such object", k.name, id)
	}
	o, errs := s.st.decode(k, yamljson.Normalize(body).(map[string]any), prev, true)
	if errs != nil {
		return fmt.Errorf("update %s %d: %s", k.name, id, errorsJSON(errs))
	}
	s.st.replace(o)
	return nil
}

// Delete deletes an object as DELETE would, cascading as NetBox does.
func (s *Server) Delete(objectType string, id int) error {
	k, err := kindOf(objectType)
	if err != nil {
		return err
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	o := s.st.get(k.name, id)
	if o == nil {
		return fmt.Errorf("delete %s %d: no such object", k.name, id)
	}
	if c := s.st.remove(o); c != nil {
		return fmt.Errorf("delete %s %d: %s", k.name, id, c.msg)
	}
	return nil
}
