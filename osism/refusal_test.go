package osism_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// permBroker starts a broker with an admin and a user that may not submit
// tasks nor write task records, and provisions the bus.
func permBroker(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{{Username: "admin", Password: "admin-pw"}, {Username: "reader", Password: "reader-pw",
			Permissions: &server.Permissions{Publish: &server.SubjectPermission{Deny: []string{"osism.tasks.>", "$KV.osism-tasks.>"}}}}}})
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	require.NoError(t, err)
	defer nc.Close()
	ctx := ctxT(t, 10*time.Second)
	require.NoError(t, osism.EnsureBus(ctx, nc, osism.TaskConfig{Storage: osism.StorageMemory}))
	return srv
}

// A submit the broker refuses fails at once with the refusal, even when
// the refusal arrived before Submit began to wait for an answer: it is
// never taken for a publish that may have been stored.
func TestRefusedSubmitBeforeTheWait(t *testing.T) {
	t.Parallel()
	srv := permBroker(t)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("reader", "reader-pw"))
	require.NoError(t, err)
	defer nc.Close()
	ctx := ctxT(t, 30*time.Second)
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: osism.TaskConfig{Storage: osism.StorageMemory}, PublishTimeout: 20 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	// The refusal lands before the wait begins.
	osism.SetBeforeWait(c, func() {
		osismtest.WaitFor(t, 5*time.Second, func() bool { return errors.Is(nc.LastError(), nats.ErrPermissionViolation) },
			"the broker's refusal")
	})
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Submit(sctx, osism.NoopArgs{Lines: 1}, nil)
	require.ErrorIs(t, err, nats.ErrPermissionViolation)
	require.NotErrorIs(t, err, osism.ErrMaybeQueued)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second, "at once")
}
