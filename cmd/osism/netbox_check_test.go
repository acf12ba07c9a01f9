package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

func TestNetboxCheckAndSetup(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t)
	args := []string{"--url", srv.URL(), "--token", srv.Token()}

	out, code := run(t, append([]string{"netbox", "check", "--format", "json"}, args...)...)
	require.Equal(t, exitFailure, code, "an empty NetBox misses the custom fields and tags")
	var report struct {
		Reachable     bool     `json:"reachable"`
		MissingFields []string `json:"missing_custom_fields"`
		MissingTags   []string `json:"missing_tags"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report))
	require.True(t, report.Reachable)
	require.Contains(t, report.MissingFields, "device_state (dcim.device)")
	require.Contains(t, report.MissingTags, "managed-by-osism")

	_, code = run(t, append([]string{"netbox", "setup"}, args...)...)
	require.Equal(t, exitOK, code)
	_, code = run(t, append([]string{"netbox", "setup"}, args...)...)
	require.Equal(t, exitOK, code, "setup is idempotent")

	out, code = run(t, append([]string{"netbox", "check", "--format", "json"}, args...)...)
	require.Equal(t, exitOK, code)
	require.NoError(t, json.Unmarshal([]byte(out), &report))
	require.Empty(t, report.MissingFields)
	require.Empty(t, report.MissingTags)

	_, code = run(t, "netbox", "check", "--url", srv.URL(), "--token", "0123456789abcdef0123456789abcdef01234567")
	require.Equal(t, exitFailure, code, "a wrong token fails")
	_, code = run(t, "netbox", "check")
	require.Equal(t, exitUsage, code, "no URL is a usage error")

	// The netbox section comes from the environment (or a file) when no
	// flag is given.
	env := cliEnv{netbox.EnvURL + "=" + srv.URL(), netbox.EnvToken + "=" + srv.Token()}
	_, code = env.run(t, "netbox", "check")
	require.Equal(t, exitOK, code)
	_, code = env.run(t, "netbox", "check", "--token", "0123456789abcdef0123456789abcdef01234567")
	require.Equal(t, exitFailure, code, "a flag wins over the environment")
}
