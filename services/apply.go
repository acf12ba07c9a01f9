package services

import (
	"context"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/ceph"
	"github.com/osism/go-osism/kolla"
	"github.com/osism/go-osism/osism"
)

// ApplyRequest is what `osism apply` is asked: a role or a sequence
// ROLE//ROLE..., and what goes with it.
type ApplyRequest struct {
	// Spec is ROLE or ROLE//ROLE//...
	Spec string
	// Environment, when set, overrides the role map for every role.
	Environment string
	// Action is the Kolla action (default deploy). A role applied alone
	// outside kolla refuses one; in a sequence it is for the Kolla roles.
	Action string
	// Sub is the sub-environment.
	Sub string
	// Args go to ansible-playbook verbatim.
	Args []string
}

// ApplyStep is one role of a request, resolved to its task.
type ApplyStep struct {
	Role        string `json:"role"`
	Environment string `json:"environment"`
	Kind        string `json:"kind"`
	Queue       string `json:"queue"`
	// Args is the task to submit.
	Args osism.Args `json:"-"`
}

// PlanApply resolves a request to its steps, in order: the sequence
// (ansible.ParseSequence), each role's environment (the role map, or
// req.Environment), the Kolla action policy (kolla.ActionFor) and the task
// kind of the environment (ansible.run, kolla.run or ceph.run). A nil roles
// is the built-in map. Errors name the input and what was expected.
func PlanApply(roles *ansible.RoleMap, req ApplyRequest) ([]ApplyStep, error) {
	if roles == nil {
		roles = ansible.DefaultRoleMap()
	}
	names, err := ansible.ParseSequence(req.Spec)
	if err != nil {
		return nil, err
	}
	var steps []ApplyStep
	for _, st := range roles.Resolve(names, req.Environment) {
		action, err := kolla.ActionFor(st.Environment, st.Role, req.Action, &kolla.ActionOpts{InSequence: len(names) > 1})
		if err != nil {
			return nil, err
		}
		args := taskOf(st, action, req.Sub, req.Args)
		steps = append(steps, ApplyStep{Role: st.Role, Environment: st.Environment, Kind: args.Kind(), Queue: string(args.Queue()), Args: args})
	}
	return steps, nil
}

// taskOf is the task that applies a resolved role: kolla.run for kolla,
// ceph.run for ceph, else ansible.run.
func taskOf(st ansible.Step, action, sub string, args []string) osism.Args {
	switch st.Environment {
	case kolla.Environment:
		return osism.KollaRunArgs{Role: st.Role, Action: action, Sub: sub, Args: args}
	case ceph.Environment:
		return osism.CephRunArgs{Role: st.Role, Sub: sub, Args: args}
	}
	return osism.AnsibleRunArgs{Environment: st.Environment, Role: st.Role, Sub: sub, Args: args}
}

// Retry runs run, and runs it again while it ends with a non-zero exit
// status, up to retries more times. A cancelled run (osism.ExitCancelled),
// an error or ctx ending stops it. onRetry, when not nil, is told of each
// retry before it starts (attempt counts from 1). It returns the exit
// status of the last run.
func Retry(ctx context.Context, retries int, run func(ctx context.Context) (int, error), onRetry func(attempt, code int)) (int, error) {
	for attempt := 0; ; attempt++ {
		code, err := run(ctx)
		if err != nil || code == 0 || code == osism.ExitCancelled || attempt >= retries || ctx.Err() != nil {
			return code, err
		}
		if onRetry != nil {
			onRetry(attempt+1, code)
		}
	}
}
