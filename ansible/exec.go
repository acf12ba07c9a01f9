package ansible

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/osism/go-osism/internal/proc"
)

// Result is how a run ended.
type Result struct {
	// ExitCode is ansible-playbook's exit code; 128+signal when it was
	// killed, -1 when it never ran.
	ExitCode int
	Start    time.Time
	End      time.Time
}

// KillGrace is how long a cancelled run's process group has between SIGTERM
// and SIGKILL.
var KillGrace = 5 * time.Second

// Execute runs c and calls line for every line it prints, stdout and stderr
// in the order they were written. It returns when the process has exited and
// its output is read. A non-zero exit is reported in Result.ExitCode, not as
// an error. When ctx ends, the whole process group (ansible-playbook, its
// forks and their ssh) gets SIGTERM, then SIGKILL after KillGrace, and the
// error wraps ctx.Err(). The run's SSH control masters are closed at the end.
func (c *Command) Execute(ctx context.Context, line func(string)) (Result, error) {
	res := Result{ExitCode: -1, Start: time.Now()}
	runtime := c.runtimeDir
	if runtime == "" {
		runtime = os.TempDir()
	}
	cpDir, err := os.MkdirTemp(runtime, "osism-ssh-"+sanitize(c.taskID)+"-")
	if err != nil {
		return res, fmt.Errorf("ssh control path directory: %w", err)
	}
	defer func() {
		closeControlMasters(cpDir)
		_ = os.RemoveAll(cpDir)
	}()

	cmd := proc.Command(ctx, KillGrace, c.Path, c.Args...)
	cmd.Dir = c.Dir
	// Later entries win (os/exec keeps the last of a name).
	cmd.Env = append(append(runEnv(os.Environ(), c.passEnv), c.Env...), "ANSIBLE_SSH_CONTROL_PATH_DIR="+cpDir, "ANSIBLE_FORCE_COLOR=0", "PYTHONUNBUFFERED=1")
	// The same writer for both makes os/exec use one pipe, which keeps the
	// lines in the order the process wrote them.
	lw := &lineWriter{line: line}
	cmd.Stdout, cmd.Stderr = lw, lw
	err = proc.Run(ctx, cmd)
	lw.flush()
	res.End = time.Now()
	res.ExitCode = proc.ExitCode(err)
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s cancelled: %w", filepath.Base(c.Path), ctx.Err())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return res, fmt.Errorf("run %s: %w", c.Path, err)
	}
	return res, nil
}

// MaxLineBytes is the longest line Execute hands on: a longer line, or
// output without a newline, is cut into lines of this many bytes, so that
// a run never holds more than this of a partial line. It is the task
// bus's line limit (package osism cuts its output lines at the same
// length; a test of package services ties the two), so a cut line passes
// the bus as one message.
const MaxLineBytes = 64 << 10

// lineWriter hands complete lines to line, cutting them at MaxLineBytes;
// os/exec calls Write from one goroutine at a time when Stdout and Stderr
// are the same writer.
type lineWriter struct {
	line func(string)
	buf  []byte // a partial line, never longer than MaxLineBytes
}

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := MaxLineBytes - len(w.buf)
			if len(p) <= room {
				w.buf = append(w.buf, p...)
				break
			}
			w.emit(append(w.buf, p[:room]...))
			w.buf = w.buf[:0]
			p = p[room:]
			continue
		}
		seg := p[:i]
		p = p[i+1:]
		for len(w.buf)+len(seg) > MaxLineBytes {
			room := MaxLineBytes - len(w.buf)
			w.emit(append(w.buf, seg[:room]...))
			w.buf = w.buf[:0]
			seg = seg[room:]
		}
		w.emit(append(w.buf, seg...))
		w.buf = w.buf[:0]
	}
	return n, nil
}

func (w *lineWriter) emit(b []byte) {
	if w.line != nil {
		w.line(string(b))
	}
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
	}
	w.buf = nil
}

// AllowedEnv are the variables of the worker's environment that
// ansible-playbook gets; a name ending in * is a prefix. Config.PassEnv
// adds to them. Whatever else the worker has, its NetBox token, its broker
// credentials, OS_PASSWORD, stays out of the run.
var AllowedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_*", "TERM", "TZ", "TMPDIR", "SSH_AUTH_SOCK", "ANSIBLE_*"}

// runEnv returns the entries of environ that AllowedEnv or pass names.
func runEnv(environ, pass []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && (envAllowed(name, AllowedEnv) || envAllowed(name, pass)) {
			out = append(out, kv)
		}
	}
	return out
}

func envAllowed(name string, list []string) bool {
	for _, a := range list {
		if p, ok := strings.CutSuffix(a, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if name == a {
			return true
		}
	}
	return false
}

// checkEnvName checks an entry of Config.PassEnv.
func checkEnvName(s string) error {
	name, _ := strings.CutSuffix(s, "*")
	ok := name != ""
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("ansible pass_env %q: expected a variable name such as HTTP_PROXY, or a prefix ending in * such as OS_CACERT_*", s)
	}
	return nil
}

// closeControlMasters ends the SSH control masters of a run: they detach
// from the process group, so killing the group does not reach them.
func closeControlMasters(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		sock := filepath.Join(dir, e.Name())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = exec.CommandContext(ctx, "ssh", "-o", "ControlPath="+sock, "-O", "exit", "osism-control-master").Run()
		cancel()
	}
}
