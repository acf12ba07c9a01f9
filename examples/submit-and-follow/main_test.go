package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// manager starts what the example talks to: a broker that generated its
// token into a file, and a worker of the osism-ansible queue that runs
// the real ansible-playbook on a copy of package ansible's sample
// configuration repository. It returns the broker's URL and token file.
func manager(t *testing.T) (string, string) {
	t.Helper()
	playbook := testenv.AnsiblePlaybook(t)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../ansible/testdata")))
	log := slog.New(slog.DiscardHandler)

	b, err := services.NewBroker(services.BrokerConfig{Port: -1, StoreDir: filepath.Join(dir, "broker"), Logger: log})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(b.Shutdown)

	ctx, cancel := context.WithCancel(context.Background())
	cfg := services.DefaultConfig()
	cfg.Bus.Broker.URL, cfg.Bus.Broker.TokenFile = b.URL(), b.TokenFile()
	cfg.Ansible = ansible.Config{
		ConfigurationDir: filepath.Join(dir, "configuration"),
		PlaybooksDir:     filepath.Join(dir, "playbooks"),
		Playbook:         playbook,
		HistoryFile:      filepath.Join(dir, "history.jsonl"),
	}
	c, err := osism.Dial(ctx, cfg.Bus)
	require.NoError(t, err)
	reg, err := services.BuiltinHandlers(cfg)
	require.NoError(t, err)
	w, err := services.NewWorker(c, services.WorkerConfig{Queues: map[osism.Queue]int{osism.QueueOSISMAnsible: 1}, Handlers: reg, Logger: log})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, c.Close())
	})
	return b.URL(), b.TokenFile()
}

func TestSubmitAndFollow(t *testing.T) {
	url, token := manager(t)
	env := func(k string) string {
		if k == "OSISM_BROKER_URL" {
			return url
		}
		return ""
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"a role that succeeds, with extra arguments", []string{"--token-file", token, "--role", "hello", "--", "-e", "extra=from-the-client"},
			0, []string{"ansible.run generic/hello on queue osism-ansible", "/ generic / sub= / extra=from-the-client", "PLAY RECAP", "ok=1"}},
		{"a role that fails gives the playbook's exit status", []string{"--token-file", token, "--role", "fail"},
			2, []string{"ansible.run generic/fail on queue osism-ansible", "failing on purpose", "failed=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out strings.Builder
			code, err := run(ctx, tc.args, env, &out)
			require.NoError(t, err)
			require.Equal(t, tc.code, code, out.String())
			for _, s := range tc.contains {
				require.Contains(t, out.String(), s)
			}
			require.NotContains(t, out.String(), readToken(t, token))
		})
	}
}

func TestSubmitAndFollowBadInput(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"no broker", "--broker: expected the manager's NATS URL", []string{"--role", "hello"}},
		{"no role", "--role: expected the name of a role", []string{"--broker", "nats://127.0.0.1:1"}},
		{"kolla is not ansible.run", `--environment "kolla": expected an environment of ansible.run`, []string{"--broker", "nats://127.0.0.1:1", "--role", "nova", "--environment", "kolla"}},
		{"unknown flag", "flag provided but not defined: -nope", []string{"--nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, err := run(context.Background(), tc.args, none, &strings.Builder{})
			require.ErrorIs(t, err, errUsage)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, 2, code)
		})
	}
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	tok := strings.TrimSpace(string(b))
	require.NotEmpty(t, tok)
	return tok
}
