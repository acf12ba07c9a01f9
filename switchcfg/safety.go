package switchcfg

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

// PanicError is a panic in a render, a deploy, a driver or a session,
// turned into an error of the switch that asked: the process lives on.
type PanicError struct {
	// What names the work that panicked: "render switch leaf-1".
	What  string
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s: panic: %v", e.What, e.Value) }

// recoverAs turns a panic of the calling function into *errp, a
// *PanicError naming what. Use it deferred.
func recoverAs(errp *error, what string) {
	if p := recover(); p != nil {
		*errp = &PanicError{What: what, Value: p, Stack: debug.Stack()}
	}
}

// openSession opens a session with drv; a panicking driver is an error.
func openSession(ctx context.Context, drv Driver, t Target) (s Session, err error) {
	defer recoverAs(&err, "switch "+t.Switch+": open session")
	return drv.Open(ctx, t)
}

// guarded is a Session whose panics are errors of the call.
type guarded struct {
	s  Session
	sw string
}

func (g guarded) RunningConfig(ctx context.Context) (out []byte, err error) {
	defer recoverAs(&err, "switch "+g.sw+": read running configuration")
	return g.s.RunningConfig(ctx)
}

func (g guarded) Apply(ctx context.Context, rendered, running []byte) (sent []string, err error) {
	defer recoverAs(&err, "switch "+g.sw+": apply")
	return g.s.Apply(ctx, rendered, running)
}

func (g guarded) Save(ctx context.Context) (err error) {
	defer recoverAs(&err, "switch "+g.sw+": save")
	return g.s.Save(ctx)
}

func (g guarded) Close() (err error) {
	defer recoverAs(&err, "switch "+g.sw+": close")
	return g.s.Close()
}

// Masker is a Dialect that knows which lines of its configurations hold
// secrets. Mask returns a line (a command, or a report entry) with every
// secret in it replaced by [Masked]; lines without one are returned as
// they are.
type Masker interface {
	Mask(line string) string
}

// Masked stands in for a secret in reports and deploy output.
const Masked = "******"

// maskLines masks lines with dialect's Masker, in a new slice; lines as
// they are when the dialect has none.
func maskLines(dialect Dialect, lines []string) []string {
	m, ok := dialect.(Masker)
	if !ok || len(lines) == 0 {
		return lines
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = m.Mask(l)
	}
	return out
}

// maskLine masks one line with dialect's Masker.
func maskLine(dialect Dialect, line string) string {
	if m, ok := dialect.(Masker); ok {
		return m.Mask(line)
	}
	return line
}

// maskText masks each line of a switch's output (what a failed command
// printed, which may be part of its configuration) with dialect's Masker;
// without a Masker the text is not quoted at all, only its size.
func maskText(dialect Dialect, text string) string {
	m, ok := dialect.(Masker)
	if !ok {
		return fmt.Sprintf("(%d bytes of output, not quoted: no masker for the dialect)", len(text))
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = m.Mask(l)
	}
	return strings.Join(lines, "\n")
}

// maskPath masks each part of a report entry "block / sub-block / line".
func maskPath(entry string, mask func(string) string) string {
	parts := strings.Split(entry, " / ")
	for i, p := range parts {
		parts[i] = mask(p)
	}
	return strings.Join(parts, " / ")
}
