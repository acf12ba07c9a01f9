package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
)

// FileLocker is a statemachine.Locker over file locks (flock(2)) in dir:
// the lock of a key is held by one process of the host, and by one
// goroutine in it, until it is released or the process ends. It serves
// the processes of one host that share no broker, as two standalone
// `osism netbox connect` runs do; a broker's locks ([StateLocker]) serve
// several hosts. A file lock cannot be lost while its process lives, so
// its lease's Lost channel is nil.
func FileLocker(dir string) statemachine.Locker { return fileLocker{dir: dir} }

type fileLocker struct{ dir string }

func (l fileLocker) Acquire(ctx context.Context, key string) (statemachine.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock directory %s: %w", l.dir, err)
	}
	// LockKey escapes everything but letters, digits, '-', '_', '/' and
	// single dots (as "=XX"); '/' escaped the same way makes one flat,
	// injective file name of any key.
	name := strings.ReplaceAll(osism.LockKey(key), "/", "=2F")
	if len(name) > 200 { // a file name has at most 255 bytes
		sum := sha256.Sum256([]byte(key))
		name = name[:160] + "-" + hex.EncodeToString(sum[:16])
	}
	path := filepath.Join(l.dir, name+".lock")
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %q (%s): %w", key, path, err)
	}
	if !ok {
		return nil, fmt.Errorf("lock %q held by another process or goroutine of this host (%s): %w", key, path, statemachine.ErrLocked)
	}
	return fileLease{fl}, nil
}

type fileLease struct{ fl *flock.Flock }

func (fileLease) Lost() <-chan struct{} { return nil }

func (f fileLease) Release(context.Context) error { return f.fl.Unlock() }
