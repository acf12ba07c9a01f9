package netboxtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// pattern maps a request path to its endpoint: list paths stay, detail paths end in "{id}/".
func pattern(path string) string {
	if _, ok := kindsByPath[path]; ok || path == "/api/status/" {
		return path
	}
	trimmed := strings.TrimSuffix(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	if i < 0 {
		return path
	}
	if _, ok := kindsByPath[trimmed[:i+1]]; ok {
		return trimmed[:i+1] + "{id}/"
	}
	return path
}

// route is what a request addresses.
type route struct {
	k      *kind
	id     int
	detail bool
	status bool
}

func resolveRoute(path string) (route, bool) {
	if path == "/api/status/" {
		return route{status: true}, true
	}
	if k, ok := kindsByPath[path]; ok {
		return route{k: k}, true
	}
	if !strings.HasSuffix(path, "/") {
		return route{}, false
	}
	trimmed := strings.TrimSuffix(path, "/")
	i := strings.LastIndexByte(trimmed, '/')
	k, ok := kindsByPath[trimmed[:i+1]]
	if !ok {
		return route{}, false
	}
	id, err := strconv.Atoi(trimmed[i+1:])
	if err != nil || id <= 0 {
		return route{}, false
	}
	return route{k: k, id: id, detail: true}, true
}

// recorder keeps the answer so that the conformance check can read it.
type recorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return r.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	pat := pattern(r.URL.Path)
	s.mu.Lock()
	s.counts[r.Method+" "+pat]++
	s.total++
	fail, failStatus := false, 0
	if s.failNext > 0 {
		s.failNext--
		fail, failStatus = true, s.failNextStatus
	} else if s.failRate > 0 && s.rng.Float64() < s.failRate {
		fail, failStatus = true, s.failStatus
	}
	s.mu.Unlock()

	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if fail {
		s.injectFailure(w, r, failStatus)
		return
	}

	var rec *recorder
	if s.checker != nil {
		rec = &recorder{ResponseWriter: w}
		w = rec
	}
	info := s.handle(w, r)
	if rec != nil {
		s.check(r, info, rec)
	}
}

// answerInfo tells the conformance check which schema an answer must match.
type answerInfo struct {
	tmpl       string
	brief      bool
	fields     bool
	bulkCreate bool
	k          *kind
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) answerInfo {
	rt, ok := resolveRoute(r.URL.Path)
	info := answerInfo{tmpl: pattern(r.URL.Path), k: rt.k}
	if !ok {
		writeJSON(w, http.StatusNotFound, detail("Not found."))
		return info
	}
	write, msg := s.authenticate(r)
	if msg != "" {
		writeJSON(w, http.StatusForbidden, detail(msg))
		return info
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions
	if !safe && !write {
		writeJSON(w, http.StatusForbidden, detail("You do not have permission to perform this action."))
		return info
	}
	base := "http://" + r.Host
	c := &rctx{s: s.st, base: base}
	if rt.status {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("Method %q not allowed.", r.Method)))
			return info
		}
		writeJSON(w, http.StatusOK, statusBody())
		return info
	}
	q := r.URL.Query()
	info.brief = r.Method == http.MethodGet && q.Get("brief") != ""
	info.fields = r.Method == http.MethodGet && q.Get("fields") != ""

	var body any
	if !safe && r.Method != http.MethodDelete || (r.Method == http.MethodDelete && !rt.detail) {
		data, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, detail("Could not read the request body: "+err.Error()))
			return info
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			body = map[string]any{}
		} else if err := json.Unmarshal(data, &body); err != nil {
			writeJSON(w, http.StatusBadRequest, detail("JSON parse error - "+err.Error()))
			return info
		}
	}

	switch {
	case !rt.detail && r.Method == http.MethodGet:
		s.list(w, c, rt.k, q, info)
	case !rt.detail && r.Method == http.MethodPost:
		info.bulkCreate = s.create(w, c, rt.k, body)
	case !rt.detail && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		s.bulkUpdate(w, c, rt.k, body, r.Method == http.MethodPatch)
	case !rt.detail && r.Method == http.MethodDelete:
		s.bulkDelete(w, rt.k, body)
	case rt.detail && r.Method == http.MethodGet:
		s.st.mu.RLock()
		o := s.st.get(rt.k.name, rt.id)
		if o == nil {
			s.st.mu.RUnlock()
			writeJSON(w, http.StatusNotFound, notFound(rt.k))
			return info
		}
		var out []byte
		if info.brief || info.fields {
			jwr := &jw{}
			c.obj(jwr, o, selectFields(rt.k, q, info.brief), false)
			out = jwr.b
		} else {
			out = c.full(o)
		}
		s.st.mu.RUnlock()
		writeJSON(w, http.StatusOK, out)
	case rt.detail && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
		s.update(w, c, rt.k, rt.id, body, r.Method == http.MethodPatch)
	case rt.detail && r.Method == http.MethodDelete:
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
		o := s.st.get(rt.k.name, rt.id)
		if o == nil {
			writeJSON(w, http.StatusNotFound, notFound(rt.k))
			return info
		}
		if cf := s.st.remove(o); cf != nil {
			writeJSON(w, http.StatusConflict, detail(cf.msg))
			return info
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("Method %q not allowed.", r.Method)))
	}
	return info
}

// authenticate answers as NetBox 4.5+ does (v1 and v2 tokens). NetBox lists SessionAuthentication
// first, which has no WWW-Authenticate challenge, so Django REST framework turns every
// authentication failure into 403, never 401; LOGIN_REQUIRED is on, as it is by default since 4.0.
func (s *Server) authenticate(r *http.Request) (write bool, msg string) {
	parts := strings.Fields(r.Header.Get("Authorization"))
	if len(parts) == 0 {
		return false, "Authentication credentials were not provided."
	}
	scheme := strings.ToLower(parts[0])
	if scheme != "token" && scheme != "bearer" {
		return false, "Authentication credentials were not provided."
	}
	if len(parts) != 2 {
		return false, `Invalid authorization header: Must be in the form "Bearer <key>.<token>" or "Token <token>"`
	}
	value := parts[1]
	if !strings.HasPrefix(value, tokenPrefix) {
		t, ok := s.tokens["v1:"+value]
		if !ok {
			return false, "Invalid v1 token"
		}
		return t.write, ""
	}
	key, secret, ok := strings.Cut(strings.TrimPrefix(value, tokenPrefix), ".")
	if !ok {
		return false, "Invalid authorization header: Could not parse key from v2 token. Did you mean to use 'Token' instead of 'Bearer'?"
	}
	t, found := s.tokens["v2:"+key]
	if !found || t.secret != secret {
		return false, "Invalid v2 token"
	}
	return t.write, ""
}

func statusBody() []byte {
	return []byte(`{"django-version":"5.2.4","installed-apps":{"django_filters":"25.1","django_tables2":"2.7.5","drf_spectacular":"0.28.0","mptt":"0.17.0","rest_framework":"3.16.0","taggit":"6.1.0","timezone_field":"7.1"},` +
		`"netbox-version":"4.3.7","netbox-full-version":"4.3.7","plugins":{},"python-version":"3.12.3","rq-workers-running":1}`)
}

func detail(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"detail": msg})
	return b
}

func notFound(k *kind) []byte {
	name := k.schema
	if name == "DeviceWithConfigContext" {
		name = "Device"
	}
	return detail("No " + name + " matches the given query.")
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("API-Version", "4.3")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorsJSON(e fieldErrors) []byte {
	b, _ := json.Marshal(e)
	return b
}
