// Package locking holds what the lock users of go-osism share: the one
// ErrLocked and ErrLockLost that every package returns (so that
// errors.Is matches whichever package made the error), and the one wait
// for a held lock, with backoff and jitter.
package locking

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

var (
	// ErrLocked reports that a lock is held by someone else.
	ErrLocked = errors.New("locked")
	// ErrLockLost reports that a lock expired or was taken while held.
	ErrLockLost = errors.New("lock lost")
)

// The backoff of Wait: the first retry after MinWait, doubling up to
// MaxWait, each wait drawn from [d/2, d) so that waiters spread out.
const (
	MinWait = 20 * time.Millisecond
	MaxWait = 1 * time.Second
)

// Wait calls acquire until it returns something other than an error that
// matches ErrLocked, or ctx ends (then it returns the cause of ctx, joined
// with the last ErrLocked so that the holder stays named). onWait, when not
// nil, receives each ErrLocked before the wait that follows it.
func Wait[T any](ctx context.Context, acquire func(context.Context) (T, error), onWait func(error)) (T, error) {
	d := MinWait
	for {
		v, err := acquire(ctx)
		if err == nil || !errors.Is(err, ErrLocked) {
			return v, err
		}
		if onWait != nil {
			onWait(err)
		}
		t := time.NewTimer(d/2 + rand.N(d/2))
		select {
		case <-ctx.Done():
			t.Stop()
			var zero T
			return zero, errors.Join(context.Cause(ctx), err)
		case <-t.C:
		}
		d = min(2*d, MaxWait)
	}
}
