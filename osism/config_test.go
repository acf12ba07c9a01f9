package osism_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/osism/go-osism/osism"
	"github.com/stretchr/testify/require"
)

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"OSISM_BROKER_URL": "nats://env:4222", "OSISM_BROKER_USER": "osism", "OSISM_BROKER_PASSWORD": "fromenv",
		"OSISM_TASK_MAX_DELIVERIES": "5", "OSISM_TASK_ACK_WAIT": "1m", "OSISM_TASK_STORAGE": "memory",
	}
	cfg := osism.DefaultConfig()
	require.NoError(t, cfg.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.NoError(t, cfg.Validate())
	require.Equal(t, "nats://env:4222", cfg.Broker.URL)
	require.Equal(t, osism.Secret("fromenv"), cfg.Broker.Password)
	require.Equal(t, 5, cfg.Tasks.MaxDeliveries)
	require.Equal(t, time.Minute, cfg.Tasks.AckWait)
	require.Equal(t, 7, cfg.Tasks.RetentionDays, "defaults kept")

	bad := osism.DefaultConfig()
	err := bad.ApplyEnv(func(k string) (string, bool) { return "three", k == osism.EnvTaskReplicas })
	require.ErrorContains(t, err, `OSISM_TASK_REPLICAS="three": expected a non-negative integer`)
}

func TestQueueConcurrency(t *testing.T) {
	t.Parallel()
	cfg := osism.Config{Queues: osism.QueueConfigs{"kolla-ansible": {Concurrency: 3}}}
	require.NoError(t, cfg.Validate())
	require.Equal(t, 3, cfg.Queues.Concurrency("kolla-ansible", 1))
	require.Equal(t, 1, cfg.Queues.Concurrency("netbox", 1))
	cfg.Queues["bad queue"] = osism.QueueConfig{}
	require.ErrorContains(t, cfg.Validate(), `config queues: queue "bad queue"`)
	delete(cfg.Queues, "bad queue")
	cfg.Queues["netbox"] = osism.QueueConfig{Concurrency: -1}
	require.ErrorContains(t, cfg.Validate(), "queues.netbox.concurrency -1")
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	c := osism.Config{Broker: osism.ConnConfig{URL: "nats://h:4222", User: "u", Password: "hunter2", Token: "tok3n"}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c, "password", c.Broker.Password)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c.Broker.Token)
	require.NotContains(t, buf.String(), "hunter2")
	require.NotContains(t, buf.String(), "tok3n")
	require.Contains(t, buf.String(), "******")
}

func TestByteCapsFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		task    int64
		output  int64
		wantErr string
	}{
		{name: "both", env: map[string]string{osism.EnvTaskMaxTaskBytes: "1048576", osism.EnvTaskMaxOutputBytes: " 2097152 "}, task: 1 << 20, output: 2 << 20},
		{name: "unset keeps the defaults", env: map[string]string{}, task: osism.DefaultTaskConfig().MaxTaskBytes, output: osism.DefaultTaskConfig().MaxOutputBytes},
		{name: "not a number", env: map[string]string{osism.EnvTaskMaxTaskBytes: "1G"}, wantErr: `OSISM_TASK_MAX_TASK_BYTES="1G": expected a non-negative integer`},
		{name: "negative", env: map[string]string{osism.EnvTaskMaxOutputBytes: "-1"}, wantErr: `OSISM_TASK_MAX_OUTPUT_BYTES="-1": expected a non-negative integer`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := osism.DefaultConfig()
			err := cfg.ApplyEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
			require.Equal(t, tc.task, cfg.Tasks.MaxTaskBytes)
			require.Equal(t, tc.output, cfg.Tasks.MaxOutputBytes)
		})
	}
	require.ErrorContains(t, osism.Config{Tasks: osism.TaskConfig{MaxTaskBytes: -1}}.Validate(), "max_task_bytes")
}
