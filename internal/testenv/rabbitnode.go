package testenv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The Debian rabbitmq-server package's programs a private node runs.
var (
	rabbitServerPath = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	epmdPath         = "/usr/bin/epmd"
)

// Time limits of a private node.
const (
	rabbitStartTimeout = 90 * time.Second
	rabbitStopTimeout  = 30 * time.Second
	rabbitPollEvery    = 20 * time.Millisecond
)

// RabbitNode is a RabbitMQ node of one test, for tests that must stop and
// start the broker itself: the RabbitMQ that scripts/services runs is
// shared with Ironic and with other tests, and is never restarted.
//
// The node runs Debian's rabbitmq-server (RabbitMQ 3.10) in the
// foreground as user rabbitmq, in a process group it leads, with its own
// node name, its own epmd, AMQP and distribution ports on 127.0.0.1 (free
// ports), its own Erlang cookie and its own configuration, database and
// log directories in a temporary directory owned by rabbitmq. It has one
// vhost and one user with a random password, loaded at boot. It is
// stopped by its pid, never by name; its database survives Stop and
// Start, so durable queues and persistent messages outlive a restart.
type RabbitNode struct {
	// Name is the Erlang node name, rabbit-osism-<random>@localhost.
	Name string
	// Port is the AMQP port, DistPort the distribution port, EpmdPort the
	// port of the node's own epmd, all on 127.0.0.1.
	Port, DistPort, EpmdPort int
	// VHost and User are what URL logs in to and with.
	VHost, User string
	// Dir holds the node's configuration, database (mnesia) and logs.
	Dir string

	password string
	uid, gid uint32
	logPath  string
	// tb is the test the node belongs to, for logs.
	tb testing.TB

	mu      sync.Mutex
	server  *rabbitProc
	epmd    *rabbitProc
	readyAt time.Time
}

// rabbitProc is a process the node started, leading its process group.
type rabbitProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartRabbitNode starts a private RabbitMQ node for t and waits until it
// accepts logins; t.Cleanup stops it (even when t fails) and removes its
// directory. It skips t when rabbitmq-server is not installed or the test
// does not run as root (the node runs as user rabbitmq), and fails t
// instead under OSISM_REQUIRE_INTEGRATION=1.
func StartRabbitNode(t testing.TB) *RabbitNode {
	t.Helper()
	const service = "private RabbitMQ node"
	for _, p := range []string{rabbitServerPath, epmdPath} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			unavailable(t, service, "%s is not installed (Debian package rabbitmq-server; `scripts/services install` installs it)", p)
		}
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		unavailable(t, service, "no user rabbitmq (Debian package rabbitmq-server creates it): %v", err)
	}
	if os.Geteuid() != 0 {
		unavailable(t, service, "the test runs as uid %d, not root: it cannot start a node as user rabbitmq", os.Geteuid())
	}
	uid, uerr := strconv.ParseUint(u.Uid, 10, 32)
	gid, gerr := strconv.ParseUint(u.Gid, 10, 32)
	if uerr != nil || gerr != nil {
		t.Fatalf("testenv: user rabbitmq: uid %q, gid %q: expected numbers", u.Uid, u.Gid)
	}

	n := &RabbitNode{Name: "rabbit-osism-" + randomHex(6) + "@localhost", VHost: "osism", User: "osism",
		password: randomHex(16), uid: uint32(uid), gid: uint32(gid), tb: t}
	ports, err := freePorts(3)
	if err != nil {
		t.Fatalf("testenv: free ports for a RabbitMQ node: %v", err)
	}
	n.Port, n.DistPort, n.EpmdPort = ports[0], ports[1], ports[2]
	if n.Dir, err = n.makeDir(); err != nil {
		t.Fatalf("testenv: RabbitMQ node directory: %v", err)
	}
	n.logPath = filepath.Join(n.Dir, "log", "server.log")
	t.Cleanup(func() {
		if err := n.stop(false); err != nil {
			t.Errorf("testenv: stop RabbitMQ node %s: %v", n.Name, err)
		}
		n.stopEpmd()
		if t.Failed() {
			t.Logf("testenv: RabbitMQ node %s log (%s), last lines:\n%s", n.Name, n.logPath, tailFile(n.logPath, 30))
		}
		_ = os.RemoveAll(n.Dir)
	})
	if err := n.writeConfig(); err != nil {
		t.Fatalf("testenv: RabbitMQ node %s: %v", n.Name, err)
	}
	if err := n.startEpmd(); err != nil {
		t.Fatalf("testenv: RabbitMQ node %s: %v", n.Name, err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return n
}

// URL is amqp://USER:PASSWORD@127.0.0.1:PORT/VHOST. It holds the
// password: do not log it.
func (n *RabbitNode) URL() string {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(n.User, n.password),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)), Path: "/" + n.VHost}
	return u.String()
}

// Addr is 127.0.0.1:PORT of the AMQP listener.
func (n *RabbitNode) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Port)) }

// ReadyAt is when the node last accepted a login after Start.
func (n *RabbitNode) ReadyAt() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.readyAt
}

// Running reports whether the node's process runs.
func (n *RabbitNode) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.server != nil && !n.server.done()
}

// Start starts the node (again) on its ports and database and waits until
// it accepts a login to its vhost. Starting a running node is an error.
func (n *RabbitNode) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.server != nil && !n.server.done() {
		return fmt.Errorf("RabbitMQ node %s: already running (pid %d)", n.Name, n.server.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(n.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("RabbitMQ node %s: %w", n.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command(rabbitServerPath)
	cmd.Dir = n.Dir
	cmd.Env = n.env("RABBITMQ_CONF_ENV_FILE=" + filepath.Join(n.Dir, "rabbitmq-env.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := n.spawn(cmd)
	if err != nil {
		return fmt.Errorf("RabbitMQ node %s: start %s: %w", n.Name, rabbitServerPath, err)
	}
	n.server = p
	deadline := time.Now().Add(rabbitStartTimeout)
	for {
		err := probeLogin(n.Addr(), n.User, n.password, n.VHost)
		if err == nil {
			n.readyAt = time.Now()
			return nil
		}
		if p.done() {
			return fmt.Errorf("RabbitMQ node %s exited while starting (%v); log %s:\n%s", n.Name, p.cmd.ProcessState,
				n.logPath, tailFile(n.logPath, 30))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("RabbitMQ node %s: no login on %s after %s (last: %v); log %s:\n%s", n.Name, n.Addr(),
				rabbitStartTimeout, err, n.logPath, tailFile(n.logPath, 30))
		}
		time.Sleep(rabbitPollEvery)
	}
}

// Stop shuts the node down cleanly (SIGTERM to the rabbitmq-server
// process, which stops the Erlang VM) and waits until every process of
// its group has ended; what is left after 30 s is killed. Its database
// stays for the next Start. Stopping a stopped node does nothing.
func (n *RabbitNode) Stop() error { return n.stop(false) }

// Kill ends the node at once (SIGKILL to its process group), as a crash
// or a power loss would, and waits for its processes to end.
func (n *RabbitNode) Kill() error { return n.stop(true) }

// Restart is Stop, then Start.
func (n *RabbitNode) Restart() error {
	if err := n.Stop(); err != nil {
		return err
	}
	return n.Start()
}

func (n *RabbitNode) stop(kill bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.server
	if p == nil {
		return nil
	}
	pid := p.cmd.Process.Pid
	sig := syscall.SIGTERM
	target := pid // the script turns SIGTERM into a clean stop of the VM
	if kill {
		sig, target = syscall.SIGKILL, -pid
	}
	if !p.done() {
		if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("RabbitMQ node %s: signal pid %d: %w", n.Name, pid, err)
		}
	}
	if !waitGroupGone(pid, p, rabbitStopTimeout) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if !waitGroupGone(pid, p, 10*time.Second) {
			return fmt.Errorf("RabbitMQ node %s: process group %d still runs after SIGKILL", n.Name, pid)
		}
		n.tb.Logf("testenv: RabbitMQ node %s did not stop within %s; killed", n.Name, rabbitStopTimeout)
	}
	n.server = nil
	return nil
}

// startEpmd starts the node's own epmd in the foreground (so that its pid
// is ours) and waits until it listens.
func (n *RabbitNode) startEpmd() error {
	logf, err := os.OpenFile(filepath.Join(n.Dir, "log", "epmd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(epmdPath, "-address", "127.0.0.1", "-port", strconv.Itoa(n.EpmdPort))
	cmd.Dir = n.Dir
	cmd.Env = n.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := n.spawn(cmd)
	if err != nil {
		return fmt.Errorf("start epmd: %w", err)
	}
	n.epmd = p
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.EpmdPort))
	deadline := time.Now().Add(10 * time.Second)
	for probeTCP(addr) != nil {
		if p.done() || time.Now().After(deadline) {
			return fmt.Errorf("epmd on %s did not start: %s", addr, tailFile(filepath.Join(n.Dir, "log", "epmd.log"), 10))
		}
		time.Sleep(rabbitPollEvery)
	}
	return nil
}

func (n *RabbitNode) stopEpmd() {
	if p := n.epmd; p != nil {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		if !waitGroupGone(pid, p, 5*time.Second) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			waitGroupGone(pid, p, 5*time.Second)
		}
		n.epmd = nil
	}
}

// env is the environment of the node's processes: no variable of the
// test's, so that nothing of the shared node (RABBITMQ_*, ERL_*) leaks in.
func (n *RabbitNode) env(extra ...string) []string {
	return append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + n.Dir, // the Erlang cookie is $HOME/.erlang.cookie
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT=" + strconv.Itoa(n.EpmdPort),
	}, extra...)
}

// spawn starts cmd as user rabbitmq, leading a new process group, with
// stdin from /dev/null.
func (n *RabbitNode) spawn(cmd *exec.Cmd) (*rabbitProc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: &syscall.Credential{Uid: n.uid, Gid: n.gid, NoSetGroups: false},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &rabbitProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *rabbitProc) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitGroupGone waits until the leader p has exited and no live process
// is left in its process group pgid.
func waitGroupGone(pgid int, p *rabbitProc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if p.done() && !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(rabbitPollEvery)
	}
}

// groupAlive reports whether a process other than a zombie is in the
// process group pgid.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(fields[2]); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// makeDir creates the node's directory under the temporary directory,
// owned by rabbitmq, after checking that rabbitmq can reach it.
func (n *RabbitNode) makeDir() (string, error) {
	base := os.TempDir()
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return "", err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o001 == 0 && (st == nil || st.Uid != n.uid) {
			return "", fmt.Errorf("user rabbitmq cannot enter %s (mode %s), a parent of the temporary directory %s: set TMPDIR to a directory all users can reach, such as /tmp",
				d, fi.Mode().Perm(), base)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	dir, err := os.MkdirTemp(base, "osism-rabbit-")
	if err != nil {
		return "", err
	}
	for _, d := range []string{dir, filepath.Join(dir, "log"), filepath.Join(dir, "mnesia")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return "", err
		}
		if err := os.Chown(d, int(n.uid), int(n.gid)); err != nil {
			return "", err
		}
		if err := os.Chmod(d, 0o750); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// writeConfig writes the env file, the configuration, the definitions
// (vhost, user, permissions; loaded at boot) and the Erlang cookie.
func (n *RabbitNode) writeConfig() error {
	d := n.Dir
	salt := make([]byte, 4)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	// rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password))
	sum := sha256.Sum256(append(append([]byte{}, salt...), n.password...))
	hash := base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"rabbitmq-env.conf", fmt.Sprintf(`NODENAME=%s
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=%d
DIST_PORT=%d
CONFIG_FILE=%s/rabbitmq.conf
ADVANCED_CONFIG_FILE=%s/advanced.config
ENABLED_PLUGINS_FILE=%s/enabled_plugins
MNESIA_BASE=%s/mnesia
LOG_BASE=%s/log
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
`, n.Name, n.Port, n.DistPort, d, d, d, d, d), 0o640},
		{"rabbitmq.conf", fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
load_definitions = %s/definitions.json
log.console = true
log.console.level = info
log.console.use_colors = off
log.file = false
`, n.Port, d), 0o640},
		{"enabled_plugins", "[].\n", 0o640},
		{"advanced.config", "[].\n", 0o640},
		{"definitions.json", fmt.Sprintf(`{
  "vhosts": [{"name": %q}],
  "users": [{"name": %q, "password_hash": %q, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}],
  "permissions": [{"user": %q, "vhost": %q, "configure": ".*", "write": ".*", "read": ".*"}]
}
`, n.VHost, n.User, hash, n.User, n.VHost), 0o640},
		{".erlang.cookie", strings.ToUpper(randomHex(10)), 0o400},
	}
	for _, f := range files {
		p := filepath.Join(d, f.name)
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			return err
		}
		if err := os.Chown(p, int(n.uid), int(n.gid)); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// freePorts returns k distinct ports on 127.0.0.1 that were free a moment
// ago.
func freePorts(k int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tailFile returns the last lines of a file, or why not.
func tailFile(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > lines {
			ring = ring[1:]
		}
	}
	return strings.Join(ring, "\n")
}

// probeLogin logs in to vhost over AMQP 0-9-1 (PLAIN) and closes the
// connection: the broker is up, its definitions are loaded and it accepts
// clients. Errors never hold the password.
func probeLogin(addr, user, password, vhost string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	r := bufio.NewReader(conn)
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return err
	}
	if _, err := readMethod(r, 10, 10); err != nil { // connection.start
		return err
	}
	var startOk bytes.Buffer
	startOk.Write([]byte{0, 10, 0, 11})
	startOk.Write([]byte{0, 0, 0, 0}) // client-properties: empty table
	writeShortStr(&startOk, "PLAIN")
	resp := "\x00" + user + "\x00" + password
	_ = binary.Write(&startOk, binary.BigEndian, uint32(len(resp)))
	startOk.WriteString(resp)
	writeShortStr(&startOk, "en_US")
	if err := writeFrame(conn, startOk.Bytes()); err != nil {
		return err
	}
	tune, err := readMethod(r, 10, 30) // connection.tune
	if err != nil {
		return fmt.Errorf("login as %s: %w", user, err)
	}
	if len(tune) < 8 {
		return errors.New("short connection.tune")
	}
	tuneOk := append([]byte{0, 10, 0, 31}, tune[:6]...) // channel-max, frame-max as offered
	tuneOk = append(tuneOk, 0, 0)                       // no heartbeats
	var open bytes.Buffer
	open.Write([]byte{0, 10, 0, 40})
	writeShortStr(&open, vhost)
	writeShortStr(&open, "")
	open.WriteByte(0)
	if err := writeFrame(conn, tuneOk); err != nil {
		return err
	}
	if err := writeFrame(conn, open.Bytes()); err != nil {
		return err
	}
	if _, err := readMethod(r, 10, 41); err != nil { // connection.open-ok
		return fmt.Errorf("open vhost %s: %w", vhost, err)
	}
	// connection.close 200; the broker's close-ok is not waited for.
	// reply code 200, empty reply text, class and method 0.
	return writeFrame(conn, []byte{0, 10, 0, 50, 0, 200, 0, 0, 0, 0, 0})
}

func writeShortStr(b *bytes.Buffer, s string) {
	b.WriteByte(byte(len(s)))
	b.WriteString(s)
}

// writeFrame writes a method frame on channel 0.
func writeFrame(w io.Writer, payload []byte) error {
	f := make([]byte, 0, len(payload)+8)
	f = append(f, 1, 0, 0)
	f = binary.BigEndian.AppendUint32(f, uint32(len(payload)))
	f = append(f, payload...)
	f = append(f, 0xCE)
	_, err := w.Write(f)
	return err
}

// readMethod reads frames until a method frame and returns its arguments
// when it is class.method; a connection.close is returned as the broker's
// reply code and text.
func readMethod(r *bufio.Reader, class, method uint16) ([]byte, error) {
	for {
		var hdr [7]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("read AMQP frame: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[3:7])
		if size > 1<<20 {
			return nil, fmt.Errorf("AMQP frame of %d bytes", size)
		}
		body := make([]byte, size+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("read AMQP frame: %w", err)
		}
		if hdr[0] != 1 || size < 4 { // heartbeat or content
			continue
		}
		c, m := binary.BigEndian.Uint16(body[0:2]), binary.BigEndian.Uint16(body[2:4])
		args := body[4:size]
		if c == 10 && m == 50 && (c != class || m != method) {
			if len(args) >= 3 && len(args) >= 3+int(args[2]) {
				return nil, fmt.Errorf("the broker closed the connection: %d %s", binary.BigEndian.Uint16(args[0:2]), args[3:3+int(args[2])])
			}
			return nil, errors.New("the broker closed the connection")
		}
		if c != class || m != method {
			return nil, fmt.Errorf("AMQP method %d.%d, expected %d.%d", c, m, class, method)
		}
		return args, nil
	}
}
