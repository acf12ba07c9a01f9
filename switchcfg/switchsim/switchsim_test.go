package switchsim_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/switchcfg"
	"github.com/osism/go-osism/switchcfg/switchsim"
)

const password = "sim-secret"

func startLeaf(t *testing.T, name string) *switchsim.Server {
	t.Helper()
	s, err := switchsim.Start(switchsim.Options{Hostname: name, Dir: t.TempDir(), User: "osism", Password: password})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func target(s *switchsim.Server) switchcfg.TargetSpec {
	return switchcfg.TargetSpec{Host: s.Host, Port: s.Port, User: s.User, Password: password, KnownHosts: s.KnownHosts, Timeout: 10 * time.Second}
}

// fabric is the sample fabric in the NetBox double with a simulated leaf
// per switch and a Deployer that reaches them.
func fabric(t *testing.T) (*switchcfg.Deployer, map[string]*switchsim.Server) {
	t.Helper()
	srv := netboxtest.New(t, netboxtest.WithSampleFabric())
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	d, err := switchcfg.NewDeployer(switchcfg.Config{StateDir: t.TempDir()}, nb, nil, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	leaves := map[string]*switchsim.Server{}
	d.Credentials = &switchcfg.Credentials{Switches: map[string]switchcfg.TargetSpec{}}
	for _, name := range []string{"leaf-1", "leaf-2"} {
		leaves[name] = startLeaf(t, name)
		d.Credentials.Switches[name] = target(leaves[name])
	}
	return d, leaves
}

// vtyshSession logs into a leaf with a terminal, as a person does with
// ssh, and types lines; it returns what the terminal showed.
func vtyshSession(t *testing.T, s *switchsim.Server, lines ...string) string {
	t.Helper()
	cb, err := knownhosts.New(s.KnownHosts)
	require.NoError(t, err)
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.Password(password)}, HostKeyCallback: cb})
	require.NoError(t, err)
	defer c.Close()
	sess, err := c.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.RequestPty("xterm", 40, 80, ssh.TerminalModes{}))
	var out bytes.Buffer
	sess.Stdout = &out
	in, err := sess.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Shell())
	for _, l := range lines {
		_, err := in.Write([]byte(l + "\r"))
		require.NoError(t, err)
	}
	_, err = in.Write([]byte("exit\r"))
	require.NoError(t, err)
	require.NoError(t, sess.Wait())
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

func TestDeployVerifyDriftRepair(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, leaves := fabric(t)
	switches := []string{"leaf-1", "leaf-2"}
	_, err := d.Generate(ctx, switches...)
	require.NoError(t, err)

	res, err := d.Deploy(ctx, switches, nil)
	require.NoError(t, err)
	require.Len(t, res, 2)
	for _, r := range res {
		require.NotEmpty(t, r.Sent, r.Switch)
		require.True(t, r.Report.OK(), "%s after deploy: %s", r.Switch, r.Report)
		require.Equal(t, r.Sent, leaves[r.Switch].Commands(), "the leaf applied what was sent")
		require.Equal(t, leaves[r.Switch].Running(), leaves[r.Switch].Startup(), "write memory saved it")
	}
	for _, fresh := range []bool{false, true} {
		reports, err := d.Verify(ctx, switches, &switchcfg.VerifyOpts{Fresh: fresh})
		require.NoError(t, err)
		for _, r := range reports {
			require.True(t, r.OK(), r.String())
		}
	}
	reports, err := d.Compare(ctx, switches)
	require.NoError(t, err)
	for _, r := range reports {
		require.True(t, r.OK(), r.String())
	}

	// A hand change through ssh: a new interface, a neighbor removed.
	shown := vtyshSession(t, leaves["leaf-1"],
		"configure terminal", "interface swp9", "description by hand", "exit",
		"router bgp 65101", "no neighbor swp1 interface peer-group fabric", "end", "write memory")
	require.Contains(t, shown, "leaf-1(config)# ")
	require.Contains(t, shown, "leaf-1(config-if)# ")
	require.Contains(t, shown, "leaf-1(config-router)# ")
	require.Contains(t, shown, "[OK]")
	require.NotContains(t, shown, "% Unknown command")
	require.Contains(t, string(leaves["leaf-1"].Running()), "interface swp9\n description by hand\n")

	reports, err = d.Compare(ctx, switches)
	require.NoError(t, err)
	byName := map[string]switchcfg.Report{}
	for _, r := range reports {
		byName[r.Switch] = r
	}
	require.True(t, byName["leaf-2"].OK(), byName["leaf-2"].String())
	require.Contains(t, byName["leaf-1"].Extra, "interface swp9", byName["leaf-1"].String())
	require.NotEmpty(t, byName["leaf-1"].Missing, "the removed neighbor is missing")
	require.Contains(t, strings.Join(byName["leaf-1"].Missing, "\n"), "neighbor swp1 interface peer-group fabric")

	res, err = d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.True(t, res[0].Report.OK(), res[0].Report.String())
	require.Equal(t, []string{"interface swp9", "no description", "exit", "router bgp 65101", "neighbor swp1 interface peer-group fabric", "exit"}, res[0].Sent)
	reports, err = d.Compare(ctx, switches)
	require.NoError(t, err)
	for _, r := range reports {
		require.True(t, r.OK(), "after the repair: %s", r)
	}
}

func TestErrorsAreDetected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leaf := startLeaf(t, "leaf-1")
	spec := target(leaf)
	// The generated key this time, not the password.
	sess, err := switchcfg.Scrapli{Platform: "frr"}.Open(ctx, switchcfg.Target{
		Switch: "leaf-1", Host: spec.Host, Port: spec.Port, User: spec.User, KeyFile: leaf.KeyFile, KnownHosts: spec.KnownHosts, Timeout: spec.Timeout,
	})
	require.NoError(t, err)
	defer sess.Close()
	running, err := sess.RunningConfig(ctx)
	require.NoError(t, err)
	require.Contains(t, string(running), "hostname leaf-1")

	_, err = sess.Apply(ctx, []byte("frr defaults traditional\nhostname leaf-1\nbogus-setting 42\n"), running)
	require.Error(t, err)
	require.ErrorContains(t, err, `"bogus-setting 42"`)
	require.ErrorContains(t, err, "% Unknown command: bogus-setting 42")
	require.NotContains(t, string(leaf.Running()), "bogus")

	require.NoError(t, sess.Save(ctx))
}

func TestAuthentication(t *testing.T) {
	leaf := startLeaf(t, "leaf-1")
	cb, err := knownhosts.New(leaf.KnownHosts)
	require.NoError(t, err)
	key, err := os.ReadFile(leaf.KeyFile)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(key)
	require.NoError(t, err)
	cases := []struct {
		name string
		user string
		auth ssh.AuthMethod
		ok   bool
	}{
		{"password", "osism", ssh.Password(password), true},
		{"generated key", "osism", ssh.PublicKeys(signer), true},
		{"wrong password", "osism", ssh.Password("guess"), false},
		{"other user", "root", ssh.Password(password), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ssh.Dial("tcp", leaf.Addr, &ssh.ClientConfig{User: tc.user, Auth: []ssh.AuthMethod{tc.auth}, HostKeyCallback: cb})
			if tc.ok {
				require.NoError(t, err)
				c.Close()
				return
			}
			require.Error(t, err)
		})
	}
}

func TestStartInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		opts switchsim.Options
		want string
	}{
		{"no hostname", switchsim.Options{Dir: dir}, `hostname "": expected letters`},
		{"bad hostname", switchsim.Options{Hostname: "leaf 1", Dir: dir}, `hostname "leaf 1"`},
		{"no dir", switchsim.Options{Hostname: "leaf-1"}, "Options.Dir"},
		{"missing dir", switchsim.Options{Hostname: "leaf-1", Dir: dir + "/nope"}, "expected an existing directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := switchsim.Start(tc.opts)
			require.Nil(t, s)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestExec runs single commands as "ssh leaf-1 COMMAND" does.
func TestExec(t *testing.T) {
	leaf := startLeaf(t, "leaf-1")
	cb, err := knownhosts.New(leaf.KnownHosts)
	require.NoError(t, err)
	c, err := ssh.Dial("tcp", leaf.Addr, &ssh.ClientConfig{User: leaf.User, Auth: []ssh.AuthMethod{ssh.Password(password)}, HostKeyCallback: cb})
	require.NoError(t, err)
	defer c.Close()
	cases := []struct {
		cmd  string
		out  string
		fail bool
	}{
		{cmd: "show running-config", out: "hostname leaf-1\n"},
		{cmd: "write memory", out: "[OK]\n"},
		{cmd: "show bogus", out: "% Unknown command: show bogus\n", fail: true},
	}
	for _, tc := range cases {
		t.Run(tc.cmd, func(t *testing.T) {
			sess, err := c.NewSession()
			require.NoError(t, err)
			defer sess.Close()
			out, err := sess.CombinedOutput(tc.cmd)
			require.Contains(t, string(out), tc.out)
			if tc.fail {
				var exit *ssh.ExitError
				require.ErrorAs(t, err, &exit)
				require.Equal(t, 1, exit.ExitStatus())
				return
			}
			require.NoError(t, err)
		})
	}
}

// TestType is the hand change of the demo: typed lines show with their
// prompts, and the running configuration changes.
func TestType(t *testing.T) {
	leaf := startLeaf(t, "leaf-1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shown, err := leaf.Type(ctx, "configure terminal", "ip router-id 10.0.0.9", "interface swp1", "bogus")
	require.NoError(t, err)
	require.Contains(t, shown, "leaf-1(config)# ip router-id 10.0.0.9\n")
	require.Contains(t, shown, "leaf-1(config-if)# bogus\n% Unknown command: bogus\n")
	require.Contains(t, string(leaf.Running()), "ip router-id 10.0.0.9\n")
	require.Equal(t, []string{"ip router-id 10.0.0.9", "interface swp1"}, leaf.Commands())
}

// TestOddInput types what a person may: control characters, a very long
// line, a backspace, a bare "no", "exit" at every level. Nothing breaks
// the session or the running configuration.
func TestOddInput(t *testing.T) {
	leaf := startLeaf(t, "leaf-1")
	before := leaf.Running()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cases := []struct {
		name  string
		lines []string
		shown string
	}{
		{"control characters", []string{"\x01\x02\x1b[A"}, "leaf-1# "},
		{"a long line", []string{strings.Repeat("x", 10000)}, "% Unknown command: xxx"},
		{"backspace", []string{"show versionn\x7f"}, "FRRouting 8.4 (leaf-1)"},
		{"bare no", []string{"configure terminal", "no"}, "% Unknown command: no"},
		{"exit at every level", []string{"configure terminal", "router bgp 1", "address-family ipv4 unicast", "exit", "exit", "exit"}, "leaf-1(config-router-af)# exit\nleaf-1(config-router)# exit\nleaf-1(config)# exit\nleaf-1# "},
		{"end at the exec level", []string{"end", "end"}, "leaf-1# end\nleaf-1# end\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shown, err := leaf.Type(ctx, tc.lines...)
			require.NoError(t, err)
			require.Contains(t, shown, tc.shown)
		})
	}
	after := string(leaf.Running())
	require.Contains(t, after, "router bgp 1\n", "the one line typed that FRR takes")
	require.Equal(t, string(before), strings.Replace(after, "!\nrouter bgp 1\nexit\n!\n", "", 1))
}
