// Package ansible runs ansible-playbook for a role in an OSISM environment.
//
// # Configuration
//
// Config is the ansible section of the configuration; its YAML and JSON
// keys are configuration_dir, playbooks_dir, inventory,
// vault_password_file, playbook, history_file, role_map_dir, runtime_dir,
// pass_env and secret_pattern. Empty fields take the defaults of OSISM's
// container layout (/opt/configuration, /ansible, ansible-playbook from
// PATH).
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
// or ssh is left behind. A line longer than MaxLineBytes, the task bus's
// line limit, or output that never ends its line, is cut into lines of that
// length: a run holds no more than that of a partial line. Each run gets a
// private SSH control path directory, and its control masters are closed at
// the end. Config.Run also appends one JSON line per run to the execution
// history file.
//
// # Environment and secrets
//
// ansible-playbook does not inherit the worker's whole environment: it gets
// the variables AllowedEnv names (PATH, HOME, USER, LANG and LC_*, TERM, TZ,
// SSH_AUTH_SOCK, ANSIBLE_*, ...), those Config.PassEnv adds, and the run's
// own (ENVIRONMENT, SUB). The worker's NetBox token, broker credentials or
// OS_PASSWORD never reach a playbook unless pass_env names them.
//
// Extra-vars whose key matches Config.SecretPattern (DefaultSecretPattern:
// password, secret, token, key) are masked, their values replaced with
// Masked, wherever a run is shown: the history file, Command.String (what
// --dry-run prints) and Command.Masked. MaskArgs does it for any argument
// list (key=value pairs, JSON and YAML documents). The playbook gets the
// real values.
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
