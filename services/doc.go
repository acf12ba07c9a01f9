// Package services holds the long-running loops of the OSISM manager and
// the wiring of the domain packages to the bus. Each service is a value
// built from its section of [Config] with a Run(ctx) error method, and a
// [Group] runs several in one process and stops all of them when one
// fails or the context ends, so that one process can run them all and
// `osism service NAME` runs one: the [Broker], the [Worker], the HTTP
// [API], the [Beat], the [Watchdog] and the Ironic [Listener]. The
// [Manager] runs them all in one process (`osism manager`), with one
// Prometheus registry behind the API's /metrics and a graceful drain of
// the workers on stop; [StartDev] adds the NetBox double and simulated
// FRR leaves (`osism manager --dev`, `osism demo`).
//
// # Configuration
//
// [Config] composes the sections the packages own: the bus (osism.Config:
// broker, tasks, queues), ansible.Config, netbox.Config and the fabric
// ([FabricConfig]: netbox.DesiredStateConfig and switchcfg.Config).
// [LoadConfig] reads it once: defaults, /etc/osism/osism.yaml, then
// $OSISM_CONFIG or the user's file, then the environment with the
// variable names upstream OSISM uses. Only [LoadOptsFromEnv] reads the
// process environment; tests inject theirs through [LoadOpts].
//
// # Handlers and wiring
//
// [BuiltinHandlers] registers the built-in task kinds: osism.noop, the
// Ansible kinds ([RegisterAnsible]: one run of a role at a time across all
// workers, under a bus lock), netbox.connect ([RegisterFabric]),
// netbox.generate ([RegisterGenerate]), openstack.baremetal
// ([RegisterOpenStack]), the conductor's sync_ironic and sync_netbox
// ([RegisterConductor]) and reconciler.run ([RegisterReconciler]). A
// [Fabric] wires NetBox, the state machine and the switches: its
// [Fabric.Hooks] are netbox.DesiredStateHook for phase 1 and the switchcfg
// hooks for phases 2 to 4, with the bus's locks ([StateLocker]) when a bus
// client is given, or the host's file locks ([FileLocker]) without;
// [OpenFabric] builds it from a configuration.
//
// Behind the commands, one function each: [PlanApply] resolves what
// `osism apply` is asked into tasks and [RunApply] runs them in order
// ([FollowTask] follows one, with Ctrl-C to cancel and then to detach;
// [Retry] runs a failed run again); [ConnectAll] fans netbox.connect out
// over devices; [RunBaremetalTasks] does the same for Ironic nodes, and
// [ListBaremetal] joins nodes with their NetBox devices; [SyncIronic] and
// [SyncNetBox] are the conductor's two directions; [Reconciler] builds the
// Ansible inventory; [RunDemo] is the whole main job on embedded defaults.
//
// # The bus of one command
//
// The [Broker] is nats-server in process with JetStream: persistent in a
// store directory by default, in memory for tests, on loopback unless told
// otherwise, and optionally one node of a cluster with routes to the
// others. Clients must authenticate: with credentials by [Role] (admin,
// operator, worker, reader; BrokerConfig.Users or a credentials file, see
// [BrokerCredentials]), whose subject permissions the broker enforces, or,
// with none configured, with the admin token the broker generates once and
// keeps mode 0600 in its store ([DefaultTokenFile] by default), which
// clients of the host read. It refuses to listen on a non-loopback address
// without configured credentials and TLS, and cluster routes authenticate
// with a route user and password. A broker that listens on no port
// (standalone mode) needs no credentials. [Worker] runs the task handlers
// of some queues ([osism.Runner]).
// [OpenBus] gives a command its bus: a client of the configured broker, or,
// when none is configured, an embedded one with a worker of its own.
package services
