// Package ansible runs ansible-playbook for a role in an OSISM environment.
//
// # Configuration
//
// Config is the ansible section of the configuration; its YAML and JSON
// keys are configuration_dir, playbooks_dir, inventory,
// vault_password_file, playbook, history_file, role_map_dir and
// runtime_dir. Empty fields take the defaults of OSISM's container layout
// (/opt/configuration, /ansible, ansible-playbook from PATH).
//
// # Commands
//
// An environment is a directory of the configuration repository,
// <configuration>/environments/<env>. A role's playbook is the environment's
// own playbook-<role>.yml or else <playbooks>/<env>/<role>.yml. Config.Command
// builds the command without a shell: the inventory, the extra-vars files
// that exist (environments/{configuration,secrets,images}.yml, then the
// environment's own, which override them), the vault password file when
// configured, the playbook, then the caller's arguments verbatim. ENVIRONMENT
// and, for a sub-environment, SUB are exported to the playbook. A .lock file
// in environments/ or in the environment's directory stops every run there,
// naming the file.
//
// Command.Execute streams every line (stdout and stderr through one pipe, so
// in the order the process wrote them), returns the playbook's exit code, and
// on cancellation kills the whole process group, so no ansible-playbook fork
// or ssh is left behind. Each run gets a private SSH control path directory,
// and its control masters are closed at the end. Config.Run also appends one
// JSON line per run to the execution history file.
//
// # Roles and sequences
//
// RoleMap maps a role to its environment: the built-in default is upstream
// python-osism v0.3.0's map, YAML files in a directory (Config.RoleMapDir,
// read by Config.RoleMap or LoadRoleMap) add or override entries, and a role
// no map names runs in "custom".
//
// What an apply names is a role or a sequence of roles, a//b//c, run in order.
// ParseSequence splits it and refuses an empty role; RoleMap.Resolve gives
// each role its Step, the role with its environment, where an environment
// given by the caller overrides the map for every role.
//
// What is special to an environment lives in its own package on top of this
// one: package kolla holds the Kolla actions and their policy (which roles of
// a sequence an action applies to), package ceph the Ceph roles.
package ansible
