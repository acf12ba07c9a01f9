package osismtest_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
)

// ShoutArgs is a task kind of a program's own.
type ShoutArgs struct {
	Words []string `json:"words"`
}

func (ShoutArgs) Kind() string       { return "example.shout" }
func (ShoutArgs) Queue() osism.Queue { return "example" }

// ShoutHandler writes each word in capitals, one per line.
type ShoutHandler struct{}

func (ShoutHandler) Work(ctx context.Context, job *osism.Job[ShoutArgs]) error {
	for _, w := range job.Args.Words {
		fmt.Fprintln(job.Output, strings.ToUpper(w))
	}
	return job.SetResult(map[string]int{"words": len(job.Args.Words)})
}

// An embedded bus with a runner for a handler of one's own: submit a task,
// follow its output, read its record. In a test, osismtest.New(t, nil) and
// bus.NewRunner(t, ...) stop the bus and the runner when the test ends.
func Example() {
	bus, err := osismtest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer bus.Close()
	ctx := context.Background()

	reg := osism.NewRegistry()
	if err := osism.Register(reg, ShoutHandler{}); err != nil {
		panic(err)
	}
	if _, err := bus.StartRunner(osism.RunnerConfig{Handlers: reg, Queues: map[osism.Queue]int{"example": 1}}); err != nil {
		panic(err)
	}

	res, err := bus.Client.Submit(ctx, ShoutArgs{Words: []string{"hello", "bus"}}, nil)
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
	fmt.Println("close:", bus.Close(), "again:", bus.Close())
	// Output:
	// HELLO
	// BUS
	// exit status 0 succeeded {"words":2}
	// close: <nil> again: <nil>
}
