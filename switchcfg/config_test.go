package switchcfg_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/switchcfg"
)

func TestConfigApplyEnv(t *testing.T) {
	t.Parallel()
	base := switchcfg.Config{TemplatesDir: "/file/templates", StateDir: "/file/state", CredentialsFile: "/file/creds.yaml", MaxSessions: 4}
	cases := []struct {
		name string
		env  map[string]string
		want switchcfg.Config
	}{
		{name: "nothing set: all kept", env: map[string]string{"OSISM_SWITCH_MAX_SESSIONS": "9", "OSISM_TEMPLATES": "/x"}, want: base},
		{name: "templates", env: map[string]string{"OSISM_SWITCH_TEMPLATES": "/env/templates"},
			want: switchcfg.Config{TemplatesDir: "/env/templates", StateDir: "/file/state", CredentialsFile: "/file/creds.yaml", MaxSessions: 4}},
		{name: "state directory", env: map[string]string{"OSISM_SWITCH_STATE_DIR": "/env/state"},
			want: switchcfg.Config{TemplatesDir: "/file/templates", StateDir: "/env/state", CredentialsFile: "/file/creds.yaml", MaxSessions: 4}},
		{name: "credentials", env: map[string]string{"OSISM_SWITCH_CREDENTIALS": "/env/creds.yaml"},
			want: switchcfg.Config{TemplatesDir: "/file/templates", StateDir: "/file/state", CredentialsFile: "/env/creds.yaml", MaxSessions: 4}},
		{name: "all three", env: map[string]string{
			"OSISM_SWITCH_TEMPLATES": "/env/templates", "OSISM_SWITCH_STATE_DIR": "/env/state", "OSISM_SWITCH_CREDENTIALS": "/env/creds.yaml",
		}, want: switchcfg.Config{TemplatesDir: "/env/templates", StateDir: "/env/state", CredentialsFile: "/env/creds.yaml", MaxSessions: 4}},
		{name: "set but empty: back to the default", env: map[string]string{"OSISM_SWITCH_TEMPLATES": ""},
			want: switchcfg.Config{StateDir: "/file/state", CredentialsFile: "/file/creds.yaml", MaxSessions: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := base
			var asked []string
			c.ApplyEnv(func(k string) (string, bool) { asked = append(asked, k); v, ok := tc.env[k]; return v, ok })
			require.Equal(t, tc.want, c)
			require.ElementsMatch(t, []string{switchcfg.EnvTemplatesDir, switchcfg.EnvStateDir, switchcfg.EnvCredentialsFile}, asked,
				"the three variables, each once")
		})
	}
	require.Equal(t, "OSISM_SWITCH_TEMPLATES", switchcfg.EnvTemplatesDir)
	require.Equal(t, "OSISM_SWITCH_STATE_DIR", switchcfg.EnvStateDir)
	require.Equal(t, "OSISM_SWITCH_CREDENTIALS", switchcfg.EnvCredentialsFile)
}

func TestNewDeployer(t *testing.T) {
	t.Parallel()
	// The client is never asked anything here: no server behind it.
	nb, err := netbox.New(netbox.Config{URL: "http://127.0.0.1:9", Token: "0123456789abcdef0123456789abcdef01234567"})
	require.NoError(t, err)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	creds := write("switches.yaml", "defaults: {user: osism, key_file: /etc/osism/switch_key}\nswitches:\n  leaf-1: {host: 192.0.2.11, port: 2222, timeout: 5s}\n")
	notYAML := write("broken.yaml", "switches: [leaf-1, leaf-2\n")
	typo := write("typo.yaml", "switchs:\n  leaf-1: {host: 192.0.2.11}\n")
	aFile := write("plain-file", "not a directory\n")
	missing := filepath.Join(dir, "none")

	t.Run("works", func(t *testing.T) {
		t.Parallel()
		state := filepath.Join(t.TempDir(), "state")
		d, err := switchcfg.NewDeployer(switchcfg.Config{TemplatesDir: "templates", StateDir: state, CredentialsFile: creds, MaxSessions: 3}, nb, nil, nil)
		require.NoError(t, err)
		require.NotNil(t, d.Renderer)
		require.NotNil(t, d.Repo)
		require.Equal(t, 3, d.MaxSessions)
		require.Equal(t, switchcfg.TargetSpec{Host: "192.0.2.11", Port: 2222, Timeout: 5 * time.Second}, d.Credentials.Switches["leaf-1"])
		require.Equal(t, "osism", d.Credentials.Defaults.User)
		require.DirExists(t, filepath.Join(state, ".git"), "the state repository is created")

		d, err = switchcfg.NewDeployer(switchcfg.Config{StateDir: t.TempDir()}, nb, nil, nil)
		require.NoError(t, err)
		require.Nil(t, d.Credentials, "no credentials file: none")
	})

	cases := []struct {
		name     string
		cfg      switchcfg.Config
		nb       *netbox.Client
		contains []string
	}{
		{name: "no NetBox client", cfg: switchcfg.Config{StateDir: t.TempDir()}, nb: nil,
			contains: []string{"switch deployer: no NetBox client"}},
		{name: "credentials that do not parse", cfg: switchcfg.Config{StateDir: t.TempDir(), CredentialsFile: notYAML}, nb: nb,
			contains: []string{"switch credentials " + notYAML + ": "}},
		{name: "credentials with an unknown key", cfg: switchcfg.Config{StateDir: t.TempDir(), CredentialsFile: typo}, nb: nb,
			contains: []string{"switch credentials " + typo + ": ", "switchs"}},
		{name: "credentials file missing", cfg: switchcfg.Config{StateDir: t.TempDir(), CredentialsFile: missing}, nb: nb,
			contains: []string{"switch credentials", missing}},
		{name: "templates directory missing", cfg: switchcfg.Config{StateDir: t.TempDir(), TemplatesDir: missing}, nb: nb,
			contains: []string{"templates directory", missing}},
		{name: "templates directory is a file", cfg: switchcfg.Config{StateDir: t.TempDir(), TemplatesDir: aFile}, nb: nb,
			contains: []string{"templates directory " + aFile + ": not a directory"}},
		{name: "state directory is a file", cfg: switchcfg.Config{StateDir: aFile}, nb: nb,
			contains: []string{"open state repository " + aFile}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := switchcfg.NewDeployer(tc.cfg, tc.nb, nil, nil)
			require.Error(t, err)
			require.Nil(t, d)
			for _, s := range tc.contains {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

// The state repository of a configuration: its StateDir, or the default.
func TestConfigOpenRepo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     switchcfg.Config
		wantDir string
	}{
		{name: "empty: the default", cfg: switchcfg.Config{}, wantDir: switchcfg.DefaultStateDir},
		{name: "set", cfg: switchcfg.Config{StateDir: "/srv/switches"}, wantDir: "/srv/switches"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.wantDir, tc.cfg.StateDirOrDefault())
		})
	}

	dir := filepath.Join(t.TempDir(), "state")
	repo, err := switchcfg.Config{StateDir: dir}.OpenRepo()
	require.NoError(t, err)
	require.Equal(t, dir, repo.Dir())
	_, changed, err := repo.Commit("leaf-1", []byte("hostname leaf-1\n"), "first")
	require.NoError(t, err)
	require.True(t, changed)
	again, err := switchcfg.Config{StateDir: dir}.OpenRepo()
	require.NoError(t, err)
	hist, err := again.History("leaf-1")
	require.NoError(t, err)
	require.Len(t, hist, 1, "the same repository, opened again")

	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = switchcfg.Config{StateDir: file}.OpenRepo()
	require.ErrorContains(t, err, file)
}
