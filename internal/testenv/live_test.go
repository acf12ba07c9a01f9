package testenv

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The helpers against the services scripts/services started: skipped
// without them, failed without them under OSISM_REQUIRE_INTEGRATION=1.

func TestLiveRabbitMQ(t *testing.T) {
	url := RabbitMQ(t)
	assert.True(t, strings.HasPrefix(url, "amqp://"), redact(url))
}

func TestLiveIronic(t *testing.T) {
	assert.NotEmpty(t, Ironic(t))
}

func TestLiveAnsiblePlaybook(t *testing.T) {
	path := AnsiblePlaybook(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "ansible-playbook")
}

// TestLiveSwitches reads each switch locally and over SSH with strict host
// key checking against the known_hosts file, as a deploy would.
func TestLiveSwitches(t *testing.T) {
	for _, sw := range Switches(t) {
		t.Run(sw.Name, func(t *testing.T) {
			local := sw.Vtysh(t, "show running-config")
			assert.Contains(t, local, "hostname "+sw.Name+"\n")

			ssh, err := exec.LookPath("ssh")
			if err != nil {
				t.Skip("no ssh client on PATH")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ssh, "-F", "/dev/null",
				"-i", sw.KeyFile, "-p", strconv.Itoa(sw.Port),
				"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
				"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+sw.KnownHosts,
				sw.User+"@"+sw.Host, "show running-config")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "hostname "+sw.Name+"\n")
		})
	}
}
