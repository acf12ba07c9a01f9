package ansible

// The environment variables [Config.ApplyEnv] reads.
const (
	EnvConfigurationDir = "OSISM_CONFIGURATION_DIR"
	EnvPlaybooksDir     = "OSISM_PLAYBOOKS_DIR"
	EnvInventory        = "OSISM_INVENTORY"
	EnvVaultPassword    = "OSISM_VAULT_PASSWORD_FILE"
	EnvPlaybook         = "OSISM_ANSIBLE_PLAYBOOK"
	EnvHistoryFile      = "OSISM_HISTORY_FILE"
	EnvRoleMapDir       = "OSISM_ROLE_MAP_DIR"
)

// ApplyEnv sets the fields whose variables lookup finds (os.LookupEnv, or
// a map of an injected environment).
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	for key, dst := range map[string]*string{
		EnvConfigurationDir: &c.ConfigurationDir,
		EnvPlaybooksDir:     &c.PlaybooksDir,
		EnvInventory:        &c.Inventory,
		EnvVaultPassword:    &c.VaultPasswordFile,
		EnvPlaybook:         &c.Playbook,
		EnvHistoryFile:      &c.HistoryFile,
		EnvRoleMapDir:       &c.RoleMapDir,
	} {
		if v, ok := lookup(key); ok {
			*dst = v
		}
	}
}
