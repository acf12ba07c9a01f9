package switchcfg_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// gate is an HTTP transport that holds the first answer to a request
// whose path starts with prefix, read in full, until release is closed:
// the render that asked has read NetBox and is slow to go on.
type gate struct {
	prefix  string
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.Path, g.prefix) {
		return resp, err
	}
	held := false
	g.once.Do(func() { held = true })
	if !held {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	close(g.reached)
	select {
	case <-g.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return resp, nil
}

// watchLocker is a Locker that says when an Acquire was refused because
// the lock is held.
type watchLocker struct {
	*statemachine.MemoryLocker
	refused chan string
}

func (w watchLocker) Acquire(ctx context.Context, key string) (statemachine.Lease, error) {
	l, err := w.MemoryLocker.Acquire(ctx, key)
	if errors.Is(err, statemachine.ErrLocked) {
		select {
		case w.refused <- key:
		default:
		}
	}
	return l, err
}

// Two renders of one switch, as two processes make them (two Deployers
// over one state repository and one Locker): the one that read NetBox
// first is committed first, and the newer render is what the repository
// holds at the end.
func TestOlderRenderNeverCommittedOverANewerOne(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	g := &gate{prefix: "/api/dcim/interfaces/", reached: make(chan struct{}), release: make(chan struct{})}
	nbOld, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token(), Transport: g})
	require.NoError(t, err)
	nbNew, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	locker := watchLocker{MemoryLocker: statemachine.NewMemoryLocker(), refused: make(chan string, 1)}
	dir := t.TempDir()
	older, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: dir}, nbOld, locker, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	newer, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: dir}, nbNew, locker, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	olderDone := make(chan error, 1)
	go func() { _, err := older.Generate(ctx, "leaf-1"); olderDone <- err }()
	select {
	case <-g.reached: // older has read the interfaces as they were
	case err := <-olderDone:
		t.Fatalf("the older render ended before it read the interfaces: %v", err)
	}
	setInterface(t, srv, nbNew, "leaf-1", "swp5", map[string]any{"description": "newer render"})
	newerDone := make(chan error, 1)
	go func() { _, err := newer.Generate(ctx, "leaf-1"); newerDone <- err }()
	// The newer render either waits for the switch's lock, or (without
	// one) gets done first, and the older one commits after it.
	var newerErr error
	newerFinished := false
	select {
	case key := <-locker.refused:
		require.Equal(t, switchcfg.SwitchLockKey("leaf-1"), key)
	case newerErr = <-newerDone:
		newerFinished = true
	}
	close(g.release)
	require.NoError(t, <-olderDone)
	if !newerFinished {
		newerErr = <-newerDone
	}
	require.NoError(t, newerErr)

	repo, err := switchcfg.OpenRepo(dir)
	require.NoError(t, err)
	_, cfg, err := repo.Latest("leaf-1")
	require.NoError(t, err)
	require.Contains(t, string(cfg), "newer render", "the newer render is what the repository holds")
	hist, err := repo.History("leaf-1")
	require.NoError(t, err)
	require.Len(t, hist, 2, "the older render first, then the newer")
	old, err := repo.Show("leaf-1", hist[1].Rev)
	require.NoError(t, err)
	require.NotContains(t, string(old), "newer render")
}
