package services_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// Two holders of one host, in this process or another, never hold a key at
// once; a holder that dies (kill -9) leaves the lock free.
func TestFileLocker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a, b := services.FileLocker(dir), services.FileLocker(dir)

	lease, err := a.Acquire(ctx, "device/node 1")
	require.NoError(t, err)
	require.Nil(t, lease.Lost(), "a file lock is not lost while its process lives")
	_, err = b.Acquire(ctx, "device/node 1")
	require.ErrorIs(t, err, statemachine.ErrLocked, "a second holder in this process")
	other, err := b.Acquire(ctx, "switch/node 1")
	require.NoError(t, err, "another key is another lock")
	require.NoError(t, other.Release(ctx))
	require.NoError(t, lease.Release(ctx))
	lease, err = b.Acquire(ctx, "device/node 1")
	require.NoError(t, err, "free after release")
	require.NoError(t, lease.Release(ctx))
	long := "device/" + strings.Repeat("ü", 64)
	lease, err = a.Acquire(ctx, long)
	require.NoError(t, err, "a 64-character name of multibyte letters")
	_, err = b.Acquire(ctx, long)
	require.ErrorIs(t, err, statemachine.ErrLocked)
	require.NoError(t, lease.Release(ctx))
	require.NoError(t, os.Remove(filepath.Join(dir, func() string {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.Contains(e.Name(), "-") && len(e.Name()) > 150 {
				return e.Name()
			}
		}
		return "missing"
	}())))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "one flat file per key")
	for _, e := range entries {
		require.False(t, e.IsDir())
		info, err := e.Info()
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}

	flockBin, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock(1) from util-linux is needed to hold a lock from another process: %v", err)
	}
	file := filepath.Join(dir, entries[0].Name())
	key := "device/node 1"
	if !strings.HasPrefix(entries[0].Name(), "device") {
		key = "switch/node 1"
	}
	// -o: flock(1) keeps the lock itself and does not hand it to sleep,
	// so once flock is reaped the lock is free (a sleep that inherited it
	// could still be exiting after the kill).
	holder := exec.Command(flockBin, "-o", "-x", file, "sleep", "60")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, holder.Start())
	killHolder := func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() }
	t.Cleanup(killHolder)
	require.Eventually(t, func() bool {
		l, err := a.Acquire(ctx, key)
		if err == nil {
			_ = l.Release(ctx)
			return false
		}
		require.ErrorIs(t, err, statemachine.ErrLocked)
		require.ErrorContains(t, err, "another process")
		return true
	}, 10*time.Second, 10*time.Millisecond, "another process holds the lock")
	killHolder() // kill -9 of flock and the sleep it runs
	lease, err = a.Acquire(ctx, key)
	require.NoError(t, err, "the lock of a killed process is free")
	require.NoError(t, lease.Release(ctx))
}

// Without a broker, two fabrics of one host (two standalone commands)
// share their device locks.
func TestFabricsWithoutBrokerShareLocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := fabricConfig(filepath.Join(dir, "state"))
	cfg.LockDir = filepath.Join(dir, "locks")
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	f1, err := services.NewFabric(cfg, nb, nil, nil)
	require.NoError(t, err)
	f2, err := services.NewFabric(cfg, nb, nil, nil)
	require.NoError(t, err)
	lease, err := f1.Locker.Acquire(context.Background(), statemachine.LockKey("node-1"))
	require.NoError(t, err)
	defer lease.Release(context.Background())
	_, err = f2.Locker.Acquire(context.Background(), statemachine.LockKey("node-1"))
	require.ErrorIs(t, err, statemachine.ErrLocked)
}
