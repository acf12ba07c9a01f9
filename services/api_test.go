package services_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

const (
	apiReadTok = "read-token-3f9a1c"
	apiOpTok   = "operator-token-b71e0d"
	apiSecret  = "webhook-secret-c0ffee"
)

func init() {
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// apiEnv is an API over a real embedded bus and the NetBox double,
// served by httptest, with a client that validates every answer against
// the API's own /v1/openapi.json.
type apiEnv struct {
	bus    *osismtest.Bus
	nb     *netboxtest.Server
	api    *services.API
	srv    *httptest.Server
	router routers.Router
	inv    string
	reg    *prometheus.Registry
}

type apiMod func(*services.APIConfig, *services.APIOpts)

func newAPIEnv(t testing.TB, mods ...apiMod) *apiEnv {
	t.Helper()
	e := &apiEnv{bus: osismtest.New(t, nil), nb: netboxtest.New(t, netboxtest.WithSampleFabric()), inv: t.TempDir(),
		reg: prometheus.NewRegistry()}
	nb, err := netbox.New(netbox.Config{URL: e.nb.URL(), Token: e.nb.Token()})
	require.NoError(t, err)
	notes, err := services.NewNotificationHandler(services.ListenerConfig{}, services.ListenerOpts{NetBox: nb, Bus: e.bus.Client,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	cfg := services.APIConfig{ReadToken: apiReadTok, OperatorToken: apiOpTok, WebhookSecret: apiSecret, InventoryDir: e.inv}
	opts := services.APIOpts{Bus: e.bus.Client, NetBox: nb, Notifications: notes, Registerer: e.reg,
		Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mods {
		m(&cfg, &opts)
	}
	e.api, err = services.NewAPI(cfg, opts)
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)

	// The document comes from the API itself.
	res, err := http.Get(e.srv.URL + "/v1/openapi.json?x=1")
	require.NoError(t, err)
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/openapi.json", nil)
		req.Header.Set("Authorization", "Bearer "+apiReadTok)
		res, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
	}
	require.Equal(t, http.StatusOK, res.StatusCode)
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(t, err)
	doc.Servers = nil
	e.router, err = legacy.NewRouter(doc)
	require.NoError(t, err)
	return e
}

// answer is a validated answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

func (a answer) errText(t testing.TB) string {
	t.Helper()
	var e struct{ Error string }
	a.json(t, &e)
	require.NotEmpty(t, e.Error, "an error answer has its error: %s", a.body)
	return e.Error
}

// request is one request of the tests.
type request struct {
	method, path, token string
	body                []byte
	header              map[string]string
	// unrouted marks a request whose route the document must not have
	// (the unknown-route cases); every other request must be in it.
	unrouted bool
}

// do sends the request and validates the answer against the document:
// its route, its status and its body.
func (e *apiEnv) do(t testing.TB, r request) answer {
	t.Helper()
	req, err := http.NewRequest(r.method, e.srv.URL+r.path, bytes.NewReader(r.body))
	require.NoError(t, err)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	e.validate(t, req, r.unrouted, res.StatusCode, res.Header, body)
	return answer{status: res.StatusCode, header: res.Header, body: body}
}

func (e *apiEnv) validate(t testing.TB, req *http.Request, unrouted bool, status int, h http.Header, body []byte) {
	t.Helper()
	route, params, err := e.router.FindRoute(req)
	if unrouted {
		require.Error(t, err, "%s %s is in the document", req.Method, req.URL.Path)
		require.Contains(t, h.Get("Content-Type"), "application/json")
		var ae struct{ Error string }
		require.NoError(t, json.Unmarshal(body, &ae))
		require.NotEmpty(t, ae.Error)
		return
	}
	require.NoError(t, err, "%s %s: not in /v1/openapi.json", req.Method, req.URL.Path)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s -> %d %s: the answer does not match the document", req.Method, req.URL.Path, status, body)
}

// signed is a webhook request with NetBox's signature of body.
func signed(body string) request {
	return request{method: http.MethodPost, path: "/v1/webhook/netbox", body: []byte(body),
		header: map[string]string{netbox.SignatureHeader: netbox.Sign(apiSecret, []byte(body))}}
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	id := e.queued(t)
	tests := []struct {
		name   string
		req    request
		status int
	}{
		{"health needs no token", request{method: "GET", path: "/healthz"}, 200},
		{"readiness needs no token", request{method: "GET", path: "/readyz"}, 200},
		{"missing token", request{method: "GET", path: "/v1/tasks"}, 401},
		{"wrong token", request{method: "GET", path: "/v1/tasks", token: "nope"}, 401},
		{"read token reads", request{method: "GET", path: "/v1/tasks", token: apiReadTok}, 200},
		{"operator token reads", request{method: "GET", path: "/v1/tasks/" + id, token: apiOpTok}, 200},
		{"read token on a write", request{method: "POST", path: "/v1/tasks/" + id + "/cancel", token: apiReadTok}, 403},
		{"read token on a transition", request{method: "POST", path: "/v1/devices/node-1/transition", token: apiReadTok,
			body: []byte(`{"state":"b"}`)}, 403},
		{"metrics need a token", request{method: "GET", path: "/metrics"}, 401},
		{"metrics with the read token", request{method: "GET", path: "/metrics", token: apiReadTok}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, tc.req)
			require.Equal(t, tc.status, a.status, "%s", a.body)
			if tc.status >= 400 {
				require.NotContains(t, a.errText(t), apiReadTok)
			}
		})
	}
}

// queued submits a task to a queue nobody serves and returns its id.
func (e *apiEnv) queued(t testing.TB) string {
	t.Helper()
	res, err := e.bus.Client.Submit(ctxT2(t, 10*time.Second), osism.NoopArgs{Lines: 1}, &osism.SubmitOpts{Queue: osism.QueueOpenStack})
	require.NoError(t, err)
	return res.ID
}

func ctxT2(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, func(c *services.APIConfig, _ *services.APIOpts) { c.MaxBody = 1024 })
	big := []byte(`{"state":"b","collection":"` + strings.Repeat("x", 2048) + `"}`)
	tests := []struct {
		name   string
		req    request
		status int
		want   string
	}{
		{"unknown route", request{method: "GET", path: "/v1/nothing", token: apiReadTok, unrouted: true}, 404, "no such route"},
		{"unknown route without token", request{method: "GET", path: "/v2/tasks", unrouted: true}, 404, "no such route"},
		{"wrong method", request{method: "DELETE", path: "/v1/tasks", token: apiOpTok, unrouted: true}, 405, "method not allowed"},
		{"oversized body", request{method: "POST", path: "/v1/devices/node-1/transition", token: apiOpTok, body: big}, 413, "at most 1024"},
		{"oversized webhook", signed(string(big)), 413, "at most 1024"},
		{"malformed JSON", request{method: "POST", path: "/v1/devices/node-1/transition", token: apiOpTok, body: []byte(`{"state":`)}, 400, "request body"},
		{"unknown field", request{method: "POST", path: "/v1/devices/node-1/transition", token: apiOpTok, body: []byte(`{"state":"b","force":true}`)}, 400, "force"},
		{"bad state", request{method: "POST", path: "/v1/devices/node-1/transition", token: apiOpTok, body: []byte(`{"state":"b c"}`)}, 400, "state"},
		{"bad task id", request{method: "GET", path: "/v1/tasks/not-an-id", token: apiReadTok}, 400, "task id"},
		{"unknown task", request{method: "GET", path: "/v1/tasks/" + e.queued(t) + "x", token: apiReadTok}, 400, "task id"},
		{"bad state filter", request{method: "GET", path: "/v1/tasks?state=sleeping", token: apiReadTok}, 400, "sleeping"},
		{"bad limit", request{method: "GET", path: "/v1/tasks?limit=-1", token: apiReadTok}, 400, "limit"},
		{"undecodable notification", request{method: "POST", path: "/v1/notifications/baremetal", token: apiOpTok, body: []byte(`{"oslo.version":"2.0"}`)}, 400, "notification"},
		{"no Ironic", request{method: "GET", path: "/v1/baremetal/nodes", token: apiReadTok}, 503, "no Ironic configured"},
		{"inventory not written", request{method: "GET", path: "/v1/inventory/hosts", token: apiReadTok}, 503, "not written yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, tc.req)
			require.Equal(t, tc.status, a.status, "%s", a.body)
			require.Contains(t, a.errText(t), tc.want)
		})
	}
}

// taskKind reads the task's record from the bus.
func (e *apiEnv) task(t testing.TB, id string) *osism.Task {
	t.Helper()
	task, err := e.bus.Client.Get(ctxT2(t, 10*time.Second), id)
	require.NoError(t, err)
	return task
}

func TestAPIWebhook(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	device := func(name, deviceType string, tags ...string) string {
		ts := make([]string, len(tags))
		for i, tg := range tags {
			ts[i] = fmt.Sprintf(`{"id":%d,"name":%q,"slug":%q}`, i+1, tg, tg)
		}
		return fmt.Sprintf(`{"event":"updated","timestamp":"2026-05-01 10:00:00.123456+00:00","model":"device","username":"admin",
			"request_id":"r1","data":{"id":7,"name":%q,"tags":[%s],"custom_fields":{"device_type":%q}},"snapshots":{"prechange":null,"postchange":null}}`,
			name, strings.Join(ts, ","), deviceType)
	}
	iface := `{"event":"updated","timestamp":"2026-05-01T10:00:00Z","model":"interface","data":{"id":9,"name":"eth0",
		"device":{"id":3,"name":"node-1"},"link_peers":[{"id":11,"name":"swp1","device":{"id":1,"name":"leaf-1"}}]}}`
	tests := []struct {
		name     string
		req      request
		status   int
		kind     string
		switches []string
	}{
		{"missing signature", request{method: "POST", path: "/v1/webhook/netbox", body: []byte(device("leaf-1", "switch", "managed-by-osism"))}, 401, "", nil},
		{"bad signature", request{method: "POST", path: "/v1/webhook/netbox", body: []byte(device("leaf-1", "switch", "managed-by-osism")),
			header: map[string]string{netbox.SignatureHeader: netbox.Sign("other", []byte("x"))}}, 401, "", nil},
		{"bad signature is checked before parsing", request{method: "POST", path: "/v1/webhook/netbox", body: []byte(`{not json`),
			header: map[string]string{netbox.SignatureHeader: "abc"}}, 401, "", nil},
		{"malformed JSON, signed", signed(`{not json`), 400, "", nil},
		{"managed switch renders", signed(device("leaf-1", "switch", "managed-by-osism")), 202, osism.KindNetBoxGenerate, []string{"leaf-1"}},
		{"interface wired to a switch renders it", signed(iface), 202, osism.KindNetBoxGenerate, []string{"leaf-1"}},
		{"interface of a switch renders it", signed(`{"event":"updated","model":"interface","data":{"id":12,"name":"swp9","device":{"id":2,"name":"leaf-2"}}}`),
			202, osism.KindNetBoxGenerate, []string{"leaf-2"}},
		{"interface of an unmanaged device", signed(`{"event":"updated","model":"interface","data":{"id":13,"name":"eth9","device":{"id":3,"name":"node-3"}}}`),
			204, "", nil},
		{"server reconciles", signed(device("node-9", "server")), 202, osism.KindReconcilerRun, nil},
		{"anything else", signed(device("pdu-1", "pdu")), 204, "", nil},
		{"deleted switch", signed(strings.Replace(device("leaf-1", "switch", "managed-by-osism"), `"updated"`, `"deleted"`, 1)), 204, "", nil},
		{"another model", signed(`{"event":"created","model":"site","data":{"id":1}}`), 204, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, tc.req)
			require.Equal(t, tc.status, a.status, "%s", a.body)
			if tc.status == 401 {
				require.Contains(t, a.errText(t), "signature")
			}
			if tc.kind == "" {
				return
			}
			var s struct {
				TaskID string `json:"task_id"`
				Kind   string
			}
			a.json(t, &s)
			require.Equal(t, tc.kind, s.Kind)
			task := e.task(t, s.TaskID)
			require.Equal(t, tc.kind, task.Kind)
			if tc.kind == osism.KindReconcilerRun {
				require.Equal(t, osism.ReconcilerDedupKey, task.DedupKey)
				return
			}
			var args osism.NetBoxGenerateArgs
			require.NoError(t, json.Unmarshal(task.Args, &args))
			require.Equal(t, tc.switches, args.Switches)
			require.Equal(t, osism.QueueNetBox, task.Queue)
		})
	}
	// A second change while the first reconcile waits adds no task.
	a := e.do(t, signed(device("node-8", "server")))
	require.Equal(t, 202, a.status)
	require.Contains(t, string(a.body), `"duplicate":true`)
	// The outcomes are counted.
	a = e.do(t, request{method: "GET", path: "/metrics", token: apiReadTok})
	require.Contains(t, string(a.body), `osism_api_webhooks_total{result="ignored"} 4`)
	require.Contains(t, string(a.body), `osism_api_webhooks_total{result="unauthorized"} 3`)
}

// gate is a test task that writes a line, waits for its gate to open,
// writes another line and ends with exit status 3.
type gateArgs struct {
	Gate string `json:"gate"`
}

func (gateArgs) Kind() string       { return "test.gate" }
func (gateArgs) Queue() osism.Queue { return osism.QueueConductor }

var gates sync.Map // name -> chan struct{}

func gateHandler(ctx context.Context, job *osism.Job[gateArgs]) error {
	fmt.Fprintln(job.Output, "first line")
	if ch, ok := gates.Load(job.Args.Gate); ok {
		select {
		case <-ch.(chan struct{}):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fmt.Fprintln(job.Output, "second line")
	return &osism.ExitError{Status: 3, Err: errors.New("gate closed with 3")}
}

// sseEvent is one event of a stream.
type sseEvent struct{ name, data string }

// readSSE reads events from a stream as curl -N shows it, line by line,
// and sends each on the channel until the stream ends.
func readSSE(r io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(r)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || len(data) > 0 {
				ev.data = strings.Join(data, "\n")
				out <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func nextEvent(t testing.TB, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "the stream ended early")
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
	}
	return sseEvent{}
}

// stream opens an event stream with a plain HTTP client, as curl -N.
func (e *apiEnv) stream(t testing.TB, path string) (<-chan sseEvent, *http.Response, *bytes.Buffer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiReadTok)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	var raw bytes.Buffer
	ch := make(chan sseEvent, 64)
	go readSSE(io.TeeReader(res.Body, &raw), ch)
	return ch, res, &raw
}

func TestAPITasksAndOutput(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, gateHandler))
	e.bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 2}, Handlers: reg, ID: "api-test"})
	ctx := ctxT2(t, 60*time.Second)

	// A finished task replays from the start and ends with its status.
	done, err := e.bus.Client.Submit(ctx, gateArgs{}, nil)
	require.NoError(t, err)
	_, err = e.bus.Client.Wait(ctx, done.ID)
	require.NoError(t, err)
	ch, _, raw := e.stream(t, "/v1/tasks/"+done.ID+"/output")
	require.Equal(t, sseEvent{"line", "first line"}, nextEvent(t, ch))
	require.Equal(t, sseEvent{"line", "second line"}, nextEvent(t, ch))
	end := nextEvent(t, ch)
	require.Equal(t, "end", end.name)
	require.JSONEq(t, `{"task_id":"`+done.ID+`","exit_status":3,"state":"failed"}`, end.data)
	_, open := <-ch
	require.False(t, open, "the stream ends after the end event")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/tasks/"+done.ID+"/output", nil)
	e.validate(t, req, false, 200, http.Header{"Content-Type": {"text/event-stream"}}, raw.Bytes())

	// A running task: the stream shows its first line, waits, and follows
	// it to the end.
	gate := make(chan struct{})
	gates.Store("follow", gate)
	running, err := e.bus.Client.Submit(ctx, gateArgs{Gate: "follow"}, nil)
	require.NoError(t, err)
	ch, _, _ = e.stream(t, "/v1/tasks/"+running.ID+"/output")
	require.Equal(t, sseEvent{"line", "first line"}, nextEvent(t, ch))
	select {
	case ev := <-ch:
		t.Fatalf("an event before the task went on: %v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)
	require.Equal(t, sseEvent{"line", "second line"}, nextEvent(t, ch))
	require.Equal(t, "end", nextEvent(t, ch).name)

	// The record and the list.
	a := e.do(t, request{method: "GET", path: "/v1/tasks/" + done.ID, token: apiReadTok})
	require.Equal(t, 200, a.status)
	var task struct {
		State      string
		ExitStatus int `json:"exit_status"`
	}
	a.json(t, &task)
	require.Equal(t, "failed", task.State)
	require.Equal(t, 3, task.ExitStatus)
	a = e.do(t, request{method: "GET", path: "/v1/tasks?state=failed&kind=test.gate&limit=1", token: apiReadTok})
	require.Equal(t, 200, a.status)
	var list struct{ Tasks []struct{ ID string } }
	a.json(t, &list)
	require.Len(t, list.Tasks, 1)

	// Cancel a queued task, then again.
	q := e.queued(t)
	a = e.do(t, request{method: "POST", path: "/v1/tasks/" + q + "/cancel", token: apiOpTok})
	require.Equal(t, 202, a.status, "%s", a.body)
	require.Equal(t, osism.StateCancelled, e.task(t, q).State)
	a = e.do(t, request{method: "POST", path: "/v1/tasks/" + q + "/cancel", token: apiOpTok})
	require.Equal(t, 409, a.status)
	require.Contains(t, a.errText(t), "already finished")
	// Output of a task that is not there.
	a = e.do(t, request{method: "GET", path: "/v1/tasks/" + strings.Repeat("0", len(q)) + "/output", token: apiReadTok})
	if a.status != 400 {
		require.Equal(t, 404, a.status, "%s", a.body)
	}
}

func TestAPIDevices(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	a := e.do(t, request{method: "GET", path: "/v1/devices/node-1/state", token: apiReadTok})
	require.Equal(t, 200, a.status, "%s", a.body)
	require.JSONEq(t, `{"device":"node-1","state":"a","transition":"","in_transit":false}`, string(a.body))
	a = e.do(t, request{method: "GET", path: "/v1/devices/node-99/state", token: apiReadTok})
	require.Equal(t, 404, a.status)
	require.Contains(t, a.errText(t), "node-99")

	a = e.do(t, request{method: "POST", path: "/v1/devices/node-1/transition", token: apiOpTok, body: []byte(`{"state":"b","enforce":true}`)})
	require.Equal(t, 202, a.status, "%s", a.body)
	var s struct {
		TaskID string `json:"task_id"`
		Kind   string
	}
	a.json(t, &s)
	require.Equal(t, osism.KindNetBoxConnect, s.Kind)
	task := e.task(t, s.TaskID)
	var args osism.NetBoxConnectArgs
	require.NoError(t, json.Unmarshal(task.Args, &args))
	require.Equal(t, osism.NetBoxConnectArgs{Device: "node-1", State: "b", Enforce: true}, args)
}

func TestAPIEvents(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	ch, _, _ := e.stream(t, "/v1/events?service=ironic&type=baremetal.node.>&node=node-1")
	ctx := ctxT2(t, 20*time.Second)
	// The subscription exists once the stream's headers arrived.
	for _, ev := range []struct {
		service, typ, node string
	}{
		{"ironic", "baremetal.node.power_set.end", "node-2"},
		{"watchdog", "baremetal.node.power_set.end", "node-1"},
		{"ironic", "other.thing", "node-1"},
		{"ironic", "baremetal.node.provision_set.end", "node-1"},
	} {
		require.NoError(t, e.bus.Client.PublishEvent(ctx, ev.service, ev.typ, map[string]any{"node": map[string]string{"name": ev.node, "uuid": "u-" + ev.node}}))
	}
	got := nextEvent(t, ch)
	require.Equal(t, "event", got.name)
	var ev osism.Event
	require.NoError(t, json.Unmarshal([]byte(got.data), &ev))
	require.Equal(t, "ironic", ev.Service)
	require.Equal(t, "baremetal.node.provision_set.end", ev.Type)
	require.JSONEq(t, `{"node":{"name":"node-1","uuid":"u-node-1"}}`, string(ev.Payload))

	a := e.do(t, request{method: "GET", path: "/v1/events?service=no%20such", token: apiReadTok})
	require.Equal(t, 400, a.status)
}

func TestAPINotification(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	inner := `{"message_id":"m-1","event_type":"baremetal.node.power_set.end","publisher_id":"ironic-conductor","priority":"INFO",
		"payload":{"ironic_object.name":"NodeSetPowerStatePayload","ironic_object.data":{"uuid":"u-1","name":"node-1",
		"provision_state":"available","power_state":"power on","maintenance":false}}}`
	env, err := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": inner})
	require.NoError(t, err)
	a := e.do(t, request{method: "POST", path: "/v1/notifications/baremetal", token: apiOpTok, body: env})
	require.Equal(t, 200, a.status, "%s", a.body)
	require.JSONEq(t, `{"result":"applied","event_type":"baremetal.node.power_set.end","node":"node-1"}`, string(a.body))
	id := e.nb.ID("dcim.device", "node-1")
	require.Equal(t, "power on", e.nb.CustomField("dcim.device", id, "power_state"))
	// The same notification again changes nothing.
	a = e.do(t, request{method: "POST", path: "/v1/notifications/baremetal", token: apiOpTok, body: env})
	require.Equal(t, 200, a.status)
	require.Contains(t, string(a.body), `"duplicate"`)
}

func TestAPIInventory(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	require.NoError(t, os.WriteFile(filepath.Join(e.inv, "hosts.yml"), []byte(`all:
  children:
    compute:
      hosts:
        node-1: {ansible_host: 10.0.0.1}
        node-2:
    control:
      hosts:
        node-1:
      children:
        manager:
          hosts:
            node-3:
`), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(e.inv, "host_vars"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(e.inv, "host_vars", "node-1.yml"), []byte(`ansible_user: dragon
ipmi_password: s3cr3t-v@lue
nested: {api_token: tok-123, port: 22, list: [{secret: x}, 1]}
`), 0o644))
	a := e.do(t, request{method: "GET", path: "/v1/inventory/hosts", token: apiReadTok})
	require.Equal(t, 200, a.status, "%s", a.body)
	require.JSONEq(t, `{"hosts":[{"name":"node-1","groups":["compute","control"]},{"name":"node-2","groups":["compute"]},
		{"name":"node-3","groups":["manager"]}]}`, string(a.body))

	tests := []struct {
		name, host string
		status     int
		body       string
	}{
		{"vars masked", "node-1", 200, `{"host":"node-1","vars":{"ansible_host":"10.0.0.1","ansible_user":"dragon","ipmi_password":"` + ansibleMasked +
			`","nested":{"api_token":"` + ansibleMasked + `","port":22,"list":[{"secret":"` + ansibleMasked + `"},1]}}}`},
		{"no vars", "node-2", 200, `{"host":"node-2","vars":{}}`},
		{"unknown host", "node-9", 404, ""},
		{"bad name", "a%20b", 400, ""},
		{"dot dot", "..", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(t, request{method: "GET", path: "/v1/inventory/hosts/" + tc.host + "/hostvars", token: apiReadTok})
			if tc.host == ".." {
				// The client cleans the path; whatever the server sees,
				// it must not read outside the inventory.
				require.NotEqual(t, 200, a.status)
				return
			}
			require.Equal(t, tc.status, a.status, "%s", a.body)
			if tc.body != "" {
				require.JSONEq(t, tc.body, string(a.body))
			}
			require.NotContains(t, string(a.body), "s3cr3t")
		})
	}
}

const ansibleMasked = "******"

func TestAPIReadiness(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	a := e.do(t, request{method: "GET", path: "/readyz"})
	require.Equal(t, 200, a.status, "%s", a.body)
	require.JSONEq(t, `{"status":"ready","checks":{"bus":"ok","netbox":"ok"}}`, string(a.body))
	e.nb.Close()
	a = e.do(t, request{method: "GET", path: "/readyz"})
	require.Equal(t, 503, a.status, "%s", a.body)
	require.Contains(t, string(a.body), `"bus":"ok"`)
	require.Contains(t, string(a.body), `unreachable`)
	a = e.do(t, request{method: "GET", path: "/healthz"})
	require.Equal(t, 200, a.status)
}

// GET /v1/baremetal/nodes joins the real Ironic's nodes with their NetBox
// devices.
func TestAPIBaremetalNodes(t *testing.T) {
	t.Parallel()
	ironicURL := testenv.Ironic(t)
	ctx := ctxT2(t, time.Minute)
	bm, err := openstack.NewBareMetal(ctx, openstack.Config{Endpoint: ironicURL})
	require.NoError(t, err)
	e := newAPIEnv(t, func(_ *services.APIConfig, o *services.APIOpts) { o.BareMetal = bm })
	name := uniqueName(t, "api-")
	_, err = e.nb.Create("dcim.device", map[string]any{"name": name, "site": e.nb.ID("dcim.site", "dc1"),
		"device_type": e.nb.ID("dcim.devicetype", "SYS-1029P"), "role": e.nb.ID("dcim.devicerole", "compute")})
	require.NoError(t, err)
	n, err := bm.CreateNode(ctx, openstack.CreateNode{Name: name, Driver: "fake-hardware"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = bm.DeleteNode(context.Background(), n.UUID) })

	a := e.do(t, request{method: "GET", path: "/v1/baremetal/nodes", token: apiReadTok})
	require.Equal(t, 200, a.status, "%s", a.body)
	var got struct {
		Nodes []struct {
			UUID, Name string
			Device     *struct{ Name string } `json:"netbox_device"`
		}
	}
	a.json(t, &got)
	i := slices.IndexFunc(got.Nodes, func(x struct {
		UUID, Name string
		Device     *struct{ Name string } `json:"netbox_device"`
	}) bool {
		return x.UUID == n.UUID
	})
	require.GreaterOrEqual(t, i, 0, "the node is listed")
	require.NotNil(t, got.Nodes[i].Device, "joined with its device")
	require.Equal(t, name, got.Nodes[i].Device.Name)
}

// Every operation of the document is served: none answers as an unknown
// route. (The other tests check the converse: every answer they get is of
// a route in the document.)
func TestAPIDocumentRoutesServed(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t)
	b, err := services.APIDocument()
	require.NoError(t, err)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	n := 0
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			n++
			p := strings.NewReplacer("{id}", "01m96k5tcyaz4hpg03wqs3p50q", "{name}", "node-1", "{host}", "node-1").Replace(path)
			if strings.HasSuffix(p, "/output") || p == "/v1/events" {
				continue // streams; their tests read them
			}
			req, err := http.NewRequest(method, e.srv.URL+p, strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+apiOpTok)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.NotContains(t, string(body), "no such route", "%s %s", method, path)
			require.NotEqual(t, http.StatusMethodNotAllowed, res.StatusCode, "%s %s", method, path)
		}
	}
	require.Equal(t, 16, n, "the routes of the issue, health, metrics and the document")
}

// The inventory routes read what the real reconciler wrote, its secrets
// masked.
func TestAPIInventoryOfTheReconciler(t *testing.T) {
	t.Parallel()
	r := newReconcilerEnv(t)
	rep, err := r.reconciler(t).Reconcile(ctxT(t, time.Minute), false, nil)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Added)
	e := newAPIEnv(t, func(c *services.APIConfig, _ *services.APIOpts) { c.InventoryDir = r.out })
	a := e.do(t, request{method: "GET", path: "/v1/inventory/hosts", token: apiReadTok})
	require.Equal(t, 200, a.status, "%s", a.body)
	var hosts struct {
		Hosts []struct {
			Name   string
			Groups []string
		}
	}
	a.json(t, &hosts)
	var names []string
	for _, h := range hosts.Hosts {
		names = append(names, h.Name)
	}
	for _, h := range rep.Added {
		require.Contains(t, names, h)
	}
	i := slices.IndexFunc(hosts.Hosts, func(h struct {
		Name   string
		Groups []string
	}) bool {
		return h.Name == "node-1"
	})
	require.GreaterOrEqual(t, i, 0)
	require.Contains(t, hosts.Hosts[i].Groups, "netbox_role_compute")
	for _, h := range names {
		a := e.do(t, request{method: "GET", path: "/v1/inventory/hosts/" + h + "/hostvars", token: apiReadTok})
		require.Equal(t, 200, a.status, "%s: %s", h, a.body)
		require.NotContains(t, string(a.body), "s3cret-pw", h)
	}
	a = e.do(t, request{method: "GET", path: "/v1/inventory/hosts/node-1/hostvars", token: apiReadTok})
	require.Contains(t, string(a.body), `"ansible_become_password":"******"`)
}
