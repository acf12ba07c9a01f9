package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
)

// sampleDesired writes the sample fabric's desired states into a new
// temporary directory and returns it.
func sampleDesired(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, netboxtest.WriteSampleDesiredStates(dir))
	return dir
}

// The osism binary, as go install puts it anywhere, runs the demo in an
// empty directory: the sample desired states are built in. Its help says
// so, and a --desired-state that is no directory is refused by name.
func TestDemoProcessAnyDirectory(t *testing.T) {
	t.Parallel()
	bin := buildOsism(t)
	cases := []struct {
		name  string
		args  []string
		ok    bool
		wants []string
	}{
		{name: "the built-in sample", args: []string{"demo"}, ok: true, wants: []string{
			"node-1 is in state a; moving it to b\n",
			"node-1: a -> b: phase 1 started\n", "node-1: a -> b: phase 3 started\n", "node-1: a -> b: phase 4 started\n",
			"node-1: now in state b",
			"\nphase 1, NetBox:\nplan after the transition: node-1: no changes\n",
			"\nphase 2, rendered:\nconfiguration of leaf-1, before and after:\n",
			"\nphase 3, commands sent:\nto leaf-1 (3):\n  router bgp 65101\n  no neighbor swp1 interface peer-group fabric\n  exit\n",
			"\nphase 4, compare:\nleaf-1: runs the rendered configuration\nleaf-2: runs the rendered configuration\n",
			"rollback of leaf-2 to revision ",
		}},
		{name: "help", args: []string{"demo", "--help"}, ok: true, wants: []string{"--desired-state value", "default the built-in sample desired states"}},
		{name: "a missing directory", args: []string{"demo", "--desired-state", "no/such/dir"}, wants: []string{
			`desired-state directory "no/such/dir": expected a directory (or none, for the built-in sample desired states)`,
			"leave out --desired-state for the built-in sample",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Dir = dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if tc.ok {
				require.NoError(t, err, out.String())
			} else {
				require.Error(t, err, out.String())
			}
			at := 0
			for _, want := range tc.wants {
				i := strings.Index(out.String()[at:], want)
				require.GreaterOrEqual(t, i, 0, "%q, after what comes before it, in:\n%s", want, out.String())
				at += i + len(want)
			}
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, left, "the demo leaves nothing in its working directory")
		})
	}
}
