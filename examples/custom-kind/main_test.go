package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCustomKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		hosts []string
		want  []string
	}{
		{"default hosts, one down", nil, []string{
			"submitted example.audit to queue audit",
			"node-1: ok",
			"node-2-down: unreachable",
			"node-3: ok",
			`task succeeded by audit-worker, exit status 0: {"checked":3,"failed":["node-2-down"]}`,
		}},
		{"hosts of the command line", []string{"a", "b"}, []string{
			"submitted example.audit to queue audit",
			"a: ok",
			"b: ok",
			`task succeeded by audit-worker, exit status 0: {"checked":2}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out strings.Builder
			require.NoError(t, run(ctx, &out, tc.hosts))
			require.Equal(t, tc.want, strings.Split(strings.TrimSpace(out.String()), "\n"))
		})
	}
}
