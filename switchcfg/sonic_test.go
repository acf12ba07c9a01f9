package switchcfg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/osism/go-osism/switchcfg"
	"github.com/osism/go-osism/switchcfg/internal/sshtest"
)

// The SONiC driver runs against sshtest's server replaying
// testdata/sonic/session.json, a SONiC 202305 session, with sonicFake
// keeping what a load changes.

const (
	sonicRecording = "testdata/sonic/session.json"
	sonicRendered  = "testdata/sonic/leaf-3.json"

	sonicShow = "show runningconfiguration all"
	sonicCat  = "cat > /tmp/osism-config_db.json"
	sonicLoad = "sudo config load -y /tmp/osism-config_db.json"
	sonicSave = "sudo config save -y"
)

// sonicFake is the state of a SONiC switch behind a recording: "cat > f"
// keeps its input as file f, "sudo config load -y f" merges file f into
// CONFIG_DB (field by field, as sonic-cfggen --write-to-db does), and
// "show runningconfiguration all" prints CONFIG_DB, the recorded one
// before any load. Every other command answers from the recording, and a
// recorded failure has no effect.
type sonicFake struct {
	rec *sshtest.Recording

	mu    sync.Mutex
	files map[string][]byte
	db    map[string]map[string]map[string]any
}

func newSONiCFake(t *testing.T, rec *sshtest.Recording) *sonicFake {
	t.Helper()
	f := &sonicFake{rec: rec, files: map[string][]byte{}}
	require.NoError(t, sonicDecode([]byte(rec.Commands[sonicShow].Stdout), &f.db))
	return f
}

func (f *sonicFake) handle(ctx context.Context, e sshtest.Exec) sshtest.Reply {
	reply := f.rec.Handle(ctx, e)
	if reply.Exit != 0 {
		return reply
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case strings.HasPrefix(e.Command, "cat > "):
		f.files[strings.TrimPrefix(e.Command, "cat > ")] = e.Stdin
	case strings.HasPrefix(e.Command, "sudo config load -y "):
		path := strings.TrimPrefix(e.Command, "sudo config load -y ")
		b, ok := f.files[path]
		if !ok {
			return sshtest.Reply{
				Stderr: "Usage: config load [OPTIONS] [FILENAME]\nTry \"config load -h\" for help.\n\n" +
					"Error: Invalid value for \"[FILENAME]\": Path \"" + path + "\" does not exist.\n",
				Exit: 2,
			}
		}
		var in map[string]map[string]map[string]any
		if err := sonicDecode(b, &in); err != nil {
			return sshtest.Reply{Stdout: reply.Stdout, Stderr: "json.decoder.JSONDecodeError: " + err.Error() + "\n", Exit: 1}
		}
		for table, keys := range in {
			if f.db[table] == nil {
				f.db[table] = map[string]map[string]any{}
			}
			for key, fields := range keys {
				if f.db[table][key] == nil {
					f.db[table][key] = map[string]any{}
				}
				for field, v := range fields {
					if n, ok := v.(json.Number); ok {
						v = n.String() // Redis holds strings
					}
					f.db[table][key][field] = v
				}
			}
		}
	case e.Command == sonicShow:
		out, err := sshtest.PythonJSON(f.db)
		if err != nil {
			return sshtest.Reply{Stderr: err.Error(), Exit: 1}
		}
		reply.Stdout = string(out)
	}
	return reply
}

func sonicDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// sonicServer starts the recorded switch.
func sonicServer(t *testing.T, cfg sshtest.Config) (*sshtest.Server, *sonicFake) {
	t.Helper()
	fake := newSONiCFake(t, sshtest.LoadRecording(t, sonicRecording))
	if cfg.Handler == nil {
		cfg.Handler = fake.handle
	}
	return sshtest.Start(t, cfg), fake
}

func sonicTarget(srv *sshtest.Server) switchcfg.Target {
	return switchcfg.Target{
		Switch:         "leaf-3",
		DeploymentType: "sonic",
		Host:           srv.Host,
		Port:           srv.Port,
		User:           srv.User,
		KeyFile:        srv.KeyFile,
		KnownHosts:     srv.KnownHosts,
		Timeout:        10 * time.Second,
	}
}

func sonicOpen(t *testing.T, target switchcfg.Target) switchcfg.Session {
	t.Helper()
	sess, err := switchcfg.SONiC{}.Open(t.Context(), target)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	return sess
}

func TestSONiCDeployFlow(t *testing.T) {
	srv, _ := sonicServer(t, sshtest.Config{})
	rendered, err := os.ReadFile(sonicRendered)
	require.NoError(t, err)
	ctx := t.Context()
	var dialect switchcfg.Dialect = switchcfg.SONiCDialect{}

	sess := sonicOpen(t, sonicTarget(srv))
	running, err := sess.RunningConfig(ctx)
	require.NoError(t, err)
	require.Contains(t, string(running), `"hostname": "sonic"`)

	report := dialect.Compare(rendered, running)
	require.False(t, report.OK())
	require.Equal(t, []string{
		"DEVICE_METADATA|localhost|bgp_asn=65103",
		"DEVICE_METADATA|localhost|hostname=leaf-3",
		"INTERFACE|Ethernet52",
		"INTERFACE|Ethernet52|10.1.0.2/31",
		"LOOPBACK_INTERFACE|Loopback0|10.10.0.3/32",
		"PORT|Ethernet0|description=node-1:enp65s0f0np0",
		"PORT|Ethernet1|description=node-2:enp65s0f0np0",
		"PORT|Ethernet48|description=spine-1:Ethernet0",
		"PORT|Ethernet52|admin_status=up",
		"PORT|Ethernet52|description=spine-2:Ethernet0",
		"VLAN_MEMBER|Vlan100|Ethernet1",
		"VLAN_MEMBER|Vlan200|Ethernet0",
		"VLAN_MEMBER|Vlan200|Ethernet1",
		"VLAN|Vlan200",
	}, report.Missing)
	require.Equal(t, []string{
		"DEVICE_METADATA|localhost|bgp_asn=65100",
		"DEVICE_METADATA|localhost|hostname=sonic",
		"PORT|Ethernet52|admin_status=down",
	}, report.Extra)
	require.Nil(t, dialect.Commands(rendered, running))

	sent, err := sess.Apply(ctx, rendered, running)
	require.NoError(t, err)
	require.Equal(t, []string{
		"upload /tmp/osism-config_db.json (" + strconv.Itoa(len(rendered)) + " bytes)",
		sonicLoad,
	}, sent)
	require.NoError(t, sess.Save(ctx))

	after, err := sess.RunningConfig(ctx)
	require.NoError(t, err)
	report = dialect.Compare(rendered, after)
	require.True(t, report.OK(), "%+v", report)
	require.Contains(t, string(after), `"FEATURE"`, "tables OSISM does not manage stay")

	require.NoError(t, sess.Close())
	require.NoError(t, sess.Close(), "closing twice")

	// What the switch saw: one exec per step, the rendered bytes uploaded
	// unchanged, no other input.
	execs := srv.Execs()
	require.Equal(t, []string{sonicShow, sonicCat, sonicLoad, sonicSave, sonicShow}, srv.Commands())
	require.Equal(t, rendered, execs[1].Stdin)
	for i, e := range execs {
		if i != 1 {
			require.Nil(t, e.Stdin, e.Command)
		}
	}
}

func TestSONiCPassword(t *testing.T) {
	const password = "YourPaSsWoRd"
	srv, _ := sonicServer(t, sshtest.Config{Password: password})
	target := sonicTarget(srv)
	target.KeyFile = ""
	target.Password = password
	_, err := sonicOpen(t, target).RunningConfig(t.Context())
	require.NoError(t, err)

	target.Password = "wrong-" + password
	_, err = switchcfg.SONiC{}.Open(t.Context(), target)
	require.ErrorContains(t, err, "switch leaf-3: ssh "+srv.Addr+": unable to authenticate with password (user admin)")
	require.NotContains(t, err.Error(), password)
}

func TestSONiCWrongKey(t *testing.T) {
	srv, _ := sonicServer(t, sshtest.Config{})
	target := sonicTarget(srv)
	_, target.KeyFile = sshtest.GenerateKey(t)
	_, err := switchcfg.SONiC{}.Open(t.Context(), target)
	require.EqualError(t, err, "switch leaf-3: ssh "+srv.Addr+": unable to authenticate with key "+target.KeyFile+" (user admin)")

	target = sonicTarget(srv)
	target.User = "root"
	_, err = switchcfg.SONiC{}.Open(t.Context(), target)
	require.ErrorContains(t, err, "unable to authenticate with key "+target.KeyFile+" (user root)")

	target.KeyFile = target.KnownHosts // not a key
	_, err = switchcfg.SONiC{}.Open(t.Context(), target)
	require.ErrorContains(t, err, "switch leaf-3: ssh key "+target.KeyFile+": ")
	require.Empty(t, srv.Execs())
}

func TestSONiCHostKey(t *testing.T) {
	srv, _ := sonicServer(t, sshtest.Config{})
	other, _ := sshtest.GenerateKey(t)

	t.Run("mismatch", func(t *testing.T) {
		target := sonicTarget(srv)
		target.KnownHosts = sshtest.WriteKnownHosts(t, srv.Addr, other.PublicKey())
		_, err := switchcfg.SONiC{}.Open(t.Context(), target)
		require.ErrorContains(t, err, "switch leaf-3: ssh "+srv.Addr+": host key ssh-ed25519 "+
			ssh.FingerprintSHA256(srv.HostKey)+" does not match the key in "+target.KnownHosts+":1")
	})
	t.Run("unknown", func(t *testing.T) {
		target := sonicTarget(srv)
		target.KnownHosts = sshtest.WriteKnownHosts(t, "192.0.2.1:22", srv.HostKey)
		_, err := switchcfg.SONiC{}.Open(t.Context(), target)
		require.ErrorContains(t, err, "switch leaf-3: ssh "+srv.Addr+": host key ssh-ed25519 "+
			ssh.FingerprintSHA256(srv.HostKey)+" is unknown: "+target.KnownHosts+" has no key of "+srv.Addr)
	})
	t.Run("no known_hosts", func(t *testing.T) {
		target := sonicTarget(srv)
		target.KnownHosts = ""
		_, err := switchcfg.SONiC{}.Open(t.Context(), target)
		require.ErrorContains(t, err, "switch leaf-3: no known_hosts file")
	})
	t.Run("known_hosts missing", func(t *testing.T) {
		target := sonicTarget(srv)
		target.KnownHosts = t.TempDir() + "/known_hosts"
		_, err := switchcfg.SONiC{}.Open(t.Context(), target)
		require.ErrorContains(t, err, "switch leaf-3: known_hosts: open "+target.KnownHosts)
	})
	t.Run("insecure", func(t *testing.T) {
		target := sonicTarget(srv)
		target.KnownHosts = ""
		target.InsecureIgnoreHostKey = true
		_, err := sonicOpen(t, target).RunningConfig(t.Context())
		require.NoError(t, err)
	})
	require.Equal(t, []string{sonicShow}, srv.Commands())
}

// A switch offering several host keys is asked for one known_hosts has,
// not the client's favourite (ECDSA before Ed25519).
func TestSONiCHostKeyAlgorithms(t *testing.T) {
	srv, _ := sonicServer(t, sshtest.Config{ECDSAHostKey: true})
	_, err := sonicOpen(t, sonicTarget(srv)).RunningConfig(t.Context())
	require.NoError(t, err)
}

func TestSONiCUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	_, keyFile := sshtest.GenerateKey(t)
	target := switchcfg.Target{Switch: "leaf-3", Host: "127.0.0.1", Port: addr.Port, User: "admin",
		KeyFile: keyFile, InsecureIgnoreHostKey: true}
	_, err = switchcfg.SONiC{}.Open(t.Context(), target)
	require.ErrorContains(t, err, "switch leaf-3: ssh "+addr.String()+": ")
	require.ErrorContains(t, err, "connection refused")
}

func TestSONiCApplyInvalid(t *testing.T) {
	srv, _ := sonicServer(t, sshtest.Config{})
	sess := sonicOpen(t, sonicTarget(srv))
	for rendered, want := range map[string]string{
		"":                              "empty, want a JSON object",
		"hostname leaf-3\n":             "invalid character 'h'",
		"[]":                            "an array, want a JSON object",
		"null":                          "null, want a JSON object",
		`{"PORT": {}} trailing`:         "invalid character 't' after top-level value",
		`{"PORT": ["Ethernet0"]}`:       "table PORT: an array, want a JSON object",
		`{"PORT": {"Ethernet0": "up"}}`: "PORT|Ethernet0: a string, want a JSON object",
	} {
		sent, err := sess.Apply(t.Context(), []byte(rendered), nil)
		require.ErrorContains(t, err, "switch leaf-3: rendered configuration: "+want, rendered)
		require.Nil(t, sent)
	}
	require.Empty(t, srv.Execs(), "nothing uploaded")
}

func TestSONiCCommandFails(t *testing.T) {
	rec := sshtest.LoadRecording(t, sonicRecording)
	fake := newSONiCFake(t, rec)
	rec.Commands[sonicLoad] = sshtest.Reply{
		Stdout: "Running command: /usr/local/bin/sonic-cfggen -j /tmp/osism-config_db.json --write-to-db\n",
		Stderr: `Traceback (most recent call last):
  File "/usr/local/lib/python3.9/dist-packages/redis/connection.py", line 559, in connect
    sock = self._connect()
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.
`,
		Exit: 1,
	}
	rec.Commands[sonicSave] = sshtest.Reply{Stderr: strings.Repeat("x", 3000) + "\nError: the end\n", Exit: 3}
	delete(rec.Commands, sonicShow)
	srv := sshtest.Start(t, sshtest.Config{Handler: fake.handle})
	sess := sonicOpen(t, sonicTarget(srv))
	rendered, err := os.ReadFile(sonicRendered)
	require.NoError(t, err)

	sent, err := sess.Apply(t.Context(), rendered, nil)
	// Both streams, in the order they arrived (which SSH does not fix).
	require.ErrorContains(t, err, "switch leaf-3: "+sonicLoad+": exit status 1: ")
	require.ErrorContains(t, err, "Running command: /usr/local/bin/sonic-cfggen -j /tmp/osism-config_db.json --write-to-db")
	require.ErrorContains(t, err, "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.")
	require.False(t, strings.HasSuffix(err.Error(), "\n"), "trimmed")
	require.Len(t, sent, 2)
	require.Equal(t, sonicLoad, sent[1])

	err = sess.Save(t.Context())
	require.ErrorContains(t, err, "switch leaf-3: sudo config save -y: exit status 3: …")
	require.True(t, strings.HasSuffix(err.Error(), "x\nError: the end"), "the end of the output is kept")
	require.Less(t, len(err.Error()), 2200, "bounded")

	// The recording has no "show runningconfiguration all" now: bash's
	// answer for a command it does not know.
	_, err = sess.RunningConfig(t.Context())
	require.EqualError(t, err, "switch leaf-3: show runningconfiguration all: exit status 127: bash: line 1: show: command not found")

	require.Equal(t, []string{sonicCat, sonicLoad, sonicSave, sonicShow}, srv.Commands())
}

func TestSONiCContext(t *testing.T) {
	started := make(chan struct{}, 1)
	ended := make(chan struct{}, 1)
	fake := newSONiCFake(t, sshtest.LoadRecording(t, sonicRecording))
	srv := sshtest.Start(t, sshtest.Config{Handler: func(ctx context.Context, e sshtest.Exec) sshtest.Reply {
		if e.Command != sonicSave {
			return fake.handle(ctx, e)
		}
		started <- struct{}{}
		<-ctx.Done() // a switch that does not answer
		ended <- struct{}{}
		return sshtest.Reply{}
	}})
	sess := sonicOpen(t, sonicTarget(srv))

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-started
			cancel()
		}()
		begin := time.Now()
		err := sess.Save(ctx)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "switch leaf-3: sudo config save -y: context canceled")
		require.Less(t, time.Since(begin), 5*time.Second)
		sonicWait(t, ended, "the channel was closed")
	})
	t.Run("timeout", func(t *testing.T) {
		target := sonicTarget(srv)
		target.Timeout = 200 * time.Millisecond
		short := sonicOpen(t, target)
		begin := time.Now()
		err := short.Save(t.Context())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "no answer within 200ms")
		require.Less(t, time.Since(begin), 5*time.Second)
		<-started
		sonicWait(t, ended, "the channel was closed")
	})
	t.Run("done before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := sess.RunningConfig(ctx)
		require.ErrorIs(t, err, context.Canceled)
	})

	// The session is still usable.
	_, err := sess.RunningConfig(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{sonicSave, sonicSave, sonicShow}, srv.Commands())
}

// A switch that accepts the connection but never speaks SSH: Open returns
// when ctx ends, or when the target's timeout passes.
func TestSONiCOpenHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	_, keyFile := sshtest.GenerateKey(t)
	target := switchcfg.Target{Switch: "leaf-3", Host: "127.0.0.1", Port: addr.Port, User: "admin",
		KeyFile: keyFile, InsecureIgnoreHostKey: true, Timeout: 10 * time.Second}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err = switchcfg.SONiC{}.Open(ctx, target)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "switch leaf-3: ssh "+addr.String()+": ")
	require.Less(t, time.Since(begin), 5*time.Second)

	target.Timeout = 200 * time.Millisecond
	_, err = switchcfg.SONiC{}.Open(t.Context(), target)
	require.ErrorContains(t, err, "no SSH session within 200ms")
}

func sonicWait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("not seen: " + what)
	}
}

func TestSONiCDialectCompare(t *testing.T) {
	var d switchcfg.SONiCDialect
	for _, tc := range []struct {
		name              string
		rendered, running string
		missing, extra    []string
	}{{
		name:     "same",
		rendered: `{"PORT": {"Ethernet0": {"mtu": "9100"}}}`,
		running:  `{"PORT": {"Ethernet0": {"mtu": "9100"}}, "FEATURE": {"bgp": {"state": "enabled"}}}`,
	}, {
		name:     "tables not rendered are not compared",
		rendered: `{"PORT": {}}`,
		running:  `{"CRM": {"Config": {"polling_interval": "300"}}, "ODD": [1, 2], "PORT": {}}`,
	}, {
		name:     "keys",
		rendered: `{"VLAN": {"Vlan100": {"vlanid": "100"}, "Vlan200": {"vlanid": "200"}}}`,
		running:  `{"VLAN": {"Vlan100": {"vlanid": "100"}, "Vlan1000": {"vlanid": "1000"}}}`,
		missing:  []string{"VLAN|Vlan200"},
		extra:    []string{"VLAN|Vlan1000"},
	}, {
		name:     "table missing on the switch",
		rendered: `{"LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.10.0.3/32": {}}}`,
		running:  `{}`,
		missing:  []string{"LOOPBACK_INTERFACE|Loopback0", "LOOPBACK_INTERFACE|Loopback0|10.10.0.3/32"},
	}, {
		name:     "table rendered empty",
		rendered: `{"VLAN_MEMBER": {}}`,
		running:  `{"VLAN_MEMBER": {"Vlan1000|Ethernet4": {"tagging_mode": "untagged"}}}`,
		extra:    []string{"VLAN_MEMBER|Vlan1000|Ethernet4"},
	}, {
		name:     "fields",
		rendered: `{"PORT": {"Ethernet0": {"admin_status": "up", "description": "node-1", "mtu": "9100"}}}`,
		running:  `{"PORT": {"Ethernet0": {"admin_status": "down", "fec": "rs", "mtu": "9100"}}}`,
		missing:  []string{"PORT|Ethernet0|admin_status=up", "PORT|Ethernet0|description=node-1"},
		extra:    []string{"PORT|Ethernet0|admin_status=down", "PORT|Ethernet0|fec=rs"},
	}, {
		name:     "values as CONFIG_DB stores them",
		rendered: `{"PORT": {"Ethernet0": {"mtu": 9100, "index": 1.5, "x": true, "ports": ["Ethernet0", "Ethernet4"]}}}`,
		running:  `{"PORT": {"Ethernet0": {"mtu": "9100", "index": "1.5", "x": "True", "ports": ["Ethernet4", "Ethernet0"]}}}`,
		missing:  []string{`PORT|Ethernet0|ports=["Ethernet0","Ethernet4"]`, "PORT|Ethernet0|x=true"},
		extra:    []string{`PORT|Ethernet0|ports=["Ethernet4","Ethernet0"]`, "PORT|Ethernet0|x=True"},
	}, {
		name:     "invalid rendered",
		rendered: `PORT Ethernet0 mtu 9100`,
		running:  `{}`,
		missing:  []string{"rendered configuration is not config_db JSON: invalid character 'P' looking for beginning of value"},
	}, {
		name:     "invalid running",
		rendered: `{"PORT": {}}`,
		running:  `{"PORT": {"Ethernet0": []}}`,
		missing:  []string{"running configuration is not config_db JSON: PORT|Ethernet0: an array, want a JSON object"},
	}, {
		name:     "running not an object",
		rendered: `{}`,
		running:  "",
		missing:  []string{"running configuration is not config_db JSON: empty, want a JSON object"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.Compare([]byte(tc.rendered), []byte(tc.running))
			require.Equal(t, tc.missing, r.Missing, "missing")
			require.Equal(t, tc.extra, r.Extra, "extra")
			require.Equal(t, len(tc.missing) == 0 && len(tc.extra) == 0, r.OK())
			require.Nil(t, d.Commands([]byte(tc.rendered), []byte(tc.running)))
		})
	}
}

// The recording is what the fake serves: printed as sonic-cfggen prints.
func TestSONiCRecording(t *testing.T) {
	rec := sshtest.LoadRecording(t, sonicRecording)
	show := rec.Commands[sonicShow].Stdout
	require.True(t, strings.HasPrefix(show, "{\n    \"DEVICE_METADATA\": {\n        \"localhost\": {\n            \"bgp_asn\": \"65100\",\n"), show[:80])
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(show), &v))
	for _, table := range []string{"DEVICE_METADATA", "PORT", "VLAN", "VLAN_MEMBER", "INTERFACE", "LOOPBACK_INTERFACE"} {
		require.Contains(t, v, table)
	}
}
