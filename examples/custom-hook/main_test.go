package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const desired = "../../netbox/netboxtest/sample/desired"

// normalise hides what changes from run to run: durations and revisions.
func normalise(s string) string {
	s = regexp.MustCompile(`\d+(\.\d+)?(ms|µs|s)\b`).ReplaceAllString(s, "T")
	return regexp.MustCompile(`revision [0-9a-f]{12}`).ReplaceAllString(s, "revision R")
}

func TestCustomHook(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, []string{"--desired-state", desired}, &out))
	got := normalise(out.String())
	for _, want := range []string{
		"node-1: a -> b: phase 1 started\n",
		"node-1: phase 1: create interface node-1 loopback0: type virtual\n",
		"node-1: phase 2: leaf-1: rendered, changed, revision R\n",
		"node-1: phase 2: leaf-2: rendered, changed, revision R\n",
		"node-1: a -> b: phase 3 started\n" +
			"node-1: phase 3: leaf-1: revision R deployed, 35 commands sent\n" +
			"node-1: phase 3: leaf-2: revision R deployed, 35 commands sent\n" +
			"node-1: phase 3: ticket #1 filed\n" +
			"node-1: phase 3 finished in T\n" +
			"node-1: a -> b: phase 4 started\n" +
			"node-1: phase 4: leaf-1: runs the rendered configuration\n" +
			"node-1: phase 4: leaf-2: runs the rendered configuration\n" +
			"node-1: phase 4 finished in T\n" +
			"node-1: now in state b (T)\n" +
			"node-1 went from a to b\n" +
			"ticket #1: switches of node-1 reconfigured for state b (node-1, a -> b, phase 3)\n",
	} {
		require.Contains(t, got, want)
	}
	require.True(t, strings.HasSuffix(got, "(node-1, a -> b, phase 3)\n"), got)
}

func TestCustomHookFailures(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		wantOut []string
	}{
		{"a ticket system that refuses stops the transition in phase 3", []string{"--desired-state", desired, "--ticket-url", down.URL},
			"phase 3: ticket for node-1: the ticket system at " + down.URL + " answered 503 Service Unavailable, expected 201 Created",
			[]string{"node-1: phase 3: leaf-1: revision R deployed, 35 commands sent\n", "node-1: phase 3 failed: ticket for node-1"}},
		{"no desired states", []string{"--desired-state", "no/such/dir"},
			`--desired-state "no/such/dir": expected a directory of desired states`, nil},
		{"a transition the graph does not allow", []string{"--desired-state", desired, "--device", "node-3", "--state", "c"},
			`device "node-3": transition a -> c is not allowed: allowed targets from a: b`, nil},
		{"an unknown flag", []string{"--nope"}, "flag provided but not defined: -nope", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out strings.Builder
			err := run(ctx, tc.args, &out)
			require.ErrorContains(t, err, tc.wantErr)
			for _, s := range tc.wantOut {
				require.Contains(t, normalise(out.String()), s)
			}
			require.NotContains(t, normalise(out.String()), "went from")
		})
	}
}
