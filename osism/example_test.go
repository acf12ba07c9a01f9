package osism_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services/bustest"
)

// GreetArgs is a task kind of one's own: the argument struct names its kind
// and its default queue.
type GreetArgs struct {
	Name string `json:"name"`
}

func (GreetArgs) Kind() string       { return "example.greet" }
func (GreetArgs) Queue() osism.Queue { return "example" }

// GreetWorker handles GreetArgs.
type GreetWorker struct{}

func (GreetWorker) Work(ctx context.Context, job *osism.Job[GreetArgs]) error {
	fmt.Fprintf(job.Output, "hello, %s\n", job.Args.Name)
	fmt.Fprintln(job.Output, "done")
	return job.SetResult(map[string]string{"greeted": job.Args.Name})
}

// A custom task kind, its worker, and a client that submits a task and
// follows its output.
func Example() {
	tb := &testing.T{} // in a test, use its *testing.T
	bus := bustest.New(tb, nil)
	ctx := context.Background()

	workers := osism.NewWorkers()
	if err := osism.AddWorker(workers, GreetWorker{}); err != nil {
		panic(err)
	}
	w := bus.StartWorker(tb, osism.RunnerConfig{Workers: workers, Queues: map[osism.Queue]int{"example": 4}})
	defer w.Stop()

	res, err := bus.Client.Submit(ctx, GreetArgs{Name: "world"}, nil)
	if err != nil {
		panic(err)
	}
	code, err := bus.Client.Follow(ctx, res.ID, os.Stdout, nil)
	if err != nil {
		panic(err)
	}
	task, err := bus.Client.Wait(ctx, res.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("exit status", code, task.State, string(task.Result))
	// Output:
	// hello, world
	// done
	// exit status 0 succeeded {"greeted":"world"}
}

// Locks are exclusive and expire unless renewed.
func ExampleClient_Acquire() {
	bus := bustest.New(&testing.T{}, nil)
	ctx := context.Background()

	lock, err := bus.Client.Acquire(ctx, "switch/leaf-1", 10*time.Second, &osism.LockOpts{Owner: "deploy"})
	if err != nil {
		panic(err)
	}
	_, err = bus.Client.Acquire(ctx, "switch/leaf-1", 10*time.Second, nil)
	fmt.Println(errors.Is(err, osism.ErrLocked), err)
	fmt.Println(lock.Renew(ctx), lock.Release(ctx))
	// Output:
	// true lock "switch/leaf-1" held by deploy: locked
	// <nil> <nil>
}

// Configuration comes from defaults, files and the environment.
func ExampleLoadConfigFrom() {
	cfg, err := osism.LoadConfigFrom(osism.LoadOpts{Environ: []string{
		"OSISM_BROKER_URL=nats://manager:4222",
		"OSISM_BROKER_USER=osism",
		"OSISM_BROKER_PASSWORD=secret",
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Standalone(), cfg.Broker.URL, cfg.Broker.Password, cfg.Tasks.MaxDeliveries)
	// Output: false nats://manager:4222 ****** 3
}
