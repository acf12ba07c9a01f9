package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/switchcfg"
)

// switchEnv points the CLI at a NetBox double with the sample fabric, the
// real FRR leaves, a fresh state repository and the sample desired states,
// in standalone mode.
func switchEnv(t *testing.T) (map[string]testenv.SwitchEnv, cliEnv) {
	t.Helper()
	leaves := testenv.Switches(t)
	testenv.LockSwitches(t)
	reset := func() {
		for _, sw := range leaves {
			running := sw.Vtysh(t, "show running-config")
			if cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running)); len(cmds) > 0 {
				sw.Vtysh(t, append([]string{"configure terminal"}, append(cmds, "end")...)...)
			}
		}
	}
	reset()
	t.Cleanup(reset)
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	dir := t.TempDir()
	var creds strings.Builder
	creds.WriteString("switches:\n")
	out := map[string]testenv.SwitchEnv{}
	for _, sw := range leaves {
		out[sw.Name] = sw
		fmt.Fprintf(&creds, "  %s: {host: %q, port: %d, user: %q, key_file: %q, known_hosts: %q}\n",
			sw.Name, sw.Host, sw.Port, sw.User, sw.KeyFile, sw.KnownHosts)
	}
	credsFile := filepath.Join(dir, "switches.yaml")
	require.NoError(t, os.WriteFile(credsFile, []byte(creds.String()), 0o600))
	return out, cliEnv{
		netbox.EnvURL + "=" + srv.URL(),
		netbox.EnvToken + "=" + srv.Token(),
		switchcfg.EnvStateDir + "=" + filepath.Join(dir, "state"),
		switchcfg.EnvCredentialsFile + "=" + credsFile,
		netbox.EnvDesiredStateDir + "=" + sampleDesired(t),
		netbox.EnvCollection + "=dc1",
	}
}

func TestNetboxSwitchCommands(t *testing.T) {
	leaves, e := switchEnv(t)

	out, code := e.run(t, "netbox", "generate", "leaf-1", "leaf-2")
	require.Equal(t, exitOK, code)
	require.Regexp(t, `leaf-1 +[0-9a-f]{40} +changed`, out)

	out, code = e.run(t, "netbox", "deploy", "--dry-run", "leaf-1")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "# leaf-1: revision ")
	require.Contains(t, out, "would send")
	require.Contains(t, out, "description node-1:eth0")
	require.NotContains(t, leaves["leaf-1"].Vtysh(t, "show running-config"), "node-1:eth0", "a dry run sends nothing")

	out, code = e.run(t, "netbox", "diff", "leaf-1")
	require.Equal(t, exitFailure, code, "not deployed yet: %s", out)
	require.Contains(t, out, "missing: interface swp1")

	out, code = e.run(t, "netbox", "deploy", "leaf-1", "leaf-2")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "# leaf-1: runs the rendered configuration")
	require.Contains(t, leaves["leaf-2"].Vtysh(t, "show running-config"), " description node-1:eth1")

	out, code = e.run(t, "netbox", "diff", "leaf-1")
	require.Equal(t, exitOK, code, out)

	var stderr string
	out, stderr, code = e.runFull(t, "netbox", "connect", "node-1", "--state", "b")
	require.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", out, stderr)
	require.Contains(t, out, "node-1: a -> b: phase 1 started")
	require.Contains(t, out, "node-1: phase 4: leaf-1: runs the rendered configuration")
	require.Contains(t, out, "node-1: now in state b")

	out, code = e.run(t, "netbox", "history", "--format", "json", "leaf-1")
	require.Equal(t, exitOK, code)
	var hist []struct {
		Rev      string `json:"rev"`
		Deployed bool   `json:"deployed"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	require.GreaterOrEqual(t, len(hist), 2)
	require.True(t, hist[0].Deployed)

	leaves["leaf-1"].Vtysh(t, "configure terminal", "interface swp3", "description by hand", "end")
	out, code = e.run(t, "netbox", "diff", "--format", "json", "leaf-1")
	require.Equal(t, exitFailure, code)
	require.Contains(t, out, "interface swp3 / description by hand")

	out, code = e.run(t, "netbox", "rollback", "leaf-1", hist[1].Rev)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "rolled back to "+hist[1].Rev)
	out, code = e.run(t, "netbox", "diff", "leaf-1")
	require.Equal(t, exitOK, code, "the rollback also repaired the hand change: %s", out)

	_, stderr, code = e.runFull(t, "netbox", "connect", "--all", "--state", "b")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "] 5/5 devices, 0 failed", "a progress bar over leaf-1 and node-1..4")
	for _, sw := range []string{"leaf-1", "leaf-2"} {
		out, code = e.run(t, "netbox", "diff", sw)
		require.Equal(t, exitOK, code, out)
	}

	_, stderr, code = e.runFull(t, "netbox", "connect", "--state", "b")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "expected one DEVICE, or --all")
	_, code = e.run(t, "netbox", "history", "../etc")
	require.Equal(t, exitUsage, code)
}
