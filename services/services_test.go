package services_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
	"github.com/stretchr/testify/require"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestClusterLosesNodeWithQueuedTasks runs three brokers as one cluster
// with streams replicated three times, queues 1,000 tasks, stops the node
// that leads the task stream, and then lets a worker run them all.
func TestClusterLosesNodeWithQueuedTasks(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 120*time.Second)
	quiet := slog.New(slog.DiscardHandler)
	// Every node of a JetStream cluster is configured with the routes to
	// all, so the cluster ports are chosen before the nodes start.
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*services.Broker, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		b, err := services.NewBroker(services.BrokerConfig{
			Name: fmt.Sprintf("n%d", i+1), Port: -1, StoreDir: t.TempDir(), Logger: quiet, Token: "cluster-token",
			Cluster: services.ClusterConfig{Name: "osism-test", Port: ports[i], Routes: routes, User: "route", Password: "route-secret"},
		})
		require.NoError(t, err)
		nodes[i] = b
		t.Cleanup(b.Shutdown)
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, b.Start()) }()
	}
	wg.Wait()
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL()
	}
	tasks := osism.TaskConfig{Replicas: 3, AckWait: 2 * time.Second}
	dial := func() *osism.Client {
		t.Helper()
		var c *osism.Client
		// Provisioning waits for the cluster to elect its meta leader.
		osismtest.WaitFor(t, 60*time.Second, func() bool {
			// One attempt must not wait for the whole test's deadline.
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			var err error
			c, err = osism.Dial(actx, osism.Config{Broker: osism.ConnConfig{URL: strings.Join(urls, ","), Token: "cluster-token"}, Tasks: tasks})
			if err != nil {
				t.Logf("dial: %v", err)
			}
			return err == nil
		}, "a client connects to the cluster and provisions R3 streams")
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	client := dial()

	const n = 1000
	ids := make([]string, 0, n)
	for range n {
		res, err := client.Submit(ctx, osism.NoopArgs{}, nil)
		require.NoError(t, err)
		ids = append(ids, res.ID)
	}
	st, err := client.JetStream().Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(n), info.State.Msgs)
	require.Len(t, info.Cluster.Replicas, 2)

	// Stop the leader of the task stream.
	var lost int = -1
	for i, b := range nodes {
		if b.Server().Name() == info.Cluster.Leader {
			lost = i
		}
	}
	require.GreaterOrEqual(t, lost, 0, "leader %s is one of the nodes", info.Cluster.Leader)
	nodes[lost].Shutdown()
	t.Logf("stopped %s, the leader of %s", info.Cluster.Leader, osism.TaskStream)

	var mu sync.Mutex
	ran := map[string]int{}
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[osism.NoopArgs]) error {
		mu.Lock()
		ran[job.ID]++
		mu.Unlock()
		return nil
	}))
	wc := dial()
	r, err := wc.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 64}, Handlers: ws, Logger: quiet})
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		// The runner's first calls may meet the election of new leaders.
		for {
			err := r.Run(rctx)
			if err == nil || rctx.Err() != nil {
				done <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for _, id := range ids {
		task, err := client.Wait(ctx, id)
		require.NoError(t, err, "task %s", id)
		require.Equal(t, osism.StateSucceeded, task.State, "task %s: %s", id, task.Error)
	}
	stop()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ran, n, "every queued task ran")
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func TestStateLocker(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ctx := ctxT(t, 30*time.Second)
	a := services.StateLocker(bus.Client, time.Second)
	b := services.StateLocker(bus.NewClient(t), time.Second)

	lease, err := a.Acquire(ctx, "device/node 1")
	require.NoError(t, err)
	_, err = b.Acquire(ctx, "device/node 1")
	require.ErrorIs(t, err, statemachine.ErrLocked)
	require.ErrorIs(t, err, osism.ErrLocked)

	// Renewed in the background beyond its TTL.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		_, err := b.Acquire(ctx, "device/node 1")
		require.ErrorIs(t, err, statemachine.ErrLocked)
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, lease.Release(ctx))
	other, err := b.Acquire(ctx, "device/node 1")
	require.NoError(t, err)

	// Taken away: Lost closes, and releasing the lost lease is no error.
	require.NoError(t, bus.Client.BreakLock(ctx, osism.LockKey("device/node 1")))
	select {
	case <-other.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("a broken lease was not reported lost")
	}
	require.NoError(t, other.Release(ctx))
}

func TestStandalone(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 30*time.Second)
	s, err := services.OpenBus(ctx, services.DefaultConfig(), &services.BusOpts{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.True(t, s.Embedded())
	res, err := s.Client.Submit(ctx, osism.NoopArgs{Lines: 3}, &osism.SubmitOpts{Queue: osism.QueueKollaAnsible})
	require.NoError(t, err)
	var out strings.Builder
	code, err := s.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "line 1\nline 2\nline 3\n", out.String())
	require.NoError(t, s.Close())

	// With a broker URL it is a plain client, and runs no worker.
	bus := osismtest.New(t, nil)
	s2, err := services.OpenBus(ctx, services.Config{Bus: bus.Config()}, nil)
	require.NoError(t, err)
	require.False(t, s2.Embedded())
	ws, err := s2.Client.Runners(ctx)
	require.NoError(t, err)
	require.Empty(t, ws)
	require.NoError(t, s2.Close())
}

func TestGroupStopsAllWhenOneFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		failing error
		want    string
	}{
		{name: "one fails", failing: errors.New("boom"), want: "service b: boom"},
		{name: "one returns early", failing: nil, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var g services.Group
			stopped := make(chan struct{})
			g.Add("a", services.ServiceFunc(func(ctx context.Context) error {
				<-ctx.Done()
				close(stopped)
				return ctx.Err()
			}))
			g.Add("b", services.ServiceFunc(func(context.Context) error { return tc.failing }))
			err := g.Run(ctxT(t, 10*time.Second))
			if tc.want == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.want)
			}
			<-stopped
		})
	}
}

func TestBrokerAuthAndWorkerService(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 30*time.Second)
	b, err := services.NewBroker(services.BrokerConfig{Port: -1, Memory: true, User: "osism", Password: "s3cret", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(b.Shutdown)
	require.True(t, strings.HasPrefix(b.URL(), "nats://127.0.0.1:"), b.URL())

	_, err = nats.Connect(b.URL())
	require.Error(t, err, "no credentials, no connection")
	cfg := osism.Config{Broker: osism.ConnConfig{URL: b.URL(), User: "osism", Password: "s3cret"},
		Tasks: osism.TaskConfig{Storage: osism.StorageMemory}}
	c, err := osism.Dial(ctx, cfg)
	require.NoError(t, err)
	defer c.Close()
	w, err := services.NewWorker(c, services.WorkerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}})
	require.NoError(t, err)
	var g services.Group
	g.Add("worker", w)
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	res, err := c.Submit(ctx, osism.NoopArgs{}, nil)
	require.NoError(t, err)
	task, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State)
	require.Equal(t, w.ID(), task.Worker)
	cancel()
	require.NoError(t, <-done)
}

func TestBrokerConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  services.BrokerConfig
		want string
	}{
		{name: "user without password", cfg: services.BrokerConfig{User: "u"}, want: "user and password must be given together"},
		{name: "user and token", cfg: services.BrokerConfig{User: "u", Password: "p", Token: "t"}, want: "not both"},
		{name: "bad route", cfg: services.BrokerConfig{Cluster: services.ClusterConfig{Name: "c", Routes: []string{"::"}}}, want: `cluster route "::"`},
		{name: "routes without name", cfg: services.BrokerConfig{Cluster: services.ClusterConfig{Routes: []string{"nats-route://h:1"}}}, want: "need a cluster name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := services.NewBroker(tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
