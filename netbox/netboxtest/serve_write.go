package netboxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// create answers POST on a list endpoint: one object, or a list created all or nothing.
func (s *Server) create(w http.ResponseWriter, c *rctx, k *kind, body any) (bulk bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	switch b := body.(type) {
	case map[string]any:
		o, errs := s.st.decode(k, b, nil, false)
		if errs != nil {
			writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
			return false
		}
		s.st.insert(o)
		writeJSON(w, http.StatusCreated, c.full(o))
		return false
	case []any:
		tx := s.st.begin()
		var created []*object
		errList := make([]fieldErrors, len(b))
		failed := false
		for i, item := range b {
			m, ok := item.(map[string]any)
			if !ok {
				errList[i] = fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(item) + "."}}
				failed = true
				continue
			}
			o, errs := s.st.decode(k, m, nil, false)
			if errs != nil {
				errList[i] = errs
				failed = true
				continue
			}
			errList[i] = fieldErrors{}
			s.st.insert(o)
			created = append(created, o)
		}
		if failed {
			tx.rollback()
			data, _ := json.Marshal(errList)
			writeJSON(w, http.StatusBadRequest, data)
			return true
		}
		tx.commit()
		out := &jw{}
		out.raw("[")
		for i, o := range created {
			if i > 0 {
				out.raw(",")
			}
			out.b = append(out.b, c.full(o)...)
		}
		out.raw("]")
		writeJSON(w, http.StatusCreated, out.b)
		return true
	default:
		writeJSON(w, http.StatusBadRequest, errorsJSON(fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(body) + "."}}))
		return false
	}
}

func (s *Server) update(w http.ResponseWriter, c *rctx, k *kind, id int, body any, partial bool) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	prev := s.st.get(k.name, id)
	if prev == nil {
		writeJSON(w, http.StatusNotFound, notFound(k))
		return
	}
	m, ok := body.(map[string]any)
	if !ok {
		writeJSON(w, http.StatusBadRequest, errorsJSON(fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(body) + "."}}))
		return
	}
	o, errs := s.st.decode(k, m, prev, partial)
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
		return
	}
	s.st.replace(o)
	writeJSON(w, http.StatusOK, c.full(o))
}

// bulkIDs validates a bulk body as NetBox's BulkOperationSerializer does: a list of objects with ids.
func bulkIDs(body any) ([]map[string]any, []byte) {
	list, ok := body.([]any)
	if !ok {
		return nil, errorsJSON(fieldErrors{"non_field_errors": {fmt.Sprintf("Expected a list of items but got type %q.", pyType(body))}})
	}
	items := make([]map[string]any, len(list))
	errList := make([]fieldErrors, len(list))
	failed := false
	for i, item := range list {
		m, ok := item.(map[string]any)
		errList[i] = fieldErrors{}
		if !ok {
			errList[i] = fieldErrors{"non_field_errors": {"Invalid data. Expected a dictionary, but got " + pyType(item) + "."}}
			failed = true
			continue
		}
		raw, has := m["id"]
		if !has {
			errList[i] = fieldErrors{"id": {msgRequired}}
			failed = true
			continue
		}
		if _, ok := toInt(raw); !ok {
			errList[i] = fieldErrors{"id": {"A valid integer is required."}}
			failed = true
			continue
		}
		items[i] = m
	}
	if failed {
		data, _ := json.Marshal(errList)
		return nil, data
	}
	return items, nil
}

// bulkUpdate answers PATCH/PUT on a list endpoint. Unknown ids are skipped and objects are updated in
// id order, as NetBox does; the first invalid object rolls everything back and its errors are the answer.
func (s *Server) bulkUpdate(w http.ResponseWriter, c *rctx, k *kind, body any, partial bool) {
	items, bad := bulkIDs(body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	byID := map[int]map[string]any{}
	for _, m := range items {
		id, _ := toInt(m["id"])
		byID[id] = m
	}
	ids := make([]int, 0, len(byID))
	for id := range byID {
		if s.st.get(k.name, id) != nil {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	tx := s.st.begin()
	updated := make([]*object, 0, len(ids))
	for _, id := range ids {
		o, errs := s.st.decode(k, byID[id], s.st.get(k.name, id), partial)
		if errs != nil {
			tx.rollback()
			writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
			return
		}
		s.st.replace(o)
		updated = append(updated, o)
	}
	tx.commit()
	out := &jw{b: make([]byte, 0, len(updated)*2048)}
	out.raw("[")
	for i, o := range updated {
		if i > 0 {
			out.raw(",")
		}
		out.b = append(out.b, c.full(o)...)
	}
	out.raw("]")
	writeJSON(w, http.StatusOK, out.b)
}

func (s *Server) bulkDelete(w http.ResponseWriter, k *kind, body any) {
	items, bad := bulkIDs(body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	tx := s.st.begin()
	for _, m := range items {
		id, _ := toInt(m["id"])
		o := s.st.get(k.name, id)
		if o == nil {
			continue
		}
		if cf := s.st.remove(o); cf != nil {
			tx.rollback()
			writeJSON(w, http.StatusConflict, detail(cf.msg))
			return
		}
	}
	tx.commit()
	w.WriteHeader(http.StatusNoContent)
}
