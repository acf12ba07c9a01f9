package osism_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// GreetArgs is a task kind of one's own: the argument struct names its kind
// and its default queue.
type GreetArgs struct {
	Name string `json:"name"`
}

func (GreetArgs) Kind() string       { return "example.greet" }
func (GreetArgs) Queue() osism.Queue { return "example" }

// GreetHandler handles GreetArgs.
type GreetHandler struct{}

func (GreetHandler) Work(ctx context.Context, job *osism.Job[GreetArgs]) error {
	fmt.Fprintf(job.Output, "hello, %s\n", job.Args.Name)
	fmt.Fprintln(job.Output, "done")
	return job.SetResult(map[string]string{"greeted": job.Args.Name})
}

// A custom task kind, its worker, and a client that submits a task and
// follows its output.
func Example() {
	// In a test, osismtest.New(t, nil) starts the bus and stops it at the
	// end of the test.
	bus, err := osismtest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer bus.Close()
	ctx := context.Background()

	handlers := osism.NewRegistry()
	if err := osism.Register(handlers, GreetHandler{}); err != nil {
		panic(err)
	}
	if _, err := bus.StartRunner(osism.RunnerConfig{Handlers: handlers, Queues: map[osism.Queue]int{"example": 4}}); err != nil {
		panic(err)
	}

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
	bus, err := osismtest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer bus.Close()
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

// The bus section from defaults and the environment; a program with a
// configuration file loads every section with services.LoadConfig.
func ExampleConfig_ApplyEnv() {
	env := map[string]string{
		"OSISM_BROKER_URL":      "nats://manager:4222",
		"OSISM_BROKER_USER":     "osism",
		"OSISM_BROKER_PASSWORD": "secret",
	}
	cfg := osism.DefaultConfig()
	if err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		panic(err)
	}
	fmt.Println(cfg.Standalone(), cfg.Broker.URL, cfg.Broker.Password, cfg.Tasks.MaxDeliveries)
	// Output: false nats://manager:4222 ****** 3
}
