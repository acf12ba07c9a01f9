package ansible_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/internal/proc"
	"github.com/osism/go-osism/internal/testenv"
)

// playbookBinary is the real ansible-playbook that scripts/services
// installs; the test skips (fails under OSISM_REQUIRE_INTEGRATION=1) without it.
func playbookBinary(t *testing.T) string {
	t.Helper()
	return testenv.AnsiblePlaybook(t)
}

// testConfig copies the sample configuration repository so tests can add
// lock files without touching each other.
func testConfig(t *testing.T) ansible.Config {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata")))
	return ansible.Config{
		ConfigurationDir: filepath.Join(dir, "configuration"),
		PlaybooksDir:     filepath.Join(dir, "playbooks"),
		HistoryFile:      filepath.Join(dir, "history.jsonl"),
		RuntimeDir:       dir,
	}
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) { l.mu.Lock(); l.l = append(l.l, s); l.mu.Unlock() }
func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}
func (l *lines) text() string { return strings.Join(l.all(), "\n") }

func TestCommand(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.VaultPasswordFile = "/run/secrets/vault"
	conf := cfg.ConfigurationDir
	envs := filepath.Join(conf, "environments")

	cases := []struct {
		name     string
		run      ansible.Run
		playbook string
		extra    []string
		env      []string
	}{
		{
			name:     "the environment's own playbook, global then environment extra-vars",
			run:      ansible.Run{Environment: "generic", Role: "hello", Args: []string{"-e", "x=y", "-l", "node-1"}},
			playbook: filepath.Join(envs, "generic", "playbook-hello.yml"),
			extra:    []string{"-e", "@" + filepath.Join(envs, "configuration.yml"), "-e", "@" + filepath.Join(envs, "generic", "configuration.yml")},
			env:      []string{"ENVIRONMENT=generic"},
		},
		{
			name:     "the playbooks directory, with a sub-environment",
			run:      ansible.Run{Environment: "ceph", Role: "osds", Sub: "cluster2"},
			playbook: filepath.Join(cfg.PlaybooksDir, "ceph", "osds.yml"),
			extra:    []string{"-e", "@" + filepath.Join(envs, "configuration.yml")},
			env:      []string{"ENVIRONMENT=ceph", "SUB=cluster2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := cfg.Command(tc.run)
			require.NoError(t, err)
			want := append([]string{"-i", filepath.Join(conf, "inventory")}, tc.extra...)
			want = append(want, "--vault-password-file", "/run/secrets/vault", tc.playbook)
			want = append(want, tc.run.Args...)
			require.Equal(t, want, cmd.Args)
			require.Equal(t, tc.env, cmd.Env)
			require.Equal(t, "ansible-playbook", cmd.Path)
		})
	}
}

func TestCommandRefusals(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	envs := filepath.Join(cfg.ConfigurationDir, "environments")

	_, err := cfg.Command(ansible.Run{Environment: "generic", Role: "nosuch"})
	require.ErrorIs(t, err, ansible.ErrNoPlaybook)
	require.ErrorContains(t, err, filepath.Join(envs, "generic", "playbook-nosuch.yml"))
	require.ErrorContains(t, err, filepath.Join(cfg.PlaybooksDir, "generic", "nosuch.yml"))

	for _, bad := range []ansible.Run{
		{Environment: "../etc", Role: "hello"},
		{Environment: "generic", Role: "a/b"},
		{Environment: "generic", Role: ""},
		{Environment: "generic", Role: "hello", Sub: "x y"},
	} {
		_, err := cfg.Command(bad)
		require.Error(t, err, "%+v", bad)
	}

	for _, lock := range []string{filepath.Join(envs, "generic", ".lock"), filepath.Join(envs, ".lock")} {
		require.NoError(t, os.WriteFile(lock, nil, 0o644))
		_, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello"})
		require.ErrorIs(t, err, ansible.ErrLockFile)
		require.ErrorContains(t, err, "lock file "+lock+" exists")
		require.NoError(t, os.Remove(lock))
	}
	_, err = cfg.Command(ansible.Run{Environment: "generic", Role: "hello"})
	require.NoError(t, err)
}

func TestCommandString(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cmd, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello", Args: []string{"-e", `msg="it's here"`}})
	require.NoError(t, err)
	s := cmd.String()
	require.True(t, strings.HasPrefix(s, "ENVIRONMENT=generic ansible-playbook -i "), s)
	require.True(t, strings.HasSuffix(s, `playbook-hello.yml -e 'msg="it'\''s here"'`), s)
	// A value ansible cannot split (an unbalanced quote) is masked whole:
	// the masker cannot tell where a secret in it would end.
	cmd, err = cfg.Command(ansible.Run{Environment: "generic", Role: "hello", Args: []string{"-e", "msg=it's here"}})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(cmd.String(), `playbook-hello.yml -e '******'`), cmd.String())
}

func TestRunOutputExtraArgsAndHistory(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = playbookBinary(t)
	var out lines
	res, err := cfg.Run(context.Background(), ansible.Run{
		Environment: "generic", Role: "hello", Sub: "s1", TaskID: "task-1", Args: []string{"-e", "extra=passed"},
	}, out.add)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	require.Contains(t, out.text(), "hello from the configuration repository / generic / generic / sub=s1 / extra=passed")
	require.Contains(t, out.text(), "PLAY RECAP")

	data, err := os.ReadFile(cfg.HistoryFile)
	require.NoError(t, err)
	var e ansible.HistoryEntry
	require.NoError(t, json.Unmarshal(data, &e))
	require.Equal(t, "task-1", e.TaskID)
	require.Equal(t, "hello", e.Role)
	require.Equal(t, "generic", e.Environment)
	require.Equal(t, []string{"-e", "extra=passed"}, e.Arguments)
	require.Equal(t, 0, e.ExitCode)
	require.False(t, e.End.Before(e.Start))
	entries, _ := filepath.Glob(filepath.Join(cfg.RuntimeDir, "osism-ssh-*"))
	require.Empty(t, entries, "the run's control path directory is removed")
}

func TestRunLinesArriveInOrder(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = playbookBinary(t)
	var out lines
	res, err := cfg.Run(context.Background(), ansible.Run{Environment: "generic", Role: "lines", Args: []string{"-e", "count=50"}}, out.add)
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	// debug prints stdout_lines as a JSON list: "line 1", ... "line 50".
	text := out.text()
	last := -1
	for i := 1; i <= 50; i++ {
		at := strings.Index(text, fmt.Sprintf("\"line %d\"", i))
		require.Greater(t, at, last, "line %d in order", i)
		last = at
	}
	all := out.all()
	for len(all) > 0 && strings.TrimSpace(all[len(all)-1]) == "" {
		all = all[:len(all)-1]
	}
	require.NotEmpty(t, all)
	require.True(t, strings.HasSuffix(strings.TrimSpace(all[len(all)-1]), "ignored=0"), "the recap is the last line: %q", all[len(all)-1])
}

func TestRunFailingPlaybookGivesItsExitCode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = playbookBinary(t)
	var out lines
	res, err := cfg.Run(context.Background(), ansible.Run{Environment: "generic", Role: "fail"}, out.add)
	require.NoError(t, err, "a failing playbook is a result, not an error")
	require.Equal(t, 2, res.ExitCode)
	require.Contains(t, out.text(), "failing on purpose")
	data, err := os.ReadFile(cfg.HistoryFile)
	require.NoError(t, err)
	require.Contains(t, string(data), `"exit_code":2`)
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = playbookBinary(t)
	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	done := make(chan error, 1)
	var res ansible.Result
	go func() {
		var err error
		res, err = cfg.Run(ctx, ansible.Run{Environment: "generic", Role: "sleep", Args: []string{"-e", "pidfile=" + pidfile}}, nil)
		done <- err
	}()
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && pid > 0
	}, 60*time.Second, 20*time.Millisecond, "the playbook's sleep started")
	require.NoError(t, syscall.Kill(pid, 0), "sleep runs")

	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled run did not return")
	}
	require.NotEqual(t, 0, res.ExitCode)
	require.Eventually(t, func() bool {
		return !proc.Alive(pid)
	}, 10*time.Second, 20*time.Millisecond, "the sleep started by the playbook is gone")
}

func TestRoleMap(t *testing.T) {
	t.Parallel()
	m := ansible.DefaultRoleMap()
	for role, env := range map[string]string{
		"nova": "kolla", "ceph-osds": "ceph", "common": "kolla", "hello-world": "custom",
		"configuration": "manager", "netdata": "monitoring",
	} {
		require.Equal(t, env, m.Environment(role), role)
	}
	require.False(t, m.Known("hello-world"))
	require.Contains(t, m.Environments(), "infrastructure")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "10-site.yml"), []byte("custom:\n  - nova\nmanager:\n  - my-role\n"), 0o644))
	m, err := ansible.LoadRoleMap(dir)
	require.NoError(t, err)
	require.Equal(t, "custom", m.Environment("nova"), "a file overrides the built-in entry")
	require.Equal(t, "manager", m.Environment("my-role"), "a file adds an entry")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "20-bad.yaml"), []byte("generic: {x: 1}\n"), 0o644))
	_, err = ansible.LoadRoleMap(dir)
	require.ErrorContains(t, err, "20-bad.yaml: expected a map of environment to a list of roles")

	m, err = ansible.LoadRoleMap(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Equal(t, "kolla", m.Environment("nova"))
}
