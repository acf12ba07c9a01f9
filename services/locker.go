package services

import (
	"context"
	"errors"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
)

// StateLocker lends the bus's locks to the device state machine: a lease
// lives for ttl and is renewed in the background at a third of it; its
// Lost channel closes when a renewal finds the lock expired or taken (or
// cannot reach the broker for a whole ttl). Keys are made valid with
// osism.LockKey, so any device name works.
func StateLocker(c *osism.Client, ttl time.Duration) statemachine.Locker {
	return &stateLocker{c: c, ttl: ttl}
}

type stateLocker struct {
	c   *osism.Client
	ttl time.Duration
}

func (s *stateLocker) Acquire(ctx context.Context, key string) (statemachine.Lease, error) {
	l, err := s.c.Acquire(ctx, osism.LockKey(key), s.ttl, nil)
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go l.KeepAlive(kctx)
	return &stateLease{l: l, stop: cancel}, nil
}

type stateLease struct {
	l    *osism.Lock
	stop context.CancelFunc
}

func (s *stateLease) Lost() <-chan struct{} { return s.l.Lost() }

// Release gives the lock back; a lost lease releases without error, as the
// statemachine.Lease contract asks.
func (s *stateLease) Release(ctx context.Context) error {
	s.stop()
	err := s.l.Release(ctx)
	if errors.Is(err, osism.ErrLockLost) {
		return nil
	}
	return err
}
