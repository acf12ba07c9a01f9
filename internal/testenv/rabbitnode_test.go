package testenv

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

// A private node logs in with its URL's credentials only, keeps a durable
// queue's persistent message across Stop and Start and across Kill and
// Start, and leaves no process behind when stopped.
func TestRabbitNodeRestartKeepsPersistentMessages(t *testing.T) {
	t.Parallel()
	n := StartRabbitNode(t)
	u, err := url.Parse(n.URL())
	require.NoError(t, err)
	require.Equal(t, "amqp", u.Scheme)
	require.Equal(t, n.Addr(), u.Host)
	require.Equal(t, "/"+n.VHost, u.Path)
	require.True(t, strings.HasSuffix(n.Name, "@localhost"), n.Name)
	require.NotEqual(t, 5672, n.Port, "not the shared RabbitMQ's port")
	require.False(t, n.ReadyAt().IsZero())

	wrong := "not-" + n.password
	err = probeLogin(n.Addr(), n.User, wrong, n.VHost)
	require.Error(t, err, "a wrong password is refused")
	require.NotContains(t, err.Error(), wrong)
	require.Error(t, probeLogin(n.Addr(), n.User, n.password, "no-such-vhost"))

	publish := func(body string) {
		conn, err := amqp.Dial(n.URL())
		require.NoError(t, err)
		defer conn.Close()
		ch, err := conn.Channel()
		require.NoError(t, err)
		require.NoError(t, ch.Confirm(false))
		_, err = ch.QueueDeclare("kept", true, false, false, false, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", "kept", true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
		require.NoError(t, err)
		ok, err := dc.WaitContext(ctx)
		require.NoError(t, err)
		require.True(t, ok)
	}
	get := func() string {
		conn, err := amqp.Dial(n.URL())
		require.NoError(t, err)
		defer conn.Close()
		ch, err := conn.Channel()
		require.NoError(t, err)
		d, ok, err := ch.Get("kept", true)
		require.NoError(t, err)
		require.True(t, ok, "the persistent message is still in the queue")
		return string(d.Body)
	}

	cases := []struct {
		name string
		stop func() error
	}{
		{"stop", n.Stop},
		{"kill", n.Kill},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			publish("before " + tc.name)
			server := n.server
			require.NotNil(t, server)
			pid := server.cmd.Process.Pid
			require.NoError(t, tc.stop())
			require.False(t, n.Running())
			require.False(t, groupAlive(pid), "no process of the node's group is left")
			require.Error(t, probeLogin(n.Addr(), n.User, n.password, n.VHost), "nothing answers while stopped")
			require.NoError(t, tc.stop(), "stopping a stopped node does nothing")

			before := n.ReadyAt()
			require.NoError(t, n.Start())
			require.True(t, n.ReadyAt().After(before))
			require.Error(t, n.Start(), "a running node is not started twice")
			require.Equal(t, "before "+tc.name, get())
		})
	}
}

// Without rabbitmq-server a test that asks for a private node is skipped,
// and fails under OSISM_REQUIRE_INTEGRATION=1, naming the missing program.
// Not parallel: it swaps the program's path.
func TestRabbitNodeMissingServerSkipsOrFails(t *testing.T) {
	saved := rabbitServerPath
	rabbitServerPath = filepath.Join(t.TempDir(), "no-rabbitmq-server")
	defer func() { rabbitServerPath = saved }()
	cases := []struct {
		name    string
		require string
		check   func(*testing.T, *recorder, ...string)
	}{
		{"skipped", "", assertSkipped},
		{"failed when required", "1", assertFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(EnvRequire, tc.require)
			tc.check(t, run(func(t testing.TB) { StartRabbitNode(t) }), rabbitServerPath+" is not installed", "rabbitmq-server")
		})
	}
}
