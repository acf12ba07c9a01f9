package services_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	system := write("system.yaml", "broker:\n  url: nats://system:4222\n  user: osism\n  password: fromfile\ntasks:\n  retention_days: 14\n  ack_wait: 45s\n"+
		"queues:\n  kolla-ansible: {concurrency: 2}\nansible:\n  configuration_dir: /srv/configuration\n  role_map_dir: /srv/roles\n"+
		"netbox:\n  url: https://netbox.example\n  token_file: /run/secrets/NETBOX_TOKEN\n  timeout: 10s\n"+
		"fabric:\n  desired_state_dir: /srv/netbox\n  collection: dc1\n  state_dir: /srv/switches\n  credentials_file: /etc/osism/switches.yaml\n  max_sessions: 4\n")
	user := write("user.yaml", "broker:\n  url: nats://user:4222\ntasks:\n  replicas: 3\n")
	empty := write("empty.yaml", "")
	unknown := write("unknown.yaml", "broker:\n  uri: nats://typo:4222\n")
	badStorage := write("bad.yaml", "tasks:\n  storage: tape\n")

	cases := []struct {
		name    string
		opts    services.LoadOpts
		check   func(t *testing.T, c services.Config)
		wantErr string
	}{
		{name: "defaults: standalone", check: func(t *testing.T, c services.Config) {
			require.True(t, c.Bus.Standalone())
			require.Equal(t, osism.DefaultTaskConfig(), c.Bus.Tasks)
		}},
		{name: "missing files are skipped", opts: services.LoadOpts{SystemPath: filepath.Join(dir, "none.yaml"), UserPath: empty}, check: func(t *testing.T, c services.Config) {
			require.True(t, c.Bus.Standalone())
		}},
		{name: "system file", opts: services.LoadOpts{SystemPath: system}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "nats://system:4222", c.Bus.Broker.URL)
			require.Equal(t, osism.Secret("fromfile"), c.Bus.Broker.Password)
			require.Equal(t, 14, c.Bus.Tasks.RetentionDays)
			require.Equal(t, 45*time.Second, c.Bus.Tasks.AckWait)
			require.Equal(t, 3, c.Bus.Tasks.MaxDeliveries, "default kept")
			require.Equal(t, 2, c.Bus.Queues.Concurrency("kolla-ansible", 1))
			require.Equal(t, "/srv/configuration", c.Ansible.ConfigurationDir)
			require.Equal(t, "/srv/roles", c.Ansible.RoleMapDir)
			require.Equal(t, "https://netbox.example", c.NetBox.URL)
			require.Equal(t, "/run/secrets/NETBOX_TOKEN", c.NetBox.TokenFile)
			require.Equal(t, 10*time.Second, c.NetBox.Timeout)
			require.Equal(t, "/srv/netbox", c.Fabric.DesiredState.Dir)
			require.Equal(t, "dc1", c.Fabric.DesiredState.Collection)
			require.Equal(t, "/srv/switches", c.Fabric.Switches.StateDir)
			require.Equal(t, "/etc/osism/switches.yaml", c.Fabric.Switches.CredentialsFile)
			require.Equal(t, 4, c.Fabric.Switches.MaxSessions)
		}},
		{name: "every section from the environment, with the upstream names", opts: services.LoadOpts{SystemPath: system, Environ: []string{
			"OSISM_CONFIGURATION_DIR=/env/configuration", "OSISM_ROLE_MAP_DIR=/env/roles", "OSISM_ANSIBLE_PLAYBOOK=/usr/bin/ansible-playbook",
			"NETBOX_API=https://api.example", "NETBOX_TOKEN=0123456789abcdef0123456789abcdef01234567", "NETBOX_INSECURE=true",
			"OSISM_DESIRED_STATE_DIR=/env/netbox", "OSISM_COLLECTION=dc2",
			"OSISM_SWITCH_STATE_DIR=/env/switches", "OSISM_SWITCH_CREDENTIALS=/env/switches.yaml", "OSISM_SWITCH_TEMPLATES=/env/templates",
		}}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "/env/configuration", c.Ansible.ConfigurationDir)
			require.Equal(t, "/env/roles", c.Ansible.RoleMapDir)
			require.Equal(t, "/usr/bin/ansible-playbook", c.Ansible.Playbook)
			require.Equal(t, "https://api.example", c.NetBox.URL, "NETBOX_API when NETBOX_URL is unset")
			require.Equal(t, "0123456789abcdef0123456789abcdef01234567", c.NetBox.Token)
			require.True(t, c.NetBox.InsecureSkipVerify)
			require.Equal(t, 10*time.Second, c.NetBox.Timeout, "the file's value kept")
			require.Equal(t, "/env/netbox", c.Fabric.DesiredState.Dir)
			require.Equal(t, "dc2", c.Fabric.DesiredState.Collection)
			require.Equal(t, "/env/switches", c.Fabric.Switches.StateDir)
			require.Equal(t, "/env/switches.yaml", c.Fabric.Switches.CredentialsFile)
			require.Equal(t, "/env/templates", c.Fabric.Switches.TemplatesDir)
			require.Equal(t, 4, c.Fabric.Switches.MaxSessions, "the file's value kept")
		}},
		{name: "NETBOX_URL wins over NETBOX_API", opts: services.LoadOpts{Environ: []string{"NETBOX_URL=https://url.example", "NETBOX_API=https://api.example"}},
			check: func(t *testing.T, c services.Config) { require.Equal(t, "https://url.example", c.NetBox.URL) }},
		{name: "user file wins field by field", opts: services.LoadOpts{SystemPath: system, UserPath: user}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "nats://user:4222", c.Bus.Broker.URL)
			require.Equal(t, "osism", c.Bus.Broker.User)
			require.Equal(t, 14, c.Bus.Tasks.RetentionDays)
			require.Equal(t, 3, c.Bus.Tasks.Replicas)
		}},
		{name: "environment wins", opts: services.LoadOpts{SystemPath: system, UserPath: user, Environ: []string{
			"OSISM_BROKER_URL=nats://env:4222", "OSISM_BROKER_PASSWORD=fromenv", "OSISM_TASK_MAX_DELIVERIES=5",
			"OSISM_TASK_ACK_WAIT=1m", "OSISM_TASK_STORAGE=memory", "UNRELATED=x",
		}}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "nats://env:4222", c.Bus.Broker.URL)
			require.Equal(t, osism.Secret("fromenv"), c.Bus.Broker.Password)
			require.Equal(t, 5, c.Bus.Tasks.MaxDeliveries)
			require.Equal(t, time.Minute, c.Bus.Tasks.AckWait)
			require.Equal(t, osism.StorageMemory, c.Bus.Tasks.Storage)
		}},
		{name: "the broker service's secrets from the environment", opts: services.LoadOpts{Environ: []string{
			"OSISM_BROKER_CREDENTIALS_FILE=/env/broker.yaml", "OSISM_BROKER_CLUSTER_PASSWORD=route-pw",
		}}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "/env/broker.yaml", c.BrokerService.CredentialsFile)
			require.Equal(t, osism.Secret("route-pw"), c.BrokerService.ClusterPassword)
			require.True(t, c.Bus.Standalone(), "the server side configures no client")
		}},
		{name: "the broker service's section from a file", opts: services.LoadOpts{UserPath: write("broker-service.yaml",
			"broker_service:\n  credentials_file: /srv/broker.yaml\n")}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, "/srv/broker.yaml", c.BrokerService.CredentialsFile)
			require.Empty(t, c.BrokerService.ClusterPassword)
		}},
		{name: "token from the environment", opts: services.LoadOpts{Environ: []string{"OSISM_BROKER_URL=nats://h:4222", "OSISM_BROKER_TOKEN=t0k"}}, check: func(t *testing.T, c services.Config) {
			require.Equal(t, osism.Secret("t0k"), c.Bus.Broker.Token)
			require.False(t, c.Bus.Standalone())
		}},
		{name: "bad NETBOX_INSECURE", opts: services.LoadOpts{Environ: []string{"NETBOX_INSECURE=maybe"}}, wantErr: `NETBOX_INSECURE="maybe": expected true or false`},
		{name: "unknown field in a section", opts: services.LoadOpts{UserPath: write("unknown-fabric.yaml", "fabric:\n  state_dri: /x\n")}, wantErr: "field state_dri not found"},
		{name: "unknown field", opts: services.LoadOpts{UserPath: unknown}, wantErr: "field uri not found"},
		{name: "bad storage", opts: services.LoadOpts{UserPath: badStorage}, wantErr: `tasks.storage "tape": expected file or memory`},
		{name: "bad number", opts: services.LoadOpts{Environ: []string{"OSISM_TASK_REPLICAS=three"}}, wantErr: `OSISM_TASK_REPLICAS="three": expected a non-negative integer`},
		{name: "bad duration", opts: services.LoadOpts{Environ: []string{"OSISM_TASK_ACK_WAIT=soon"}}, wantErr: `OSISM_TASK_ACK_WAIT="soon"`},
		{name: "two credentials", opts: services.LoadOpts{Environ: []string{"OSISM_BROKER_TOKEN=t", "OSISM_BROKER_CREDS_FILE=/x"}}, wantErr: "not several"},
		{name: "password without user", opts: services.LoadOpts{Environ: []string{"OSISM_BROKER_PASSWORD=p"}}, wantErr: "user and password must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := services.LoadConfig(tc.opts)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestConfigSecretsStayOutOfLogs(t *testing.T) {
	t.Parallel()
	cfg, err := services.LoadConfig(services.LoadOpts{Environ: []string{
		"OSISM_BROKER_URL=nats://h:4222", "OSISM_BROKER_USER=u", "OSISM_BROKER_PASSWORD=hunter2",
		"NETBOX_URL=https://netbox.example", "NETBOX_TOKEN=0123456789abcdef0123456789abcdef0123tok3n",
		"OSISM_BROKER_CLUSTER_PASSWORD=route-s3cret",
	}})
	require.NoError(t, err)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", cfg)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", cfg)
	fmt.Fprintf(&buf, "%v %+v %#v", cfg, cfg, cfg)
	require.NotContains(t, buf.String(), "hunter2")
	require.NotContains(t, buf.String(), "tok3n")
	require.NotContains(t, buf.String(), "route-s3cret")
	require.Contains(t, buf.String(), "netbox.example")
}
