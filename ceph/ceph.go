// Package ceph runs Ceph roles: what is special to the ceph environment on
// top of package ansible.
//
// A Ceph role runs as its name without the "ceph-" prefix (ceph-osds runs
// as osds: the ceph environment's playbook-osds.yml or else
// <playbooks>/ceph/osds.yml), with the caller's arguments verbatim. A Ceph
// cluster is a sub-environment: set Sub on the returned ansible.Run and it
// is exported to the playbook as SUB. Ceph roles take no Kolla action; that
// policy is package kolla's (kolla.ActionFor).
package ceph

import (
	"strings"

	"github.com/osism/go-osism/ansible"
)

// Environment is the name of the Ceph environment.
const Environment = "ceph"

// Role returns the playbook name of a Ceph role.
func Role(role string) string { return strings.TrimPrefix(role, "ceph-") }

// Run returns the ansible.Run of role with the user's arguments.
func Run(role string, args []string) ansible.Run {
	return ansible.Run{Environment: Environment, Role: Role(role), Args: args}
}
