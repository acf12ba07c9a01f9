package netbox_test

import (
	"context"
	"fmt"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
)

// A webhook receiver checks NetBox's signature before it trusts the body.
func ExampleVerifySignature() {
	body := []byte(`{"event":"updated","model":"device","data":{"id":7,"name":"node-1"}}`)
	header := netbox.Sign("s3cret", body) // what NetBox sends in X-Hook-Signature

	fmt.Println(netbox.VerifySignature("s3cret", body, header))
	fmt.Println(netbox.VerifySignature("other", body, header))
	fmt.Println(netbox.VerifySignature("s3cret", body, ""))

	p, _ := netbox.ParseWebhook(body)
	d, _ := p.Device()
	fmt.Println(p.Event, p.Model, d.Name)
	// Output:
	// <nil>
	// netbox webhook signature: does not match the body
	// netbox webhook signature: missing X-Hook-Signature header
	// updated device node-1
}

// The state machine keeps its record in NetBox's custom fields.
func ExampleStore() {
	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.TokenV2()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	store := netbox.NewStore(c)
	rec, _ := store.Load(ctx, "node-1")
	fmt.Printf("%+v\n", rec)
	_ = store.Save(ctx, "node-1", statemachine.Record{State: "b-phase_1", Transition: "from_a-to_b-phase_1"})
	rec, _ = store.Load(ctx, "node-1")
	fmt.Printf("%+v\n", rec)
	// Output:
	// {State:a Transition:}
	// {State:b-phase_1 Transition:from_a-to_b-phase_1}
}

// Phase 1 of a transition: make NetBox match the device's desired state.
func ExampleClient_Apply() {
	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	if err != nil {
		panic(err)
	}
	ds, err := netbox.LoadDesiredState("netboxtest/sample/desired", "dc1", "node-1", "b")
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	done, err := c.Apply(ctx, "node-1", ds)
	if err != nil {
		panic(err)
	}
	fmt.Println(done)
	again, _ := c.Plan(ctx, "node-1", ds)
	fmt.Println(again)
	// Output:
	// node-1: 6 changes
	//   create interface node-1 loopback0: type virtual
	//   create ip-address 10.10.1.21/32: on node-1 loopback0
	//   update interface node-1 eth0: label "" -> "11:eth0 / 42:swp1", mode "" -> "tagged", untagged_vlan set, tagged_vlans 0 -> 2
	//   update interface leaf-1 swp1: label "" -> "42:swp1 / 11:eth0", mode "" -> "tagged", untagged_vlan set, tagged_vlans 0 -> 2
	//   update interface node-1 eth1: label "" -> "11:eth1 / rack-2-42:swp1", description "" -> "storage uplink", mode "" -> "tagged", mtu -> 9000, tagged_vlans 0 -> 2
	//   update interface leaf-2 swp1: label "" -> "42:swp1 / rack-1-11:eth1", mode "" -> "tagged", tagged_vlans 0 -> 2
	// node-1: no changes
}

// The devices a desired-state collection names, e.g. for connecting all of them.
func ExampleCollectionDevices() {
	devices, err := netbox.CollectionDevices("netboxtest/sample/desired", "dc1")
	if err != nil {
		panic(err)
	}
	fmt.Println(devices)
	_, err = netbox.CollectionDevices("netboxtest/sample/desired", "dc9")
	fmt.Println(err)
	// Output:
	// [leaf-1 node-1 node-2 node-3 node-4]
	// collection dc9: open netboxtest/sample/desired/dc9: no such file or directory
}

// A configuration from an environment given as a list, as a configuration loader injects it;
// NETBOX_API is upstream's alias of NETBOX_URL. The token never shows.
func ExampleConfigFromEnviron() {
	cfg := netbox.ConfigFromEnviron([]string{
		"NETBOX_API=https://netbox.example",
		"NETBOX_TOKEN=nbt_abcdef123456.s3cr3tS3cr3tS3cr3t",
		"NETBOX_INSECURE=false",
	})
	fmt.Println(cfg)
	// Output:
	// netbox.Config{URL: "https://netbox.example", Token: set, InsecureSkipVerify: false}
}

// Device types name the model and manufacturer that a device only refers to by id.
func ExampleClient_DeviceTypes() {
	srv, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	leaf, err := c.Device(ctx, "leaf-1")
	if err != nil {
		panic(err)
	}
	types, err := c.DeviceTypes(ctx, []int{leaf.DeviceType.ID})
	if err != nil {
		panic(err)
	}
	for _, t := range types {
		fmt.Println(t.Manufacturer.Name, t.Model)
	}
	// Output:
	// Edgecore AS7326-56X
}
