package services_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// ironicAPI drives the test Ironic over its REST API (noauth).
type ironicAPI struct {
	base string
	hc   *http.Client
}

// call sends a request and decodes the answer into out; 503 (no
// conductor for the driver yet, right after Ironic started) is retried.
func (a *ironicAPI) call(t testing.TB, method, path string, body any, want int, out any) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(raw))
		require.NoError(t, err)
		req.Header.Set("X-OpenStack-Ironic-API-Version", "1.82")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := a.hc.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			select {
			case <-ctx.Done():
				t.Fatalf("%s %s: still 503 after a minute: %s", method, path, b)
			case <-time.After(wait):
			}
			continue
		}
		require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, b)
		if out != nil {
			require.NoError(t, json.Unmarshal(b, out))
		}
		return
	}
}

// node reads a node's states.
func (a *ironicAPI) node(t testing.TB, uuid string) (provision string, power *string) {
	t.Helper()
	var n struct {
		ProvisionState string  `json:"provision_state"`
		PowerState     *string `json:"power_state"`
	}
	a.call(t, http.MethodGet, "/v1/nodes/"+uuid, nil, http.StatusOK, &n)
	return n.ProvisionState, n.PowerState
}

// provision asks for a provision state change and waits until the node
// reaches want.
func (a *ironicAPI) provision(t testing.TB, uuid, target, want string) {
	t.Helper()
	a.call(t, http.MethodPut, "/v1/nodes/"+uuid+"/states/provision", map[string]string{"target": target}, http.StatusAccepted, nil)
	osismtest.WaitFor(t, 60*time.Second, func() bool { s, _ := a.node(t, uuid); return s == want }, "node %s %s -> %s", uuid, target, want)
}

// Ironic's own notifications, caused by real API calls, reach the NetBox
// device named like the node through the listener, and the transitions
// the listener submits move the device a -> b -> c -> b (a worker of the
// netbox queue runs them, without desired states and switches).
func TestListenerWithIronic(t *testing.T) {
	t.Parallel()
	ironicURL := testenv.Ironic(t)
	e := newListenerEnv(t, false) // Ironic's exchange "ironic"
	name := uniqueName(t, "")
	_, err := e.srv.Create("dcim.device", map[string]any{"name": name, "status": "active",
		"site": e.srv.ID("dcim.site", "dc1"), "device_type": e.srv.ID("dcim.devicetype", "SYS-1029P"),
		"role": e.srv.ID("dcim.devicerole", "compute"), "custom_fields": map[string]any{"device_state": "0"}})
	require.NoError(t, err)

	cfg := services.DefaultConfig()
	cfg.NetBox.URL, cfg.NetBox.Token = e.srv.URL(), e.srv.Token()
	cfg.Fabric.DesiredState.Dir = t.TempDir() // no desired states: phase 1 says so and goes on
	cfg.Fabric.DesiredState.Collection = "dc1"
	cfg.Fabric.Switches.StateDir = t.TempDir()
	e.bus.NewRunner(t, osism.RunnerConfig{Handlers: mustHandlers(t, cfg), Queues: map[osism.Queue]int{osism.QueueNetBox: 2},
		Logger: slog.New(slog.DiscardHandler)})
	// Ironic declares its exchange with its first notification, and
	// RabbitMQ drops that notification when no queue is bound yet (after
	// a restart of RabbitMQ the transient exchange is gone): the test
	// declares it as Ironic does (oslo.messaging's default, not durable)
	// unless it is there already.
	ironicExchange(t, e.rabbit)
	e.start(t, services.ListenerOpts{})
	e.waitConsuming(t)

	api := &ironicAPI{base: ironicURL, hc: &http.Client{Timeout: 30 * time.Second}}
	var created struct {
		UUID string `json:"uuid"`
	}
	api.call(t, http.MethodPost, "/v1/nodes", map[string]any{"name": name, "driver": "fake-hardware"}, http.StatusCreated, &created)
	uuid := created.UUID
	t.Cleanup(func() {
		// Whatever state the test left the node in, it goes: maintenance
		// allows deleting an active node.
		var n struct {
			UUID string `json:"uuid"`
		}
		req, _ := http.NewRequest(http.MethodGet, ironicURL+"/v1/nodes/"+uuid, nil)
		req.Header.Set("X-OpenStack-Ironic-API-Version", "1.82")
		if resp, err := api.hc.Do(req); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&n)
			_ = resp.Body.Close()
		}
		if n.UUID == "" {
			return
		}
		api.call(t, http.MethodPut, "/v1/nodes/"+uuid+"/maintenance", map[string]string{"reason": "test cleanup"}, http.StatusAccepted, nil)
		api.call(t, http.MethodDelete, "/v1/nodes/"+uuid, nil, http.StatusNoContent, nil)
	})

	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tasks, _ := e.bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindNetBoxConnect})
		for _, tk := range tasks {
			t.Logf("task %s %s %s: %s", tk.ID, tk.Args, tk.State, tk.Error)
		}
		t.Logf("listener: %+v", e.listener.Stats())
	})
	field := func(k string) any { return e.field(t, name, k) }
	waitField := func(k string, want any) {
		t.Helper()
		osismtest.WaitFor(t, 60*time.Second, func() bool { return field(k) == want }, "%s of %s to be %v", k, name, want)
	}

	// Enrolled: both states, and the device moves to a.
	waitField("provision_state", "enroll")
	require.Nil(t, field("power_state"))
	waitField("device_state", "a")

	// Ironic 21.4 emits the notifications of work it spawns racily: the
	// end of a verification (manage) is sometimes never sent, so NetBox
	// may keep "verifying" until the next event.
	api.provision(t, uuid, "manage", "manageable")
	osismtest.WaitFor(t, 60*time.Second, func() bool { v := field("provision_state"); return v == "verifying" || v == "manageable" },
		"provision_state of %s to be verifying or manageable", name)
	// Inspected: the fake inspection ends without a notification of its
	// own; the next provision event of the inspected node moves the
	// device to b.
	api.provision(t, uuid, "inspect", "manageable")
	api.provision(t, uuid, "provide", "available")
	waitField("provision_state", "available")
	waitField("device_state", "b")

	// Deployed: c.
	api.provision(t, uuid, "active", "active")
	waitField("provision_state", "active")
	waitField("device_state", "c")

	// Undeployed back to available: b.
	api.provision(t, uuid, "deleted", "available")
	waitField("provision_state", "available")
	waitField("device_state", "b")

	// Power and maintenance come last: Ironic 21.4 sends no end
	// notification for the verification of a node powered on (manage),
	// so NetBox would keep "verifying" there, as upstream's listener would.
	api.call(t, http.MethodPut, "/v1/nodes/"+uuid+"/states/power", map[string]string{"target": "power on"}, http.StatusAccepted, nil)
	waitField("power_state", "power on")
	api.call(t, http.MethodPut, "/v1/nodes/"+uuid+"/maintenance", map[string]string{"reason": "listener test"}, http.StatusAccepted, nil)
	waitField("maintenance", true)
	api.call(t, http.MethodDelete, "/v1/nodes/"+uuid+"/maintenance", nil, http.StatusAccepted, nil)
	waitField("maintenance", false)
	api.call(t, http.MethodPut, "/v1/nodes/"+uuid+"/states/power", map[string]string{"target": "power off"}, http.StatusAccepted, nil)
	waitField("power_state", "power off")

	// Deleted: provision_state empty, power_state n/a.
	api.call(t, http.MethodDelete, "/v1/nodes/"+uuid, nil, http.StatusNoContent, nil)
	waitField("power_state", "n/a")
	require.Nil(t, field("provision_state"))

	st := e.listener.Stats()
	require.Zero(t, st.DeadLettered, "Ironic's messages all decode")
	require.Zero(t, st.Requeued)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tasks, err := e.bus.Client.List(ctx, &osism.ListOpts{Kind: osism.KindNetBoxConnect})
	require.NoError(t, err)
	var states []string
	for i := len(tasks) - 1; i >= 0; i-- { // oldest first
		var a osism.NetBoxConnectArgs
		require.NoError(t, json.Unmarshal(tasks[i].Args, &a))
		require.Equal(t, osism.StateSucceeded, tasks[i].State, "task %s: %s", tasks[i].ID, tasks[i].Error)
		states = append(states, a.State)
	}
	require.Equal(t, []string{"a", "b", "c", "b"}, states, "one task per transition: %s", fmt.Sprint(states))
}

// ironicExchange makes sure Ironic's exchange exists: declared passive
// when it is there (durable or not), else declared as Ironic declares it
// by default.
func ironicExchange(t testing.TB, r *rabbit) {
	t.Helper()
	ch, err := r.conn.Channel()
	require.NoError(t, err)
	err = ch.ExchangeDeclarePassive(services.DefaultListenerExchange, "topic", false, false, false, false, nil)
	if err == nil {
		_ = ch.Close()
		return
	}
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, amqp.NotFound, ae.Code, "probe exchange %s", services.DefaultListenerExchange)
	ch, err = r.conn.Channel()
	require.NoError(t, err)
	defer func() { _ = ch.Close() }()
	require.NoError(t, ch.ExchangeDeclare(services.DefaultListenerExchange, "topic", false, false, false, false, nil))
}
