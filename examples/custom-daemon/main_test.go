package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCustomDaemon(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	start := time.Now()
	require.NoError(t, run(ctx, []string{"--for", "1500ms", "--every", "100ms"}, &out))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 1500*time.Millisecond, "it ran for --for")
	require.Less(t, took, 30*time.Second, "every service stopped soon after --for")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, "manager: broker, then worker (conductor), api and pinger in one group", lines[0])
	require.Equal(t, "pinger: the API's /healthz answered 200", lines[1])
	pings := 0
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "pinger: osism.noop #") {
			break
		}
		pings++
		require.Equal(t, fmt.Sprintf("pinger: osism.noop #%d succeeded", pings), l)
	}
	require.GreaterOrEqual(t, pings, 2, out.String())
	require.Equal(t, []string{
		"manager: every service stopped",
		fmt.Sprintf(`metrics: example_pings_total{state="succeeded"} %d`, pings),
	}, lines[2+pings:])
	// The API's token stays in memory.
	require.NotRegexp(t, regexp.MustCompile(`[0-9a-f]{64}`), out.String())
}

func TestCustomDaemonBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"interval of zero", "--every 0s: expected a positive duration", []string{"--every", "0"}},
		{"negative run time", "--for -1s: expected a duration of 0 or more", []string{"--for", "-1s"}},
		{"not a duration", `invalid value "soon" for flag -for`, []string{"--for", "soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorContains(t, run(context.Background(), tc.args, &strings.Builder{}), tc.want)
		})
	}
}
