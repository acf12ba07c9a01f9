package osism

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// RawArgs is a task given by its kind's name and its arguments as JSON,
// for submitters that learn the task from data rather than from a Go type:
// the beat's schedules in the configuration, say. Build it with
// [NewRawArgs], which checks the kind, the queue and the arguments.
type RawArgs struct {
	kind  string
	queue Queue
	args  json.RawMessage
}

// knownKinds are the built-in kinds by name: they give a RawArgs its
// queue and its redaction.
var knownKinds = map[string]Args{
	NoopArgs{}.Kind():  NoopArgs{},
	KindAnsibleRun:     AnsibleRunArgs{},
	KindKollaRun:       KollaRunArgs{},
	KindCephRun:        CephRunArgs{},
	KindNetBoxConnect:  NetBoxConnectArgs{},
	KindReconcilerRun:  ReconcilerRunArgs{},
	KindSyncIronic:     SyncIronicArgs{},
	KindSyncNetBox:     SyncNetBoxArgs{},
	KindBaremetal:      BaremetalArgs{},
	KindNetBoxGenerate: NetBoxGenerateArgs{},
}

// NewRawArgs returns the task of kind with the arguments args, a JSON
// object (nil or empty: {}). The queue is queue when given, else the
// built-in kind's; a kind that is not built in needs a queue.
func NewRawArgs(kind string, args json.RawMessage, queue Queue) (RawArgs, error) {
	if err := validKind(kind); err != nil {
		return RawArgs{}, err
	}
	if queue == "" {
		known, ok := knownKinds[kind]
		if !ok {
			return RawArgs{}, fmt.Errorf("task kind %q: not a built-in kind, so its queue must be given", kind)
		}
		queue = known.Queue()
	}
	if err := queue.Validate(); err != nil {
		return RawArgs{}, fmt.Errorf("task kind %q: %w", kind, err)
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if args[0] != '{' || !json.Valid(args) {
		return RawArgs{}, fmt.Errorf("task kind %q: arguments: expected a JSON object, got %.40q", kind, args)
	}
	if known, ok := knownKinds[kind]; ok {
		// The built-in kind must be able to read what is submitted.
		if err := json.Unmarshal(args, newOf(known)); err != nil {
			return RawArgs{}, fmt.Errorf("task kind %q: arguments do not fit the kind: %w", kind, err)
		}
	}
	return RawArgs{kind: kind, queue: queue, args: append(json.RawMessage(nil), args...)}, nil
}

// Kind is the kind's name.
func (a RawArgs) Kind() string { return a.kind }

// Queue is the queue given, or the built-in kind's.
func (a RawArgs) Queue() Queue { return a.queue }

// MarshalJSON returns the arguments as given.
func (a RawArgs) MarshalJSON() ([]byte, error) {
	if len(a.args) == 0 {
		return []byte("{}"), nil
	}
	return a.args, nil
}

// Redacted masks what the built-in kind masks (the secret extra-vars of
// the Ansible kinds, say); other kinds' arguments are shown as given.
func (a RawArgs) Redacted() Args {
	known, ok := knownKinds[a.kind]
	if !ok {
		return a
	}
	if _, ok := known.(Redacter); !ok {
		return a
	}
	v := newOf(known)
	if err := json.Unmarshal(a.args, v); err != nil {
		return RawArgs{kind: a.kind, queue: a.queue, args: json.RawMessage(`{"redacted":true}`)}
	}
	r := derefArgs(v).(Redacter).Redacted()
	b, err := json.Marshal(r)
	if err != nil {
		return RawArgs{kind: a.kind, queue: a.queue, args: json.RawMessage(`{"redacted":true}`)}
	}
	return RawArgs{kind: a.kind, queue: a.queue, args: b}
}

// newOf returns a pointer to a new zero value of a's type.
func newOf(a Args) any { return reflect.New(reflect.TypeOf(a)).Interface() }

// derefArgs turns what newOf returned back into an Args value.
func derefArgs(v any) Args { a, _ := reflect.ValueOf(v).Elem().Interface().(Args); return a }
