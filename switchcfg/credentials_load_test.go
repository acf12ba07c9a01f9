package switchcfg_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

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

// FuzzLoadCredentials: a secrets file, with a planted value at "@S@",
// either loads as the YAML library would decode it (unknown keys refused)
// or fails with an error that names the line and never quotes the
// planted value, unless the file made it a key.
func FuzzLoadCredentials(f *testing.F) {
	for _, s := range []string{
		"defaults:\n  user: osism\n  password: @S@\n",
		"defaults:\n  port: @S@\n",
		"switches:\n  leaf-1: {host: 192.0.2.11, password: \"@S@\"}\n",
		"switches: @S@\n",
		"defaults:\n\tpassword: @S@\n",
		"defaults:\n  password: \"@S@\n",
		"defaults: [@S@]\n",
		"- @S@\n",
		"defaults:\n  timeout: @S@\n  insecure_ignore_host_key: @S@\n",
		"switches:\n  leaf-1:\n    allow_config_context_host: @S@\n",
		"defaults: &a {password: @S@}\nswitches: {leaf-1: *a}\n",
		"",
	} {
		f.Add(s)
	}
	const secret = "Zq7xPl4ntedW"
	f.Fuzz(func(t *testing.T, text string) {
		text = strings.ReplaceAll(text, "@S@", secret)
		path := filepath.Join(t.TempDir(), "secrets.yml")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		c, err := switchcfg.LoadCredentials(path)
		var want switchcfg.Credentials
		dec := yaml.NewDecoder(strings.NewReader(text))
		dec.KnownFields(true)
		derr := dec.Decode(&want)
		if err == nil {
			require.NoError(t, derr, "loaded what the YAML library refuses")
			require.Equal(t, &want, c)
			return
		}
		require.Contains(t, err.Error(), path)
		var doc yaml.Node
		if yaml.Unmarshal([]byte(text), &doc) == nil && secretIsKey(&doc, secret) {
			return
		}
		require.NotContains(t, err.Error(), secret)
		require.NotContains(t, err.Error(), secret[:6])
	})
}

// secretIsKey reports whether s is part of a mapping key in n.
func secretIsKey(n *yaml.Node, s string) bool {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if strings.Contains(n.Content[i].Value, s[:6]) || secretIsKey(n.Content[i], s) {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if secretIsKey(c, s) {
			return true
		}
	}
	return false
}
