package netboxtest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Violation is an answer of the double that NetBox's OpenAPI schema does not allow.
type Violation struct {
	Method    string // request method
	Path      string // request path and query
	Status    int    // answer status
	Operation string // the schema's operationId, when the operation is known
	Message   string // what does not match, with a JSON pointer into the answer
}

func (v Violation) String() string {
	op := v.Operation
	if op == "" {
		op = "?"
	}
	return fmt.Sprintf("%s %s -> %d (%s): %s", v.Method, v.Path, v.Status, op, v.Message)
}

// Answer is one answer of the double, as a Checker sees it.
type Answer struct {
	Method     string      // request method
	Template   string      // the schema's path template, e.g. "/api/dcim/devices/{id}/"
	RequestURI string      // request path and query
	Status     int         // answer status (200 when the handler set none)
	Body       []byte      // answer body
	Brief      bool        // a ?brief GET: the answer follows the model's brief representation
	BulkCreate bool        // a list POST: the answer is a list of single-object answers
	Kind       *KindSchema // the model served at the path; nil for /api/status/ and unknown paths
}

// KindSchema names the OpenAPI components of one model the double serves.
type KindSchema struct {
	Name        string   // object type, e.g. "dcim.device"
	Schema      string   // component of the full representation, e.g. "Device"
	Brief       string   // component of the brief representation ("" when NetBox has none)
	BriefFields []string // fields of ?brief answers
}

// KindSchemaOf returns the schema names of an object type the double serves, or nil.
func KindSchemaOf(objectType string) *KindSchema {
	return kindSchema(kinds[objectType])
}

func kindSchema(k *kind) *KindSchema {
	if k == nil {
		return nil
	}
	return &KindSchema{Name: k.name, Schema: k.schema, Brief: k.brief, BriefFields: slices.Clone(k.briefSet)}
}

// Checker validates answers against NetBox's OpenAPI schema; package conformance provides it.
type Checker interface {
	// Load prepares the schema; Start calls it once per server with WithConformance, so it should
	// do the work only once per process.
	Load() error
	// Check returns what in the answer does not match the schema (nothing when it conforms) and the
	// schema's operationId, when the operation is known.
	Check(a Answer) (messages []string, operationID string)
}

var (
	checkerMu sync.Mutex
	checker   Checker
)

// RegisterChecker sets the Checker that WithConformance uses; the last registration wins. Package
// conformance calls it in its init function.
func RegisterChecker(c Checker) {
	checkerMu.Lock()
	defer checkerMu.Unlock()
	checker = c
}

func registeredChecker() Checker {
	checkerMu.Lock()
	defer checkerMu.Unlock()
	return checker
}

// errNoChecker is what Start returns for WithConformance when no Checker is registered.
var errNoChecker = errors.New(`netboxtest: WithConformance needs the schema checker: import _ "github.com/osism/go-osism/netbox/netboxtest/conformance"`)

func (s *Server) check(r *http.Request, info answerInfo, rec *recorder) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	a := Answer{Method: r.Method, Template: info.tmpl, RequestURI: r.URL.RequestURI(), Status: status,
		Body: rec.body, Brief: info.brief, BulkCreate: info.bulkCreate, Kind: kindSchema(info.k)}
	msgs, opID := s.checker.Check(a)
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.violations = append(s.violations, Violation{Method: r.Method, Path: a.RequestURI, Status: status, Operation: opID, Message: m})
	}
}
