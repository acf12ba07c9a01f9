package osism

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
)

// Handler runs the tasks of one kind, given by its argument type T. A
// handler must return when ctx ends: ctx is cancelled when the task is
// cancelled ([ErrCancelled] as context.Cause), times out, or its worker
// shuts down and the grace period is over ([ErrShutdown]).
type Handler[T Args] interface {
	Work(ctx context.Context, job *Job[T]) error
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc[T Args] func(ctx context.Context, job *Job[T]) error

// Work calls f.
func (f HandlerFunc[T]) Work(ctx context.Context, job *Job[T]) error { return f(ctx, job) }

// Job is one run of a task, as its handler sees it.
type Job[T Args] struct {
	// Task is the record as the run started (id, attempt, queue, ...).
	*Task
	// Args are the decoded arguments.
	Args T
	// Output takes the task's output; every line becomes a message that
	// followers see as it comes.
	Output io.Writer
	// Client is the client of the worker that runs the job: for locks and
	// follow-up tasks.
	Client *Client
	// Logger is the worker's logger with the task's id (task_id), kind
	// and, for arguments that name one, device: every line a handler
	// logs through it says which task it belongs to.
	Logger *slog.Logger

	result json.RawMessage
}

// SetResult stores v, as JSON, as the task's result.
func (j *Job[T]) SetResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("task %s result: %w", j.ID, err)
	}
	j.result = b
	return nil
}

// jobLogger is log with the task's id and kind, and the device of
// arguments that have a Device field of type string.
func jobLogger(log *slog.Logger, t *Task, args any) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	attrs := []any{"task_id", t.ID, "kind", t.Kind}
	if d := deviceOf(args); d != "" {
		attrs = append(attrs, "device", d)
	}
	return log.With(attrs...)
}

// deviceOf is the Device field of a struct (or pointer to one), if any.
func deviceOf(args any) string {
	v := reflect.ValueOf(args)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName("Device")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// handler is a registered worker with its argument type erased; the
// closure that Register builds knows T, so no reflection is needed.
type handler struct {
	kind  string
	queue Queue
	run   func(ctx context.Context, c *Client, t *Task, out io.Writer, log *slog.Logger) (json.RawMessage, error)
	// redact, for a kind whose Args is a Redacter, turns the arguments of
	// a task into those its records show.
	redact func(raw json.RawMessage) json.RawMessage
}

// decodeError marks arguments the handler's type cannot hold.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// Registry is the set of handlers a [Runner] knows, one per kind. The zero
// value is not usable; create it with [NewRegistry].
type Registry struct {
	mu sync.RWMutex
	m  map[string]*handler
}

// NewRegistry returns an empty set of handlers.
func NewRegistry() *Registry { return &Registry{m: make(map[string]*handler)} }

// Register registers w as the handler of the kind of T. It fails when the
// kind is invalid or already has a handler.
func Register[T Args](ws *Registry, w Handler[T]) error {
	if ws == nil || ws.m == nil {
		return errors.New("register: Registry not created with NewRegistry")
	}
	if w == nil {
		return errors.New("register: nil handler")
	}
	var zero T
	kind := zero.Kind()
	if err := validKind(kind); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	h := &handler{kind: kind, queue: zero.Queue(), run: func(ctx context.Context, c *Client, t *Task, out io.Writer, log *slog.Logger) (json.RawMessage, error) {
		job := &Job[T]{Task: t, Output: out, Client: c}
		if err := json.Unmarshal(t.Args, &job.Args); err != nil {
			return nil, &decodeError{fmt.Errorf("arguments of kind %s do not decode into %T: %w", kind, job.Args, err)}
		}
		job.Logger = jobLogger(log, t, job.Args)
		err := w.Work(ctx, job)
		return job.result, err
	}}
	if _, ok := any(zero).(Redacter); ok {
		h.redact = func(raw json.RawMessage) json.RawMessage {
			var a T
			if err := json.Unmarshal(raw, &a); err != nil {
				return raw // undecodable: the task fails with the reason
			}
			return redactedJSON(any(a).(Redacter), raw)
		}
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, ok := ws.m[kind]; ok {
		return fmt.Errorf("register: kind %s already has a handler", kind)
	}
	ws.m[kind] = h
	return nil
}

// RegisterFunc registers f as the handler of the kind of T.
func RegisterFunc[T Args](ws *Registry, f func(ctx context.Context, job *Job[T]) error) error {
	if f == nil {
		return errors.New("register: nil function")
	}
	return Register[T](ws, HandlerFunc[T](f))
}

func (ws *Registry) lookup(kind string) *handler {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	return ws.m[kind]
}

// Kinds returns the registered kinds, sorted.
func (ws *Registry) Kinds() []string {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	out := make([]string, 0, len(ws.m))
	for k := range ws.m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Queues returns the default queues of the registered kinds, sorted and
// without repeats.
func (ws *Registry) Queues() []Queue {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	var out []Queue
	for _, h := range ws.m {
		if !slices.Contains(out, h.queue) {
			out = append(out, h.queue)
		}
	}
	slices.Sort(out)
	return out
}
