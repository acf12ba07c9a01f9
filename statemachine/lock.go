package statemachine

import (
	"context"
	"fmt"
	"sync"

	"github.com/osism/go-osism/internal/locking"
)

// Locker hands out exclusive, named locks. The Machine takes the lock
// "device/<name>" for the whole of a transition so that two transitions never
// run on one device at once. Acquire does not wait: when the lock is held it
// fails at once with an error for which errors.Is(err, ErrLocked) is true.
//
// The in-process MemoryLocker serves one process; the task bus provides a
// distributed Locker for several.
type Locker interface {
	Acquire(ctx context.Context, key string) (Lease, error)
}

// Lease is a held lock.
type Lease interface {
	// Lost returns a channel that is closed when the lock was lost (it
	// expired, or was broken by an operator) while held. A nil channel means
	// the lease cannot be lost.
	Lost() <-chan struct{}
	// Release gives the lock back. Releasing a lost lease is not an error.
	Release(ctx context.Context) error
}

// ErrLocked reports that a lock is held by someone else. It is the same
// value as osism.ErrLocked, so errors.Is matches the errors of either.
var ErrLocked = locking.ErrLocked

// ErrLockLost reports that a lock was lost while a transition held it; the
// same value as osism.ErrLockLost.
var ErrLockLost = locking.ErrLockLost

// AcquireWait takes the lock key of l, waiting while it is held (with
// backoff and jitter) until ctx ends. onWait, when not nil, receives each
// ErrLocked before the wait that follows it, for example to say once whom
// the caller waits for.
func AcquireWait(ctx context.Context, l Locker, key string, onWait func(error)) (Lease, error) {
	return locking.Wait(ctx, func(ctx context.Context) (Lease, error) { return l.Acquire(ctx, key) }, onWait)
}

// MemoryLocker is a Locker for one process. The zero value is ready to use.
type MemoryLocker struct {
	mu    sync.Mutex
	held  map[string]*memoryLease
	epoch uint64
}

// NewMemoryLocker returns an empty MemoryLocker.
func NewMemoryLocker() *MemoryLocker { return &MemoryLocker{} }

type memoryLease struct {
	l     *MemoryLocker
	key   string
	epoch uint64
	lost  chan struct{}
}

// Acquire takes the lock key, or fails with ErrLocked when it is held.
func (l *MemoryLocker) Acquire(ctx context.Context, key string) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.held[key]; ok {
		return nil, fmt.Errorf("lock %q: %w", key, ErrLocked)
	}
	if l.held == nil {
		l.held = make(map[string]*memoryLease)
	}
	l.epoch++
	lease := &memoryLease{l: l, key: key, epoch: l.epoch, lost: make(chan struct{})}
	l.held[key] = lease
	return lease, nil
}

// Break takes the lock key away from its holder, whose lease then reports it
// lost. It reports whether the lock was held. Operators use it to clear a lock
// left by a holder that is gone; tests use it to simulate a lost lock.
func (l *MemoryLocker) Break(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lease, ok := l.held[key]
	if !ok {
		return false
	}
	delete(l.held, key)
	close(lease.lost)
	return true
}

// Held reports whether the lock key is held.
func (l *MemoryLocker) Held(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.held[key]
	return ok
}

func (m *memoryLease) Lost() <-chan struct{} { return m.lost }

func (m *memoryLease) Release(context.Context) error {
	m.l.mu.Lock()
	defer m.l.mu.Unlock()
	if cur, ok := m.l.held[m.key]; ok && cur.epoch == m.epoch {
		delete(m.l.held, m.key)
	}
	return nil
}
