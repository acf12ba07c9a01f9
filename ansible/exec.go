package ansible

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Result is how a run ended.
type Result struct {
	// ExitCode is ansible-playbook's exit code; -1 when it was killed.
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

	// One pipe for stdout and stderr keeps their lines in the order the
	// process wrote them.
	pr, pw, err := os.Pipe()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(append(os.Environ(), c.Env...), "ANSIBLE_SSH_CONTROL_PATH_DIR="+cpDir, "ANSIBLE_FORCE_COLOR=0", "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return res, fmt.Errorf("start %s: %w", c.Path, err)
	}
	pw.Close()
	pgid := cmd.Process.Pid

	stopped := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-stopped:
			case <-time.After(KillGrace):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			close(killed)
		case <-stopped:
		}
	}()

	readErr := readLines(pr, line)
	pr.Close()
	waitErr := cmd.Wait()
	close(stopped)
	// Whatever the playbook left in its group (a forked helper) goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.End = time.Now()
	res.ExitCode = cmd.ProcessState.ExitCode()

	if ctx.Err() != nil {
		<-killed
		return res, fmt.Errorf("%s cancelled: %w", filepath.Base(c.Path), ctx.Err())
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return res, waitErr
	}
	if readErr != nil {
		return res, fmt.Errorf("read output: %w", readErr)
	}
	return res, nil
}

func readLines(r io.Reader, line func(string)) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		s, err := br.ReadString('\n')
		if len(s) > 0 {
			if s[len(s)-1] == '\n' {
				s = s[:len(s)-1]
			}
			if line != nil {
				line(s)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
