package services_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"
	"golang.org/x/crypto/ssh"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// The tests of this file share the two FRR leaves that scripts/services
// starts, so they do not run in parallel.

// resetLeaves brings every leaf back to its base configuration, using the
// leaf's vtysh on this machine.
func resetLeaves(t *testing.T, leaves []testenv.SwitchEnv) {
	t.Helper()
	for _, sw := range leaves {
		running := sw.Vtysh(t, "show running-config")
		cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running))
		if len(cmds) > 0 {
			sw.Vtysh(t, append([]string{"configure terminal"}, append(cmds, "end")...)...)
		}
	}
}

type fabricEnv struct {
	leaves map[string]testenv.SwitchEnv
	nb     *netbox.Client
	srv    *netboxtest.Server
	creds  *switchcfg.Credentials
	state  string
}

func newFabricEnv(t *testing.T) *fabricEnv {
	t.Helper()
	all := testenv.Switches(t)
	testenv.LockSwitches(t)
	resetLeaves(t, all)
	t.Cleanup(func() { resetLeaves(t, all) })
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	e := &fabricEnv{leaves: map[string]testenv.SwitchEnv{}, nb: nb, srv: srv, state: t.TempDir(),
		creds: &switchcfg.Credentials{Switches: map[string]switchcfg.TargetSpec{}}}
	for _, sw := range all {
		e.leaves[sw.Name] = sw
		e.creds.Switches[sw.Name] = switchcfg.TargetSpec{Host: sw.Host, Port: sw.Port, User: sw.User, KeyFile: sw.KeyFile,
			KnownHosts: sw.KnownHosts, Timeout: 20 * time.Second}
	}
	return e
}

// fabric is a fresh fabric over the same NetBox and state repository, as a
// new process would build it.
func (e *fabricEnv) fabric(t *testing.T) *services.Fabric {
	t.Helper()
	f, err := services.NewFabric(fabricConfig(e.state), e.nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	f.Deployer.Credentials = e.creds
	return f
}

func (e *fabricEnv) running(t *testing.T, sw string) string {
	t.Helper()
	return e.leaves[sw].Vtysh(t, "show running-config")
}

func connect(t *testing.T, f *services.Fabric, device, state string, extra map[statemachine.Phase][]statemachine.PhaseHook) (*strings.Builder, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	m, err := f.Machine("dc1", func(ev statemachine.Event) {
		if ev.Kind == statemachine.PhaseProgress || ev.Kind == statemachine.PhaseFailed {
			out.WriteString(ev.Message)
			if ev.Err != nil {
				out.WriteString(ev.Err.Error())
			}
			out.WriteString("\n")
		}
	})
	require.NoError(t, err)
	if extra != nil {
		hooks := f.Hooks("dc1")
		for p, hs := range extra {
			hooks[p] = append(hs, hooks[p]...)
		}
		m, err = statemachine.New(statemachine.Config{Store: netbox.NewStore(f.NetBox), Locker: f.Locker, Hooks: hooks})
		require.NoError(t, err)
	}
	_, err = m.Transition(ctx, device, statemachine.State(state), nil)
	return &out, err
}

func deviceState(t *testing.T, e *fabricEnv, device string) (string, string) {
	t.Helper()
	rec, err := netbox.NewStore(e.nb).Load(context.Background(), device)
	require.NoError(t, err)
	return rec.State, rec.Transition
}

func TestConnectWithRealSwitches(t *testing.T) {
	e := newFabricEnv(t)
	f := e.fabric(t)
	ctx := context.Background()

	// Both leaves start from the state-a rendering.
	_, err := f.Deployer.Generate(ctx, "leaf-1", "leaf-2")
	require.NoError(t, err)
	first, err := f.Deployer.Repo.History("leaf-1")
	require.NoError(t, err)
	res, err := f.Deployer.Deploy(ctx, []string{"leaf-1", "leaf-2"}, nil)
	require.NoError(t, err)
	for _, r := range res {
		require.True(t, r.Report.OK(), r.Report.String())
		require.NotEmpty(t, r.Sent, "%s got its configuration", r.Switch)
	}
	require.Contains(t, e.running(t, "leaf-1"), "interface swp1\n description node-1:eth0\nexit")

	t.Run("connect node-1 to b: NetBox, render, deploy, compare", func(t *testing.T) {
		out, err := connect(t, f, "node-1", "b", nil)
		require.NoError(t, err, out.String())
		st, tr := deviceState(t, e, "node-1")
		require.Equal(t, "b", st)
		require.Empty(t, tr)
		for _, sw := range []string{"leaf-1", "leaf-2"} {
			require.Contains(t, out.String(), sw+": runs the rendered configuration")
			hist, err := f.Deployer.Repo.History(sw)
			require.NoError(t, err)
			deployed, err := f.Deployer.Repo.Deployed(sw)
			require.NoError(t, err)
			require.Equal(t, hist[0].Rev, deployed, "%s: the newest revision is the deployed one", sw)
			rendered, err := f.Deployer.Repo.Show(sw, deployed)
			require.NoError(t, err)
			rep := switchcfg.NewFRR().Compare(rendered, []byte(e.running(t, sw)))
			require.True(t, rep.OK(), "vtysh on %s shows the rendered configuration: %s", sw, rep)
		}
		require.Contains(t, e.running(t, "leaf-1"), "router bgp 65101")
	})

	t.Run("a hand change is drift: diff shows it, a resumed phase 4 fails", func(t *testing.T) {
		e.leaves["leaf-1"].Vtysh(t, "configure terminal", "interface swp2", "description hand-made", "end")
		reports, err := f.Deployer.Compare(ctx, []string{"leaf-1"})
		require.NoError(t, err)
		require.False(t, reports[0].OK())
		require.Contains(t, reports[0].Missing, "interface swp2 / description node-2:eth0")
		require.Contains(t, reports[0].Extra, "interface swp2 / description hand-made")

		// node-2 to b stops after phase 3; the hand change comes back; the
		// transition resumes at phase 4 and fails with the report.
		stop := errors.New("stopped after phase 3")
		once := true
		_, err = connect(t, f, "node-2", "b", map[statemachine.Phase][]statemachine.PhaseHook{
			statemachine.PhaseCompare: {statemachine.PhaseHookFunc(func(ctx context.Context, step statemachine.Step) error {
				if once {
					once = false
					return stop
				}
				return nil
			})},
		})
		require.ErrorIs(t, err, stop)
		e.leaves["leaf-1"].Vtysh(t, "configure terminal", "interface swp2", "description hand-made again", "end")
		out, err := connect(t, e.fabric(t), "node-2", "b", nil)
		require.Error(t, err)
		require.Contains(t, err.Error(), "interface swp2 / description hand-made again", out.String())
		_, tr := deviceState(t, e, "node-2")
		require.Equal(t, "from_a-to_b-phase_4", tr, "the failed transition stays recorded at phase 4")

		// A deploy repairs the drift; the transition then completes.
		res, err := f.Deployer.Deploy(ctx, []string{"leaf-1"}, nil)
		require.NoError(t, err)
		require.True(t, res[0].Report.OK(), res[0].Report.String())
		_, err = connect(t, e.fabric(t), "node-2", "b", nil)
		require.NoError(t, err)
	})

	t.Run("a process killed in phase 3: a new one resumes and completes", func(t *testing.T) {
		creds := filepath.Join(t.TempDir(), "switches.yaml")
		b, err := yaml.Marshal(e.creds)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(creds, b, 0o600))
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChildTransition+"=node-3 b", envChildNetBox+"="+e.srv.URL()+" "+e.srv.Token(),
			envChildState+"="+e.state, envChildCreds+"="+creds, envChildReady+"="+ready)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		require.Eventually(t, func() bool { _, err := os.Stat(ready); return err == nil }, time.Minute, 10*time.Millisecond,
			"the child reaches phase 3")
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		_, tr := deviceState(t, e, "node-3")
		require.Equal(t, "from_a-to_b-phase_3", tr)

		out, err := connect(t, e.fabric(t), "node-3", "b", nil)
		require.NoError(t, err, out.String())
		require.Contains(t, out.String(), "leaf-1: runs the rendered configuration")
		st, _ := deviceState(t, e, "node-3")
		require.Equal(t, "b", st)
	})

	t.Run("rollback restores the earlier configuration on the switch", func(t *testing.T) {
		r, err := f.Deployer.Rollback(ctx, "leaf-1", first[0].Rev)
		require.NoError(t, err)
		require.True(t, r.Report.OK(), r.Report.String())
		want, err := f.Deployer.Repo.Show("leaf-1", first[0].Rev)
		require.NoError(t, err)
		rep := switchcfg.NewFRR().Compare(want, []byte(e.running(t, "leaf-1")))
		require.True(t, rep.OK(), "leaf-1 runs the first revision again: %s", rep)
		hist, err := f.Deployer.Repo.History("leaf-1")
		require.NoError(t, err)
		require.Contains(t, hist[0].Message, "rollback")
	})
}

func TestConnectWithAWrongKeyFailsClearly(t *testing.T) {
	e := newFabricEnv(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	wrong := filepath.Join(t.TempDir(), "wrong_key")
	require.NoError(t, os.WriteFile(wrong, pem.EncodeToMemory(block), 0o600))
	for name, spec := range e.creds.Switches {
		spec.KeyFile = wrong
		e.creds.Switches[name] = spec
	}
	before := e.running(t, "leaf-1")
	out, err := connect(t, e.fabric(t), "node-4", "b", nil)
	require.Error(t, err, out.String())
	require.Contains(t, err.Error(), "phase 3")
	require.Contains(t, err.Error(), "leaf-1")
	require.Contains(t, err.Error(), "unable to authenticate")
	_, tr := deviceState(t, e, "node-4")
	require.Equal(t, "from_a-to_b-phase_3", tr, "the transition stays recorded at the failed phase")
	require.Equal(t, before, e.running(t, "leaf-1"), "nothing was applied to the switch")
}

// A netbox.connect task delivered twice while the device lock is still
// held by an earlier lease (a delivery whose worker died keeps its lease
// until it expires): both deliveries wait for the lock instead of failing
// at once, the transition runs once, and the task ends succeeded, never
// with a false "failed".
func TestRedeliveredConnectWaitsForTheDeviceLock(t *testing.T) {
	e := newFabricEnv(t)
	ctx := ctxT(t, 3*time.Minute)
	credsFile := filepath.Join(t.TempDir(), "switches.yaml")
	data, err := yaml.Marshal(e.creds)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(credsFile, data, 0o600))
	fcfg := fabricConfig(e.state)
	fcfg.Switches.CredentialsFile = credsFile

	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueNetBox: 2},
		Handlers: mustHandlers(t, services.Config{NetBox: netbox.Config{URL: e.srv.URL(), Token: e.srv.Token()}, Fabric: fcfg})})

	// The lease of the delivery before, whose worker is gone.
	held, err := services.StateLocker(bus.Client, 30*time.Second).Acquire(ctx, statemachine.LockKey("node-3"))
	require.NoError(t, err)

	res, err := bus.Client.Submit(ctx, osism.NetBoxConnectArgs{Device: "node-3", State: "b"}, nil)
	require.NoError(t, err)
	const waiting = "osism: waiting for the lock of device node-3"
	var task *osism.Task
	osismtest.WaitFor(t, time.Minute, func() bool {
		if task, err = bus.Client.Get(ctx, res.ID); err == nil && task.State.Finished() {
			return true
		}
		return strings.Contains(rawOutput(t, ctx, bus.Client, res.ID), waiting)
	}, "the delivery waits for the device lock")
	require.False(t, task.State.Finished(), "a held device lock ends no delivery: %s %s", task.State, task.Error)

	// The broker delivers the task once more.
	stream, err := bus.Client.JetStream().Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	orig, err := stream.GetLastMsgForSubject(ctx, osism.TaskSubject(osism.QueueNetBox, res.ID))
	require.NoError(t, err)
	dup := &nats.Msg{Subject: orig.Subject, Data: orig.Data, Header: nats.Header{}}
	for k, v := range orig.Header {
		dup.Header[k] = v
	}
	dup.Header.Set(nats.MsgIdHdr, res.ID+"-again")
	require.NoError(t, stream.DeleteMsg(ctx, orig.Sequence))
	_, err = bus.Client.JetStream().PublishMsg(ctx, dup)
	require.NoError(t, err)
	osismtest.WaitFor(t, time.Minute, func() bool {
		return strings.Count(rawOutput(t, ctx, bus.Client, res.ID), waiting) >= 2
	}, "the second delivery waits for the device lock too")
	task, err = bus.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	require.False(t, task.State.Finished(), "nothing is recorded while the deliveries wait: %s %s", task.State, task.Error)

	require.NoError(t, held.Release(ctx))
	task, err = bus.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	osismtest.WaitFor(t, time.Minute, func() bool {
		cons, err := bus.Client.JetStream().Consumer(ctx, osism.TaskStream, "osism-"+string(osism.QueueNetBox))
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "both deliveries ended")
	out := rawOutput(t, ctx, bus.Client, res.ID)
	require.Equal(t, 1, strings.Count(out, "node-3: a -> b: phase 1 started"), "the transition ran once:\n%s", out)
	task, err = bus.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	state, transition := deviceState(t, e, "node-3")
	require.Equal(t, "b", state)
	require.Empty(t, transition)
}
