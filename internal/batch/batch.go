// Package batch gathers requests that arrive while a round of work runs
// and serves them all with the next round: concurrent callers share one
// request (to NetBox, to a switch) instead of each making their own. A
// round that panics fails every caller it serves with a [*PanicError]; the
// process lives on and the next round runs.
package batch

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Rounds runs Run over the keys asked for. A caller whose keys arrive while
// a round runs waits for the next one, which serves every key asked for
// meanwhile at once.
type Rounds[K comparable, R any] struct {
	run     func(ctx context.Context, keys []K) (map[K]R, error)
	timeout time.Duration

	mu      sync.Mutex
	busy    bool
	waiting []*waiter[K, R]
}

type waiter[K comparable, R any] struct {
	keys []K
	done chan struct{}
	res  map[K]R
	err  error
}

// New returns rounds of run; one round may take timeout at most (0: ten
// minutes).
func New[K comparable, R any](timeout time.Duration, run func(ctx context.Context, keys []K) (map[K]R, error)) *Rounds[K, R] {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	return &Rounds[K, R]{run: run, timeout: timeout}
}

// Do waits for the round that serves keys and returns its results for
// them, in the order of keys, and the round's error. A round goes on when
// a caller's ctx ends, for the other callers.
func (r *Rounds[K, R]) Do(ctx context.Context, keys ...K) ([]R, error) {
	w := &waiter[K, R]{keys: keys, done: make(chan struct{})}
	r.mu.Lock()
	r.waiting = append(r.waiting, w)
	start := !r.busy
	r.busy = true
	r.mu.Unlock()
	if start {
		go r.loop(context.WithoutCancel(ctx))
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	out := make([]R, 0, len(keys))
	for _, k := range keys {
		out = append(out, w.res[k])
	}
	return out, nil
}

func (r *Rounds[K, R]) loop(ctx context.Context) {
	for {
		r.mu.Lock()
		batch := r.waiting
		r.waiting = nil
		if len(batch) == 0 {
			r.busy = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		var keys []K
		for _, w := range batch {
			for _, k := range w.keys {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		res, err := r.runRound(ctx, keys)
		for _, w := range batch {
			w.res, w.err = res, err
			close(w.done)
		}
	}
}

// runRound runs one round; a panic in it becomes the round's error, so
// that it reaches every caller of the round and the next round runs.
func (r *Rounds[K, R]) runRound(ctx context.Context, keys []K) (res map[K]R, err error) {
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, newPanicError(p)
		}
	}()
	return r.run(rctx, keys)
}

// PanicError is the error of every caller of a round whose run panicked:
// the panic's value, where it happened and the goroutine's stack.
type PanicError struct {
	Value any
	// At is the function and file:line that panicked.
	At string
	// Stack is the stack of the round's goroutine at the panic.
	Stack []byte
}

func newPanicError(p any) *PanicError {
	e := &PanicError{Value: p, Stack: debug.Stack()}
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		// The first frame outside the runtime and this package is where
		// the panic happened.
		if !strings.HasPrefix(f.Function, "runtime.") && !strings.Contains(f.Function, "internal/batch.(*Rounds") &&
			!strings.Contains(f.Function, "internal/batch.newPanicError") {
			e.At = fmt.Sprintf("%s (%s:%d)", f.Function, f.File, f.Line)
			break
		}
		if !more {
			break
		}
	}
	return e
}

func (e *PanicError) Error() string {
	if e.At == "" {
		return fmt.Sprintf("batch round panicked: %v", e.Value)
	}
	return fmt.Sprintf("batch round panicked: %v, at %s", e.Value, e.At)
}
