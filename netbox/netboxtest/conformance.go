package netboxtest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// Checker validates the answers of a Server (see WithChecker). Package
// github.com/osism/go-osism/netbox/netboxtest/conformance provides the one against NetBox's OpenAPI
// schema, conformance.New(); it is a package of its own so that programs which start the double do
// not link the OpenAPI libraries.
type Checker interface {
	// Load prepares the checker; Start calls it once per server, so a checker that loads a schema
	// should do that work only once per process.
	Load() error
	// Check returns what in the answer does not match the schema (nothing when it conforms) and the
	// schema's operationId, when the operation is known. It is called from the server's handlers,
	// possibly from several goroutines at once.
	Check(a Answer) (messages []string, operationID string)
}

// errNilChecker is what Start returns for WithChecker(nil).
var errNilChecker = errors.New("netboxtest: WithChecker(nil): want a Checker, e.g. conformance.New() from github.com/osism/go-osism/netbox/netboxtest/conformance")

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

// SchemaViolations returns the violations the checker of WithChecker reported.
func (s *Server) SchemaViolations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Violation(nil), s.violations...)
}
