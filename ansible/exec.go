package ansible

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	cmd.Env = append(append(os.Environ(), c.Env...), "ANSIBLE_SSH_CONTROL_PATH_DIR="+cpDir, "ANSIBLE_FORCE_COLOR=0", "PYTHONUNBUFFERED=1")
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

// lineWriter hands complete lines to line; os/exec calls Write from one
// goroutine at a time when Stdout and Stderr are the same writer.
type lineWriter struct {
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if w.line != nil {
			w.line(string(w.buf[:i]))
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 && w.line != nil {
		w.line(string(w.buf))
	}
	w.buf = nil
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
