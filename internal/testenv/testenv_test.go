package testenv

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a fake testing.TB: it records Skip and Fatal and then ends
// its goroutine the way the testing package does.
type recorder struct {
	testing.TB // nil: any method not overridden here panics

	mu      sync.Mutex
	skipped bool
	failed  bool
	msg     string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls fn with a recorder on its own goroutine, as a test would run.
func run(fn func(t testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

// clearEnv unsets every variable the package reads for the test's duration.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "OSISM_TEST_") || name == EnvRequire {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv(EnvRequire, "")
}

func shortProbes(t *testing.T) {
	old := probeTimeout
	probeTimeout = 500 * time.Millisecond
	t.Cleanup(func() { probeTimeout = old })
}

// listen serves each connection with handle on a loopback port.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakeAMQP answers the protocol header with a connection.start frame.
func fakeAMQP(c net.Conn) {
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil || string(hdr) != "AMQP\x00\x00\x09\x01" {
		return
	}
	payload := []byte{0, 10, 0, 10, 0, 9} // class 10, method 10, version 0-9
	frame := []byte{1, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(frame[3:7], uint32(len(payload)))
	frame = append(append(frame, payload...), 0xce)
	_, _ = c.Write(frame)
}

func assertSkipped(t *testing.T, r *recorder, parts ...string) {
	t.Helper()
	assert.True(t, r.skipped, "want a skip, got failed=%v msg=%q", r.failed, r.msg)
	assert.False(t, r.failed)
	assert.Contains(t, r.msg, StartCommand)
	for _, p := range parts {
		assert.Contains(t, r.msg, p)
	}
}

func assertFailed(t *testing.T, r *recorder, parts ...string) {
	t.Helper()
	assert.True(t, r.failed, "want a failure, got skipped=%v msg=%q", r.skipped, r.msg)
	assert.False(t, r.skipped)
	assert.Contains(t, r.msg, StartCommand)
	assert.Contains(t, r.msg, EnvRequire+"=1")
	for _, p := range parts {
		assert.Contains(t, r.msg, p)
	}
}

func TestRequireIntegration(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "0": false, "false": false, "no": false, "junk": false,
		"1": true, "true": true, "TRUE": true, " 1 ": true,
	} {
		t.Setenv(EnvRequire, v)
		assert.Equal(t, want, RequireIntegration(), "%s=%q", EnvRequire, v)
	}
}

func TestMissingVariableSkipsOrFails(t *testing.T) {
	helpers := map[string]struct {
		fn  func(testing.TB)
		env string
	}{
		"RabbitMQ":        {func(t testing.TB) { RabbitMQ(t) }, EnvRabbitMQURL},
		"Ironic":          {func(t testing.TB) { Ironic(t) }, EnvIronicURL},
		"AnsiblePlaybook": {func(t testing.TB) { AnsiblePlaybook(t) }, EnvAnsiblePlaybook},
		"Switch":          {func(t testing.TB) { Switch(t, "leaf-1") }, "OSISM_TEST_SWITCH_LEAF_1_SSH"},
		"Switches":        {func(t testing.TB) { Switches(t) }, EnvSwitches},
	}
	for name, h := range helpers {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			assertSkipped(t, run(h.fn), h.env+" is not set")

			t.Setenv(EnvRequire, "1")
			assertFailed(t, run(h.fn), h.env+" is not set")
		})
	}
}

func TestRabbitMQ(t *testing.T) {
	shortProbes(t)
	addr := listen(t, fakeAMQP)

	t.Run("answers", func(t *testing.T) {
		clearEnv(t)
		url := "amqp://ironic:secret@" + addr + "/ironic"
		t.Setenv(EnvRabbitMQURL, url)
		var got string
		r := run(func(t testing.TB) { got = RabbitMQ(t) })
		assert.False(t, r.skipped || r.failed, r.msg)
		assert.Equal(t, url, got)
	})

	t.Run("nothing listens", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvRabbitMQURL, "amqp://ironic:secret@"+closedAddr(t)+"/ironic")
		r := run(func(t testing.TB) { RabbitMQ(t) })
		assertSkipped(t, r, "does not answer")
		assert.NotContains(t, r.msg, "secret")

		t.Setenv(EnvRequire, "1")
		assertFailed(t, run(func(t testing.TB) { RabbitMQ(t) }), "does not answer")
	})

	t.Run("not AMQP", func(t *testing.T) {
		clearEnv(t)
		http := listen(t, func(c net.Conn) { _, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
		t.Setenv(EnvRabbitMQURL, "amqp://"+http+"/")
		assertSkipped(t, run(func(t testing.TB) { RabbitMQ(t) }), "does not answer")
	})

	t.Run("silent server", func(t *testing.T) {
		clearEnv(t)
		silent := listen(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
		t.Setenv(EnvRabbitMQURL, "amqp://"+silent+"/")
		start := time.Now()
		assertSkipped(t, run(func(t testing.TB) { RabbitMQ(t) }), "does not answer")
		assert.Less(t, time.Since(start), 3*time.Second)
	})

	t.Run("not a URL", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvRabbitMQURL, "http://ironic:secret@127.0.0.1:5672/")
		r := run(func(t testing.TB) { RabbitMQ(t) })
		assertSkipped(t, r, "not an amqp:// URL")
		assert.NotContains(t, r.msg, "secret")
	})
}

func TestIronic(t *testing.T) {
	shortProbes(t)
	drivers := `{"drivers": [{"hosts": ["localhost"], "name": "fake-hardware", "links": []}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok/v1/drivers":
			_, _ = io.WriteString(w, drivers)
		case "/empty/v1/drivers":
			_, _ = io.WriteString(w, `{"drivers": []}`)
		case "/busy/v1/drivers":
			http.Error(w, `{"error_message": "retry"}`, http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	t.Run("ready", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvIronicURL, srv.URL+"/ok/")
		var got string
		r := run(func(t testing.TB) { got = Ironic(t) })
		assert.False(t, r.skipped || r.failed, r.msg)
		assert.Equal(t, srv.URL+"/ok", got, "no trailing slash")
	})

	for path, want := range map[string]string{
		"empty": "no fake-hardware",
		"busy":  "503",
		"nope":  "404",
	} {
		t.Run(path, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(EnvIronicURL, srv.URL+"/"+path)
			assertSkipped(t, run(func(t testing.TB) { Ironic(t) }), "does not answer", want)
			t.Setenv(EnvRequire, "1")
			assertFailed(t, run(func(t testing.TB) { Ironic(t) }), want)
		})
	}

	t.Run("nothing listens", func(t *testing.T) {
		clearEnv(t)
		t.Setenv(EnvIronicURL, "http://"+closedAddr(t))
		assertSkipped(t, run(func(t testing.TB) { Ironic(t) }), "does not answer")
	})
}

func TestAnsiblePlaybook(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ansible-playbook")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, nil, 0o644))

	clearEnv(t)
	t.Setenv(EnvAnsiblePlaybook, exe)
	var got string
	r := run(func(t testing.TB) { got = AnsiblePlaybook(t) })
	assert.False(t, r.skipped || r.failed, r.msg)
	assert.Equal(t, exe, got)

	t.Setenv(EnvAnsiblePlaybook, plain)
	assertSkipped(t, run(func(t testing.TB) { AnsiblePlaybook(t) }), "not an executable file")
	t.Setenv(EnvAnsiblePlaybook, dir)
	assertSkipped(t, run(func(t testing.TB) { AnsiblePlaybook(t) }), "not an executable file")
	t.Setenv(EnvAnsiblePlaybook, filepath.Join(dir, "missing"))
	assertSkipped(t, run(func(t testing.TB) { AnsiblePlaybook(t) }), "no such file")
	t.Setenv(EnvRequire, "true")
	assertFailed(t, run(func(t testing.TB) { AnsiblePlaybook(t) }), "no such file")
}

func TestSwitchEnvPrefix(t *testing.T) {
	assert.Equal(t, "OSISM_TEST_SWITCH_LEAF_1_", SwitchEnvPrefix("leaf-1"))
	assert.Equal(t, "OSISM_TEST_SWITCH_SPINE_2A_", SwitchEnvPrefix("spine-2a"))
	assert.Equal(t, "OSISM_TEST_SWITCH_SW_1_2_", SwitchEnvPrefix("sw.1/2"))
}

// switchEnv sets the variables of one switch as scripts/services env does.
func switchEnv(t *testing.T, name, addr string) (key, knownHosts string) {
	t.Helper()
	dir := t.TempDir()
	key = filepath.Join(dir, "id_ed25519")
	knownHosts = filepath.Join(dir, "known_hosts")
	require.NoError(t, os.WriteFile(key, []byte("key"), 0o600))
	require.NoError(t, os.WriteFile(knownHosts, []byte("[127.0.0.1]:1 ssh-ed25519 AAAA\n"), 0o644))
	p := SwitchEnvPrefix(name)
	t.Setenv(p+"SSH", addr)
	t.Setenv(p+"USER", "osism-"+name)
	t.Setenv(p+"VTYSH", "/usr/bin/vtysh -N "+name)
	t.Setenv(p+"NETNS", "osism-"+name)
	t.Setenv(EnvSwitchKey, key)
	t.Setenv(EnvSwitchKnownHosts, knownHosts)
	t.Setenv(EnvSwitchSSHConfig, filepath.Join(dir, "ssh_config"))
	return key, knownHosts
}

func fakeSSHD(c net.Conn) {
	_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"))
	_, _ = bufio.NewReader(c).ReadString('\n')
}

func TestSwitch(t *testing.T) {
	shortProbes(t)
	addr := listen(t, fakeSSHD)

	t.Run("answers", func(t *testing.T) {
		clearEnv(t)
		key, kh := switchEnv(t, "leaf-1", addr)
		var sw SwitchEnv
		r := run(func(t testing.TB) { sw = Switch(t, "leaf-1") })
		require.False(t, r.skipped || r.failed, r.msg)
		host, port, _ := net.SplitHostPort(addr)
		assert.Equal(t, "leaf-1", sw.Name)
		assert.Equal(t, addr, sw.Addr)
		assert.Equal(t, host, sw.Host)
		assert.Equal(t, port, fmt.Sprint(sw.Port))
		assert.Equal(t, "osism-leaf-1", sw.User)
		assert.Equal(t, key, sw.KeyFile)
		assert.Equal(t, kh, sw.KnownHosts)
		assert.Equal(t, []string{"/usr/bin/vtysh", "-N", "leaf-1"}, sw.VtyshCmd)
		assert.Equal(t, "osism-leaf-1", sw.Netns)
		assert.Equal(t, filepath.Join(filepath.Dir(key), "ssh_config"), sw.SSHConfig)
	})

	t.Run("another switch's variables do not count", func(t *testing.T) {
		clearEnv(t)
		switchEnv(t, "leaf-1", addr)
		assertSkipped(t, run(func(t testing.TB) { Switch(t, "leaf-2") }), "OSISM_TEST_SWITCH_LEAF_2_SSH is not set")
	})

	t.Run("sshd down", func(t *testing.T) {
		clearEnv(t)
		switchEnv(t, "leaf-1", closedAddr(t))
		assertSkipped(t, run(func(t testing.TB) { Switch(t, "leaf-1") }), "sshd at", "does not answer")
		t.Setenv(EnvRequire, "1")
		assertFailed(t, run(func(t testing.TB) { Switch(t, "leaf-1") }), "does not answer")
	})

	t.Run("not sshd", func(t *testing.T) {
		clearEnv(t)
		other := listen(t, func(c net.Conn) { _, _ = c.Write([]byte("220 smtp ready\r\n")) })
		switchEnv(t, "leaf-1", other)
		assertSkipped(t, run(func(t testing.TB) { Switch(t, "leaf-1") }), "not an SSH server")
	})

	t.Run("key file missing", func(t *testing.T) {
		clearEnv(t)
		key, _ := switchEnv(t, "leaf-1", addr)
		require.NoError(t, os.Remove(key))
		assertSkipped(t, run(func(t testing.TB) { Switch(t, "leaf-1") }), EnvSwitchKey)
	})

	t.Run("bad address", func(t *testing.T) {
		clearEnv(t)
		switchEnv(t, "leaf-1", "127.0.0.1")
		assertSkipped(t, run(func(t testing.TB) { Switch(t, "leaf-1") }), "is not host:port")
	})

	t.Run("Switches", func(t *testing.T) {
		clearEnv(t)
		switchEnv(t, "leaf-1", addr)
		t.Setenv(SwitchEnvPrefix("leaf-2")+"SSH", addr)
		t.Setenv(SwitchEnvPrefix("leaf-2")+"USER", "osism-leaf-2")
		t.Setenv(SwitchEnvPrefix("leaf-2")+"VTYSH", "/usr/bin/vtysh -N leaf-2")
		t.Setenv(EnvSwitches, "leaf-1 leaf-2")
		assert.Equal(t, []string{"leaf-1", "leaf-2"}, SwitchNames())
		var sws []SwitchEnv
		r := run(func(t testing.TB) { sws = Switches(t) })
		require.False(t, r.skipped || r.failed, r.msg)
		require.Len(t, sws, 2)
		assert.Equal(t, "leaf-2", sws[1].Name)
		assert.Equal(t, "osism-leaf-2", sws[1].User)
	})
}

func TestVtysh(t *testing.T) {
	sw := SwitchEnv{Name: "leaf-1", VtyshCmd: []string{"/usr/bin/vtysh", "-N", "leaf-1"}}
	assert.Equal(t,
		[]string{"/usr/bin/vtysh", "-N", "leaf-1", "-c", "conf t", "-c", "interface swp1"},
		sw.VtyshArgs("conf t", "interface swp1"))
	assert.Equal(t, []string{"/usr/bin/vtysh", "-N", "leaf-1"}, sw.VtyshCmd, "VtyshArgs must not alias VtyshCmd")

	echo := SwitchEnv{Name: "leaf-1", VtyshCmd: []string{"echo", "-N", "leaf-1"}}
	out, err := echo.RunVtysh(context.Background(), "show version")
	require.NoError(t, err)
	assert.Equal(t, "-N leaf-1 -c show version\n", out)

	r := run(func(t testing.TB) { out = echo.Vtysh(t, "show running-config") })
	assert.False(t, r.failed, r.msg)
	assert.Equal(t, "-N leaf-1 -c show running-config\n", out)

	failing := SwitchEnv{Name: "leaf-1", VtyshCmd: []string{"sh", "-c", "echo '% Unknown command'; exit 1", "vtysh"}}
	r = run(func(t testing.TB) { failing.Vtysh(t, "bogus") })
	assert.True(t, r.failed)
	assert.Contains(t, r.msg, "% Unknown command")

	_, err = SwitchEnv{Name: "x"}.RunVtysh(context.Background(), "show version")
	assert.ErrorContains(t, err, "no vtysh command")
}
