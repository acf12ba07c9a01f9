package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The environment variables scripts/services env prints, and the switch
// for requiring them.
const (
	// EnvRequire set to 1 (or true) turns every skip of this package into a
	// test failure.
	EnvRequire = "OSISM_REQUIRE_INTEGRATION"

	EnvServicesDir      = "OSISM_TEST_SERVICES_DIR"
	EnvRabbitMQURL      = "OSISM_TEST_RABBITMQ_URL"
	EnvIronicURL        = "OSISM_TEST_IRONIC_URL"
	EnvAnsiblePlaybook  = "OSISM_TEST_ANSIBLE_PLAYBOOK"
	EnvSwitches         = "OSISM_TEST_SWITCHES"
	EnvSwitchKey        = "OSISM_TEST_SWITCH_KEY"
	EnvSwitchKnownHosts = "OSISM_TEST_SWITCH_KNOWN_HOSTS"
	EnvSwitchSSHConfig  = "OSISM_TEST_SWITCH_SSH_CONFIG"
)

// StartCommand starts the services; EnvCommand loads their settings.
const (
	StartCommand = "scripts/services start"
	EnvCommand   = `eval "$(scripts/services env)"`
)

// probeTimeout bounds each check that a service answers.
var probeTimeout = 3 * time.Second

// RequireIntegration reports whether OSISM_REQUIRE_INTEGRATION asks for the
// services to be there (1, t, true, ...), so that tests fail instead of
// skipping without them.
func RequireIntegration() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(EnvRequire)))
	return err == nil && v
}

// unavailable skips t, or fails it when integration is required. It does not
// return.
func unavailable(t testing.TB, service, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s unavailable: %s; start the services with `%s` and load their settings with `%s`",
		service, fmt.Sprintf(format, args...), StartCommand, EnvCommand)
	if RequireIntegration() {
		t.Fatalf("%s (failing, not skipping: %s=1)", msg, EnvRequire)
	} else {
		t.Skipf("%s", msg)
	}
}

// lookup returns the variable's value or marks t unavailable.
func lookup(t testing.TB, service, name string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		unavailable(t, service, "%s is not set", name)
	}
	return v
}

// RabbitMQ returns the AMQP URL of the test broker
// (amqp://ironic:PASSWORD@127.0.0.1:5672/ironic, vhost ironic, where Ironic
// publishes its versioned notifications) after an AMQP protocol handshake
// with it.
func RabbitMQ(t testing.TB) string {
	t.Helper()
	const service = "RabbitMQ"
	raw := lookup(t, service, EnvRabbitMQURL)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		unavailable(t, service, "%s is not an amqp:// URL: %q", EnvRabbitMQURL, redact(raw))
		return ""
	}
	addr := u.Host
	if u.Port() == "" {
		port := "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "amqp" {
		if err := probeAMQP(addr); err != nil {
			unavailable(t, service, "%s does not answer: %v", addr, err)
		}
	} else if err := probeTCP(addr); err != nil {
		unavailable(t, service, "%s does not answer: %v", addr, err)
	}
	return raw
}

// redact hides a URL's password for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// probeAMQP sends the AMQP 0-9-1 protocol header and expects the broker's
// connection.start method frame (channel 0, class 10, method 10).
func probeAMQP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return err
	}
	var hdr [11]byte // type, channel(2), size(4), class(2), method(2)
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return fmt.Errorf("no AMQP connection.start: %w", err)
	}
	if hdr[0] != 1 || binary.BigEndian.Uint16(hdr[1:3]) != 0 ||
		binary.BigEndian.Uint16(hdr[7:9]) != 10 || binary.BigEndian.Uint16(hdr[9:11]) != 10 {
		return fmt.Errorf("not an AMQP 0-9-1 broker (answered % x)", hdr[:])
	}
	return nil
}

func probeTCP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Ironic returns the base URL of the test Ironic (http://127.0.0.1:6385,
// noauth, no trailing slash) once GET /v1/drivers lists fake-hardware, the
// only hardware type it enables.
func Ironic(t testing.TB) string {
	t.Helper()
	const service = "Ironic"
	base := strings.TrimRight(lookup(t, service, EnvIronicURL), "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		unavailable(t, service, "%s is not an http:// URL: %q", EnvIronicURL, base)
		return ""
	}
	if err := probeIronic(base); err != nil {
		unavailable(t, service, "%s does not answer: %v", base, err)
	}
	return base
}

func probeIronic(base string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/drivers", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/drivers: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var drivers struct {
		Drivers []struct {
			Name string `json:"name"`
		} `json:"drivers"`
	}
	if err := json.Unmarshal(body, &drivers); err != nil {
		return fmt.Errorf("GET /v1/drivers: %w", err)
	}
	var names []string
	for _, d := range drivers.Drivers {
		if d.Name == "fake-hardware" {
			return nil
		}
		names = append(names, d.Name)
	}
	return fmt.Errorf("GET /v1/drivers lists no fake-hardware (got %v): no conductor yet?", names)
}

// AnsiblePlaybook returns the path of the ansible-playbook to run
// (/usr/bin/ansible-playbook, from Debian's ansible-core).
func AnsiblePlaybook(t testing.TB) string {
	t.Helper()
	const service = "ansible-playbook"
	path := lookup(t, service, EnvAnsiblePlaybook)
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		unavailable(t, service, "%s=%s: %v", EnvAnsiblePlaybook, path, err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		unavailable(t, service, "%s=%s is not an executable file", EnvAnsiblePlaybook, path)
	}
	return path
}

// SwitchEnv is how a test reaches one switch: FRR's vtysh as the login shell
// of User on the sshd at Addr, and vtysh run locally for assertions.
type SwitchEnv struct {
	Name       string   // the switch's name and hostname, e.g. leaf-1
	Addr       string   // host:port of its sshd, e.g. 127.0.0.1:2221
	Host       string   // the host part of Addr
	Port       int      // the port part of Addr
	User       string   // SSH user; its login shell is the switch's vtysh
	KeyFile    string   // SSH private key (ed25519, no passphrase)
	KnownHosts string   // known_hosts with a [host]:port entry for Addr
	SSHConfig  string   // ssh_config with a Host entry named Name ("" if not set)
	VtyshCmd   []string // argv that runs this switch's vtysh on this machine
	Netns      string   // the network namespace the switch runs in ("" if not set)
}

// SwitchEnvPrefix is the prefix of the variables that describe switch name:
// leaf-1 -> OSISM_TEST_SWITCH_LEAF_1_ (then SSH, USER, VTYSH, NETNS).
func SwitchEnvPrefix(name string) string {
	var b strings.Builder
	b.WriteString("OSISM_TEST_SWITCH_")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteByte('_')
	return b.String()
}

// SwitchNames returns the names in OSISM_TEST_SWITCHES (nil if unset).
func SwitchNames() []string {
	return strings.Fields(os.Getenv(EnvSwitches))
}

// Switches returns every switch of OSISM_TEST_SWITCHES, each checked as
// Switch does.
func Switches(t testing.TB) []SwitchEnv {
	t.Helper()
	names := SwitchNames()
	if len(names) == 0 {
		unavailable(t, "switches", "%s is not set", EnvSwitches)
	}
	out := make([]SwitchEnv, 0, len(names))
	for _, n := range names {
		out = append(out, Switch(t, n))
	}
	return out
}

// Switch returns how to reach switch name (leaf-1, leaf-2) after checking
// that its key files exist and its sshd sends an SSH banner.
func Switch(t testing.TB, name string) SwitchEnv {
	t.Helper()
	service := "switch " + name
	prefix := SwitchEnvPrefix(name)
	sw := SwitchEnv{
		Name:       name,
		Addr:       lookup(t, service, prefix+"SSH"),
		User:       lookup(t, service, prefix+"USER"),
		KeyFile:    lookup(t, service, EnvSwitchKey),
		KnownHosts: lookup(t, service, EnvSwitchKnownHosts),
		VtyshCmd:   strings.Fields(lookup(t, service, prefix+"VTYSH")),
		SSHConfig:  strings.TrimSpace(os.Getenv(EnvSwitchSSHConfig)),
		Netns:      strings.TrimSpace(os.Getenv(prefix + "NETNS")),
	}
	host, port, err := net.SplitHostPort(sw.Addr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || host == "" || p <= 0 || p > 65535 {
		unavailable(t, service, "%sSSH=%q is not host:port", prefix, sw.Addr)
		return sw
	}
	sw.Host, sw.Port = host, p
	for _, f := range []struct{ name, path string }{
		{EnvSwitchKey, sw.KeyFile}, {EnvSwitchKnownHosts, sw.KnownHosts},
	} {
		if _, err := os.Stat(f.path); err != nil {
			unavailable(t, service, "%s: %v", f.name, err)
		}
	}
	if err := probeSSH(sw.Addr); err != nil {
		unavailable(t, service, "sshd at %s does not answer: %v", sw.Addr, err)
	}
	return sw
}

// probeSSH expects an SSH-2.0 identification line from the server.
func probeSSH(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	line, err := bufio.NewReader(io.LimitReader(conn, 512)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no SSH banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("not an SSH server (said %q)", strings.TrimSpace(line))
	}
	return nil
}

// VtyshArgs returns the argv that runs commands (each one vtysh -c) on this
// switch's vtysh: VtyshArgs("conf t", "interface swp1") ->
// [/usr/bin/vtysh -N leaf-1 -c "conf t" -c "interface swp1"].
func (s SwitchEnv) VtyshArgs(commands ...string) []string {
	args := append([]string(nil), s.VtyshCmd...)
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	return args
}

// RunVtysh runs commands on this switch's vtysh locally and returns what it
// printed (stdout and stderr). vtysh exits non-zero when a command fails.
func (s SwitchEnv) RunVtysh(ctx context.Context, commands ...string) (string, error) {
	if len(s.VtyshCmd) == 0 {
		return "", fmt.Errorf("testenv: switch %s has no vtysh command", s.Name)
	}
	args := s.VtyshArgs(commands...)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("testenv: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Vtysh runs commands on this switch's vtysh locally and returns the output;
// a failure fails the test (the switch was reported available).
func (s SwitchEnv) Vtysh(t testing.TB, commands ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.RunVtysh(ctx, commands...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// LockSwitches holds an exclusive lock on the test switches until t ends,
// so that the test packages that change the switches' configuration (run
// in parallel by go test ./...) take turns.
func LockSwitches(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "osism-test-switches.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("testenv: switch lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("testenv: switch lock %s: %v", path, err)
	}
	t.Cleanup(func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}
