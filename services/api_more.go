package services

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/osism"
)

//go:embed apidoc/openapi.yaml
var apiDocYAML []byte

var (
	apiDocOnce sync.Once
	apiDocJSON []byte
	apiDocErr  error
)

// APIDocument is the API's OpenAPI 3 document as JSON, as GET
// /v1/openapi.json serves it.
func APIDocument() ([]byte, error) {
	apiDocOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(apiDocYAML)
		if err != nil {
			apiDocErr = fmt.Errorf("api document: %w", err)
			return
		}
		apiDocJSON, apiDocErr = json.Marshal(doc)
	})
	return apiDocJSON, apiDocErr
}

func (a *API) openapi(w http.ResponseWriter, _ *http.Request) {
	b, err := APIDocument()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// baremetalNodes lists Ironic's nodes joined with their NetBox devices.
func (a *API) baremetalNodes(w http.ResponseWriter, r *http.Request) {
	if a.bm == nil {
		writeError(w, http.StatusServiceUnavailable, "no Ironic configured: set the openstack section (clouds.yaml and OS_CLOUD, OS_* or a noauth endpoint)")
		return
	}
	ns, err := ListBaremetal(r.Context(), a.bm, nil, a.nb)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if ns == nil {
		ns = []BaremetalNode{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": ns})
}

// baremetalNotification runs the listener's handler on one oslo
// notification.
func (a *API) baremetalNotification(w http.ResponseWriter, r *http.Request) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	ev, err := DecodeIronicNotification(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	if a.notes == nil {
		writeError(w, http.StatusServiceUnavailable, "no notification handler: the API needs NetBox (netbox.url) to apply Ironic notifications")
		return
	}
	res, err := a.notes.HandleNotification(r.Context(), ev)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	node := ""
	if ev.Node != nil {
		node = ev.Node.Name
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": string(res), "event_type": ev.EventType, "node": node})
}

// events streams the bus's events (osism.events.>) as Server-Sent
// Events, filtered by service, type (a NATS filter such as
// baremetal.node.>) and node (the name or UUID in the payload).
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	service, typ, node := q.Get("service"), q.Get("type"), q.Get("node")
	ch := make(chan osism.Event, a.eventsBuf)
	sub, err := a.bus.SubscribeEvents(service, typ, func(ev osism.Event) {
		if node != "" && !eventOfNode(ev, node) {
			return
		}
		select {
		case ch <- ev:
		default:
			a.metrics.dropped.Inc()
		}
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	ctx := r.Context()
	s := startSSE(w)
	defer s.keepalive(ctx, sseKeepalive)()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-ch:
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			if s.event("event", b) != nil {
				return
			}
		}
	}
}

// eventOfNode reports whether the event's payload names node: a "node"
// that is the name itself, or an object whose name or uuid it is.
func eventOfNode(ev osism.Event, node string) bool {
	var p struct {
		Node json.RawMessage `json:"node"`
	}
	if json.Unmarshal(ev.Payload, &p) != nil || len(p.Node) == 0 {
		return false
	}
	var s string
	if json.Unmarshal(p.Node, &s) == nil {
		return s == node
	}
	var n struct{ Name, UUID string }
	if json.Unmarshal(p.Node, &n) == nil {
		return n.Name == node || n.UUID == node
	}
	return false
}

// The reconciler's output in the inventory directory.
const (
	inventoryHostsFile = "hosts.yml"
	inventoryVarsDir   = "host_vars"
)

// inventoryHost is a host of the inventory with its groups.
type inventoryHost struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
}

// readInventory reads hosts.yml: the hosts, their groups and the host
// variables written inline.
func (a *API) readInventory() (map[string]*inventoryHost, map[string]map[string]any, error) {
	path := filepath.Join(a.invDir, inventoryHostsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, nil, fmt.Errorf("inventory %s: expected a YAML Ansible inventory: %w", path, err)
	}
	hosts := map[string]*inventoryHost{}
	vars := map[string]map[string]any{}
	var walk func(group string, node any, depth int)
	walk = func(group string, node any, depth int) {
		g, ok := node.(map[string]any)
		if !ok || depth > 64 {
			return
		}
		if hs, ok := g["hosts"].(map[string]any); ok {
			for h, v := range hs {
				ih := hosts[h]
				if ih == nil {
					ih = &inventoryHost{Name: h, Groups: []string{}}
					hosts[h] = ih
				}
				if group != "all" && !slices.Contains(ih.Groups, group) {
					ih.Groups = append(ih.Groups, group)
				}
				if m, ok := v.(map[string]any); ok {
					if vars[h] == nil {
						vars[h] = map[string]any{}
					}
					for k, x := range m {
						vars[h][k] = x
					}
				}
			}
		}
		if cs, ok := g["children"].(map[string]any); ok {
			for c, sub := range cs {
				walk(c, sub, depth+1)
			}
		}
	}
	for name, g := range root {
		walk(name, g, 0)
	}
	for _, h := range hosts {
		sort.Strings(h.Groups)
	}
	return hosts, vars, nil
}

// inventoryError answers a failed read of the inventory.
func (a *API) inventoryError(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("inventory %s: not written yet (the reconciler writes it: osism reconciler sync)",
			filepath.Join(a.invDir, inventoryHostsFile)))
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func (a *API) inventoryHosts(w http.ResponseWriter, _ *http.Request) {
	hosts, _, err := a.readInventory()
	if err != nil {
		a.inventoryError(w, err)
		return
	}
	out := make([]inventoryHost, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(x, y inventoryHost) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, map[string]any{"hosts": out})
}

var inventoryHostRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$`)

// inventoryHostVars answers a host's variables (inline in hosts.yml, then
// host_vars/<host>.yml over them) with secret-looking keys masked.
func (a *API) inventoryHostVars(w http.ResponseWriter, r *http.Request) {
	host := r.PathValue("host")
	if !inventoryHostRE.MatchString(host) || host == "." || host == ".." {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("host %q: expected an inventory host name (letters, digits, ., _ and -)", host))
		return
	}
	hosts, inline, err := a.readInventory()
	if err != nil {
		a.inventoryError(w, err)
		return
	}
	vars := inline[host]
	if vars == nil {
		vars = map[string]any{}
	}
	path := filepath.Join(a.invDir, inventoryVarsDir, host+".yml")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if hosts[host] == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("host %q: not in the inventory %s", host, a.invDir))
			return
		}
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	default:
		var file map[string]any
		if err := yaml.Unmarshal(b, &file); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("host variables %s: expected a YAML mapping: %v", path, err))
			return
		}
		for k, v := range file {
			vars[k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"host": host, "vars": a.mask(vars)})
}

// mask replaces the value of every key the secret pattern matches, at any
// depth, and makes the value encodable as JSON.
func (a *API) mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if a.secretRE.MatchString(k) {
				out[k] = ansible.Masked
				continue
			}
			out[k] = a.mask(val)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			ks := fmt.Sprint(k)
			if a.secretRE.MatchString(ks) {
				out[ks] = ansible.Masked
				continue
			}
			out[ks] = a.mask(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = a.mask(val)
		}
		return out
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}
