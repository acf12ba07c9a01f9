package switchcfg

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

// secretsFile is a secrets file with a per-switch entry for leaf-1 and
// defaults; allow sets allow_config_context_host in the defaults (nil:
// unset).
func secretsFile(allow *bool) *Credentials {
	return &Credentials{
		Defaults: TargetSpec{User: "osism", KeyFile: "/etc/osism/switch_key", KnownHosts: "/etc/osism/known_hosts", AllowConfigContextHost: allow},
		Switches: map[string]TargetSpec{"leaf-1": {Password: "from-the-file"}},
	}
}

// hostile is a config context that asks for another host, insecure mode,
// its own key, known_hosts and user, and to allow itself.
var hostile = map[string]any{
	"host": "203.0.113.66", "port": 2222, "insecure_ignore_host_key": true, "known_hosts": "/dev/null",
	"key_file": "/tmp/attacker_key", "password": "x", "user": "root", "allow_config_context_host": true,
}

func switchContext(cc map[string]any) *Context {
	return &Context{Device: Device{Name: "leaf-1", PrimaryIP4: "192.0.2.11/24", ConfigContext: map[string]any{ConfigContextKey: cc}}}
}

func TestCredentialsFromSecretsFileOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		creds     *Credentials
		host      string
		port      int
		ignored   []string // fields said to be ignored
		notIgnore []string
	}{
		{
			name: "not allowed: host and port ignored too", creds: secretsFile(nil), host: "192.0.2.11", port: 0,
			ignored: []string{"host", "port", "insecure_ignore_host_key", "known_hosts", "key_file", "password", "user", "allow_config_context_host"},
		},
		{
			name: "allowed in the defaults: host and port taken", creds: secretsFile(ptr(true)), host: "203.0.113.66", port: 2222,
			ignored:   []string{"insecure_ignore_host_key", "known_hosts", "key_file", "password", "user", "allow_config_context_host"},
			notIgnore: []string{"host", "port"},
		},
		{
			name: "the switch's entry overrides the defaults", host: "192.0.2.11",
			creds: func() *Credentials {
				c := secretsFile(ptr(true))
				c.Switches["leaf-1"] = TargetSpec{Password: "from-the-file", AllowConfigContextHost: ptr(false)}
				return c
			}(),
			ignored: []string{"host", "port", "insecure_ignore_host_key"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			tg, err := tc.creds.target(switchContext(hostile), log)
			require.NoError(t, err)
			require.Equal(t, tc.host, tg.Host)
			require.Equal(t, tc.port, tg.Port)
			require.False(t, tg.InsecureIgnoreHostKey, "host keys stay checked")
			require.Equal(t, "/etc/osism/known_hosts", tg.KnownHosts)
			require.Empty(t, tg.KeyFile, "the entry's password, not the context's key")
			require.Equal(t, "from-the-file", tg.Password)
			require.Equal(t, "osism", tg.User)
			for _, f := range tc.ignored {
				require.Contains(t, logs.String(), `"field":"osism_ssh.`+f+`"`, "the ignored field %s is logged", f)
			}
			for _, f := range tc.notIgnore {
				require.NotContains(t, logs.String(), `"field":"osism_ssh.`+f+`"`)
			}
			require.Contains(t, logs.String(), `"level":"WARN"`)
			require.Contains(t, logs.String(), `"switch":"leaf-1"`)
			require.NotContains(t, logs.String(), "from-the-file")
		})
	}
}

func TestCredentialsConfigContextInvalid(t *testing.T) {
	t.Parallel()
	for name, cc := range map[string]any{
		"port out of range": map[string]any{"port": 70000},
		"port not a number": map[string]any{"port": "ssh"},
		"host with newline": map[string]any{"host": "a\nb"},
		"host not a string": map[string]any{"host": 3},
		"not a mapping":     []any{"host"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &Context{Device: Device{Name: "leaf-1", ConfigContext: map[string]any{ConfigContextKey: cc}}}
			_, err := secretsFile(ptr(true)).target(c, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			require.Contains(t, err.Error(), "leaf-1")
			require.Contains(t, err.Error(), ConfigContextKey)
		})
	}
}

// FuzzCredentialsConfigContext: no config context changes a security field
// (password, key file, known_hosts, the host-key switch) or the user, and
// none changes host or port unless the secrets file allows it.
func FuzzCredentialsConfigContext(f *testing.F) {
	seed, _ := json.Marshal(hostile)
	f.Add(seed, uint8(0))
	f.Add(seed, uint8(1))
	f.Add([]byte(`{"host":"h","port":22}`), uint8(3))
	f.Add([]byte(`{"port":"22","timeout":"1s","known_hosts":""}`), uint8(2))
	f.Add([]byte(`null`), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		var cc any
		if json.Unmarshal(raw, &cc) != nil {
			return
		}
		var allow *bool
		switch mode % 3 {
		case 1:
			allow = ptr(true)
		case 2:
			allow = ptr(false)
		}
		creds := secretsFile(allow)
		if mode&4 != 0 {
			creds.Switches["leaf-1"] = TargetSpec{} // the defaults' password-less key only
		}
		if mode&8 != 0 {
			creds.Defaults.InsecureIgnoreHostKey = true
		}
		base, err := creds.target(&Context{Device: Device{Name: "leaf-1", PrimaryIP4: "192.0.2.11/24"}}, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		c := &Context{Device: Device{Name: "leaf-1", PrimaryIP4: "192.0.2.11/24", ConfigContext: map[string]any{ConfigContextKey: cc}}}
		var logs bytes.Buffer
		got, err := creds.target(c, slog.New(slog.NewJSONHandler(&logs, nil)))
		if err != nil {
			require.Contains(t, err.Error(), "leaf-1")
			return
		}
		require.Equal(t, base.Password, got.Password)
		require.Equal(t, base.KeyFile, got.KeyFile)
		require.Equal(t, base.KnownHosts, got.KnownHosts)
		require.Equal(t, base.InsecureIgnoreHostKey, got.InsecureIgnoreHostKey)
		require.Equal(t, base.User, got.User)
		require.Equal(t, base.Timeout, got.Timeout)
		if allow == nil || !*allow {
			require.Equal(t, base.Host, got.Host)
			require.Equal(t, base.Port, got.Port)
		}
		if m, ok := cc.(map[string]any); ok {
			// The fields the log names, as written (JSON lines, so that a
			// field with odd characters is read back exactly).
			logged := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec struct {
					Field string `json:"field"`
				}
				if line != "" && json.Unmarshal([]byte(line), &rec) == nil {
					logged[rec.Field] = true
				}
			}
			for k := range m {
				if (k == "host" || k == "port") && allow != nil && *allow {
					continue
				}
				require.True(t, logged[ConfigContextKey+"."+k], "field %q ignored without a word: %s", k, logs.String())
			}
		}
		require.NotContains(t, logs.String(), "from-the-file")
	})
}
