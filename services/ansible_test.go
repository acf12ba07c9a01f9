package services_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		locks, err := b.Client.Locks(ctx)
		return err == nil && len(locks) == 0
	}, "both runs released the role lock")
}

// A second delivery of an ansible.run task (the same task stored again
// under another Nats-Msg-Id) waits for the role lock while the first
// runs, then finds the record final and runs nothing: the playbook ran
// once, and the record stays the first run's.
func TestPlaybookDuplicateDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	b := newPlaybookBus(t, 2)
	ctx := ctxT(t, 3*time.Minute)
	dir := t.TempDir()
	runs, release := filepath.Join(dir, "runs"), filepath.Join(dir, "release")
	countRuns := func() int {
		data, _ := os.ReadFile(runs)
		return strings.Count(string(data), "run\n")
	}
	output := func(id string) string {
		var out strings.Builder
		_, _ = b.Client.Follow(ctx, id, &out, &osism.FollowOpts{NoFollow: true})
		return out.String()
	}
	res, err := b.Client.Submit(ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "once",
		Args: []string{"-e", "runs=" + runs, "-e", "release=" + release}}, nil)
	require.NoError(t, err)
	osismtest.WaitFor(t, time.Minute, func() bool { return countRuns() == 1 }, "the first delivery runs the playbook")

	stream, err := b.Client.JetStream().Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	orig, err := stream.GetLastMsgForSubject(ctx, osism.TaskSubject(osism.QueueOSISMAnsible, res.ID))
	require.NoError(t, err)
	dup := &nats.Msg{Subject: orig.Subject, Data: orig.Data, Header: nats.Header{}}
	for k, v := range orig.Header {
		dup.Header[k] = v
	}
	dup.Header.Set(nats.MsgIdHdr, res.ID+"-again")
	// The stream keeps one message per task subject: the delivered one
	// goes, so that the same task can be stored a second time.
	require.NoError(t, stream.DeleteMsg(ctx, orig.Sequence))
	_, err = b.Client.JetStream().PublishMsg(ctx, dup)
	require.NoError(t, err)
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		return strings.Contains(output(res.ID), `osism: waiting for lock "ansible/generic/once" held by task `+res.ID)
	}, "the second delivery waits for the role lock")

	require.NoError(t, os.WriteFile(release, nil, 0o644))
	task, err := b.Client.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	osismtest.WaitFor(t, time.Minute, func() bool {
		cons, err := b.Client.JetStream().Consumer(ctx, osism.TaskStream, "osism-"+string(osism.QueueOSISMAnsible))
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return countRuns() > 1 || err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, "the second delivery ended")
	require.Equal(t, 1, countRuns(), "the playbook ran once")
	// The second delivery's word comes after the first's end marker, where
	// Follow stops: read the output stream itself.
	require.Contains(t, rawOutput(t, ctx, b.Client, res.ID),
		"osism: task "+res.ID+" already finished (succeeded) by another delivery; not running it again")
	task, err = b.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	require.JSONEq(t, `{"environment":"generic","role":"once","exit_code":0}`, string(task.Result))
}

// longLineArgs is a task whose handler writes one line three times the
// ansible line limit long.
type longLineArgs struct{}

func (longLineArgs) Kind() string       { return "test.long-line" }
func (longLineArgs) Queue() osism.Queue { return osism.QueueConductor }

// The bus cuts a task's output lines at ansible.MaxLineBytes, the length
// at which package ansible cuts a playbook's lines: the two limits are one.
func TestBusLineLimitIsAnsibles(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	reg := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[longLineArgs]) error {
		_, err := io.WriteString(job.Output, strings.Repeat("x", 3*ansible.MaxLineBytes+7)+"\n")
		return err
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}, Handlers: reg})
	ctx := ctxT(t, time.Minute)
	res, err := bus.Client.Submit(ctx, longLineArgs{}, nil)
	require.NoError(t, err)
	var out strings.Builder
	code, err := bus.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	var lens []int
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		lens = append(lens, len(l))
	}
	require.Equal(t, []int{ansible.MaxLineBytes, ansible.MaxLineBytes, ansible.MaxLineBytes, 7}, lens)
}

// rawOutput is every line stored for task id, end markers included.
func rawOutput(t *testing.T, ctx context.Context, c *osism.Client, id string) string {
	t.Helper()
	cons, err := c.JetStream().OrderedConsumer(ctx, osism.OutputStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{osism.OutputSubject(id)}})
	require.NoError(t, err)
	var out strings.Builder
	for {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			out.Write(m.Data())
			out.WriteByte('\n')
			n++
		}
		if n == 0 {
			return out.String()
		}
	}
}
