package ansible_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/ansible"
)

// The section decodes with every key of the configuration file, strictly.
func TestConfigYAMLSection(t *testing.T) {
	t.Parallel()
	doc := `
configuration_dir: /srv/configuration
playbooks_dir: /srv/playbooks
inventory: /srv/inventory
vault_password_file: /run/secrets/vault
playbook: /usr/bin/ansible-playbook
history_file: /var/log/osism/history.jsonl
role_map_dir: /etc/osism/roles.d
runtime_dir: /run/osism
pass_env: [HTTP_PROXY, OS_CACERT_*]
secret_pattern: (?i)community
`
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	var c ansible.Config
	require.NoError(t, dec.Decode(&c))
	require.Equal(t, ansible.Config{
		ConfigurationDir:  "/srv/configuration",
		PlaybooksDir:      "/srv/playbooks",
		Inventory:         "/srv/inventory",
		VaultPasswordFile: "/run/secrets/vault",
		Playbook:          "/usr/bin/ansible-playbook",
		HistoryFile:       "/var/log/osism/history.jsonl",
		RoleMapDir:        "/etc/osism/roles.d",
		RuntimeDir:        "/run/osism",
		PassEnv:           []string{"HTTP_PROXY", "OS_CACERT_*"},
		SecretPattern:     "(?i)community",
	}, c)
	require.NoError(t, c.Validate())

	dec = yaml.NewDecoder(bytes.NewReader([]byte("configurationdir: /srv\n")))
	dec.KnownFields(true)
	require.ErrorContains(t, dec.Decode(&c), "field configurationdir not found")

	data, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, `{"configuration_dir": "/srv/configuration", "playbooks_dir": "/srv/playbooks", "inventory": "/srv/inventory",
		"vault_password_file": "/run/secrets/vault", "playbook": "/usr/bin/ansible-playbook",
		"history_file": "/var/log/osism/history.jsonl", "role_map_dir": "/etc/osism/roles.d", "runtime_dir": "/run/osism",
		"pass_env": ["HTTP_PROXY", "OS_CACERT_*"], "secret_pattern": "(?i)community"}`, string(data))
	data, err = json.Marshal(ansible.Config{})
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(data), "empty fields are left out")
}

func TestConfigRoleMap(t *testing.T) {
	t.Parallel()
	m, err := ansible.Config{}.RoleMap()
	require.NoError(t, err)
	require.Equal(t, ansible.DefaultRoleMap().Entries(), m.Entries(), "no directory: the built-in map")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.yml"), []byte("generic:\n  - nova\n"), 0o644))
	m, err = ansible.Config{RoleMapDir: dir}.RoleMap()
	require.NoError(t, err)
	require.Equal(t, "generic", m.Environment("nova"))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("- nova\n"), 0o644))
	_, err = ansible.Config{RoleMapDir: dir}.RoleMap()
	require.ErrorContains(t, err, "bad.yml: expected a map of environment to a list of roles")
}
