package netbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode"
)

// Sentinels a caller branches on. Match them with errors.Is; an *APIError
// carrying status 404 or 401/403 matches them too.
var (
	// ErrNotFound: the object asked for does not exist in NetBox.
	ErrNotFound = errors.New("netbox: not found")
	// ErrAmbiguous: a lookup that must name one object matched several.
	ErrAmbiguous = errors.New("netbox: more than one object matches")
	// ErrUnauthorized: NetBox refused the token (401) or its permissions (403).
	ErrUnauthorized = errors.New("netbox: unauthorized")
	// ErrInvalidConfig: the Config cannot make a working client.
	ErrInvalidConfig = errors.New("netbox: invalid configuration")
)

// APIError is a non-2xx answer from NetBox. Fields holds NetBox's field
// errors ({"name": ["This field is required."]}) when the body had them, so
// a caller can show the operator exactly which input NetBox rejected.
type APIError struct {
	Method     string
	Path       string // path and query, never the host or credentials
	StatusCode int
	Detail     string              // NetBox's "detail", or a short body excerpt
	Fields     map[string][]string // NetBox's field errors, if any
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "; %s: %s", k, strings.Join(e.Fields[k], " "))
		}
	}
	return b.String()
}

// Is lets errors.Is(err, ErrNotFound) and errors.Is(err, ErrUnauthorized)
// work on answers, so callers need not compare status codes.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	}
	return false
}

// StatusIs reports whether err carries an *APIError with one of the codes.
func StatusIs(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.StatusCode == c {
			return true
		}
	}
	return false
}

// newAPIError reads NetBox's error body. NetBox answers field errors as an
// object of string lists, bulk field errors as a list of such objects, and
// everything else as {"detail": "..."}.
func newAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, StatusCode: status}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		e.addFields("", obj)
		return e
	}
	var list []map[string]json.RawMessage
	if json.Unmarshal(body, &list) == nil {
		for i, o := range list {
			if len(o) > 0 {
				e.addFields(fmt.Sprintf("[%d].", i), o)
			}
		}
		return e
	}
	e.Detail = excerpt(body)
	return e
}

// Bounds of what an answer puts into an error: NetBox's messages are
// short, and an error is one line of a log or a task's output however
// large or odd the body a proxy or a broken NetBox sent.
const (
	maxErrorText   = 200 // runes of a detail, a message or a key
	maxErrorFields = 20  // field errors kept
	maxFieldMsgs   = 5   // messages kept per field
)

func (e *APIError) addFields(prefix string, obj map[string]json.RawMessage) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := obj[k]
		if k == "detail" && prefix == "" {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				e.Detail = excerpt([]byte(s))
				continue
			}
		}
		if len(e.Fields) >= maxErrorFields {
			e.Fields["..."] = []string{"more field errors left out"}
			return
		}
		if e.Fields == nil {
			e.Fields = map[string][]string{}
		}
		key := excerpt([]byte(prefix + k))
		var msgs []string
		if json.Unmarshal(raw, &msgs) == nil {
			if len(msgs) > maxFieldMsgs {
				msgs = append(msgs[:maxFieldMsgs], "...")
			}
			for i, m := range msgs {
				msgs[i] = excerpt([]byte(m))
			}
			e.Fields[key] = msgs
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			e.Fields[key] = []string{excerpt([]byte(s))}
			continue
		}
		// Nested errors (custom_fields: {name: [...]}) keep their JSON.
		e.Fields[key] = []string{excerpt(raw)}
	}
}

// excerpt makes text of an answer fit for an error: valid UTF-8, control
// characters (a newline of an HTML page, an injected header) and runs of
// white space as one space, at most maxErrorText runes.
func excerpt(body []byte) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range strings.ToValidUTF8(string(body), "\uFFFD") {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if n >= maxErrorText {
			b.WriteString("...")
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// DecodeError reports one object of a list answer that could not be decoded.
// Lists skip such objects and hand the error to Config.OnDecodeError, so one
// odd object never hides all the others.
type DecodeError struct {
	Path string // the list endpoint
	ID   int    // the object's id when it could be read, else 0
	Err  error
}

func (e *DecodeError) Error() string {
	if e.ID != 0 {
		return fmt.Sprintf("decode object %d from %s: %v", e.ID, e.Path, e.Err)
	}
	return fmt.Sprintf("decode object from %s: %v", e.Path, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
