package services_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/switchcfg"
)

func TestStartDev(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, time.Minute)
	env, err := services.StartDev(ctx, services.DevOpts{DesiredStateDir: demoDesired})
	require.NoError(t, err)
	dir := env.Dir
	require.Equal(t, []string{"leaf-1", "leaf-2"}, env.Switches, "a simulated leaf per managed switch of the sample fabric")
	require.Len(t, env.Leaves, 2)
	require.DirExists(t, dir)

	cfg := services.DefaultConfig()
	env.Apply(&cfg)
	require.Equal(t, env.NetBoxURL, cfg.NetBox.URL)
	require.Equal(t, env.CredentialsFile, cfg.Fabric.Switches.CredentialsFile)
	require.Equal(t, env.StateDir, cfg.Fabric.Switches.StateDir)
	require.Equal(t, demoDesired, cfg.Fabric.DesiredState.Dir)
	require.Equal(t, "dc1", cfg.Fabric.DesiredState.Collection)

	st, err := os.Stat(env.CredentialsFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the secrets file is the owner's alone")
	creds, err := switchcfg.LoadCredentials(env.CredentialsFile)
	require.NoError(t, err)
	require.Len(t, creds.Switches, 2)

	info := env.Info()
	require.Contains(t, info, env.NetBoxURL)
	require.Contains(t, info, env.NetBoxToken)
	for name, leaf := range env.Leaves {
		require.Contains(t, info, name+" (simulated FRR): ssh -p ")
		require.Contains(t, info, leaf.KeyFile)
		require.NotContains(t, info, creds.Switches[name].Password, "the password stays in the secrets file")
	}
	require.Contains(t, info, env.StateDir)

	// The configured fabric reaches the leaves: a deploy and a compare.
	nb, err := netbox.New(cfg.NetBox)
	require.NoError(t, err)
	report, err := nb.Check(ctx)
	require.NoError(t, err)
	require.Empty(t, report.MissingFields)
	require.Empty(t, report.MissingTags)
	fab, err := services.NewFabric(cfg.Fabric, nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = fab.Deployer.Generate(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	res, err := fab.Deployer.Deploy(ctx, []string{"leaf-1", "leaf-2"}, nil)
	require.NoError(t, err)
	for _, r := range res {
		require.True(t, r.Report.OK(), r.Report.String())
		require.Contains(t, string(env.Leaves[r.Switch].Running()), "router bgp ")
	}

	// A hand change through ssh is what a compare (osism netbox diff) finds.
	_, err = env.Leaves["leaf-2"].Type(ctx, "configure terminal", "interface swp3", "description by hand", "end")
	require.NoError(t, err)
	reports, err := fab.Deployer.Compare(ctx, []string{"leaf-1", "leaf-2"})
	require.NoError(t, err)
	require.True(t, reports[0].OK(), reports[0].String())
	require.Equal(t, []string{"interface swp3 / description by hand"}, reports[1].Extra, reports[1].String())

	require.NoError(t, env.Close())
	require.NoDirExists(t, dir, "Close removes its temporary directory")
}

// Without a desired-state directory the environment writes the sample
// built into the binary into a temporary directory of its own (not the
// caller's Dir), and Close removes it.
func TestStartDevBuiltinSample(t *testing.T) {
	t.Parallel()
	require.Empty(t, services.DevDesiredStateDir, "the default is the built-in sample")
	ctx := ctxT(t, time.Minute)
	mine := t.TempDir()
	env, err := services.StartDev(ctx, services.DevOpts{Dir: mine})
	require.NoError(t, err)
	desired := env.DesiredStateDir
	require.NotEmpty(t, desired)
	require.False(t, strings.HasPrefix(desired, mine), "%s is not in the caller's directory %s", desired, mine)
	for _, f := range []string{"dc1/a.yaml", "dc1/leaf-1/a.yaml", "dc1/node-1/b.yaml", "dc1/node-2/c.yaml"} {
		require.FileExists(t, filepath.Join(desired, filepath.FromSlash(f)))
	}
	_, err = netbox.LoadDesiredState(desired, "dc1", "node-1", "b")
	require.NoError(t, err)
	cfg := services.DefaultConfig()
	env.Apply(&cfg)
	require.Equal(t, desired, cfg.Fabric.DesiredState.Dir)
	require.Contains(t, env.Info(), "desired states: "+desired+" (collection dc1)")

	require.NoError(t, env.Close())
	require.NoDirExists(t, desired, "Close removes the sample it wrote")
	require.DirExists(t, mine, "the caller's directory stays")
}

func TestStartDevInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts services.DevOpts
		want string
	}{
		{"no desired states", services.DevOpts{DesiredStateDir: "testdata/no-such-dir"}, `desired-state directory "testdata/no-such-dir": expected a directory`},
		{"missing dir", services.DevOpts{DesiredStateDir: demoDesired, Dir: "testdata/no-such-dir"}, `dev directory "testdata/no-such-dir": expected an existing directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := services.StartDev(context.Background(), tc.opts)
			require.Nil(t, env)
			require.ErrorContains(t, err, tc.want)
			require.False(t, strings.Contains(err.Error(), "panic"))
		})
	}
}
