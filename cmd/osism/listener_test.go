package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

func TestServiceListenerUsage(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t)
	cases := []struct {
		name    string
		env     cliEnv
		args    []string
		code    int
		wantErr string
	}{
		{"argument", nil, []string{"service", "listener", "extra"}, 2, `no arguments expected, got "extra"`},
		{"no NetBox", nil, []string{"service", "listener"}, 2, "service listener: NetBox"},
		{"no broker", cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token()}, []string{"service", "listener"}, 1, "no broker configured"},
		{"bad secondaries", cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(),
			`NETBOX_SECONDARIES=[{NETBOX_URL: "http://x", NETBOX_TOKEN: "s3cr3tt0k3n", IGNORE_SSL_ERRORS: maybe}]`},
			[]string{"service", "listener"}, 1, "IGNORE_SSL_ERRORS"},
		{"no RabbitMQ URL", cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_BROKER_URL=" + osismtest.New(t, nil).URL()},
			[]string{"service", "listener"}, 2, "no RabbitMQ URL"},
		{"bad RabbitMQ URL", cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_BROKER_URL=" + osismtest.New(t, nil).URL(),
			"OSISM_LISTENER_AMQP_URL=http://guest:s3cr3tt0k3n@rabbit/"}, []string{"service", "listener"}, 2, "RabbitMQ URL http://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := tc.env.runFull(t, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.wantErr)
			require.NotContains(t, errOut, "s3cr3tt0k3n", "secrets stay out of errors")
		})
	}
}

// osism service listener, configured from the environment, mirrors an
// Ironic notification into NetBox and stops on Ctrl-C (its context).
func TestServiceListenerRuns(t *testing.T) {
	t.Parallel()
	amqpURL := testenv.RabbitMQ(t)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	bus := osismtest.New(t, nil)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	queue, device := "osism-test-q-cli-"+suffix, "cli-listener-"+suffix
	_, err := srv.Create("dcim.device", map[string]any{"name": device, "site": srv.ID("dcim.site", "dc1"),
		"device_type": srv.ID("dcim.devicetype", "SYS-1029P"), "role": srv.ID("dcim.devicerole", "compute")})
	require.NoError(t, err)
	conn, err := amqp.Dial(amqpURL)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		_, _ = ch.QueueDelete(queue+".dead", false, false, false)
	})

	env := cliEnv{"NETBOX_URL=" + srv.URL(), "NETBOX_TOKEN=" + srv.Token(), "OSISM_BROKER_URL=" + bus.URL(),
		"OSISM_LISTENER_AMQP_URL=" + amqpURL}
	app := newApp(services.LoadOpts{Environ: env})
	var out, errOut syncBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- exitCode(&errOut, app.RunContext(ctx, []string{"osism", "service", "listener", "--queue", queue}))
	}()
	osismtest.WaitFor(t, 30*time.Second, func() bool { return strings.Contains(errOut.String(), "msg=consuming") }, "the listener consumes")

	inner, _ := json.Marshal(map[string]any{"message_id": "cli-" + suffix, "event_type": "baremetal.node.power_set.end",
		"payload": map[string]any{"ironic_object.data": map[string]any{"name": device, "power_state": "power on"}}})
	body, _ := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(inner)})
	require.NoError(t, ch.PublishWithContext(ctx, services.DefaultListenerExchange, services.DefaultListenerRoutingKey, false, false,
		amqp.Publishing{ContentType: "application/json", Body: body}))
	id := srv.ID("dcim.device", device)
	osismtest.WaitFor(t, 30*time.Second, func() bool { return srv.CustomField("dcim.device", id, "power_state") == "power on" },
		"power_state written")

	cancel()
	select {
	case code := <-done:
		require.Zero(t, code, errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the listener did not stop")
	}
	require.NotContains(t, errOut.String(), strings.TrimPrefix(amqpURL, "amqp://"), "the RabbitMQ URL is never logged")
}
