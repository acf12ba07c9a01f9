// Package ansible runs ansible-playbook for a role in an OSISM environment.
//
// An environment is a directory of the configuration repository,
// <configuration>/environments/<env>. A role's playbook is the environment's
// own playbook-<role>.yml or else <playbooks>/<env>/<role>.yml. The command
// is built without a shell: the inventory, the extra-vars files that exist
// (environments/{configuration,secrets,images}.yml, then the environment's
// own, which override them), the vault password file when configured, the
// playbook, then the caller's arguments verbatim. ENVIRONMENT and, for a
// sub-environment, SUB are exported to the playbook. A .lock file in
// environments/ or in the environment's directory stops every run there,
// naming the file.
//
// Command.Execute streams every line (stdout and stderr through one pipe, so
// in the order the process wrote them), returns the playbook's exit code, and
// on cancellation kills the whole process group, so no ansible-playbook fork
// or ssh is left behind. Each run gets a private SSH control path directory,
// and its control masters are closed at the end. Config.Run also appends one
// JSON line per run to the execution history file.
//
// RoleMap maps a role to its environment: the built-in default is upstream
// python-osism v0.3.0's map, YAML files in a directory add or override
// entries, and a role no map names runs in "custom".
package ansible
