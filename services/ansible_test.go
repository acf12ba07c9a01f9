package services_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/internal/proc"
	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// playbookBus is a bus with a worker for the three Ansible queues that
// runs real ansible-playbook on a copy of the sample configuration
// repository of package ansible.
type playbookBus struct {
	*osismtest.Bus
	cfg ansible.Config
}

func newPlaybookBus(t *testing.T, concurrency int) *playbookBus {
	t.Helper()
	playbook := testenv.AnsiblePlaybook(t)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../ansible/testdata")))
	cfg := ansible.Config{
		ConfigurationDir: filepath.Join(dir, "configuration"),
		PlaybooksDir:     filepath.Join(dir, "playbooks"),
		Playbook:         playbook,
		HistoryFile:      filepath.Join(dir, "history.jsonl"),
	}
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{
		Queues:   map[osism.Queue]int{osism.QueueOSISMAnsible: concurrency, osism.QueueKollaAnsible: 1, osism.QueueCephAnsible: 1},
		Handlers: mustHandlers(t, services.Config{Ansible: cfg}),
	})
	return &playbookBus{Bus: bus, cfg: cfg}
}

// apply submits a task and returns its record and its whole output.
func (b *playbookBus) apply(t *testing.T, ctx context.Context, args osism.Args) (*osism.Task, string) {
	t.Helper()
	res, err := b.Client.Submit(ctx, args, nil)
	require.NoError(t, err)
	var out strings.Builder
	code, err := b.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	task, err := b.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, task.ExitStatus, code)
	return task, out.String()
}

func TestPlaybookTasks(t *testing.T) {
	t.Parallel()
	b := newPlaybookBus(t, 2)
	ctx := ctxT(t, 3*time.Minute)

	t.Run("lines arrive in order and complete", func(t *testing.T) {
		task, out := b.apply(t, ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "lines", Args: []string{"-e", "count=200"}})
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
		last := -1
		for i := 1; i <= 200; i++ {
			at := strings.Index(out, `"line `+strconv.Itoa(i)+`"`)
			require.Greater(t, at, last, "line %d after line %d", i, i-1)
			last = at
		}
		require.Contains(t, out, "PLAY RECAP")
		require.JSONEq(t, `{"environment":"generic","role":"lines","exit_code":0}`, string(task.Result))
	})
	t.Run("extra arguments, sub-environment and configuration reach Ansible", func(t *testing.T) {
		task, out := b.apply(t, ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "hello", Sub: "s1", Args: []string{"-e", "extra=yes"}})
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
		require.Contains(t, out, "hello from the configuration repository / generic / generic / sub=s1 / extra=yes")
	})
	t.Run("a failing playbook gives its exit code", func(t *testing.T) {
		task, out := b.apply(t, ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "fail"})
		require.Equal(t, osism.StateFailed, task.State)
		require.Equal(t, 2, task.ExitStatus)
		require.Contains(t, task.Error, "ansible-playbook of fail in generic exited with 2")
		require.Contains(t, out, "failing on purpose")
	})
	t.Run("kolla role with its action on the kolla queue", func(t *testing.T) {
		task, out := b.apply(t, ctx, osism.KollaRunArgs{Role: "kolla-nova", Action: "reconfigure"})
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
		require.Equal(t, osism.QueueKollaAnsible, task.Queue)
		require.Contains(t, out, "nova reconfigure in kolla")
	})
	t.Run("ceph role on the ceph queue", func(t *testing.T) {
		task, out := b.apply(t, ctx, osism.CephRunArgs{Role: "ceph-osds"})
		require.Equal(t, osism.StateSucceeded, task.State, task.Error)
		require.Equal(t, osism.QueueCephAnsible, task.Queue)
		require.Contains(t, out, "ceph osds in ceph")
	})
	t.Run("a bad kolla action fails the task", func(t *testing.T) {
		task, _ := b.apply(t, ctx, osism.KollaRunArgs{Role: "nova", Action: "explode"})
		require.Equal(t, osism.StateFailed, task.State)
		require.Contains(t, task.Error, `kolla action "explode"`)
	})
	t.Run("a lock file refuses the run, naming the file", func(t *testing.T) {
		lock := filepath.Join(b.cfg.ConfigurationDir, "environments", "ceph", ".lock")
		require.NoError(t, os.WriteFile(lock, nil, 0o644))
		defer os.Remove(lock)
		task, _ := b.apply(t, ctx, osism.CephRunArgs{Role: "osds"})
		require.Equal(t, osism.StateFailed, task.State)
		require.Contains(t, task.Error, lock)
	})
	t.Run("history", func(t *testing.T) {
		data, err := os.ReadFile(b.cfg.HistoryFile)
		require.NoError(t, err)
		require.Contains(t, string(data), `"role":"lines"`)
		require.Contains(t, string(data), `"task_id":"`)
	})
}

// Cancel kills the playbook's process group; a second run of the same role
// waits for the lock of the first.
func TestPlaybookCancelAndRoleLock(t *testing.T) {
	t.Parallel()
	b := newPlaybookBus(t, 2)
	ctx := ctxT(t, 3*time.Minute)
	dir := t.TempDir()
	submit := func(name string) (string, string) {
		pidfile := filepath.Join(dir, name+".pid")
		res, err := b.Client.Submit(ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "sleep", Args: []string{"-e", "pidfile=" + pidfile}}, nil)
		require.NoError(t, err)
		return res.ID, pidfile
	}
	pidOf := func(pidfile string) int {
		data, err := os.ReadFile(pidfile)
		if err != nil {
			return 0
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	first, firstPID := submit("first")
	require.Eventually(t, func() bool { return pidOf(firstPID) > 0 }, time.Minute, 20*time.Millisecond, "the first sleep started")
	second, secondPID := submit("second")
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		var out strings.Builder
		_, _ = b.Client.Follow(ctx, second, &out, &osism.FollowOpts{NoFollow: true})
		return strings.Contains(out.String(), `osism: waiting for lock "ansible/generic/sleep" held by task `+first)
	}, "the second run waits for the role lock")
	_, err := os.Stat(secondPID)
	require.ErrorIs(t, err, os.ErrNotExist, "the second sleep has not started")

	pid := pidOf(firstPID)
	require.NoError(t, b.Client.Cancel(ctx, first))
	task, err := b.Client.Wait(ctx, first)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
	require.Equal(t, osism.ExitCancelled, task.ExitStatus)
	require.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 20*time.Millisecond,
		"the sleep the cancelled playbook started is gone")

	require.Eventually(t, func() bool { return pidOf(secondPID) > 0 }, time.Minute, 20*time.Millisecond, "the second sleep starts once the lock is free")
	pid = pidOf(secondPID)
	require.NoError(t, b.Client.Cancel(ctx, second))
	_, err = b.Client.Wait(ctx, second)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 20*time.Millisecond)
	locks, err := b.Client.Locks(ctx)
	require.NoError(t, err)
	require.Empty(t, locks, "both runs released the role lock")
}
