package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// workerProc is one `osism worker netbox` process, in a process group of
// its own so that kill -9 reaches everything it started.
type workerProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startWorker starts the worker binary bin with env; its output goes to
// dir/worker-<n>.log.
func startWorker(bin string, env []string, dir string, n int) (*workerProc, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("worker-%03d.log", n))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "worker", "--id", fmt.Sprintf("campaign-%03d", n), "--grace", "2s", "netbox")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &workerProc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		f.Close()
		close(w.done)
	}()
	return w, nil
}

// Pid is the worker's pid, which is also its process group.
func (w *workerProc) Pid() int { return w.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (w *workerProc) Exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL to the worker's process group and waits for the
// worker to end.
func (w *workerProc) Kill() error {
	if err := syscall.Kill(-w.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 -%d: %w", w.Pid(), err)
	}
	select {
	case <-w.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("worker %d still running 10s after SIGKILL", w.Pid())
	}
}

// Stop asks the worker to stop (SIGTERM to its group), and kills it when
// it has not stopped within grace.
func (w *workerProc) Stop(grace time.Duration) {
	if w.Exited() {
		return
	}
	_ = syscall.Kill(-w.Pid(), syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(grace):
		_ = w.Kill()
	}
}
