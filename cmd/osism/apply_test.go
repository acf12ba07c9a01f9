package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// applyEnv points the CLI at a copy of the sample configuration repository
// of package ansible, in standalone mode; it returns the copy's ansible
// settings and the environment that names them.
func applyEnv(t *testing.T, playbook string) (ansible.Config, cliEnv) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../ansible/testdata")))
	cfg := ansible.Config{
		ConfigurationDir: filepath.Join(dir, "configuration"),
		PlaybooksDir:     filepath.Join(dir, "playbooks"),
		Playbook:         playbook,
		HistoryFile:      filepath.Join(dir, "history.jsonl"),
	}
	return cfg, cliEnv{
		ansible.EnvConfigurationDir + "=" + cfg.ConfigurationDir,
		ansible.EnvPlaybooksDir + "=" + cfg.PlaybooksDir,
		ansible.EnvPlaybook + "=" + playbook,
		ansible.EnvHistoryFile + "=" + cfg.HistoryFile,
	}
}

func TestApplyDryRun(t *testing.T) {
	t.Parallel()
	cfg, e := applyEnv(t, "ansible-playbook")
	out, code := e.run(t, "apply", "--dry-run", "nova", "-e", "x=y", "-l", "node-1")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "# nova in kolla (task kolla.run on queue kolla-ansible)")
	require.Contains(t, out, "cd "+filepath.Join(cfg.ConfigurationDir, "environments", "kolla")+" && ENVIRONMENT=kolla ansible-playbook -i "+
		filepath.Join(cfg.ConfigurationDir, "inventory"))
	require.Contains(t, out, filepath.Join(cfg.PlaybooksDir, "kolla", "nova.yml")+" -e kolla_action=deploy -e x=y -l node-1\n")

	out, code = e.run(t, "apply", "--dry-run", "--action", "reconfigure", "--sub", "r1", "nova", "--", "-e", "x=y")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "ENVIRONMENT=kolla SUB=r1 ")
	require.Contains(t, out, "-e kolla_action=reconfigure -e x=y\n", "the -- after the role is dropped")

	out, code = e.run(t, "apply", "--dry-run", "--format", "json", "ceph-osds//my-role")
	require.Equal(t, exitOK, code)
	var plan []struct {
		Role, Environment, Kind, Queue string
		Command                        struct{ Args, Env []string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &plan))
	require.Len(t, plan, 2)
	require.Equal(t, "ceph", plan[0].Environment)
	require.Equal(t, "ceph.run", plan[0].Kind)
	require.Contains(t, plan[0].Command.Args, filepath.Join(cfg.PlaybooksDir, "ceph", "osds.yml"))
	require.Equal(t, "custom", plan[1].Environment, "a role the map does not know runs in custom")
	require.Contains(t, plan[1].Command.Args, filepath.Join(cfg.ConfigurationDir, "environments", "custom", "playbook-my-role.yml"))

	lock := filepath.Join(cfg.ConfigurationDir, "environments", ".lock")
	require.NoError(t, os.WriteFile(lock, nil, 0o644))
	_, stderr, code := e.runFull(t, "apply", "--dry-run", "nova")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, lock)
	require.NoError(t, os.Remove(lock))

	_, stderr, code = e.runFull(t, "apply", "--dry-run", "no-such-role")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "no playbook: looked for")
}

// --dry-run shows secret extra-vars masked, as text and as JSON.
func TestApplyDryRunMasksSecrets(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, "ansible-playbook")
	secretArgs := []string{"-e", "password=s3cr3t-a", "-e", "db_secret=s3cr3t-b", "--extra-vars", `{"api_token": "s3cr3t-c"}`,
		"-e", "key=s3cr3t-d", "-e", "x=visible"}
	for _, format := range []string{"", "json"} {
		t.Run("format "+format, func(t *testing.T) {
			args := []string{"apply", "--dry-run", "--environment", "generic"}
			if format != "" {
				args = append(args, "--format", format)
			}
			out, code := e.run(t, append(append(args, "hello"), secretArgs...)...)
			require.Equal(t, exitOK, code, out)
			for _, secret := range []string{"s3cr3t-a", "s3cr3t-b", "s3cr3t-c", "s3cr3t-d"} {
				require.NotContains(t, out, secret)
			}
			require.Contains(t, out, "x=visible")
			require.Contains(t, out, "password=******")
			require.Contains(t, out, "api_token")
		})
	}
}

func TestApplyUsageErrors(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, "ansible-playbook")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad action", []string{"apply", "--action", "explode", "nova"}, `--action "explode": expected one of`},
		{"action outside kolla", []string{"apply", "--action", "deploy", "--environment", "generic", "hello"}, "actions apply to the kolla environment only"},
		{"empty role in a sequence", []string{"apply", "nova////keystone"}, "no empty role"},
		{"no-wait without a broker", []string{"apply", "--no-wait", "nova"}, "--no-wait needs a broker"},
		{"negative retry", []string{"apply", "--retry", "-1", "nova"}, "--retry -1"},
		{"bad format", []string{"apply", "--format", "xml", "nova"}, `--format "xml"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := e.runFull(t, tc.args...)
			require.Equal(t, exitUsage, code)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestApplyRoleMap(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, "ansible-playbook")
	out, code := e.run(t, "apply")
	require.Equal(t, exitOK, code)
	require.Regexp(t, `(?m)^nova +kolla$`, out)
	require.Regexp(t, `(?m)^ceph-osds +ceph$`, out)
	out, code = e.run(t, "apply", "--format", "json")
	require.Equal(t, exitOK, code)
	var entries []struct{ Role, Environment string }
	require.NoError(t, json.Unmarshal([]byte(out), &entries))
	require.NotEmpty(t, entries)
}

// Standalone mode: no broker configured, so the command runs its own bus
// and worker, with real ansible-playbook.
func TestApplyStandalone(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, testenv.AnsiblePlaybook(t))

	out, stderr, code := e.runFull(t, "apply", "--environment", "generic", "lines", "-e", "count=30")
	require.Equal(t, exitOK, code)
	require.Regexp(t, `osism: task [0-9a-z]{26}: lines in generic \(queue osism-ansible\)`, stderr)
	last := -1
	for i := 1; i <= 30; i++ {
		at := strings.Index(out, `"line `+strconv.Itoa(i)+`"`)
		require.Greater(t, at, last, "line %d in order", i)
		last = at
	}

	out, stderr, code = e.runFull(t, "apply", "--environment", "generic", "fail")
	require.Equal(t, 2, code, "the playbook's exit code")
	require.Contains(t, out, "failing on purpose")
	require.Contains(t, stderr, "exited with 2")

	out, _, code = e.runFull(t, "apply", "my-role")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "custom my-role")

	out, stderr, code = e.runFull(t, "apply", "--environment", "generic", "hello//fail//hello")
	require.Equal(t, 2, code)
	require.Equal(t, 1, strings.Count(out, "PLAY [Say hello]"), "the sequence stops at the first failure")
	require.Contains(t, stderr, "fail failed with exit code 2; the sequence stops")

	_, stderr, code = e.runFull(t, "apply", "--environment", "generic", "--retry", "2", "fail")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "retry 1 of 2")
	require.Contains(t, stderr, "retry 2 of 2")
	require.Equal(t, 3, strings.Count(stderr, ": fail in generic (queue osism-ansible)"), "three runs")

	out, _, code = e.runFull(t, "apply", "--format", "json", "--environment", "generic", "hello", "-e", "extra=json")
	require.Equal(t, exitOK, code)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %q", l)
		lines = append(lines, m)
	}
	require.Contains(t, out, "extra=json")
	end := lines[len(lines)-1]
	require.Equal(t, float64(0), end["exit_status"])
	require.Equal(t, "hello", end["role"])

	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	// 10 s leaves ansible-playbook time to reach the sleep on a loaded
	// machine; the playbook sleeps far longer.
	_, stderr, code = e.runFull(t, "apply", "--timeout", "10s", "--environment", "generic", "sleep", "-e", "pidfile="+pidfile)
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "timed out after 10s")
	data, err := os.ReadFile(pidfile)
	require.NoError(t, err, "the playbook's sleep had started")
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	require.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 20*time.Millisecond,
		"the timed-out playbook's sleep is gone")

	out, code = e.run(t, "bifrost", "deploy")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "bifrost deploy in manager")
	out, code = e.run(t, "bifrost", "-e", "command=baremetal-list")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "bifrost command baremetal-list", "the arguments reach ansible-playbook verbatim")
}

// With a broker: --no-wait returns the id at once, and osism log -f
// attaches later and replays everything.
func TestApplyWithBroker(t *testing.T) {
	t.Parallel()
	cfg, e := applyEnv(t, testenv.AnsiblePlaybook(t))
	bus := osismtest.New(t, nil)
	e = e.with(osism.EnvBrokerURL+"="+bus.URL(), osism.EnvTaskStorage+"=memory")
	handlers, err := services.BuiltinHandlers(services.Config{Ansible: cfg})
	require.NoError(t, err)
	bus.NewRunner(t, osism.RunnerConfig{
		Queues:   map[osism.Queue]int{osism.QueueOSISMAnsible: 1, osism.QueueKollaAnsible: 1, osism.QueueCephAnsible: 1},
		Handlers: handlers,
	})

	out, code := e.run(t, "apply", "--no-wait", "--environment", "generic", "lines", "-e", "count=25")
	require.Equal(t, exitOK, code)
	id := strings.TrimSpace(out)
	require.True(t, osism.ValidID(id), "a task id: %q", out)
	out, code = e.run(t, "log", "--follow", id)
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "PLAY [Print numbered lines")
	require.Contains(t, out, `"line 25"`)
	require.Contains(t, out, "PLAY RECAP")
	_, code = e.run(t, "task", "wait", id)
	require.Equal(t, exitOK, code)

	out, code = e.run(t, "apply", "--action", "pull", "nova")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "nova pull in kolla")
}

// sleepArgs is a task that ignores a cancel for a while, so that the
// second Ctrl-C can detach before it ends.
type sleepArgs struct {
	Linger time.Duration `json:"linger"`
}

func (sleepArgs) Kind() string       { return "test.sleep" }
func (sleepArgs) Queue() osism.Queue { return "test" }

func TestFollowTaskInterrupts(t *testing.T) {
	t.Parallel()
	bus := osismtest.New(t, nil)
	ws := osism.NewRegistry()
	require.NoError(t, osism.RegisterFunc(ws, func(ctx context.Context, job *osism.Job[sleepArgs]) error {
		_, _ = job.Output.Write([]byte("started\n"))
		<-ctx.Done()
		time.Sleep(job.Args.Linger)
		return context.Cause(ctx)
	}))
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{"test": 2}, Handlers: ws})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	start := func(linger time.Duration) (string, chan os.Signal, chan struct{}, *bytes.Buffer, *syncBuffer) {
		res, err := bus.Client.Submit(ctx, sleepArgs{Linger: linger}, nil)
		require.NoError(t, err)
		sigs := make(chan os.Signal, 2)
		var out bytes.Buffer
		errOut := &syncBuffer{}
		return res.ID, sigs, make(chan struct{}), &out, errOut
	}
	waitRunning := func(id string) {
		osismtest.WaitFor(t, 20*time.Second, func() bool {
			task, err := bus.Client.Get(ctx, id)
			return err == nil && task.State == osism.StateRunning
		}, "task %s runs", id)
	}

	// One Ctrl-C cancels and waits for the end.
	id, sigs, _, out, errOut := start(0)
	waitRunning(id)
	sigs <- os.Interrupt
	code, err := followTask(ctx, bus.Client, id, out, sigs, false, errOut)
	var intr interrupted
	require.ErrorAs(t, err, &intr)
	require.False(t, intr.detached)
	require.Equal(t, osism.ExitCancelled, code)
	require.Contains(t, errOut.String(), "osism: cancelling task "+id+" (press Ctrl-C again to detach")
	require.Contains(t, errOut.String(), "osism: task "+id+" cancelled (exit status 130)")
	task, err := bus.Client.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)

	// A second Ctrl-C detaches while the task is still stopping.
	id, sigs, _, out, errOut = start(3 * time.Second)
	waitRunning(id)
	sigs <- os.Interrupt
	go func() {
		osismtest.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "cancelling task") }, "the first Ctrl-C is seen")
		sigs <- os.Interrupt
	}()
	code, err = followTask(ctx, bus.Client, id, out, sigs, false, errOut)
	require.ErrorAs(t, err, &intr)
	require.True(t, intr.detached)
	require.Equal(t, exitInterrupted, code)
	require.Contains(t, errOut.String(), "osism: detached from task "+id+"; it stays with its worker (osism log -f "+id+")")
	task, err = bus.Client.Get(ctx, id)
	require.NoError(t, err)
	require.False(t, task.State.Finished(), "the task was still stopping when the command detached")
	task, err = bus.Client.Wait(ctx, id)
	require.NoError(t, err)
	require.Equal(t, osism.StateCancelled, task.State)
}

// Ctrl-C on the real command in standalone mode: the playbook and what it
// started are gone, and the command exits with 130.
func TestApplyCtrlCKillsThePlaybook(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, testenv.AnsiblePlaybook(t))
	bin := filepath.Join(t.TempDir(), "osism")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	pidfile := filepath.Join(t.TempDir(), "sleep.pid")
	cmd := exec.Command(bin, "apply", "--environment", "generic", "sleep", "-e", "pidfile="+pidfile)
	cmd.Env = append(os.Environ(), e.with(services.EnvConfigFile+"="+filepath.Join(t.TempDir(), "none.yaml"), osism.EnvBrokerURL+"=")...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return pid > 0
	}, time.Minute, 20*time.Millisecond, "the playbook's sleep started")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, exitInterrupted, ee.ExitCode(), "stderr: %s", stderr.String())
	require.Contains(t, stderr.String(), "osism: cancelling task")
	require.Contains(t, stderr.String(), "cancelled (exit status 130)")
	require.Eventually(t, func() bool { return !proc.Alive(pid) }, 10*time.Second, 20*time.Millisecond,
		"the sleep the playbook started is gone")
}

// interrupted ends a follow that Ctrl-C ended: the task was cancelled, or
// the user detached.
type interrupted struct{ detached bool }

func (interrupted) Error() string { return "interrupted" }

// followTask follows task id as osism apply and osism netbox connect DEVICE
// do (services.FollowTask), the signals on sigs as its interrupts; the
// error is an interrupted when the user interrupted.
func followTask(ctx context.Context, client *osism.Client, id string, w io.Writer, sigs <-chan os.Signal, embedded bool,
	errOut io.Writer) (int, error) {
	code, err := services.FollowTask(ctx, client, id, w, &services.FollowOpts{Interrupts: sigs, Embedded: embedded, ErrOut: errOut})
	var intr *services.InterruptedError
	if errors.As(err, &intr) {
		return code, interrupted{detached: intr.Detached}
	}
	return code, err
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
