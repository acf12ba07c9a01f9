package switchcfg_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

// A secrets file that does not fit is refused with the line and, for an
// unknown key, the key by name; the value, which may be a password typed
// in the wrong place, is never quoted.
func TestLoadCredentialsErrorsQuoteNoValue(t *testing.T) {
	t.Parallel()
	const pw = "pl4nted-s3cret-pw"
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"password as the port", "defaults:\n  user: osism\n  port: " + pw + "\n", []string{"line 3", "defaults.port", "want a number"}},
		{"password as the host-key switch", "defaults:\n  user: osism\n  insecure_ignore_host_key: " + pw + "\n", []string{"line 3", "insecure_ignore_host_key", "want true or false"}},
		{"password as the timeout", "switches:\n  leaf-1:\n    timeout: " + pw + "\n", []string{"line 3", "switches.leaf-1.timeout", "duration"}},
		{"password as the switches", "defaults: {user: osism}\nswitches: " + pw + "\n", []string{"line 2", "switches: want a mapping"}},
		{"password as a switch", "switches:\n  leaf-1: " + pw + "\n", []string{"line 2", "switches.leaf-1: want a mapping"}},
		{"password in a list", "defaults:\n  password: [" + pw + "]\n", []string{"line 2", "defaults.password", "want a string"}},
		{"misspelt key", "defaults:\n  user: osism\n  pasword: " + pw + "\n", []string{"line 3", `unknown key "pasword"`, "password"}},
		{"unknown top-level key", "default:\n  password: " + pw + "\n", []string{"line 1", `unknown key "default"`, "defaults, switches"}},
		{"unknown key of a switch", "switches:\n  leaf-1:\n    secret: " + pw + "\n", []string{"line 3", `switches.leaf-1: unknown key "secret"`}},
		{"unterminated quote", "defaults:\n  user: osism\n  password: \"" + pw + "\n", []string{"line", "not valid YAML"}},
		{"a tab", "defaults:\n\tpassword: " + pw + "\n", []string{"line 2", "not valid YAML"}},
		{"a list", "- " + pw + "\n", []string{"line 1", "the file: want a mapping"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secrets.yml")
			require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			_, err := switchcfg.LoadCredentials(path)
			require.Error(t, err)
			require.NotContains(t, err.Error(), pw)
			require.NotContains(t, err.Error(), pw[:8], "not even part of it")
			require.Contains(t, err.Error(), path)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets.yml")
	require.NoError(t, os.WriteFile(path, []byte(`defaults: {user: osism, key_file: /etc/osism/switch_key, known_hosts: /etc/osism/known_hosts, timeout: 20s}
switches:
  leaf-1: {host: 192.0.2.11, port: 2222, password: "p w"}
  leaf-2: {allow_config_context_host: true}
  leaf-3:
`), 0o600))
	c, err := switchcfg.LoadCredentials(path)
	require.NoError(t, err)
	yes := true
	require.Equal(t, &switchcfg.Credentials{
		Defaults: switchcfg.TargetSpec{User: "osism", KeyFile: "/etc/osism/switch_key", KnownHosts: "/etc/osism/known_hosts", Timeout: 20 * time.Second},
		Switches: map[string]switchcfg.TargetSpec{
			"leaf-1": {Host: "192.0.2.11", Port: 2222, Password: "p w"},
			"leaf-2": {AllowConfigContextHost: &yes},
			"leaf-3": {},
		},
	}, c)

	empty := filepath.Join(t.TempDir(), "empty.yml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = switchcfg.LoadCredentials(empty)
	require.ErrorContains(t, err, empty+": the file is empty")
}
