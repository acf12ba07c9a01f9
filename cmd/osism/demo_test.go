package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/services"
)

// osism netbox diff, against the environment of osism manager --dev (the
// NetBox double and simulated leaves), sees a hand change typed into a
// leaf over SSH, and osism netbox deploy repairs it.
func TestNetBoxDiffOnDevLeaves(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := services.StartDev(ctx, services.DevOpts{Dir: t.TempDir()})
	require.NoError(t, err)
	defer env.Close()
	cli := cliEnv{
		"NETBOX_URL=" + env.NetBoxURL, "NETBOX_TOKEN=" + env.NetBoxToken,
		"OSISM_SWITCH_STATE_DIR=" + env.StateDir, "OSISM_SWITCH_CREDENTIALS=" + env.CredentialsFile,
		"OSISM_DESIRED_STATE_DIR=" + env.DesiredStateDir, "OSISM_COLLECTION=" + env.Collection,
		"OSISM_LOCK_DIR=" + filepath.Join(env.Dir, "locks"),
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"netbox", "generate", "leaf-1"}, exitOK, "leaf-1"},
		{[]string{"netbox", "deploy", "leaf-1"}, exitOK, "leaf-1"},
		{[]string{"netbox", "diff", "leaf-1"}, exitOK, "leaf-1: runs the rendered configuration"},
		{nil, 0, ""}, // the hand change
		{[]string{"netbox", "diff", "leaf-1"}, exitFailure, "  + extra:   interface swp3 / description by hand"},
		{[]string{"netbox", "deploy", "leaf-1"}, exitOK, "leaf-1"},
		{[]string{"netbox", "diff", "leaf-1"}, exitOK, "leaf-1: runs the rendered configuration"},
	}
	for _, s := range steps {
		if s.args == nil {
			_, err := env.Leaves["leaf-1"].Type(ctx, "configure terminal", "interface swp3", "description by hand", "end")
			require.NoError(t, err)
			continue
		}
		out, code := cli.run(t, s.args...)
		require.Equal(t, s.code, code, "%v: %s", s.args, out)
		require.Contains(t, out, s.want, s.args)
	}
}
