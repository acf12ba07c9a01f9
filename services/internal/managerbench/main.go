// Command managerbench measures the resident memory of the whole manager
// while idle: it builds osism (or takes -bin), starts `osism manager` with
// every service (the embedded broker with its file store, the API, beat,
// watchdog and the workers of every queue; the listener is not
// configured) against the NetBox double it serves itself, waits, and
// reads VmRSS and VmHWM from /proc/<pid>/status.
//
//	go run ./services/internal/managerbench -idle 60s -max-rss 60
//
// It exits 1 when VmRSS is above -max-rss MiB.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osism/go-osism/netbox/netboxtest"
)

func main() {
	bin := flag.String("bin", "", "the osism binary (default: build ./cmd/osism with -trimpath)")
	idle := flag.Duration("idle", 60*time.Second, "how long the manager is idle before the measurement")
	maxRSS := flag.Int("max-rss", 60, "fail above this VmRSS in MiB")
	flag.Parse()
	rss, err := run(*bin, *idle, *maxRSS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "managerbench:", err)
		os.Exit(1)
	}
	_ = rss
}

func run(bin string, idle time.Duration, maxRSS int) (int, error) {
	dir, err := os.MkdirTemp("", "managerbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "osism")
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/osism")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return 0, fmt.Errorf("build osism (run from the repository's root, or give -bin): %w", err)
		}
	}
	nb, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		return 0, err
	}
	defer nb.Close()
	for _, d := range []string{"inventory", "configuration"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return 0, err
		}
	}
	cfgFile := filepath.Join(dir, "osism.yaml")
	cfg := fmt.Sprintf(`
manager: {broker_listen: "127.0.0.1:-1", store_dir: %[1]s/broker}
broker: {token_file: %[1]s/broker-token}
api: {listen: "127.0.0.1:0", token_file: %[1]s/api-token}
ansible: {configuration_dir: %[1]s/configuration}
watchdog: {dir: %[1]s/inventory}
reconciler: {output_dir: %[1]s/inventory.out}
fabric: {lock_dir: %[1]s/locks, state_dir: %[1]s/state}
netbox: {url: %[2]s, token: %[3]s}
`, dir, nb.URL(), nb.Token())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return 0, err
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "manager")
	cmd.Env = append(os.Environ(), "OSISM_CONFIG="+cfgFile, "OSISM_BROKER_URL=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitFor(logFile.Name(), "manager started", 30*time.Second); err != nil {
		return 0, err
	}
	fmt.Printf("manager pid %d started; idle for %s\n", cmd.Process.Pid, idle)
	time.Sleep(idle) // the measurement is of an idle manager: nothing to poll for
	rss, hwm, err := status(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	fmt.Printf("VmRSS %d KiB (%.1f MiB), VmHWM %d KiB (%.1f MiB) after %s idle; limit %d MiB\n",
		rss, float64(rss)/1024, hwm, float64(hwm)/1024, idle, maxRSS)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if rss > maxRSS*1024 {
		return rss, fmt.Errorf("VmRSS %.1f MiB above %d MiB", float64(rss)/1024, maxRSS)
	}
	return rss, nil
}

// waitFor polls the log file until it holds s.
func waitFor(file, s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(file)
		if err == nil && strings.Contains(string(b), s) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(file)
	return fmt.Errorf("no %q in the manager's log within %s:\n%s", s, within, b)
}

var kbRE = regexp.MustCompile(`^(VmRSS|VmHWM):\s+(\d+) kB`)

// status reads VmRSS and VmHWM of pid in KiB.
func status(pid int) (rss, hwm int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := kbRE.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			if m[1] == "VmRSS" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/<pid>/status")
	}
	return rss, hwm, sc.Err()
}
