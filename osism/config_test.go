package osism_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/stretchr/testify/require"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	system := write("system.yaml", "broker:\n  url: nats://system:4222\n  user: osism\n  password: fromfile\ntasks:\n  retention_days: 14\n  ack_wait: 45s\n")
	user := write("user.yaml", "broker:\n  url: nats://user:4222\ntasks:\n  replicas: 3\n")
	empty := write("empty.yaml", "")
	unknown := write("unknown.yaml", "broker:\n  uri: nats://typo:4222\n")
	badStorage := write("bad.yaml", "tasks:\n  storage: tape\n")

	cases := []struct {
		name    string
		opts    osism.LoadOpts
		check   func(t *testing.T, c osism.Config)
		wantErr string
	}{
		{name: "defaults: standalone", check: func(t *testing.T, c osism.Config) {
			require.True(t, c.Standalone())
			require.Equal(t, osism.DefaultTaskConfig(), c.Tasks)
		}},
		{name: "missing files are skipped", opts: osism.LoadOpts{SystemPath: filepath.Join(dir, "none.yaml"), UserPath: empty}, check: func(t *testing.T, c osism.Config) {
			require.True(t, c.Standalone())
		}},
		{name: "system file", opts: osism.LoadOpts{SystemPath: system}, check: func(t *testing.T, c osism.Config) {
			require.Equal(t, "nats://system:4222", c.Broker.URL)
			require.Equal(t, osism.Secret("fromfile"), c.Broker.Password)
			require.Equal(t, 14, c.Tasks.RetentionDays)
			require.Equal(t, 45*time.Second, c.Tasks.AckWait)
			require.Equal(t, 3, c.Tasks.MaxDeliveries, "default kept")
		}},
		{name: "user file wins field by field", opts: osism.LoadOpts{SystemPath: system, UserPath: user}, check: func(t *testing.T, c osism.Config) {
			require.Equal(t, "nats://user:4222", c.Broker.URL)
			require.Equal(t, "osism", c.Broker.User)
			require.Equal(t, 14, c.Tasks.RetentionDays)
			require.Equal(t, 3, c.Tasks.Replicas)
		}},
		{name: "environment wins", opts: osism.LoadOpts{SystemPath: system, UserPath: user, Environ: []string{
			"OSISM_BROKER_URL=nats://env:4222", "OSISM_BROKER_PASSWORD=fromenv", "OSISM_TASK_MAX_DELIVERIES=5",
			"OSISM_TASK_ACK_WAIT=1m", "OSISM_TASK_STORAGE=memory", "UNRELATED=x",
		}}, check: func(t *testing.T, c osism.Config) {
			require.Equal(t, "nats://env:4222", c.Broker.URL)
			require.Equal(t, osism.Secret("fromenv"), c.Broker.Password)
			require.Equal(t, 5, c.Tasks.MaxDeliveries)
			require.Equal(t, time.Minute, c.Tasks.AckWait)
			require.Equal(t, osism.StorageMemory, c.Tasks.Storage)
		}},
		{name: "token from the environment", opts: osism.LoadOpts{Environ: []string{"OSISM_BROKER_URL=nats://h:4222", "OSISM_BROKER_TOKEN=t0k"}}, check: func(t *testing.T, c osism.Config) {
			require.Equal(t, osism.Secret("t0k"), c.Broker.Token)
			require.False(t, c.Standalone())
		}},
		{name: "unknown field", opts: osism.LoadOpts{UserPath: unknown}, wantErr: "field uri not found"},
		{name: "bad storage", opts: osism.LoadOpts{UserPath: badStorage}, wantErr: `tasks.storage "tape": expected file or memory`},
		{name: "bad number", opts: osism.LoadOpts{Environ: []string{"OSISM_TASK_REPLICAS=three"}}, wantErr: `OSISM_TASK_REPLICAS="three": expected a non-negative integer`},
		{name: "bad duration", opts: osism.LoadOpts{Environ: []string{"OSISM_TASK_ACK_WAIT=soon"}}, wantErr: `OSISM_TASK_ACK_WAIT="soon"`},
		{name: "two credentials", opts: osism.LoadOpts{Environ: []string{"OSISM_BROKER_TOKEN=t", "OSISM_BROKER_CREDS_FILE=/x"}}, wantErr: "not several"},
		{name: "password without user", opts: osism.LoadOpts{Environ: []string{"OSISM_BROKER_PASSWORD=p"}}, wantErr: "user and password must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := osism.LoadConfigFrom(tc.opts)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	c := osism.Config{Broker: osism.BrokerConfig{URL: "nats://h:4222", User: "u", Password: "hunter2", Token: "tok3n"}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c, "password", c.Broker.Password)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c.Broker.Token)
	require.NotContains(t, buf.String(), "hunter2")
	require.NotContains(t, buf.String(), "tok3n")
	require.Contains(t, buf.String(), "******")
}
