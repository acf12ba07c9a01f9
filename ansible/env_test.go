package ansible_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
)

func TestConfigApplyEnv(t *testing.T) {
	t.Parallel()
	base := ansible.Config{
		ConfigurationDir:  "/file/configuration",
		PlaybooksDir:      "/file/playbooks",
		Inventory:         "/file/inventory",
		VaultPasswordFile: "/file/vault",
		Playbook:          "/file/ansible-playbook",
		HistoryFile:       "/file/history.jsonl",
		RoleMapDir:        "/file/roles.d",
		RuntimeDir:        "/file/run",
	}
	// with returns base with one field changed.
	with := func(f func(c *ansible.Config)) ansible.Config { c := base; f(&c); return c }

	cases := []struct {
		name string
		env  map[string]string
		want ansible.Config
	}{
		{name: "nothing set: all kept", env: map[string]string{"OSISM_RUNTIME_DIR": "/x", "ANSIBLE_INVENTORY": "/y"}, want: base},
		{name: "OSISM_CONFIGURATION_DIR", env: map[string]string{"OSISM_CONFIGURATION_DIR": "/env/configuration"},
			want: with(func(c *ansible.Config) { c.ConfigurationDir = "/env/configuration" })},
		{name: "OSISM_PLAYBOOKS_DIR", env: map[string]string{"OSISM_PLAYBOOKS_DIR": "/env/playbooks"},
			want: with(func(c *ansible.Config) { c.PlaybooksDir = "/env/playbooks" })},
		{name: "OSISM_INVENTORY", env: map[string]string{"OSISM_INVENTORY": "/env/inventory"},
			want: with(func(c *ansible.Config) { c.Inventory = "/env/inventory" })},
		{name: "OSISM_VAULT_PASSWORD_FILE", env: map[string]string{"OSISM_VAULT_PASSWORD_FILE": "/env/vault"},
			want: with(func(c *ansible.Config) { c.VaultPasswordFile = "/env/vault" })},
		{name: "OSISM_ANSIBLE_PLAYBOOK", env: map[string]string{"OSISM_ANSIBLE_PLAYBOOK": "/usr/bin/ansible-playbook"},
			want: with(func(c *ansible.Config) { c.Playbook = "/usr/bin/ansible-playbook" })},
		{name: "OSISM_HISTORY_FILE", env: map[string]string{"OSISM_HISTORY_FILE": "/env/history.jsonl"},
			want: with(func(c *ansible.Config) { c.HistoryFile = "/env/history.jsonl" })},
		{name: "OSISM_ROLE_MAP_DIR", env: map[string]string{"OSISM_ROLE_MAP_DIR": "/env/roles.d"},
			want: with(func(c *ansible.Config) { c.RoleMapDir = "/env/roles.d" })},
		{name: "set but empty: back to the default", env: map[string]string{"OSISM_HISTORY_FILE": ""},
			want: with(func(c *ansible.Config) { c.HistoryFile = "" })},
		{name: "all seven", env: map[string]string{
			"OSISM_CONFIGURATION_DIR": "/e/c", "OSISM_PLAYBOOKS_DIR": "/e/p", "OSISM_INVENTORY": "/e/i", "OSISM_VAULT_PASSWORD_FILE": "/e/v",
			"OSISM_ANSIBLE_PLAYBOOK": "/e/ap", "OSISM_HISTORY_FILE": "/e/h", "OSISM_ROLE_MAP_DIR": "/e/r",
		}, want: ansible.Config{ConfigurationDir: "/e/c", PlaybooksDir: "/e/p", Inventory: "/e/i", VaultPasswordFile: "/e/v",
			Playbook: "/e/ap", HistoryFile: "/e/h", RoleMapDir: "/e/r", RuntimeDir: "/file/run"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base
			var asked []string
			c.ApplyEnv(func(k string) (string, bool) { asked = append(asked, k); v, ok := tc.env[k]; return v, ok })
			require.Equal(t, tc.want, c)
			require.ElementsMatch(t, []string{
				ansible.EnvConfigurationDir, ansible.EnvPlaybooksDir, ansible.EnvInventory, ansible.EnvVaultPassword,
				ansible.EnvPlaybook, ansible.EnvHistoryFile, ansible.EnvRoleMapDir,
			}, asked, "the seven variables, each once")
		})
	}

	// The names are the upstream ones.
	for name, got := range map[string]string{
		"OSISM_CONFIGURATION_DIR":   ansible.EnvConfigurationDir,
		"OSISM_PLAYBOOKS_DIR":       ansible.EnvPlaybooksDir,
		"OSISM_INVENTORY":           ansible.EnvInventory,
		"OSISM_VAULT_PASSWORD_FILE": ansible.EnvVaultPassword,
		"OSISM_ANSIBLE_PLAYBOOK":    ansible.EnvPlaybook,
		"OSISM_HISTORY_FILE":        ansible.EnvHistoryFile,
		"OSISM_ROLE_MAP_DIR":        ansible.EnvRoleMapDir,
	} {
		require.Equal(t, name, got)
	}
}
