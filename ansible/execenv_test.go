package ansible_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
)

// ansible-playbook gets the allow-listed part of the worker's environment,
// the run's own variables and what pass_env names; never the worker's
// NetBox token or broker secrets.
func TestPlaybookEnvironmentIsAllowListed(t *testing.T) {
	// t.Setenv: not parallel.
	secrets := map[string]string{
		"NETBOX_TOKEN":          "nbt_s3cr3t-netbox",
		"OSISM_BROKER_PASSWORD": "s3cr3t-broker",
		"OSISM_BROKER_TOKEN":    "s3cr3t-broker-token",
		"OS_PASSWORD":           "s3cr3t-os",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("ANSIBLE_STDOUT_CALLBACK", "default")
	t.Setenv("LC_MESSAGES", "C")
	t.Setenv("HTTP_PROXY", "http://proxy:3128")
	t.Setenv("MY_SITE_A", "a")
	t.Setenv("MY_SITE_B", "b")

	check := func(t *testing.T, out string) {
		t.Helper()
		for k, v := range secrets {
			require.NotContains(t, out, k)
			require.NotContains(t, out, v)
		}
		require.Contains(t, out, "PATH="+os.Getenv("PATH"))
		require.Contains(t, out, "ANSIBLE_STDOUT_CALLBACK=default")
		require.Contains(t, out, "LC_MESSAGES=C")
		require.Contains(t, out, "ENVIRONMENT=generic")
		require.Contains(t, out, "SUB=s1")
		require.Contains(t, out, "HTTP_PROXY=http://proxy:3128", "pass_env adds a name")
		require.Contains(t, out, "MY_SITE_A=a", "pass_env adds a prefix")
		require.Contains(t, out, "MY_SITE_B=b")
	}
	run := ansible.Run{Environment: "generic", Role: "env", Sub: "s1"}

	t.Run("the command", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.PassEnv = []string{"HTTP_PROXY", "MY_SITE_*"}
		cfg.Playbook = writeScript(t, "env")
		var out lines
		res, err := cfg.Run(context.Background(), run, out.add)
		require.NoError(t, err)
		require.Equal(t, 0, res.ExitCode)
		check(t, out.text())
	})
	t.Run("real ansible-playbook", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.PassEnv = []string{"HTTP_PROXY", "MY_SITE_*"}
		cfg.Playbook = playbookBinary(t)
		var out lines
		res, err := cfg.Run(context.Background(), run, out.add)
		require.NoError(t, err)
		require.Equal(t, 0, res.ExitCode, out.text())
		require.Contains(t, out.text(), "PLAY RECAP")
		check(t, out.text())
	})
}

func TestPassEnvRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "A=B", "1X", "*", "A*B", "A B"} {
		cfg := testConfig(t)
		cfg.PassEnv = []string{bad}
		_, err := cfg.Command(ansible.Run{Environment: "generic", Role: "hello"})
		require.ErrorContains(t, err, "ansible pass_env", "%q", bad)
		require.ErrorContains(t, err, "expected a variable name", "%q", bad)
		require.Error(t, cfg.Validate())
	}
}

// A line without a newline is cut at the bus's line limit: 10 MB without
// a newline arrive as lines of at most ansible.MaxLineBytes.
func TestLongLineIsCut(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Playbook = writeScript(t, `head -c 10485760 /dev/zero | tr '\0' x; echo; echo done`)
	n, total, longest := 0, 0, 0
	var last string
	res, err := cfg.Run(context.Background(), ansible.Run{Environment: "generic", Role: "hello"}, func(l string) {
		n++
		total += len(l)
		longest = max(longest, len(l))
		last = l
		if l != "done" {
			require.Equal(t, strings.Repeat("x", len(l)), l)
		}
	})
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode)
	require.Equal(t, ansible.MaxLineBytes, longest)
	require.Equal(t, 10485760+len("done"), total, "nothing is lost")
	require.Equal(t, 10485760/ansible.MaxLineBytes+1, n, "cut lines and the last line")
	require.Equal(t, "done", last)
}
