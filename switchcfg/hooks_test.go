package switchcfg_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// The tests of this file change the two FRR leaves that scripts/services
// starts: they hold testenv.LockSwitches and do not run in parallel.

// resetFRRLeaves brings every leaf back to its base configuration with the
// leaf's vtysh on this machine.
func resetFRRLeaves(t *testing.T, leaves []testenv.SwitchEnv) {
	t.Helper()
	for _, sw := range leaves {
		running := sw.Vtysh(t, "show running-config")
		cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running))
		if len(cmds) > 0 {
			sw.Vtysh(t, append([]string{"configure terminal"}, append(cmds, "end")...)...)
		}
	}
}

// hookEnv is the sample fabric in the NetBox double, the real FRR leaves,
// and a Deployer that reaches them.
type hookEnv struct {
	leaves map[string]testenv.SwitchEnv
	srv    *netboxtest.Server
	nb     *netbox.Client
	d      *switchcfg.Deployer
}

func newHookEnv(t *testing.T) *hookEnv {
	t.Helper()
	all := testenv.Switches(t)
	testenv.LockSwitches(t)
	resetFRRLeaves(t, all)
	t.Cleanup(func() { resetFRRLeaves(t, all) })
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	d, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: t.TempDir()}, nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	e := &hookEnv{leaves: map[string]testenv.SwitchEnv{}, srv: srv, nb: nb, d: d}
	d.Credentials = &switchcfg.Credentials{Switches: map[string]switchcfg.TargetSpec{}}
	for _, sw := range all {
		e.leaves[sw.Name] = sw
		d.Credentials.Switches[sw.Name] = switchcfg.TargetSpec{Host: sw.Host, Port: sw.Port, User: sw.User,
			KeyFile: sw.KeyFile, KnownHosts: sw.KnownHosts, Timeout: 20 * time.Second}
	}
	return e
}

// machine runs the phase hooks of d; extra hooks run before them.
func (e *hookEnv) machine(t *testing.T, extra map[statemachine.Phase][]statemachine.PhaseHook) *statemachine.Machine {
	t.Helper()
	hooks := switchcfg.Hooks(e.d)
	for p, hs := range extra {
		hooks[p] = append(append([]statemachine.PhaseHook(nil), hs...), hooks[p]...)
	}
	m, err := statemachine.New(statemachine.Config{Store: netbox.NewStore(e.nb), Hooks: hooks})
	require.NoError(t, err)
	return m
}

// phaseLog records the progress and failures of one transition, by phase.
type phaseLog struct {
	mu       sync.Mutex
	progress map[statemachine.Phase][]string
	resumed  map[statemachine.Phase]bool
	failed   []statemachine.Phase
}

func (l *phaseLog) observe(ev statemachine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.progress == nil {
		l.progress, l.resumed = map[statemachine.Phase][]string{}, map[statemachine.Phase]bool{}
	}
	switch ev.Kind {
	case statemachine.PhaseStarted:
		l.resumed[ev.Phase] = ev.Resumed
	case statemachine.PhaseProgress:
		l.progress[ev.Phase] = append(l.progress[ev.Phase], fmt.Sprintf("%s (%d/%d)", ev.Message, ev.Done, ev.Total))
	case statemachine.PhaseFailed:
		l.failed = append(l.failed, ev.Phase)
	}
}

func transition(t *testing.T, m *statemachine.Machine, device string) (*phaseLog, statemachine.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := &phaseLog{}
	res, err := m.Transition(ctx, device, statemachine.StateB, &statemachine.TransitionOpts{Observers: []statemachine.Observer{l.observe}})
	return l, res, err
}

func (e *hookEnv) record(t *testing.T, device string) statemachine.Record {
	t.Helper()
	rec, err := netbox.NewStore(e.nb).Load(context.Background(), device)
	require.NoError(t, err)
	return rec
}

func TestPhaseHooksWithRealSwitches(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	leaves := []string{"leaf-1", "leaf-2"}

	t.Run("phase 2 renders, phase 3 deploys, phase 4 passes", func(t *testing.T) {
		l, res, err := transition(t, e.machine(t, nil), "node-1")
		require.NoError(t, err)
		require.Equal(t, statemachine.Result{Device: "node-1", From: statemachine.StateA, To: statemachine.StateB}, res)
		require.Equal(t, statemachine.Record{State: "b"}, e.record(t, "node-1"))
		require.Empty(t, l.failed)

		require.Len(t, l.progress[statemachine.PhaseGenerate], 2, "%q", l.progress[statemachine.PhaseGenerate])
		require.Len(t, l.progress[statemachine.PhaseDeploy], 2, "%q", l.progress[statemachine.PhaseDeploy])
		require.Equal(t, []string{
			"leaf-1: runs the rendered configuration (1/2)",
			"leaf-2: runs the rendered configuration (2/2)",
		}, l.progress[statemachine.PhaseCompare])
		for i, sw := range leaves {
			deployed, err := e.d.Repo.Deployed(sw)
			require.NoError(t, err)
			rev := switchcfg.ShortRev(deployed)
			require.Equal(t, fmt.Sprintf("%s: rendered, changed, revision %s (%d/2)", sw, rev, i+1), l.progress[statemachine.PhaseGenerate][i],
				"phase 2 rendered %s into a fresh repository, and that revision is deployed", sw)
			require.Regexp(t, fmt.Sprintf(`^%s: revision %s deployed, [1-9][0-9]* commands sent \(%d/2\)$`, sw, rev, i+1),
				l.progress[statemachine.PhaseDeploy][i], "phase 3 sent the reset leaf its configuration")

			rendered, err := e.d.Repo.Show(sw, deployed)
			require.NoError(t, err)
			running := e.leaves[sw].Vtysh(t, "show running-config")
			rep := switchcfg.NewFRR().Compare(rendered, []byte(running))
			require.True(t, rep.OK(), "vtysh on %s shows every rendered line: %s", sw, rep)
			require.Contains(t, running, "router bgp ")
		}
		require.Contains(t, e.leaves["leaf-1"].Vtysh(t, "show running-config"), "interface swp1\n description node-1:eth0\nexit")
	})

	t.Run("a hand change makes a resumed phase 4 fail, naming the switch", func(t *testing.T) {
		// node-2's transition stops in phase 4 before the comparison.
		stop := errors.New("stopped in phase 4")
		stopped := false
		stopper := statemachine.PhaseHookFunc(func(ctx context.Context, step statemachine.Step) error {
			if !stopped {
				stopped = true
				return stop
			}
			return nil
		})
		m := e.machine(t, map[statemachine.Phase][]statemachine.PhaseHook{statemachine.PhaseCompare: {stopper}})
		l, _, err := transition(t, m, "node-2")
		require.ErrorIs(t, err, stop)
		require.Equal(t, []statemachine.Phase{statemachine.PhaseCompare}, l.failed)
		require.Equal(t, "from_a-to_b-phase_4", e.record(t, "node-2").Transition)

		e.leaves["leaf-1"].Vtysh(t, "configure terminal", "interface swp2", "description hand-made", "end")
		l, res, err := transition(t, m, "node-2")
		require.Error(t, err)
		require.Equal(t, statemachine.PhaseCompare, res.ResumedAt)
		require.True(t, l.resumed[statemachine.PhaseCompare], "phase 4 runs as resumed")
		var pe *statemachine.PhaseError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, statemachine.PhaseCompare, pe.Phase)
		msg := err.Error()
		require.Contains(t, msg, "switches do not run what NetBox says:\nleaf-1: ")
		require.Contains(t, msg, "- missing: interface swp2 / description node-2:eth0")
		require.Contains(t, msg, "+ extra:   interface swp2 / description hand-made")
		require.NotContains(t, msg, "leaf-2", "leaf-2 runs what it should")
		require.Contains(t, l.progress[statemachine.PhaseCompare], "leaf-2: runs the rendered configuration (2/2)")
		require.Equal(t, "from_a-to_b-phase_4", e.record(t, "node-2").Transition, "the failed transition stays at phase 4")

		// Once leaf-1 runs its configuration again, the same resume passes:
		// it was the hand change that failed it.
		dep, err := e.d.Deploy(ctx, []string{"leaf-1"}, nil)
		require.NoError(t, err)
		require.True(t, dep[0].Report.OK(), dep[0].Report.String())
		_, res, err = transition(t, m, "node-2")
		require.NoError(t, err)
		require.Equal(t, statemachine.PhaseCompare, res.ResumedAt)
		require.Equal(t, statemachine.Record{State: "b"}, e.record(t, "node-2"))
	})

	t.Run("a device cabled to no managed switch goes through", func(t *testing.T) {
		// spare-1 is cabled to oob-1, a switch OSISM does not manage;
		// spare-2 has no cable at all.
		node1, ok := e.srv.Find("dcim.device", "node-1")
		require.True(t, ok)
		newDevice := func(name string, cf map[string]any) int {
			id, err := e.srv.Create("dcim.device", map[string]any{"name": name, "role": refID(node1["role"]),
				"device_type": refID(node1["device_type"]), "site": refID(node1["site"]), "custom_fields": cf})
			require.NoError(t, err)
			return id
		}
		newInterface := func(device int) int {
			id, err := e.srv.Create("dcim.interface", map[string]any{"device": device, "name": "eth0", "type": "1000base-t"})
			require.NoError(t, err)
			return id
		}
		spare1 := newInterface(newDevice("spare-1", map[string]any{"device_state": "a"}))
		oob := newInterface(newDevice("oob-1", map[string]any{"device_type": "switch"}))
		_, err := e.srv.Create("dcim.cable", map[string]any{
			"a_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": spare1}},
			"b_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": oob}},
			"type":           "cat6",
		})
		require.NoError(t, err)
		newDevice("spare-2", map[string]any{"device_state": "a"})

		peers, err := e.nb.Peers(ctx, "spare-1")
		require.NoError(t, err)
		require.Len(t, peers, 1)
		require.Equal(t, "oob-1", peers[0].PeerDevice.Name, "spare-1 is cabled")
		sws, err := e.d.SwitchesOf(ctx, "spare-1")
		require.NoError(t, err)
		require.Empty(t, sws, "oob-1 is a switch, but not a managed one")
		sessions := e.d.Sessions()
		m := e.machine(t, nil)
		for _, dev := range []string{"spare-1", "spare-2"} {
			l, res, err := transition(t, m, dev)
			require.NoError(t, err)
			require.Equal(t, statemachine.StateB, res.To)
			require.Equal(t, []string{"no managed switch is cabled to " + dev + " (0/0)"}, l.progress[statemachine.PhaseGenerate])
			require.Empty(t, l.progress[statemachine.PhaseDeploy], "nothing to deploy")
			require.Empty(t, l.progress[statemachine.PhaseCompare], "nothing to compare")
			require.Equal(t, statemachine.Record{State: "b"}, e.record(t, dev))
		}
		require.Equal(t, sessions, e.d.Sessions(), "no switch was reached")
	})
}

// refID is the id of a nested object of the double's answer.
func refID(v any) any {
	if m, ok := v.(map[string]any); ok {
		return m["id"]
	}
	return v
}

// Phase 2 needs NetBox only; phase 3 fails when the switches cannot be
// reached, names each of them, and leaves the transition at phase 3.
// This needs no FRR: every switch's address is a closed port of the
// loopback.
func TestPhaseHooksUnreachableSwitches(t *testing.T) {
	t.Parallel()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	d, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: t.TempDir()}, nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	// A port of the loopback that was free a moment ago.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := lis.Addr().(*net.TCPAddr).Port
	require.NoError(t, lis.Close())
	d.Credentials = &switchcfg.Credentials{Defaults: switchcfg.TargetSpec{Host: "127.0.0.1", Port: port, User: "osism",
		InsecureIgnoreHostKey: true, Password: "x", Timeout: 2 * time.Second}}
	m, err := statemachine.New(statemachine.Config{Store: netbox.NewStore(nb), Hooks: switchcfg.Hooks(d)})
	require.NoError(t, err)
	l := &phaseLog{}
	_, err = m.Transition(context.Background(), "node-3", statemachine.StateB, &statemachine.TransitionOpts{Observers: []statemachine.Observer{l.observe}})
	require.Error(t, err)
	var pe *statemachine.PhaseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, statemachine.PhaseDeploy, pe.Phase, "phase 2 needs no switch, phase 3 does")
	for _, sw := range []string{"leaf-1", "leaf-2"} {
		require.ErrorContains(t, err, fmt.Sprintf("switch %s (frr, osism@127.0.0.1:%d): open: ", sw, port))
	}
	require.Len(t, l.progress[statemachine.PhaseGenerate], 2)
	rec, err := netbox.NewStore(nb).Load(context.Background(), "node-3")
	require.NoError(t, err)
	require.Equal(t, "from_a-to_b-phase_3", rec.Transition)
}
