// Package kolla runs Kolla roles: what is special to the kolla environment
// on top of package ansible.
//
// A Kolla role runs as its name without the "kolla-" prefix, and the Kolla
// action (deploy, reconfigure, upgrade, ...; deploy when none is given)
// becomes -e kolla_action=<action>, before the caller's arguments so that an
// explicit -e kolla_action=... among them still wins.
//
// The policy for actions lives here and only here: an action is one of
// Actions, and it is meant for the kolla environment. [ActionFor] applies
// it to one role of an apply (ROLE or a sequence ROLE//ROLE... resolved
// with ansible.ParseSequence and ansible.RoleMap.Resolve): an action for a
// role outside kolla is refused when the role is applied alone and dropped
// for the other roles of a sequence. [Run] checks the action the same way
// when it builds the playbook run. Errors of the policy match
// [ErrUnknownAction] and [ErrNotKolla] with errors.Is.
package kolla

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/osism/go-osism/ansible"
)

// Environment is the name of the Kolla environment.
const Environment = "kolla"

// DefaultAction is the action when none is given.
const DefaultAction = "deploy"

// Actions are the Kolla actions the CLI accepts.
var Actions = []string{
	"bootstrap", "bootstrap-servers", "check", "config", "deploy", "deploy-containers",
	"destroy", "precheck", "prune-images", "pull", "reconfigure", "refresh-containers",
	"stop", "upgrade", "upgrade-bifrost", "validate-config",
}

var (
	// ErrUnknownAction reports an action that is not one of Actions.
	ErrUnknownAction = errors.New("unknown kolla action")
	// ErrNotKolla reports an action for a role that runs outside the kolla
	// environment.
	ErrNotKolla = errors.New("action outside the kolla environment")
)

// policyError is an error of the action policy: its message, and the
// sentinel it matches.
type policyError struct {
	msg  string
	kind error
}

func (e *policyError) Error() string        { return e.msg }
func (e *policyError) Is(target error) bool { return target == e.kind }

// checkAction is the one check of an action against Actions; what names
// the action in the message ("kolla action", "apply --action").
func checkAction(what, action string) error {
	if slices.Contains(Actions, action) {
		return nil
	}
	return &policyError{
		msg:  fmt.Sprintf("%s %q: expected one of %s", what, action, strings.Join(Actions, ", ")),
		kind: ErrUnknownAction,
	}
}

// ActionOpts are the circumstances of one role of an apply; nil means
// the defaults (the role is applied alone).
type ActionOpts struct {
	// InSequence tells that the role is one of several in a sequence
	// ROLE//ROLE...: an action meant for the sequence's Kolla roles is then
	// dropped for a role outside kolla instead of refused.
	InSequence bool
}

// ActionFor returns the action that role, running in environment env,
// gets from the action an apply was given; opts tells whether role is one
// of several in a sequence (nil: applied alone). An empty action gives ""
// (Run then uses DefaultAction). Otherwise:
//
//   - an action that is not one of Actions fails (ErrUnknownAction):
//     apply --action "explode": expected one of bootstrap, ...
//   - for env kolla, the action is returned;
//   - for another environment, a role applied alone fails (ErrNotKolla):
//     apply hello --action deploy: actions apply to the kolla environment only, and hello runs in generic
//   - while in a sequence the action is dropped (""): it is meant for the
//     sequence's Kolla roles.
func ActionFor(env, role, action string, opts *ActionOpts) (string, error) {
	if action == "" {
		return "", nil
	}
	if err := checkAction("apply --action", action); err != nil {
		return "", err
	}
	if env == Environment {
		return action, nil
	}
	if opts != nil && opts.InSequence {
		return "", nil
	}
	return "", &policyError{
		msg:  fmt.Sprintf("apply %s --action %s: actions apply to the kolla environment only, and %s runs in %s", role, action, role, env),
		kind: ErrNotKolla,
	}
}

// Role returns the playbook name of a Kolla role.
func Role(role string) string { return strings.TrimPrefix(role, "kolla-") }

// Run returns the ansible.Run of role with action; an empty action is
// DefaultAction. The action comes before the user's arguments so that an
// explicit -e kolla_action=... among them still wins. An action that is not
// one of Actions fails (ErrUnknownAction):
//
//	kolla action "explode": expected one of bootstrap, ...
func Run(role, action string, args []string) (ansible.Run, error) {
	if action == "" {
		action = DefaultAction
	}
	if err := checkAction("kolla action", action); err != nil {
		return ansible.Run{}, err
	}
	return ansible.Run{
		Environment: Environment,
		Role:        Role(role),
		Args:        append([]string{"-e", "kolla_action=" + action}, args...),
	}, nil
}
