// Package batch gathers requests that arrive while a round of work runs
// and serves them all with the next round: concurrent callers share one
// request (to NetBox, to a switch) instead of each making their own.
package batch

import (
	"context"
	"slices"
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
		rctx, cancel := context.WithTimeout(ctx, r.timeout)
		res, err := r.run(rctx, keys)
		cancel()
		for _, w := range batch {
			w.res, w.err = res, err
			close(w.done)
		}
	}
}
