package proc_test

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osism/go-osism/internal/proc"
	"github.com/stretchr/testify/require"
)

func TestCancelKillsGroup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script string
	}{
		{name: "children that exit on SIGTERM", script: `sleep 300 & echo $!; sleep 300 & echo $!; echo $$; wait`},
		{name: "children that ignore SIGTERM", script: `trap '' TERM; sh -c 'trap "" TERM; sleep 300' & echo $!; echo $$; wait`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := proc.Command(ctx, 300*time.Millisecond, "sh", "-c", tc.script)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- proc.Run(ctx, cmd) }()
			var pids []int
			sc := bufio.NewScanner(out)
			for len(pids) < strings.Count(tc.script, "echo") && sc.Scan() {
				pid, err := strconv.Atoi(sc.Text())
				require.NoError(t, err)
				pids = append(pids, pid)
			}
			require.Len(t, pids, strings.Count(tc.script, "echo"))
			for _, p := range pids {
				require.True(t, proc.Alive(p), "pid %d runs before cancel", p)
			}
			cancel()
			select {
			case err := <-done:
				require.Error(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			deadline := time.Now().Add(5 * time.Second)
			for _, p := range pids {
				for proc.Alive(p) {
					require.True(t, time.Now().Before(deadline), "pid %d still runs 5s after cancel", p)
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script string
		want   int
	}{
		{name: "success", script: "exit 0", want: 0},
		{name: "exit code", script: "exit 7", want: 7},
		{name: "signal", script: "kill -KILL $$", want: 137},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			err := proc.Run(ctx, proc.Command(ctx, 0, "sh", "-c", tc.script))
			require.Equal(t, tc.want, proc.ExitCode(err))
		})
	}
}
