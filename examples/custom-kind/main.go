// Command custom-kind shows a task kind of your own on the OSISM bus: a
// typed argument struct (osism.Args) on a queue of its own, its typed
// handler (osism.Handler[T]) run by a services.Worker that serves only
// that queue, and a client that submits a task, follows its output line
// by line as the worker writes it, and reads its result from the task's
// record. It runs an embedded bus (osism/osismtest), so it needs nothing
// installed.
//
//	go run ./examples/custom-kind
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// QueueAudit is the queue of this program's own; only its worker serves it.
const QueueAudit osism.Queue = "audit"

// AuditArgs asks for a check of some hosts: a task kind of the program's
// own, submitted like any built-in one.
type AuditArgs struct {
	Hosts []string `json:"hosts"`
}

// Kind names the kind on the bus.
func (AuditArgs) Kind() string { return "example.audit" }

// Queue is the program's own queue.
func (AuditArgs) Queue() osism.Queue { return QueueAudit }

// AuditResult is what the handler stores as the task's result.
type AuditResult struct {
	Checked int      `json:"checked"`
	Failed  []string `json:"failed,omitempty"`
}

// AuditHandler is the typed worker of AuditArgs: it gets the decoded
// arguments, writes its progress to the task's output and sets a result.
type AuditHandler struct{}

// Work checks each host; a host named "*-down" fails its check.
func (AuditHandler) Work(ctx context.Context, job *osism.Job[AuditArgs]) error {
	var res AuditResult
	for _, h := range job.Args.Hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Checked++
		if strings.HasSuffix(h, "-down") {
			res.Failed = append(res.Failed, h)
			fmt.Fprintf(job.Output, "%s: unreachable\n", h)
			continue
		}
		fmt.Fprintf(job.Output, "%s: ok\n", h)
	}
	return job.SetResult(res)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "custom-kind:", err)
		os.Exit(1)
	}
}

// run starts the bus and the worker, submits one audit of hosts (default
// three, one of them down) and follows it to out.
func run(ctx context.Context, out io.Writer, hosts []string) error {
	if len(hosts) == 0 {
		hosts = []string{"node-1", "node-2-down", "node-3"}
	}
	bus, err := osismtest.Start(nil)
	if err != nil {
		return err
	}
	defer bus.Close()

	// The worker: a registry with the program's handler alone, on its
	// own connection, serving its own queue two tasks at a time.
	reg := osism.NewRegistry()
	if err := osism.Register(reg, AuditHandler{}); err != nil {
		return err
	}
	wc, err := bus.Dial(ctx)
	if err != nil {
		return err
	}
	w, err := services.NewWorker(wc, services.WorkerConfig{
		Queues: map[osism.Queue]int{QueueAudit: 2}, Handlers: reg, ID: "audit-worker",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

	// The client: submit, follow, read the record.
	sub, err := bus.Client.Submit(ctx, AuditArgs{Hosts: hosts}, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "submitted %s to queue %s\n", AuditArgs{}.Kind(), QueueAudit)
	code, err := bus.Client.Follow(ctx, sub.ID, out, nil)
	if err != nil {
		return err
	}
	task, err := bus.Client.Wait(ctx, sub.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "task %s by %s, exit status %d: %s\n", task.State, task.Worker, code, task.Result)
	return nil
}
