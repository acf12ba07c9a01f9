// Package services holds the long-running loops of the OSISM manager: the
// embedded broker, the workers, and (later) the API, beat, listener and
// watchdog. Each is a value built from its configuration with a
// Run(ctx) error method, and a [Group] runs several in one process and
// stops all of them when one fails or the context ends, so that
// `osism manager` is one process and `osism service NAME` runs one piece.
//
// The [Broker] is nats-server in process with JetStream: persistent in a
// store directory by default, in memory for tests, on loopback unless told
// otherwise, and optionally one node of a cluster with routes to the
// others. [Worker] runs the task handlers of some queues ([osism.Runner]),
// and [OpenBus] gives a CLI command a broker and a worker of its
// own when no broker URL is configured. [StateLocker] lends the bus's locks
// to the device state machine.
package services
