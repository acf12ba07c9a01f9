package osism

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/osism/go-osism/internal/locking"
)

// Args is the typed argument struct of a task kind. Kind names the kind
// (dotted, such as "ansible.apply"); Queue is the queue its tasks go to
// unless [SubmitOpts.Queue] says otherwise. Both are called on the zero
// value when a worker is registered, so they must not depend on fields.
// User-defined kinds work the same way as the built-in ones.
type Args interface {
	Kind() string
	Queue() Queue
}

// Redacter is an Args whose records must not show all of it: the records
// of its tasks (the queued record its submitter writes, and every record a
// runner writes) hold Redacted(), while the handler gets the arguments as
// they were submitted. The built-in Ansible kinds mask the values of
// secret extra-vars this way.
type Redacter interface {
	Args
	Redacted() Args
}

// redactedJSON is the JSON of r.Redacted(), or a placeholder when it does
// not encode; never raw, which may hold the secret.
func redactedJSON(r Redacter, raw json.RawMessage) json.RawMessage {
	b, err := json.Marshal(r.Redacted())
	if err != nil {
		return json.RawMessage(`{"redacted":true}`)
	}
	return b
}

// Queue names a queue; the workers of a queue share its tasks.
type Queue string

// The queues of OSISM, as upstream.
const (
	QueueOSISMAnsible Queue = "osism-ansible"
	QueueKollaAnsible Queue = "kolla-ansible"
	QueueCephAnsible  Queue = "ceph-ansible"
	QueueConductor    Queue = "conductor"
	QueueNetBox       Queue = "netbox"
	QueueOpenStack    Queue = "openstack"
	QueueReconciler   Queue = "reconciler"
)

// Queues returns the built-in queues.
func Queues() []Queue {
	return []Queue{QueueOSISMAnsible, QueueKollaAnsible, QueueCephAnsible, QueueConductor, QueueNetBox, QueueOpenStack, QueueReconciler}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)

// Validate checks that q can name a queue: letters, digits, '-' and '_'.
func (q Queue) Validate() error {
	if !nameRE.MatchString(string(q)) {
		return fmt.Errorf("queue %q: expected 1-63 letters, digits, '-' or '_'", string(q))
	}
	return nil
}

var kindRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

func validKind(kind string) error {
	if !kindRE.MatchString(kind) {
		return fmt.Errorf("task kind %q: expected letters, digits, '.', '-' or '_'", kind)
	}
	return nil
}

// State is where a task is in its life.
type State string

// The states of a task. Queued and running are live; the others final.
const (
	StateQueued    State = "queued"
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Finished reports whether s is final.
func (s State) Finished() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// ParseState returns the state named s.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case StateQueued, StateRunning, StateSucceeded, StateFailed, StateCancelled:
		return st, nil
	}
	return "", fmt.Errorf("task state %q: expected queued, running, succeeded, failed or cancelled", s)
}

// Exit statuses the bus gives tasks that did not set one.
const (
	ExitOK        = 0   // succeeded
	ExitFailure   = 1   // failed with an error that carries no status
	ExitCancelled = 130 // cancelled, as a shell reports SIGINT
)

// Task is the record of a task: what it is, where it is, and how it ended.
type Task struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Queue      Queue           `json:"queue"`
	State      State           `json:"state"`
	Args       json.RawMessage `json:"args,omitempty"`
	DedupKey   string          `json:"dedup_key,omitempty"`
	Timeout    time.Duration   `json:"timeout,omitempty"`
	Worker     string          `json:"worker,omitempty"`
	Attempt    int             `json:"attempt,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	// ExitStatus is meaningful once the task finished: 0 on success, the
	// status of an [ExitError], [ExitFailure] or [ExitCancelled].
	ExitStatus int `json:"exit_status"`
	// EndMarker reports that the task's output ends with an end marker; a
	// task that wrote no output has none.
	EndMarker bool `json:"end_marker,omitempty"`
	// Reply is where the worker reports the end of the task to its
	// submitter.
	Reply string `json:"reply,omitempty"`
	// Revision is the record's revision in the bucket.
	Revision uint64 `json:"-"`
}

// Err returns nil for a task that succeeded or is not finished, and a
// *TaskError otherwise.
func (t *Task) Err() error {
	if t == nil || (t.State != StateFailed && t.State != StateCancelled) {
		return nil
	}
	return &TaskError{ID: t.ID, Kind: t.Kind, State: t.State, Reason: t.Error, ExitStatus: t.ExitStatus}
}

// TaskError reports a task that failed or was cancelled.
type TaskError struct {
	ID, Kind   string
	State      State
	Reason     string
	ExitStatus int
}

func (e *TaskError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("task %s (%s) %s with exit status %d", e.ID, e.Kind, e.State, e.ExitStatus)
	}
	return fmt.Sprintf("task %s (%s) %s with exit status %d: %s", e.ID, e.Kind, e.State, e.ExitStatus, e.Reason)
}

// ExitError is returned by a handler to give its task an exit status, such
// as the exit code of ansible-playbook.
type ExitError struct {
	Status int
	Err    error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %v", e.Status, e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitStatus returns the exit status err stands for: 0 for nil, the status
// of an [ExitError] in its chain, else [ExitFailure].
func ExitStatus(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Status
	}
	return ExitFailure
}

// Errors a caller handles.
var (
	// ErrNotFound: no task (or lock) of that id or name.
	ErrNotFound = errors.New("not found")
	// ErrFinished: the task already finished, so it cannot be cancelled.
	ErrFinished = errors.New("task already finished")
	// ErrLocked: the lock is held by someone else. It is the same value
	// as statemachine.ErrLocked, so errors.Is matches either.
	ErrLocked = locking.ErrLocked
	// ErrLockLost: the lock expired or was taken while held; the same
	// value as statemachine.ErrLockLost.
	ErrLockLost = locking.ErrLockLost
	// ErrCancelled is the cause of a handler's context when its task was
	// cancelled.
	ErrCancelled = errors.New("task cancelled")
	// ErrMaybeQueued: Submit could not learn whether the broker stored the
	// task (its acknowledgement was lost, again and again, or ctx ended
	// while waiting for it). The task may still run: its record, under
	// the id Submit returns with this error, tells.
	ErrMaybeQueued = errors.New("the task may have been queued and may still run")
	// ErrDisconnected is the cause of a handler's context when its worker
	// lost the broker for longer than the queue's ack wait: the broker has
	// given the task to another worker by then.
	ErrDisconnected = errors.New("worker disconnected from the broker for longer than the ack wait")
	// ErrShutdown is the cause of a handler's context when its worker shuts
	// down and the grace period is over; the task is given to another
	// worker.
	ErrShutdown = errors.New("worker shutting down")
)

// newID returns a task id: 26 characters, Crockford base32, sortable by
// creation time (a ULID in lower case).
func newID() string { return idAt(time.Now()) }

const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

func idAt(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand since Go 1.24)
	var out [26]byte
	// 128 bits in 26 groups of 5, the first group holds the top 3 bits.
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ValidID reports whether id has the form of a task id.
func ValidID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := range len(id) {
		if strings.IndexByte(crockford, id[i]) < 0 {
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("task id %q: expected 26 characters of lower-case Crockford base32", id)
	}
	return nil
}
