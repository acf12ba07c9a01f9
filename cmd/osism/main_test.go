package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/services"
	"github.com/osism/go-osism/statemachine"
)

// cliEnv is the environment the CLI runs in, as "KEY=value" lines; no
// configuration file is read. Tests inject it instead of changing the
// process environment, so that they can run in parallel.
type cliEnv []string

// with returns e with more variables.
func (e cliEnv) with(kv ...string) cliEnv { return append(slices.Clip(e), kv...) }

// run runs the CLI in process with no configuration and returns stdout and
// the exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return cliEnv(nil).run(t, args...)
}

// runFull is run that also returns stderr.
func runFull(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return cliEnv(nil).runFull(t, args...)
}

func (e cliEnv) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, _, code := e.runFull(t, args...)
	return out, code
}

// runFull runs the CLI in process in e and returns stdout, stderr and the
// exit code.
func (e cliEnv) runFull(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	app := newApp(services.LoadOpts{Environ: e})
	var out, errOut syncBuffer
	app.Writer, app.ErrWriter = &out, &errOut
	if slices.Contains(args, "--generate-bash-completion") {
		// urfave/cli reads os.Args for shell completion; such a test is
		// not parallel (TestCompletionCandidates).
		osArgs := os.Args
		os.Args = append([]string{"osism"}, args...)
		defer func() { os.Args = osArgs }()
	}
	code := exitCode(&errOut, app.RunContext(context.Background(), append([]string{"osism"}, args...)))
	t.Logf("stderr: %s", errOut.String())
	return out.String(), errOut.String(), code
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"version", []string{"version"}, exitOK},
		{"help", []string{"--help"}, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"unknown flag", []string{"version", "--frob"}, exitUsage},
		{"bad format", []string{"netbox", "states", "--format", "xml"}, exitUsage},
		{"completion without shell", []string{"completion"}, exitUsage},
		{"completion of an unknown shell", []string{"completion", "tcsh"}, exitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, code := run(t, tc.args...)
			require.Equal(t, tc.code, code)
		})
	}
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
	out, code := run(t, "version", "--format", "json")
	require.Equal(t, exitOK, code)
	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.NotEmpty(t, v.Version)
	require.NotEmpty(t, v.GoVersion)
}

func TestNetboxStates(t *testing.T) {
	t.Parallel()
	out, code := run(t, "netbox", "states", "--format", "dot")
	require.Equal(t, exitOK, code)
	want, err := os.ReadFile("../../contrib/netbox-state-machine.dot")
	require.NoError(t, err)
	require.Equal(t, string(want), out)

	out, code = run(t, "netbox", "states", "--format", "json")
	require.Equal(t, exitOK, code)
	var doc struct {
		States      []statemachine.StateInfo `json:"states"`
		Transitions []statemachine.Edge      `json:"transitions"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, statemachine.DefaultGraph().Transitions(), doc.Transitions)

	out, code = run(t, "netbox", "states")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "b      introspected, ready for cleaning or provisioning  a, c")
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		shell string
		want  string
	}{
		{"bash", "complete -o bashdefault -o default -F _osism_complete osism"},
		{"zsh", "compdef _osism osism"},
		{"fish", "complete -c osism"},
	}
	for _, tc := range cases {
		t.Run(tc.shell, func(t *testing.T) {
			t.Parallel()
			out, code := run(t, "completion", tc.shell)
			require.Equal(t, exitOK, code)
			require.Contains(t, out, tc.want)
		})
	}
}

// The candidates the scripts ask for. urfave/cli reads them from os.Args,
// which runFull sets for the run: this test stays sequential, so that it
// runs before the parallel tests resume and no other test sees os.Args
// change.
func TestCompletionCandidates(t *testing.T) {
	out, code := run(t, "--generate-bash-completion")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "netbox")
	out, code = run(t, "netbox", "--generate-bash-completion")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "connect")
}

// The README's main job: the demo moves node-1 to b on the in-memory
// NetBox and simulated leaves with all four phases, shows a hand change
// on leaf-1 as drift and repairs it, and rolls leaf-2 back.
func TestDemo(t *testing.T) {
	t.Parallel()
	out, code := run(t, "demo", "--desired-state", sampleDesired(t))
	require.Equal(t, exitOK, code, out)
	at := 0
	for _, want := range []string{
		"leaf-1: simulated FRR switch at ssh -p ",
		"node-1 is in state a; moving it to b",
		"node-1: phase 1: update interface leaf-1 swp1:",
		"node-1: phase 2: leaf-1: rendered, changed, revision ",
		"node-1: phase 3: leaf-1: revision ",
		"node-1: phase 4: leaf-1: runs the rendered configuration",
		"node-1: now in state b",
		"plan after the transition: node-1: no changes",
		"configuration of leaf-1, before and after:",
		"- neighbor swp1 interface peer-group fabric",
		"phase 3, commands sent:\nto leaf-1 (3):\n  router bgp 65101\n  no neighbor swp1 interface peer-group fabric\n  exit\n",
		"phase 4, compare:\nleaf-1: runs the rendered configuration\nleaf-2: runs the rendered configuration\n",
		"a hand change on leaf-1, typed over SSH:",
		"drift (what osism netbox diff shows):\nleaf-1: 2 missing, 1 extra\n",
		"repaired by a deploy of leaf-1 (",
		"leaf-1: runs the rendered configuration",
		"rollback of leaf-2 to revision ",
		"  neighbor swp1 interface peer-group fabric\n  exit\nleaf-2: runs the rendered configuration\n",
	} {
		i := strings.Index(out[at:], want)
		require.GreaterOrEqual(t, i, 0, "%q, after what comes before it, in:\n%s", want, out)
		at += i + len(want)
	}
}
