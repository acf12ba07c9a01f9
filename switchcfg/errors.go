package switchcfg

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels a caller branches on; match them with errors.Is.
var (
	// ErrNotSwitch: a device asked for is not a switch OSISM configures
	// (custom field device_type=switch and tag managed-by-osism).
	ErrNotSwitch = errors.New("not a managed switch")
	// ErrNoTemplate: none of the template names for a switch exists.
	ErrNoTemplate = errors.New("no template")
	// ErrUnknownSwitch: the state repository holds no configuration of the
	// switch (at the revision asked for).
	ErrUnknownSwitch = errors.New("unknown switch")
	// ErrUnknownRevision: a revision does not resolve to a commit of the
	// state repository.
	ErrUnknownRevision = errors.New("unknown revision")
	// ErrInvalidName: a switch name cannot be a file and tag name.
	ErrInvalidName = errors.New("invalid switch name")
	// ErrNotDeployed: no revision was marked deployed for the switch.
	ErrNotDeployed = errors.New("not deployed")
	// ErrShortRead: a switch's running configuration was cut short (the
	// dialect's [Completer] said so) every time it was read.
	ErrShortRead = errors.New("running configuration cut short")
	// ErrNotApplied: after a deploy sent its commands three times, the
	// read-back still lacked some.
	ErrNotApplied = errors.New("the switch did not take the configuration")
)

// TemplateError is a template that could not be parsed or executed: which
// file, which line (0 when the engine did not say) and why.
type TemplateError struct {
	Template string // the file, as it was looked up: "<dir>/leaf-1.cfg.j2"
	Line     int
	Err      error
}

func (e *TemplateError) Error() string {
	loc := e.Template
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	return fmt.Sprintf("template %s: %v", loc, e.Err)
}

func (e *TemplateError) Unwrap() error { return e.Err }

// NoTemplateError says where templates were looked for and which names
// were tried. It matches ErrNoTemplate.
type NoTemplateError struct {
	Switch string
	Dir    string   // the templates directory, or "built-in templates"
	Tried  []string // file names in the order they were tried
}

func (e *NoTemplateError) Error() string {
	return fmt.Sprintf("no template for switch %q in %s: tried %s", e.Switch, e.Dir, strings.Join(e.Tried, ", "))
}

func (e *NoTemplateError) Is(target error) bool { return target == ErrNoTemplate }
