// Package osismtest is an embedded task bus: nats-server with JetStream in
// process, on a random port of 127.0.0.1, in memory unless a store
// directory is given, with clients and runners that stop with it.
//
// In a test, [New] starts a bus that stops when the test ends:
//
//	bus := osismtest.New(t, nil)
//	reg := osism.NewRegistry()
//	_ = osism.Register(reg, GreetHandler{})
//	bus.NewRunner(t, osism.RunnerConfig{Handlers: reg, Queues: map[osism.Queue]int{"example": 1}})
//	res, _ := bus.Client.Submit(ctx, GreetArgs{Name: "world"}, nil)
//
// Outside tests (an example, a benchmark, a development daemon), [Start]
// returns the bus and [Bus.Close] stops it. Programs that define their own
// task kinds test their handlers against the real bus this way, as
// go-osism tests itself. The package imports nats-server and the osism
// package, nothing of the project's domain (NetBox, switches, Ansible), so
// that the tests of a bus-only program build fast.
package osismtest
