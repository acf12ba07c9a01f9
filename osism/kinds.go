package osism

import (
	"errors"
	"fmt"

	"github.com/osism/go-osism/internal/redact"
)

// NoopArgs is the built-in task that does nothing but write Lines lines of
// output; it checks that a queue's workers are alive and measures the bus.
// It goes to conductor; SubmitOpts.Queue sends it to another queue.
type NoopArgs struct {
	// Lines is how many output lines to write.
	Lines int `json:"lines,omitempty"`
}

// Kind is "osism.noop".
func (NoopArgs) Kind() string { return "osism.noop" }

// Queue is conductor.
func (NoopArgs) Queue() Queue { return QueueConductor }

// The built-in kinds that run Ansible, one per environment family, each on
// its environment's queue as upstream: ansible.run (osism-ansible) for
// every environment but kolla and ceph, kolla.run (kolla-ansible) and
// ceph.run (ceph-ansible). Package services registers their handlers.
const (
	KindAnsibleRun = "ansible.run"
	KindKollaRun   = "kolla.run"
	KindCephRun    = "ceph.run"
)

// AnsibleRunArgs applies a role in an environment other than kolla and
// ceph (generic, infrastructure, manager, monitoring, custom, ...).
type AnsibleRunArgs struct {
	Environment string `json:"environment"`
	Role        string `json:"role"`
	// Sub selects a sub-environment (exported as SUB).
	Sub string `json:"sub,omitempty"`
	// Args go to ansible-playbook verbatim.
	Args []string `json:"args,omitempty"`
}

// Kind is "ansible.run".
func (AnsibleRunArgs) Kind() string { return KindAnsibleRun }

// Queue is osism-ansible.
func (AnsibleRunArgs) Queue() Queue { return QueueOSISMAnsible }

// Redacted masks the values of secret extra-vars (keys that name a
// password, secret, token or key) for the task's records.
func (a AnsibleRunArgs) Redacted() Args { a.Args = redact.Args(a.Args, nil); return a }

// KollaRunArgs applies a Kolla role with a Kolla action (deploy when
// empty).
type KollaRunArgs struct {
	Role   string   `json:"role"`
	Action string   `json:"action,omitempty"`
	Sub    string   `json:"sub,omitempty"`
	Args   []string `json:"args,omitempty"`
}

// Kind is "kolla.run".
func (KollaRunArgs) Kind() string { return KindKollaRun }

// Queue is kolla-ansible.
func (KollaRunArgs) Queue() Queue { return QueueKollaAnsible }

// Redacted masks the values of secret extra-vars for the task's records.
func (a KollaRunArgs) Redacted() Args { a.Args = redact.Args(a.Args, nil); return a }

// CephRunArgs applies a Ceph role.
type CephRunArgs struct {
	Role string   `json:"role"`
	Sub  string   `json:"sub,omitempty"`
	Args []string `json:"args,omitempty"`
}

// Kind is "ceph.run".
func (CephRunArgs) Kind() string { return KindCephRun }

// Queue is ceph-ansible.
func (CephRunArgs) Queue() Queue { return QueueCephAnsible }

// Redacted masks the values of secret extra-vars for the task's records.
func (a CephRunArgs) Redacted() Args { a.Args = redact.Args(a.Args, nil); return a }

// ApplyArgs returns the task that applies role in environment env: a
// [KollaRunArgs] for kolla, a [CephRunArgs] for ceph, else an
// [AnsibleRunArgs]. An action is only meaningful for kolla.
func ApplyArgs(env, role, action, sub string, args []string) (Args, error) {
	if role == "" {
		return nil, errors.New("apply: no role given")
	}
	if env == "" {
		return nil, fmt.Errorf("apply %s: no environment given", role)
	}
	if action != "" && env != "kolla" {
		return nil, fmt.Errorf("apply %s: action %q: actions apply to the kolla environment only, not %s", role, action, env)
	}
	switch env {
	case "kolla":
		return KollaRunArgs{Role: role, Action: action, Sub: sub, Args: args}, nil
	case "ceph":
		return CephRunArgs{Role: role, Sub: sub, Args: args}, nil
	}
	return AnsibleRunArgs{Environment: env, Role: role, Sub: sub, Args: args}, nil
}

// KindNetBoxConnect moves a device to a state: NetBox, then the switches
// its cables reach (phases 1 to 4).
const KindNetBoxConnect = "netbox.connect"

// NetBoxConnectArgs moves Device to State on the netbox queue.
type NetBoxConnectArgs struct {
	Device string `json:"device"`
	State  string `json:"state"`
	// Collection names the desired-state collection; default from the
	// fabric configuration.
	Collection string `json:"collection,omitempty"`
	// Enforce starts the transition although the device is in transit:
	// it then counts as being in the state it was moving to, and a device
	// moving to State starts again at phase 1 (statemachine.TransitionOpts).
	// A device already in State is left alone, enforced or not.
	Enforce bool `json:"enforce,omitempty"`
}

// Kind is "netbox.connect".
func (NetBoxConnectArgs) Kind() string { return KindNetBoxConnect }

// Queue is netbox.
func (NetBoxConnectArgs) Queue() Queue { return QueueNetBox }
