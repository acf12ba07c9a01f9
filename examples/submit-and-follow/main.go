// Command submit-and-follow shows a client of a running OSISM manager: it
// connects to the manager's broker, submits ansible.run (a role in its
// environment, for the osism-ansible queue's workers), streams the
// playbook's output as the worker writes it, and exits with the
// playbook's exit status, as `osism apply` does.
//
//	go run ./examples/submit-and-follow --broker nats://127.0.0.1:4222 \
//	    --token-file /var/lib/osism/broker/token --environment generic \
//	    --role hello -- -e greeting=hi
//
// The broker URL defaults to $OSISM_BROKER_URL; the token is read from a
// file, never from a flag. Everything after "--" goes to ansible-playbook.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/osism/go-osism/osism"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "submit-and-follow:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// errUsage marks bad flags.
var errUsage = errors.New("usage")

// run parses args, submits and follows; it returns the playbook's exit
// status.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("submit-and-follow", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	broker := fs.String("broker", getenv("OSISM_BROKER_URL"), "the manager's NATS URL (default $OSISM_BROKER_URL)")
	tokenFile := fs.String("token-file", "", "a file holding the broker token (default: the broker's token file of this host, if readable)")
	env := fs.String("environment", "generic", "the role's environment (generic, infrastructure, manager, monitoring, custom)")
	role := fs.String("role", "", "the role to apply (required)")
	if err := fs.Parse(args); err != nil {
		return 2, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case *broker == "":
		return 2, fmt.Errorf("%w: --broker: expected the manager's NATS URL (nats://host:4222) or OSISM_BROKER_URL", errUsage)
	case *role == "":
		return 2, fmt.Errorf("%w: --role: expected the name of a role, such as hello", errUsage)
	case *env == "kolla" || *env == "ceph":
		return 2, fmt.Errorf("%w: --environment %q: expected an environment of ansible.run, not kolla or ceph (they have kinds of their own)", errUsage, *env)
	}

	cfg := osism.DefaultConfig()
	cfg.Broker.URL = *broker
	cfg.Broker.TokenFile = *tokenFile
	cfg.Broker.Name = "submit-and-follow"
	c, err := osism.Dial(ctx, cfg)
	if err != nil {
		return 1, err
	}
	defer c.Close()

	sub, err := c.Submit(ctx, osism.AnsibleRunArgs{Environment: *env, Role: *role, Args: fs.Args()}, nil)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(out, "task %s: %s %s/%s on queue %s\n", sub.ID, osism.KindAnsibleRun, *env, *role, osism.QueueOSISMAnsible)
	code, err := c.Follow(ctx, sub.ID, out, nil)
	if err != nil {
		return 1, err
	}
	return code, nil
}
