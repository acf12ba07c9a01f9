package osism_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
)

// A test that needs a worker process it can kill starts this test binary
// again with envHelperURL set; the helper then runs a worker whose
// test.echo handler never returns.
const (
	envHelperURL     = "OSISM_TEST_HELPER_WORKER_URL"
	envHelperAckWait = "OSISM_TEST_HELPER_ACK_WAIT"
	envHelperMaxDel  = "OSISM_TEST_HELPER_MAX_DELIVERIES"
	helperID         = "helper"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envHelperURL); url != "" {
		os.Exit(runHelperWorker(url))
	}
	os.Exit(m.Run())
}

func runHelperWorker(url string) int {
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		return 3
	}
	ackWait, _ := time.ParseDuration(os.Getenv(envHelperAckWait))
	cfg := osism.TaskConfig{Storage: osism.StorageMemory, AckWait: ackWait}
	c, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: cfg})
	if err != nil {
		return 4
	}
	ws := osism.NewRegistry()
	_ = osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[echoArgs]) error {
		_, _ = job.Output.Write([]byte("helper took it\n"))
		<-ctx.Done()
		select {} // a stuck handler: only SIGKILL ends it
	})
	r, err := c.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 1}, Handlers: ws, ID: helperID})
	if err != nil {
		return 5
	}
	_ = r.Run(ctx)
	return 0
}
