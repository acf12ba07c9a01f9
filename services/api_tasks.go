package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
)

// apiTask is a task as the API shows it.
type apiTask struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Queue      string          `json:"queue"`
	State      string          `json:"state"`
	Args       json.RawMessage `json:"args,omitempty"`
	DedupKey   string          `json:"dedup_key,omitempty"`
	Worker     string          `json:"worker,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	// ExitStatus is set once the task finished.
	ExitStatus *int `json:"exit_status,omitempty"`
}

func toAPITask(t *osism.Task) apiTask {
	v := apiTask{ID: t.ID, Kind: t.Kind, Queue: string(t.Queue), State: string(t.State), Args: t.Args,
		DedupKey: t.DedupKey, Worker: t.Worker, Attempt: t.Attempt, CreatedAt: t.CreatedAt,
		Result: t.Result, Error: t.Error}
	if !t.StartedAt.IsZero() {
		s := t.StartedAt
		v.StartedAt = &s
	}
	if !t.FinishedAt.IsZero() {
		f := t.FinishedAt
		v.FinishedAt = &f
	}
	if t.State.Finished() {
		e := t.ExitStatus
		v.ExitStatus = &e
	}
	return v
}

// submitted is the answer to a request that queued a task.
type submitted struct {
	TaskID    string `json:"task_id"`
	Kind      string `json:"kind"`
	Duplicate bool   `json:"duplicate"`
}

// busError answers an error of the bus with the status it calls for.
func (a *API) busError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, osism.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, osism.ErrFinished):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "the bus did not answer in time: "+err.Error())
	default:
		a.log.Warn("bus request failed", "error", err)
		writeError(w, http.StatusBadGateway, "bus: "+err.Error())
	}
}

// listTasks takes the filters of osism task list: state (repeatable or
// comma-separated), kind, queue, since (a duration such as 1h or an RFC
// 3339 time) and limit (default 50, 0 for all).
func (a *API) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := &osism.ListOpts{Kind: q.Get("kind"), Queue: osism.Queue(q.Get("queue")), Limit: 50}
	for _, v := range q["state"] {
		for s := range strings.SplitSeq(v, ",") {
			st, err := osism.ParseState(strings.TrimSpace(s))
			if err != nil {
				writeError(w, http.StatusBadRequest, "query state: "+err.Error())
				return
			}
			opts.States = append(opts.States, st)
		}
	}
	if opts.Queue != "" {
		if err := opts.Queue.Validate(); err != nil {
			writeError(w, http.StatusBadRequest, "query queue: "+err.Error())
			return
		}
	}
	if s := q.Get("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			opts.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			opts.Since = t
		} else {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query since %q: expected a positive duration (1h) or an RFC 3339 time", s))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query limit %q: expected 0 (all) to 10000", s))
			return
		}
		opts.Limit = n
	}
	ts, err := a.bus.List(r.Context(), opts)
	if err != nil {
		a.busError(w, err)
		return
	}
	out := make([]apiTask, len(ts))
	for i, t := range ts {
		out[i] = toAPITask(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

// taskID is the path's task id, or false after a 400.
func taskID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !osism.ValidID(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("task id %q: expected an id as osism task list shows it", id))
		return "", false
	}
	return id, true
}

func (a *API) getTask(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	t, err := a.bus.Get(r.Context(), id)
	if err != nil {
		a.busError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPITask(t))
}

func (a *API) cancelTask(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	// The bus's JetStream calls need a deadline.
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.bus.Cancel(ctx, id); err != nil {
		a.busError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"task_id": id, "cancelled": true})
}

// sse writes Server-Sent Events to a client, one at a time, flushing
// each; a comment line every keepalive keeps proxies from closing an idle
// stream.
type sse struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
	n  int
}

func startSSE(w http.ResponseWriter) *sse {
	rc := http.NewResponseController(w)
	// A stream outlives the write timeout of ordinary answers.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	return &sse{w: w, rc: rc}
}

// event writes one event; data may hold several lines.
func (s *sse) event(name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\n", s.n)
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.ReplaceAll(line, []byte("\r"), nil))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// keepalive writes a comment every d until the returned stop is called
// (or ctx ends); stop waits for the writer to be done, so that nothing
// writes to the answer after its handler returned.
func (s *sse) keepalive(ctx context.Context, d time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.comment("keepalive") != nil {
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sseLines turns the output Follow writes into one "line" event per line.
type sseLines struct {
	s    *sse
	part []byte
}

func (l *sseLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.part = append(l.part, p...)
			break
		}
		line := p[:i]
		if len(l.part) > 0 {
			line = append(l.part, line...)
			l.part = l.part[:0]
		}
		if err := l.s.event("line", line); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// sseKeepalive is how often an idle stream gets a comment.
const sseKeepalive = 15 * time.Second

// taskOutput streams the task's output as Server-Sent Events: every line
// from the first (an "line" event each), then an "end" event with the
// exit status once the task ended. With ?follow=false it stops after the
// lines stored now.
func (a *API) taskOutput(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	follow := true
	if f := r.URL.Query().Get("follow"); f != "" {
		b, err := strconv.ParseBool(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query follow %q: expected true or false", f))
			return
		}
		follow = b
	}
	// The task must exist before the stream starts, so that a wrong id
	// gets its 404.
	if _, err := a.bus.Get(r.Context(), id); err != nil {
		a.busError(w, err)
		return
	}
	ctx := r.Context()
	s := startSSE(w)
	defer s.keepalive(ctx, sseKeepalive)()
	lw := &sseLines{s: s}
	exit, err := a.bus.Follow(ctx, id, lw, &osism.FollowOpts{NoFollow: !follow})
	if err != nil {
		if ctx.Err() == nil {
			b, _ := json.Marshal(apiError{Error: err.Error()})
			_ = s.event("error", b)
		}
		return
	}
	if len(lw.part) > 0 {
		_ = s.event("line", lw.part)
	}
	end := map[string]any{"task_id": id}
	if exit >= 0 {
		end["exit_status"] = exit
	}
	if t, err := a.bus.Get(ctx, id); err == nil {
		end["state"] = string(t.State)
	}
	b, _ := json.Marshal(end)
	_ = s.event("end", b)
}

// deviceName is the path's device name, or false after a 400.
func deviceName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if name == "" || len(name) > 64 || strings.ContainsAny(name, "\x00\n\r") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("device name %q: expected a NetBox device name", name))
		return "", false
	}
	return name, true
}

func (a *API) needNetBox(w http.ResponseWriter) bool {
	if a.nb == nil {
		writeError(w, http.StatusServiceUnavailable, "no NetBox configured: set netbox.url and a token (NETBOX_URL, NETBOX_TOKEN)")
		return false
	}
	return true
}

// deviceState answers the device's state record from NetBox.
func (a *API) deviceState(w http.ResponseWriter, r *http.Request) {
	name, ok := deviceName(w, r)
	if !ok || !a.needNetBox(w) {
		return
	}
	rec, err := netbox.NewStore(a.nb).Load(r.Context(), name)
	if errors.Is(err, statemachine.ErrDeviceNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("device %q: not found in NetBox", name))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, "NetBox: "+err.Error())
		return
	}
	state := rec.State
	if state == "" {
		state = "0"
	}
	tr := rec.Transition
	if tr == "0" {
		tr = ""
	}
	writeJSON(w, http.StatusOK, map[string]any{"device": name, "state": state, "transition": tr, "in_transit": tr != ""})
}

var apiStateRE = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)

// transitionRequest is the body of POST /v1/devices/{name}/transition.
type transitionRequest struct {
	State      string `json:"state"`
	Enforce    bool   `json:"enforce"`
	Collection string `json:"collection,omitempty"`
}

// deviceTransition submits netbox.connect for the device.
func (a *API) deviceTransition(w http.ResponseWriter, r *http.Request) {
	name, ok := deviceName(w, r)
	if !ok {
		return
	}
	var req transitionRequest
	if !a.decodeBody(w, r, &req) {
		return
	}
	if !apiStateRE.MatchString(req.State) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: expected a device state such as a, b or c (letters and digits)", req.State))
		return
	}
	args := osism.NetBoxConnectArgs{Device: name, State: req.State, Enforce: req.Enforce, Collection: req.Collection}
	res, err := a.bus.Submit(r.Context(), args, &osism.SubmitOpts{DedupKey: "api/netbox.connect/" + name + "/" + req.State})
	if err != nil && !errors.Is(err, osism.ErrMaybeQueued) {
		a.busError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, submitted{TaskID: res.ID, Kind: args.Kind(), Duplicate: res.Duplicate})
}
