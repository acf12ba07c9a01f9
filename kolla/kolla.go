// Package kolla runs Kolla roles: what is special to the kolla environment
// on top of package ansible.
//
// A Kolla role runs as its name without the "kolla-" prefix, and the Kolla
// action (deploy, reconfigure, upgrade, ...) becomes -e kolla_action=<action>.
package kolla

import (
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

// Role returns the playbook name of a Kolla role.
func Role(role string) string { return strings.TrimPrefix(role, "kolla-") }

// Run returns the ansible.Run of role with action; an empty action is
// DefaultAction. The action comes before the user's arguments so that an
// explicit -e kolla_action=... among them still wins.
func Run(role, action string, args []string) (ansible.Run, error) {
	if action == "" {
		action = DefaultAction
	}
	if !slices.Contains(Actions, action) {
		return ansible.Run{}, fmt.Errorf("kolla action %q: expected one of %s", action, strings.Join(Actions, ", "))
	}
	return ansible.Run{
		Environment: Environment,
		Role:        Role(role),
		Args:        append([]string{"-e", "kolla_action=" + action}, args...),
	}, nil
}
