package switchsim_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/switchcfg"
)

// TestLikeRealFRR deploys the same configurations to a real FRR leaf (of
// scripts/services) and to a simulated one, types the same hand change
// into both, and checks after each step that the two run the same
// configuration and that the FRR driver sent both the same commands.
func TestLikeRealFRR(t *testing.T) {
	real := testenv.Switch(t, "leaf-1")
	testenv.LockSwitches(t)
	reset := func() {
		running := real.Vtysh(t, "show running-config")
		if cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running)); len(cmds) > 0 {
			real.Vtysh(t, append([]string{"configure terminal"}, append(cmds, "end")...)...)
		}
	}
	reset()
	t.Cleanup(reset)
	sim := startLeaf(t, "leaf-1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	open := func(tg switchcfg.Target) switchcfg.Session {
		tg.Switch, tg.Timeout = "leaf-1", 20*time.Second
		s, err := switchcfg.Scrapli{Platform: "frr"}.Open(ctx, tg)
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	realS := open(switchcfg.Target{Host: real.Host, Port: real.Port, User: real.User, KeyFile: real.KeyFile, KnownHosts: real.KnownHosts})
	simS := open(switchcfg.Target{Host: sim.Host, Port: sim.Port, User: sim.User, KeyFile: sim.KeyFile, KnownHosts: sim.KnownHosts})
	f := switchcfg.NewFRR()

	same := func(step string) {
		t.Helper()
		a, err := realS.RunningConfig(ctx)
		require.NoError(t, err)
		b, err := simS.RunningConfig(ctx)
		require.NoError(t, err)
		r := f.Compare(a, b)
		require.True(t, r.OK(), "%s: the simulated leaf differs from FRR: %s\nFRR:\n%s\nsimulated:\n%s", step, r, a, b)
	}
	same("start")
	for _, file := range []string{"leaf-1.cfg", "leaf-1-mlag.cfg", "leaf-2.cfg", "leaf-1.cfg"} {
		rendered, err := os.ReadFile("../testdata/golden/" + file)
		require.NoError(t, err)
		var sent [2][]string
		for i, s := range []switchcfg.Session{realS, simS} {
			running, err := s.RunningConfig(ctx)
			require.NoError(t, err)
			sent[i], err = s.Apply(ctx, rendered, running)
			require.NoError(t, err, file)
			require.NoError(t, s.Save(ctx))
		}
		require.Equal(t, sent[0], sent[1], "%s: the same commands for FRR and the simulated leaf", file)
		same("deploy " + file)
	}

	hand := []string{"configure terminal", "interface swp2", "description changed by hand", "exit",
		"router bgp 65101", "no neighbor swp2 interface peer-group fabric", "bgp router-id 10.9.9.9", "end"}
	real.Vtysh(t, hand...)
	_, err := sim.Type(ctx, hand...)
	require.NoError(t, err)
	same("hand change")
}
