// Package proc starts commands so that cancelling them kills everything
// they started. A task handler that runs ansible-playbook must stop the
// playbook and every ssh and python process under it when the task is
// cancelled; killing only the direct child would leave the rest running
// and holding the output pipe open.
package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultGrace is how long a cancelled command's group has between SIGTERM
// and SIGKILL.
const DefaultGrace = 5 * time.Second

// Command is exec.CommandContext with the command in a process group of its
// own. When ctx ends, the whole group gets SIGTERM and, grace later (0:
// DefaultGrace), SIGKILL; Wait returns at the latest grace after that even
// if a grandchild keeps the output pipes open.
func Command(ctx context.Context, grace time.Duration, name string, args ...string) *exec.Cmd {
	if grace <= 0 {
		grace = DefaultGrace
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		err := syscall.Kill(-pgid, syscall.SIGTERM)
		time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	cmd.WaitDelay = 2 * grace
	return cmd
}

// Run runs cmd (made by Command) and, when ctx was cancelled, makes sure
// no member of its process group outlives it.
func Run(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	if ctx.Err() != nil && cmd.Process != nil {
		// Members that ignored SIGTERM are killed now; the group id cannot
		// be reused while any member lives, so this reaches only them.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return err
}

// ExitCode returns the exit code of a finished command's error: 0 for nil,
// the code of an *exec.ExitError, 128+signal for a command killed by a
// signal, and -1 for errors that carry no code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// Alive reports whether pid is a process that has not exited; a zombie
// waiting for its parent counts as gone. Tests use it to check that a
// cancelled run left nothing behind.
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
