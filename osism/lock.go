package osism

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/osism/go-osism/internal/locking"
)

// Lock is a held lock on the bus: a key in the locks bucket that expires
// after its TTL unless renewed. Renew and Release compare the revision, so
// a holder whose lock expired and was taken by another can neither extend
// nor remove the new holder's lock.
type Lock struct {
	Key   string
	Owner string
	TTL   time.Duration

	c        *Client
	acquired time.Time
	mu       sync.Mutex
	revision uint64
	// sent is when the write that stored the current revision was sent:
	// the broker expires the lock a TTL after it stored that write, so a
	// TTL after sent is no earlier than the expiry.
	sent     time.Time
	released bool
	lost     chan struct{}
	lostOnce sync.Once
}

// LockInfo describes a lock as stored.
type LockInfo struct {
	Key      string        `json:"key"`
	Owner    string        `json:"owner"`
	Acquired time.Time     `json:"acquired"`
	Renewed  time.Time     `json:"renewed"`
	TTL      time.Duration `json:"ttl"`
	Revision uint64        `json:"revision"`
}

type lockValue struct {
	Owner    string        `json:"owner"`
	Acquired time.Time     `json:"acquired"`
	Renewed  time.Time     `json:"renewed"`
	TTL      time.Duration `json:"ttl"`
}

// LockOpts are the knobs of [Client.Acquire]; nil means the defaults.
type LockOpts struct {
	// Owner says who holds the lock, for people reading it; default
	// host:pid.
	Owner string
}

// lockKeyRE allows the keys of names of 300 bytes, every byte escaped.
var lockKeyRE = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]{1,1000}$`)

func checkLockKey(key string) error {
	if !lockKeyRE.MatchString(key) || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return fmt.Errorf("lock key %q: expected letters, digits and -/_=. (no leading, trailing or double dot)", key)
	}
	return nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// Acquire takes the lock key for ttl (at least one second). It does not
// wait: when the lock is held it fails at once with an error for which
// errors.Is(err, ErrLocked) is true, naming the holder.
func (c *Client) Acquire(ctx context.Context, key string, ttl time.Duration, opts *LockOpts) (*Lock, error) {
	if err := checkLockKey(key); err != nil {
		return nil, err
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("lock %q: ttl %s: expected at least 1s", key, ttl)
	}
	owner := defaultOwner()
	if opts != nil && opts.Owner != "" {
		owner = opts.Owner
	}
	now := time.Now().UTC()
	b, err := json.Marshal(lockValue{Owner: owner, Acquired: now, Renewed: now, TTL: ttl})
	if err != nil {
		return nil, err
	}
	rev, err := c.locks.Create(ctx, lockKeyPre+key, b, jetstream.KeyTTL(ttl))
	if errors.Is(err, jetstream.ErrKeyExists) {
		holder := "someone"
		if e, gerr := c.locks.Get(ctx, lockKeyPre+key); gerr == nil {
			var v lockValue
			if json.Unmarshal(e.Value(), &v) == nil {
				holder = v.Owner
			}
		}
		return nil, fmt.Errorf("lock %q held by %s: %w", key, holder, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", key, err)
	}
	return &Lock{Key: key, Owner: owner, TTL: ttl, c: c, acquired: now, sent: now, revision: rev, lost: make(chan struct{})}, nil
}

// AcquireWait is [Client.Acquire] that waits while the lock is held, with
// backoff and jitter, until ctx ends. onWait, when not nil, receives each
// ErrLocked (naming the holder) before the wait that follows it.
func (c *Client) AcquireWait(ctx context.Context, key string, ttl time.Duration, opts *LockOpts, onWait func(error)) (*Lock, error) {
	return locking.Wait(ctx, func(ctx context.Context) (*Lock, error) { return c.Acquire(ctx, key, ttl, opts) }, onWait)
}

// Revision is the lock's revision in the bucket; it changes on renewal.
func (l *Lock) Revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.revision
}

// Lost returns a channel closed when the lock was found lost: a renewal
// failed because the lock expired or was taken or broken, or KeepAlive
// could not renew it in time (it closes the channel before the broker
// would expire the lock).
func (l *Lock) Lost() <-chan struct{} { return l.lost }

func (l *Lock) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// Renew extends the lock by its TTL from now. It fails with ErrLockLost
// when the lock is no longer this holder's.
func (l *Lock) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("renew lock %q: released", l.Key)
	}
	now := time.Now()
	b, err := json.Marshal(lockValue{Owner: l.Owner, Acquired: l.acquired, Renewed: now.UTC(), TTL: l.TTL})
	if err != nil {
		return err
	}
	// KeyValue.Update cannot set a TTL, so renewal publishes the
	// compare-and-set itself.
	pa, err := l.c.js.PublishMsg(ctx, &nats.Msg{Subject: kvSubject(LockBucket, lockKeyPre+l.Key), Data: b},
		jetstream.WithExpectLastSequencePerSubject(l.revision), jetstream.WithMsgTTL(l.TTL))
	if isWrongLastSeq(err) {
		l.markLost()
		return fmt.Errorf("renew lock %q: %w", l.Key, ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("renew lock %q: %w", l.Key, err)
	}
	l.revision, l.sent = pa.Sequence, now
	return nil
}

// lostMargin is how long before the broker would expire a lock that
// could not be renewed its holder counts it as lost: the holder must stop
// before another can take the lock.
func lostMargin(ttl time.Duration) time.Duration { return max(ttl/5, 100*time.Millisecond) }

// validUntil is when the lock counts as lost unless renewed: the TTL after
// the last write that stored it was sent, less the margin.
func (l *Lock) validUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent.Add(l.TTL - lostMargin(l.TTL))
}

// Release gives the lock back. It fails with ErrLockLost, and removes
// nothing, when the lock is no longer this holder's.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	err := l.c.locks.Delete(ctx, lockKeyPre+l.Key, jetstream.LastRevision(l.revision))
	if isWrongLastSeq(err) {
		l.released = true
		l.markLost()
		return fmt.Errorf("release lock %q: %w", l.Key, ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("release lock %q: %w", l.Key, err)
	}
	l.released = true
	return nil
}

// KeepAlive renews the lock at a third of its TTL until ctx ends, the lock
// is released, or it is lost (then Lost is closed): a renewal finds it
// taken or broken, or no renewal succeeded in time. A renewal that fails
// for another reason (the broker unreachable) is retried, each attempt
// bounded by the lock's validity; the lock counts as lost a margin (a
// fifth of the TTL) before the broker would expire it, so that its holder
// stops before anyone else can take it.
func (l *Lock) KeepAlive(ctx context.Context) {
	every := l.TTL / 3
	next := time.NewTimer(every)
	defer next.Stop()
	deadline := l.validUntil()
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.lost:
			return
		case <-expire.C:
			l.c.log.Warn("lock lost: not renewed in time, before the broker expires it", "key", l.Key, "ttl", l.TTL)
			l.markLost()
			return
		case <-next.C:
		}
		l.mu.Lock()
		released := l.released
		l.mu.Unlock()
		if released {
			return
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		err := l.Renew(rctx)
		cancel()
		switch {
		case err == nil:
			deadline = l.validUntil()
			expire.Reset(time.Until(deadline))
			next.Reset(every)
		case errors.Is(err, ErrLockLost):
			l.c.log.Warn("lock lost", "key", l.Key, "owner", l.Owner)
			return
		case ctx.Err() != nil:
			return
		case !time.Now().Before(deadline):
			l.c.log.Warn("lock lost: not renewed in time, before the broker expires it", "key", l.Key, "err", err)
			l.markLost()
			return
		default:
			l.c.log.Warn("lock renewal failed, retrying", "key", l.Key, "err", err)
			next.Reset(min(every, time.Until(deadline)) / 2)
		}
	}
}

// Locks lists the locks held now, ordered by key.
func (c *Client) Locks(ctx context.Context) ([]LockInfo, error) {
	w, err := c.locks.Watch(ctx, lockKeyPre+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	entries, err := snapshot(ctx, w)
	if err != nil {
		return nil, err
	}
	var out []LockInfo
	for _, e := range entries {
		var v lockValue
		if json.Unmarshal(e.Value(), &v) != nil {
			continue
		}
		out = append(out, LockInfo{Key: strings.TrimPrefix(e.Key(), lockKeyPre), Owner: v.Owner, Acquired: v.Acquired,
			Renewed: v.Renewed, TTL: v.TTL, Revision: e.Revision()})
	}
	slices.SortFunc(out, func(a, b LockInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// BreakLock removes the lock key whoever holds it; its holder finds it lost
// at the next renewal. Operators use it to clear a lock of a holder that is
// gone.
func (c *Client) BreakLock(ctx context.Context, key string) error {
	if err := checkLockKey(key); err != nil {
		return err
	}
	if _, err := c.locks.Get(ctx, lockKeyPre+key); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("lock %q: %w", key, ErrNotFound)
	}
	if err := c.locks.Delete(ctx, lockKeyPre+key); err != nil {
		return fmt.Errorf("break lock %q: %w", key, err)
	}
	return nil
}

// Hold is the global hold: while it is set, workers start no task (running
// tasks go on). Upstream calls it "osism lock".
type Hold struct {
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by"`
	Since  time.Time `json:"since"`
}

// SetHold sets the global hold.
func (c *Client) SetHold(ctx context.Context, reason string) error {
	b, err := json.Marshal(Hold{Reason: reason, By: defaultOwner(), Since: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := c.locks.Put(ctx, holdKey, b); err != nil {
		return fmt.Errorf("set hold: %w", err)
	}
	return nil
}

// ReleaseHold ends the global hold; ending no hold is not an error.
func (c *Client) ReleaseHold(ctx context.Context) error {
	if err := c.locks.Delete(ctx, holdKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("release hold: %w", err)
	}
	return nil
}

// HoldStatus returns the global hold, or nil when none is set.
func (c *Client) HoldStatus(ctx context.Context) (*Hold, error) {
	e, err := c.locks.Get(ctx, holdKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	var h Hold
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	return &h, nil
}

// LockKey turns any name (a device name with spaces, say) into a valid
// lock key: allowed characters stay, every other byte becomes =XX (a dot
// too where it would start, end or double one), and the empty name is
// "=". Different names give different keys, and a name of up to 300 bytes
// (NetBox allows 64 characters, 256 bytes) gives a valid key.
func LockKey(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '/', c == '_':
			b.WriteByte(c)
		case c == '.' && i > 0 && i < len(name)-1 && name[i-1] != '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	if b.Len() == 0 {
		// "=" alone is no escape, so no other name gives it.
		return "="
	}
	return b.String()
}
