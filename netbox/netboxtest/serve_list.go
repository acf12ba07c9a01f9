package netboxtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func selectFields(k *kind, q url.Values, brief bool) []string {
	if f := q.Get("fields"); f != "" {
		return strings.Split(f, ",")
	}
	if brief {
		return k.briefSet
	}
	// NetBox leaves fields out of list answers on ?exclude=, which clients
	// use to skip the costly config_context of devices.
	if ex := q["exclude"]; len(ex) > 0 {
		set := make([]string, 0, len(k.fields))
		for _, f := range k.fields {
			if !slices.Contains(ex, f.name) {
				set = append(set, f.name)
			}
		}
		return set
	}
	return nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func (s *Server) list(w http.ResponseWriter, c *rctx, k *kind, q url.Values, info answerInfo) {
	s.st.mu.RLock()
	defer s.st.mu.RUnlock()
	pred, errs := compileFilters(s.st, k, q)
	if errs != nil {
		writeJSON(w, http.StatusBadRequest, errorsJSON(errs))
		return
	}
	all := s.st.tables[k.name].list()
	matches := make([]*object, 0, len(all))
	for _, o := range all {
		if pred(o) {
			matches = append(matches, o)
		}
	}
	if ord := q.Get("ordering"); ord != "" {
		orderBy(matches, k, ord)
	}
	// Pagination as NetBox 4.3's OptionalLimitOffsetPagination: a bad limit means the default,
	// 0 means the maximum (MAX_PAGE_SIZE, WithMaxPageSize), larger values are capped; a bad
	// offset means 0.
	limit := defaultPageSize
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v >= 0 {
		limit = v
		if limit == 0 || limit > s.cfg.maxPageSize {
			limit = s.cfg.maxPageSize
		}
	}
	offset := 0
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	count := len(matches)
	var page []*object
	if offset < count {
		end := offset + limit
		if end > count {
			end = count
		}
		page = matches[offset:end]
	}
	set := selectFields(k, q, info.brief)
	out := &jw{b: make([]byte, 0, 256+len(page)*2048)}
	out.raw(`{"count":`)
	out.val(count)
	out.raw(`,"next":`)
	if offset+limit < count {
		out.str(pageURL(c.base, k.path, q, limit, offset+limit))
	} else {
		out.raw("null")
	}
	out.raw(`,"previous":`)
	switch {
	case offset <= 0:
		out.raw("null")
	case offset-limit <= 0:
		out.str(pageURL(c.base, k.path, q, limit, 0))
	default:
		out.str(pageURL(c.base, k.path, q, limit, offset-limit))
	}
	out.raw(`,"results":[`)
	for i, o := range page {
		if i > 0 {
			out.b = append(out.b, ',')
		}
		if set != nil {
			c.obj(out, o, set, false)
		} else {
			out.b = append(out.b, c.full(o)...)
		}
	}
	out.raw("]}")
	writeJSON(w, http.StatusOK, out.b)
}

// pageURL builds next/previous links as Django REST framework does: absolute, the query's keys sorted,
// limit set, and offset dropped for the first page.
func pageURL(base, path string, q url.Values, limit, offset int) string {
	v := url.Values{}
	for k, vals := range q {
		v[k] = append([]string(nil), vals...)
	}
	v.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	} else {
		v.Del("offset")
	}
	return base + path + "?" + v.Encode()
}

func orderBy(list []*object, k *kind, ord string) {
	desc := strings.HasPrefix(ord, "-")
	name := strings.TrimPrefix(ord, "-")
	if name != "id" && k.field(name) == nil {
		return // DRF's OrderingFilter ignores fields it does not know
	}
	key := func(o *object) string {
		if name == "id" {
			return fmt.Sprintf("%020d", o.id)
		}
		switch v := o.f[name].(type) {
		case int:
			return fmt.Sprintf("%020d", v)
		default:
			return fmt.Sprint(v)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if desc {
			return key(list[i]) > key(list[j])
		}
		return key(list[i]) < key(list[j])
	})
}
