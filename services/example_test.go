package services_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// One configuration composed of every package's section: defaults, then
// (here) the environment with the variable names upstream OSISM uses. A
// program passes services.LoadOptsFromEnv() to read the files too.
func ExampleLoadConfig() {
	cfg, err := services.LoadConfig(services.LoadOpts{Environ: []string{
		"OSISM_BROKER_URL=nats://manager:4222",
		"OSISM_BROKER_TOKEN=s3cr3t",
		"OSISM_TASK_RETENTION_DAYS=14",
		"OSISM_CONFIGURATION_DIR=/opt/configuration",
		"NETBOX_URL=https://netbox.example",
		"NETBOX_TOKEN=0123456789abcdef0123456789abcdef01234567",
		"OSISM_DESIRED_STATE_DIR=/opt/configuration/netbox",
		"OSISM_COLLECTION=dc1",
		"OSISM_SWITCH_STATE_DIR=/var/lib/osism/switches",
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println("standalone:", cfg.Bus.Standalone())
	fmt.Println("broker:", cfg.Bus.Broker.URL, "token", cfg.Bus.Broker.Token)
	fmt.Println("tasks:", cfg.Bus.Tasks.RetentionDays, "days,", cfg.Bus.Tasks.MaxDeliveries, "deliveries,", cfg.Bus.Tasks.AckWait, "ack wait")
	fmt.Println("ansible:", cfg.Ansible.ConfigurationDir)
	fmt.Println("netbox:", cfg.NetBox)
	fmt.Println("fabric:", cfg.Fabric.DesiredState.Dir, cfg.Fabric.DesiredState.Collection, cfg.Fabric.Switches.StateDir)
	// Output:
	// standalone: false
	// broker: nats://manager:4222 token ******
	// tasks: 14 days, 3 deliveries, 30s ack wait
	// ansible: /opt/configuration
	// netbox: netbox.Config{URL: "https://netbox.example", Token: set, InsecureSkipVerify: false}
	// fabric: /opt/configuration/netbox dc1 /var/lib/osism/switches
}

// The task kinds a worker of the manager handles, and their queues.
func ExampleBuiltinHandlers() {
	reg, err := services.BuiltinHandlers(services.DefaultConfig())
	if err != nil {
		panic(err)
	}
	fmt.Println(reg.Kinds())
	fmt.Println(reg.Queues())
	// Output:
	// [ansible.run ceph.run conductor.sync_ironic conductor.sync_netbox kolla.run netbox.connect netbox.generate openstack.baremetal osism.noop reconciler.run]
	// [ceph-ansible conductor kolla-ansible netbox openstack osism-ansible reconciler]
}

// Without a broker URL a command runs a bus of its own: an embedded
// broker and an in-process worker. It submits a task and follows its
// output to the end.
func ExampleOpenBus() {
	ctx := context.Background()
	bus, err := services.OpenBus(ctx, services.DefaultConfig(), &services.BusOpts{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer bus.Close()
	fmt.Println("embedded:", bus.Embedded())

	res, err := bus.Client.Submit(ctx, osism.NoopArgs{Lines: 2}, nil)
	if err != nil {
		panic(err)
	}
	code, err := bus.Client.Follow(ctx, res.ID, os.Stdout, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("exit status", code)
	// Output:
	// embedded: true
	// line 1
	// line 2
	// exit status 0
}

// `osism apply facts//nova --action upgrade -- -e x=y`: each role of the
// sequence resolved to the task that applies it. The action is for the
// Kolla role; the generic one runs without it.
func ExamplePlanApply() {
	roles, err := ansible.LoadRoleMap("")
	if err != nil {
		panic(err)
	}
	steps, err := services.PlanApply(roles, services.ApplyRequest{Spec: "facts//nova//ceph-osds", Action: "upgrade", Args: []string{"-e", "x=y"}})
	if err != nil {
		panic(err)
	}
	for _, st := range steps {
		fmt.Printf("%s: %s, %s on %s: %+v\n", st.Role, st.Environment, st.Kind, st.Queue, st.Args)
	}

	_, err = services.PlanApply(roles, services.ApplyRequest{Spec: "facts", Action: "upgrade"})
	fmt.Println(err)
	// Output:
	// facts: generic, ansible.run on osism-ansible: {Environment:generic Role:facts Sub: Args:[-e x=y]}
	// nova: kolla, kolla.run on kolla-ansible: {Role:nova Action:upgrade Sub: Args:[-e x=y]}
	// ceph-osds: ceph, ceph.run on ceph-ansible: {Role:ceph-osds Sub: Args:[-e x=y]}
	// apply facts --action upgrade: actions apply to the kolla environment only, and facts runs in generic
}

// A playbook run retried on a non-zero exit status, as `osism apply
// --retry 2` does.
func ExampleRetry() {
	codes := []int{2, 2, 0}
	run := 0
	code, err := services.Retry(context.Background(), 2, func(context.Context) (int, error) {
		c := codes[run]
		run++
		return c, nil
	}, func(attempt, code int) {
		fmt.Printf("exit status %d, retry %d\n", code, attempt)
	})
	fmt.Println("exit status", code, err)
	// Output:
	// exit status 2, retry 1
	// exit status 2, retry 2
	// exit status 0 <nil>
}

// The demo's main job as a program runs it: node-1 moved from a to b
// through all four phases on the in-memory NetBox with its sample fabric
// and simulated leaves, then a hand change found as drift and repaired,
// then a rollback. Out receives the whole story (here dropped: it holds
// ports, paths and revisions); the result tells what happened.
func ExampleRunDemo() {
	res, err := services.RunDemo(context.Background(), services.DemoOpts{
		Collection: "dc1", Device: "node-1", State: "b", // the built-in sample desired states
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %s -> %s\n", res.Transition.Device, res.Transition.From, res.Transition.To)
	leaves := slices.Sorted(maps.Keys(res.Rendered))
	fmt.Println("rendered:", leaves)
	for _, leaf := range leaves {
		fmt.Printf("%s drops its BGP neighbor on swp1: %t; sent %q\n", leaf,
			strings.Contains(res.Rendered[leaf], "\n- neighbor swp1 interface peer-group fabric\n"), res.Sent[leaf])
	}
	for _, r := range res.Compared {
		fmt.Println(r)
	}
	fmt.Println("drift:", res.Drift)
	fmt.Println("repaired:", res.Repaired)
	fmt.Printf("rollback of %s: sent %q\n", res.RolledBack.Switch, res.RolledBack.Sent)

	_, err = services.RunDemo(context.Background(), services.DemoOpts{DesiredStateDir: "no-such-dir"})
	fmt.Println(err)
	// Output:
	// node-1: a -> b
	// rendered: [leaf-1 leaf-2]
	// leaf-1 drops its BGP neighbor on swp1: true; sent ["router bgp 65101" "no neighbor swp1 interface peer-group fabric" "exit"]
	// leaf-2 drops its BGP neighbor on swp1: true; sent ["router bgp 65102" "no neighbor swp1 interface peer-group fabric" "exit"]
	// leaf-1: runs the rendered configuration
	// leaf-2: runs the rendered configuration
	// drift: leaf-1: 2 missing, 1 extra
	//   - missing: interface swp2 / description node-2:eth0
	//   - missing: router bgp 65101 / neighbor swp2 interface peer-group fabric
	//   + extra:   interface swp2 / description changed by hand
	// repaired: leaf-1: runs the rendered configuration
	// rollback of leaf-2: sent ["router bgp 65102" "neighbor swp1 interface peer-group fabric" "exit"]
	// desired-state directory "no-such-dir": expected a directory (or none, for the built-in sample desired states): demo input
}
