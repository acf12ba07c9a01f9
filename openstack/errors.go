package openstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// ErrNotFound matches an answer 404 of the bare-metal API (a node or port
// that does not exist): errors.Is(err, ErrNotFound).
var ErrNotFound = errors.New("not found")

// StatusIs reports whether err is an answer of the bare-metal API with the
// HTTP status code.
func StatusIs(err error, code int) bool {
	var e *Error
	if errors.As(err, &e) && e.Status == code {
		return true
	}
	return gophercloud.ResponseCodeIs(err, code)
}

// Error is a failed call of the bare-metal API: the operation, the node or
// port it was about, the HTTP status (0 when no answer came) and Ironic's
// own message.
type Error struct {
	Op       string // "get node", "set provision state active", ...
	Resource string // the node's or port's name or UUID
	Status   int
	Message  string
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("openstack: ")
	b.WriteString(e.Op)
	if e.Resource != "" {
		b.WriteString(" ")
		b.WriteString(e.Resource)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Status == 0 && e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrNotFound on a 404.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// wrap turns a gophercloud error into an *Error with Ironic's message
// (its faultstring), never the request body.
func wrap(err error, op, resource string) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Resource: resource, Err: err}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		e.Status = code.Actual
		e.Message = faultString(code.Body)
	}
	return e
}

// cleanErr keeps what a gophercloud error says without the request URL's
// query or a body.
func cleanErr(err error) error {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		msg := faultString(code.Body)
		if msg == "" {
			msg = http.StatusText(code.Actual)
		}
		return fmt.Errorf("%d %s: %w", code.Actual, msg, errStatus(code.Actual))
	}
	return err
}

type errStatus int

func (e errStatus) Error() string { return fmt.Sprintf("HTTP %d", int(e)) }

// faultString digs Ironic's message out of a body:
// {"error_message": "{\"faultstring\": \"...\"}"} (a JSON document in a
// string), or {"error_message": {"faultstring": ...}}.
func faultString(body []byte) string {
	var outer struct {
		ErrorMessage json.RawMessage `json:"error_message"`
	}
	if json.Unmarshal(body, &outer) != nil || len(outer.ErrorMessage) == 0 {
		return strings.TrimSpace(string(truncate(body, 300)))
	}
	raw := outer.ErrorMessage
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	var inner struct {
		Faultstring string `json:"faultstring"`
	}
	if json.Unmarshal(raw, &inner) == nil && inner.Faultstring != "" {
		return inner.Faultstring
	}
	if s != "" {
		return s
	}
	return string(truncate(raw, 300))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// NodeStateError is a node that entered a failed provision state while
// a caller waited for another.
type NodeStateError struct {
	Node      string // name (or UUID when it has none)
	State     ProvisionState
	Waiting   []ProvisionState
	LastError string
}

func (e *NodeStateError) Error() string {
	msg := fmt.Sprintf("openstack: node %s: provision state %q", e.Node, e.State)
	if len(e.Waiting) > 0 {
		ws := make([]string, len(e.Waiting))
		for i, w := range e.Waiting {
			ws[i] = string(w)
		}
		msg += " (waiting for " + strings.Join(ws, " or ") + ")"
	}
	if e.LastError != "" {
		msg += ": last_error: " + e.LastError
	}
	return msg
}
