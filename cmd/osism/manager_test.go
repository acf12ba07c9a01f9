package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

func TestManagerRefusesBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		err  string
	}{
		{name: "unknown service in only", args: []string{"manager", "--only", "api,workr"},
			err: `manager only "workr": unknown service; expected one of broker, api, beat, listener, watchdog, workers`},
		{name: "unknown service in without", args: []string{"manager", "--without", "brokr"}, err: `manager without "brokr": unknown service`},
		{name: "bad log format", args: []string{"manager", "--log-format", "xml"}, err: `config log.format "xml": expected json or text`},
		{name: "bad grace", args: []string{"manager", "--grace", "-1s"}, err: "manager --grace -1s: expected a positive duration"},
		{name: "no broker", args: []string{"manager", "--without", "broker"}, err: "without the embedded broker the services need broker.url"},
		{name: "an argument", args: []string{"manager", "api"}, err: `manager: no arguments expected, got "api"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runFull(t, tc.args...)
			require.Equal(t, exitUsage, code)
			require.Contains(t, stderr, tc.err)
		})
	}
}

// napPlaybook sleeps {{ secs }} seconds between writing {{ mark }}.started
// and {{ mark }}.done.
const napPlaybook = `---
- name: Nap
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Sleep with marks
      ansible.builtin.shell: "touch {{ mark }}.started; sleep {{ secs }}; touch {{ mark }}.done"
      changed_when: false
`

// managerProcess is `osism manager` run as a child process.
type managerProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	broker string // URL of the embedded broker
	token  string // its token file
}

// startManagerProcess runs bin as `osism manager` with JSON logs, an
// embedded broker in memory on a free port and grace, and waits until it
// is ready.
func startManagerProcess(t *testing.T, bin string, e cliEnv, grace time.Duration) *managerProcess {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "osism.yaml")
	tokenFile := filepath.Join(dir, "broker-token")
	require.NoError(t, os.WriteFile(cfgFile, []byte(`
manager: {broker_listen: "127.0.0.1:-1", memory: true, store_dir: `+filepath.Join(dir, "broker")+`, grace: `+grace.String()+`}
broker: {token_file: `+tokenFile+`}
api: {listen: "127.0.0.1:0", token_file: `+filepath.Join(dir, "api-token")+`}
log: {format: json}
watchdog: {dir: `+filepath.Join(dir, "inventory")+`}
reconciler: {output_dir: `+filepath.Join(dir, "inventory.out")+`}
beat: {schedules: [{name: noop, every: 1h, missed: skip, task: {kind: osism.noop}}]}
fabric: {lock_dir: `+filepath.Join(dir, "locks")+`}
`), 0o600))
	cmd := exec.Command(bin, "manager")
	cmd.Env = append(os.Environ(), e.with(services.EnvConfigFile+"="+cfgFile, osism.EnvBrokerURL+"=")...)
	p := &managerProcess{cmd: cmd, stderr: &syncBuffer{}, token: tokenFile}
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	urlRE := regexp.MustCompile(`"msg":"embedded broker","url":"([^"]+)"`)
	require.Eventually(t, func() bool {
		s := p.stderr.String()
		if m := urlRE.FindStringSubmatch(s); m != nil {
			p.broker = m[1]
		}
		return p.broker != "" && strings.Contains(s, `"msg":"manager started"`) && strings.Contains(s, `"msg":"worker started"`)
	}, time.Minute, 20*time.Millisecond, "manager not ready: %s", p.stderr)
	return p
}

// client connects to the manager's broker with its generated token.
func (p *managerProcess) client(t *testing.T) *osism.Client {
	t.Helper()
	cfg := osism.DefaultConfig()
	cfg.Broker.URL, cfg.Broker.TokenFile = p.broker, p.token
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := osism.Dial(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exitCode waits for the process and returns its exit code.
func (p *managerProcess) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("manager did not exit within %s: %s", within, p.stderr)
		return -1
	}
}

// jsonLines are the lines of logs that are JSON objects.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// The built binary stopped with SIGTERM while a playbook runs: within the
// grace the playbook finishes and the manager exits 0; past the grace the
// task is cancelled (back to its queue) and the manager exits 0; a second
// signal exits at once with 130.
func TestManagerProcessStopsGracefully(t *testing.T) {
	t.Parallel()
	_, e := applyEnv(t, testenv.AnsiblePlaybook(t))
	confDir := strings.TrimPrefix(e[0], "OSISM_CONFIGURATION_DIR=")
	require.NoError(t, os.WriteFile(filepath.Join(confDir, "environments", "generic", "playbook-nap.yml"), []byte(napPlaybook), 0o644))
	bin := buildOsism(t)

	cases := []struct {
		name    string
		grace   time.Duration
		secs    int
		signals int
		code    int
		done    bool // the playbook ran to its end
		logs    string
	}{
		{name: "the running task finishes within the grace", grace: time.Minute, secs: 2, signals: 1, code: 0, done: true},
		{name: "a task longer than the grace is cancelled", grace: time.Second, secs: 300, signals: 1, code: 0,
			logs: "grace period over, cancelling running tasks"},
		{name: "a second signal exits at once", grace: time.Minute, secs: 300, signals: 2, code: exitInterrupted,
			logs: "second signal (terminated): exiting at once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startManagerProcess(t, bin, e, tc.grace)
			c := p.client(t)
			mark := filepath.Join(t.TempDir(), "nap")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := c.Submit(ctx, osism.AnsibleRunArgs{Environment: "generic", Role: "nap",
				Args: []string{"-e", "secs=" + strconv.Itoa(tc.secs), "-e", "mark=" + mark}}, nil)
			require.NoError(t, err)
			require.Eventually(t, func() bool { _, err := os.Stat(mark + ".started"); return err == nil },
				time.Minute, 20*time.Millisecond, "the playbook started: %s", p.stderr)
			began := time.Now()
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			if tc.signals == 2 {
				require.Eventually(t, func() bool { return strings.Contains(p.stderr.String(), "a second signal exits at once") },
					10*time.Second, 10*time.Millisecond)
				require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			}
			code := p.exitCode(t, time.Minute)
			logs := p.stderr.String()
			require.Equal(t, tc.code, code, "stderr: %s", logs)
			_, err = os.Stat(mark + ".done")
			require.Equal(t, tc.done, err == nil, "the playbook's end")
			if tc.logs != "" {
				require.Contains(t, logs, tc.logs)
			}
			if tc.signals == 2 {
				require.Less(t, time.Since(began), 10*time.Second, "the second signal exits at once")
			}
			if tc.done {
				// Every line of the task says which task it is.
				var finished map[string]any
				for _, l := range jsonLines(t, logs) {
					if l["msg"] == "task finished" && l["task_id"] == res.ID {
						finished = l
					}
				}
				require.NotNil(t, finished, "no task finished line with task_id %s: %s", res.ID, logs)
				require.Equal(t, "succeeded", finished["state"])
				require.Equal(t, "ansible.run", finished["kind"])
			}
		})
	}
}

// buildOsism builds the osism binary into a directory of the test.
func buildOsism(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "osism")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return bin
}

// osism manager --dev, run in an empty directory (the sample desired
// states are built into the binary): it prints how to reach the NetBox
// double, the simulated leaves and the API, and a netbox.connect submitted
// to it runs all four phases against the simulated leaves.
func TestManagerDevProcess(t *testing.T) {
	t.Parallel()
	bin := buildOsism(t)
	cmd := exec.Command(bin, "manager", "--dev", "--log-format", "json", "--without", "beat,watchdog")
	cmd.Dir = t.TempDir() // no checkout needed
	cmd.Env = append(os.Environ(), services.EnvConfigFile+"="+filepath.Join(t.TempDir(), "none.yaml"), osism.EnvBrokerURL+"=")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	tokenRE := regexp.MustCompile(`"msg":"embedded broker","url":"([^"]+)".*"token_file":"([^"]+)"`)
	var m []string
	require.Eventually(t, func() bool {
		m = tokenRE.FindStringSubmatch(stderr.String())
		return m != nil && strings.Contains(stdout.String(), "API: http://")
	}, time.Minute, 20*time.Millisecond, "stdout: %s\nstderr: %s", &stdout, &stderr)
	out := stdout.String()
	for _, want := range []string{"NetBox (in-memory, sample fabric): http://", "leaf-1 (simulated FRR): ssh -p ", "leaf-2 (simulated FRR): ssh -p ",
		"broker: " + m[1]} {
		require.Contains(t, out, want)
	}

	p := &managerProcess{cmd: cmd, stderr: &stderr, broker: m[1], token: m[2]}
	c := p.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.Submit(ctx, osism.NetBoxConnectArgs{Device: "node-1", State: "b"}, nil)
	require.NoError(t, err)
	task, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, "error: %s\nstderr: %s", task.Error, &stderr)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.exitCode(t, time.Minute), "stderr: %s", &stderr)
}
