package ansible

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Config is the ansible section of the configuration: where the
// configuration repository, the playbooks and the role map are, and how
// ansible-playbook is run. The YAML and JSON keys are those of the section
// (configuration_dir, playbooks_dir, ...). The zero value uses OSISM's
// container layout.
type Config struct {
	// ConfigurationDir is the configuration repository; default
	// /opt/configuration. Environments are <ConfigurationDir>/environments/<env>.
	ConfigurationDir string `yaml:"configuration_dir" json:"configuration_dir,omitempty"`
	// PlaybooksDir holds <env>/<role>.yml for the roles an environment does
	// not provide itself as playbook-<role>.yml; default /ansible.
	PlaybooksDir string `yaml:"playbooks_dir" json:"playbooks_dir,omitempty"`
	// Inventory is passed to ansible-playbook with -i; default
	// <ConfigurationDir>/inventory.
	Inventory string `yaml:"inventory" json:"inventory,omitempty"`
	// VaultPasswordFile is passed with --vault-password-file when set.
	VaultPasswordFile string `yaml:"vault_password_file" json:"vault_password_file,omitempty"`
	// Playbook is the ansible-playbook binary; default "ansible-playbook"
	// from PATH.
	Playbook string `yaml:"playbook" json:"playbook,omitempty"`
	// HistoryFile receives one JSON line per run; empty means no history.
	HistoryFile string `yaml:"history_file" json:"history_file,omitempty"`
	// RoleMapDir holds YAML files that add to or override the role ->
	// environment map (see [LoadRoleMap]); empty: the built-in map only.
	RoleMapDir string `yaml:"role_map_dir" json:"role_map_dir,omitempty"`
	// RuntimeDir holds each run's SSH control sockets; default the system
	// temporary directory.
	RuntimeDir string `yaml:"runtime_dir" json:"runtime_dir,omitempty"`
	// PassEnv names variables of the worker's environment that
	// ansible-playbook gets besides [AllowedEnv]: a name (HTTP_PROXY) or a
	// prefix ending in * (OS_CACERT_*). Everything else of the worker's
	// environment (NETBOX_TOKEN, OSISM_BROKER_*, OS_PASSWORD, ...) stays
	// out of the run.
	PassEnv []string `yaml:"pass_env" json:"pass_env,omitempty"`
	// SecretPattern is a regular expression (Go syntax) that matches the
	// extra-var keys whose values are masked in the history file, printed
	// commands and task records; default [DefaultSecretPattern]. The
	// playbook still gets the real values.
	SecretPattern string `yaml:"secret_pattern" json:"secret_pattern,omitempty"`
}

// Validate checks the settings that are not paths: PassEnv's names and
// SecretPattern. Config.Command checks them too.
func (c Config) Validate() error {
	if _, err := c.SecretRegexp(); err != nil {
		return err
	}
	for _, name := range c.PassEnv {
		if err := checkEnvName(name); err != nil {
			return err
		}
	}
	return nil
}

// RoleMap returns the role map of this configuration: the built-in map with
// the files of RoleMapDir added or overriding, as [LoadRoleMap] reads them.
func (c Config) RoleMap() (*RoleMap, error) { return LoadRoleMap(c.RoleMapDir) }

func (c Config) withDefaults() Config {
	if c.ConfigurationDir == "" {
		c.ConfigurationDir = "/opt/configuration"
	}
	if c.PlaybooksDir == "" {
		c.PlaybooksDir = "/ansible"
	}
	if c.Inventory == "" {
		c.Inventory = filepath.Join(c.ConfigurationDir, "inventory")
	}
	if c.Playbook == "" {
		c.Playbook = "ansible-playbook"
	}
	if c.RuntimeDir == "" {
		c.RuntimeDir = os.TempDir()
	}
	return c
}

// Run is one playbook run: a role in an environment with its arguments.
type Run struct {
	Environment string
	Role        string
	// Sub selects a sub-environment (exported as SUB), e.g. a Ceph cluster.
	Sub string
	// Args go to ansible-playbook verbatim, after everything else.
	Args []string
	// TaskID names the run in the history and its SSH control path.
	TaskID string
}

// Command is what a Run executes, built without a shell.
type Command struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Env is the run's own variables (ENVIRONMENT, SUB). The process gets
	// them, the allow-listed part of the worker's environment
	// ([AllowedEnv] and Config.PassEnv) and the run's SSH settings.
	Env []string `json:"env"`
	Dir string   `json:"dir"`

	runtimeDir, taskID string
	passEnv            []string
	secret             *regexp.Regexp
}

// String renders the command as a shell line, quoted so that it can be
// pasted, with secret extra-vars masked (see [MaskArgs]): what --dry-run
// prints. The command runs with the real values.
func (c *Command) String() string {
	m := c.Masked()
	parts := make([]string, 0, len(m.Env)+len(m.Args)+1)
	for _, e := range m.Env {
		parts = append(parts, shellQuote(e))
	}
	parts = append(parts, shellQuote(m.Path))
	for _, a := range m.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// Masked returns a copy of c to show: its arguments with the values of
// secret extra-vars masked by the configured SecretPattern.
func (c *Command) Masked() *Command {
	m := *c
	m.Args = MaskArgs(c.Args, c.secret)
	m.Env = append([]string(nil), c.Env...)
	return &m
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ErrLockFile reports that the configuration repository holds a .lock file,
// which an operator sets during maintenance. It is not a held lock of the
// bus: waiting does not end it.
var ErrLockFile = errors.New("environment locked")

// LockError names the lock file that stops a run.
type LockError struct{ File string }

func (e *LockError) Error() string {
	return fmt.Sprintf("refusing to run: lock file %s exists (remove it when the maintenance is over)", e.File)
}

func (e *LockError) Is(target error) bool { return target == ErrLockFile }

// ErrNoPlaybook reports a role with no playbook in its environment.
var ErrNoPlaybook = errors.New("no playbook")

// Command builds the command of r: the environment's playbook-<role>.yml or
// else <PlaybooksDir>/<env>/<role>.yml, the inventory, the extra-vars files
// that exist (environments/{configuration,secrets,images}.yml, then the
// environment's own, which override), the vault password file, then r.Args.
// It refuses while environments/.lock or environments/<env>/.lock exists.
func (c Config) Command(r Run) (*Command, error) {
	c = c.withDefaults()
	secret, err := c.SecretRegexp()
	if err != nil {
		return nil, err
	}
	for _, name := range c.PassEnv {
		if err := checkEnvName(name); err != nil {
			return nil, err
		}
	}
	if err := checkName(r.Environment); err != nil {
		return nil, fmt.Errorf("environment %q: %w", r.Environment, err)
	}
	if err := checkName(r.Role); err != nil {
		return nil, fmt.Errorf("role %q: %w", r.Role, err)
	}
	if r.Sub != "" {
		if err := checkName(r.Sub); err != nil {
			return nil, fmt.Errorf("sub-environment %q: %w", r.Sub, err)
		}
	}
	envs := filepath.Join(c.ConfigurationDir, "environments")
	envDir := filepath.Join(envs, r.Environment)
	for _, lock := range []string{filepath.Join(envs, ".lock"), filepath.Join(envDir, ".lock")} {
		if _, err := os.Stat(lock); err == nil {
			return nil, &LockError{File: lock}
		}
	}

	candidates := []string{
		filepath.Join(envDir, "playbook-"+r.Role+".yml"),
		filepath.Join(c.PlaybooksDir, r.Environment, r.Role+".yml"),
	}
	playbook := ""
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			playbook = p
			break
		}
	}
	if playbook == "" {
		return nil, fmt.Errorf("role %q in environment %q: %w: looked for %s and %s", r.Role, r.Environment, ErrNoPlaybook, candidates[0], candidates[1])
	}

	args := []string{"-i", c.Inventory}
	for _, dir := range []string{envs, envDir} {
		for _, name := range []string{"configuration.yml", "secrets.yml", "images.yml"} {
			f := filepath.Join(dir, name)
			if _, err := os.Stat(f); err == nil {
				args = append(args, "-e", "@"+f)
			}
		}
	}
	if c.VaultPasswordFile != "" {
		args = append(args, "--vault-password-file", c.VaultPasswordFile)
	}
	args = append(args, playbook)
	args = append(args, r.Args...)

	env := []string{"ENVIRONMENT=" + r.Environment}
	if r.Sub != "" {
		env = append(env, "SUB="+r.Sub)
	}
	dir := envDir
	if _, err := os.Stat(dir); err != nil {
		dir = c.ConfigurationDir
	}
	return &Command{Path: c.Playbook, Args: args, Env: env, Dir: dir, runtimeDir: c.RuntimeDir, taskID: r.TaskID,
		passEnv: append([]string(nil), c.PassEnv...), secret: secret}, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
