// Package osism is the entry to the go-osism SDK: the configuration every
// program shares and the task bus that carries the work an operator starts.
//
// Everything an operator starts (an Ansible role, a NetBox sync, a device
// transition) is a task: a typed argument struct with a kind and a queue,
// submitted by a [Client], run by a worker and recorded with its state,
// output and result. The bus is NATS JetStream, embedded in the manager by
// default and an external NATS cluster when one machine is outgrown:
//
//   - a task stream (OSISM_TASKS, subjects osism.tasks.<queue>.<id>) holds
//     the tasks; the workers of a queue share one durable consumer, so a
//     task runs on exactly one of them at a time, and acknowledged tasks
//     stay until the retention removes them;
//   - every output line is a message on osism.output.<id> in a stream kept
//     for a day (OSISM_OUTPUT), so a client attaches late, replays and
//     follows; an end marker carries the exit status;
//   - the state of every task (queued, running, succeeded, failed,
//     cancelled; worker, times, result, error) is a record in the KV bucket
//     osism-tasks, kept for a configurable number of days;
//   - locks live in the KV bucket osism-locks with a time to live per key,
//     and so does the global hold that stops workers from starting tasks;
//   - workers announce themselves in the KV bucket osism-workers.
//
// Only an admin credential creates or changes these streams and buckets:
// a broker does it when it starts ([EnsureBus]), and a client binds to
// the bus as it is; a client that finds the bus missing and may not create
// it fails at once with [ErrBusMissing], naming the stream. The buckets
// refuse roll-ups (Nats-Rollup), so a credential that may write one key
// cannot wipe a bucket; the task records' bucket drops its oldest
// revisions when it is full rather than refuse a final record.
//
// Each task runs once per submit, or says why not. Submit publishes a task
// with its id as Nats-Msg-Id and publishes it again when the broker's
// acknowledgement does not come (the stream's duplicate window keeps one
// copy, and the stream holds a task id once in any case); when it still
// cannot tell, it returns the id with [ErrMaybeQueued] instead of
// recording a failure for a task that may run. Every record update is
// conditional on the revision last seen: a delivery that finds the task
// final skips it, and a final record is never overwritten.
//
// A worker heartbeats the tasks it holds at a third of the ack wait of the
// queue's consumer (the consumer's, not the worker's own setting, so that
// all workers of a queue agree), so a long task is not handed to another
// worker. Each heartbeat is a request the broker answers; a task without a
// confirmed heartbeat for 5/6 of the ack wait (a silent partition), or
// whose worker was cut off from the broker for longer than the ack wait,
// has its handler cancelled with [ErrDisconnected] before, or as soon as,
// the broker hands the task on. A lock that [Lock.KeepAlive] could not
// renew counts as lost ([Lock.Lost]) a fifth of its TTL before the broker
// would expire it. When a worker dies its task is delivered again, at most
// [TaskConfig.MaxDeliveries] times, and then recorded as failed with the
// reason. A message the worker cannot decode, or a kind no handler knows,
// becomes a failed task at once: it never blocks a queue. The task and
// output streams and the records' bucket have byte caps
// ([TaskConfig.MaxTaskBytes], [TaskConfig.MaxOutputBytes]); a full task
// stream refuses new tasks rather than drop queued ones.
//
// Handlers are typed, without reflection, in the manner of River: implement
// [Handler] for an [Args] type and register it with [Register]. A [Runner]
// pulls the tasks of its queues and runs the handlers with a concurrency per
// queue; it stops gracefully when its context ends.
//
// The configuration of the bus is [Config] (broker, tasks, queues); it is
// one section of services.Config, which composes the sections of every
// package, and [ConfigFromEnv] reads it alone from the environment. Locks
// fail at once when held ([ErrLocked], the same value as
// statemachine.ErrLocked) or wait with backoff ([Client.AcquireWait]).
//
// The embedded broker, the worker service and the bus of one command (an
// embedded broker and a worker inside a CLI command when no broker is
// configured) are in package services; an embedded bus for tests,
// examples and development is package osism/osismtest, which needs
// nothing of the project's domain.
package osism
