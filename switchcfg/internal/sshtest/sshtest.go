// Package sshtest is an SSH server for tests of switch drivers that run
// commands (SONiC's): it listens
// on 127.0.0.1, accepts one user by a generated key (and optionally a
// password), answers "exec" requests with a Handler and records every
// command with its standard input.
//
// A Recording is the usual Handler: the replies of a real session, by
// command, loaded from a JSON file:
//
//	{
//	  "commands": {
//	    "sudo config save -y": {"stdout": "Running command: ...\n"},
//	    "show runningconfiguration all": {"stdout_json": {"PORT": {...}}},
//	    "false": {"exit": 1}
//	  }
//	}
//
// stdout_json is printed the way Python's json.dumps(indent=4,
// sort_keys=True) prints it, as SONiC's sonic-cfggen does.
//
//	rec := sshtest.LoadRecording(t, "testdata/sonic/session.json")
//	srv := sshtest.Start(t, sshtest.Config{Handler: rec.Handle})
//	// srv.Addr, srv.User, srv.KeyFile and srv.KnownHosts for the client
//	...
//	srv.Execs() // [{Command: "show runningconfiguration all"}, ...]
//
// The FRR switches, whose shell is vtysh, are simulated by
// switchcfg/switchsim, whose keys this package uses too.
package sshtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/osism/go-osism/internal/sshserve"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/osism/go-osism/switchcfg/switchsim"
)

// Exec is one command a client ran.
type Exec struct {
	Command string
	// Stdin is all the client sent before closing its side (nil when it
	// sent nothing).
	Stdin []byte
}

// Reply is how a command answers.
type Reply struct {
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Exit   int    `json:"exit,omitempty"`
}

// Handler answers an exec request. ctx ends when the client closes the
// channel (or the connection, or the server stops); a handler that waits
// must return then.
type Handler func(ctx context.Context, e Exec) Reply

// Config configures a Server. The zero value accepts user "admin" with the
// generated key and answers every command with exit status 127.
type Config struct {
	// User is the one user accepted; default "admin".
	User string
	// Password is accepted as well when not empty.
	Password string
	// ECDSAHostKey makes the server offer an ECDSA P-256 host key besides
	// its Ed25519 one; KnownHosts lists only the Ed25519 key. A client
	// that asks for its default algorithms gets the ECDSA key first.
	ECDSAHostKey bool
	// Handler answers exec requests; default NotFound.
	Handler Handler
}

// Server is a running test SSH server; Start stops it when the test ends.
type Server struct {
	// Addr is the listening address, 127.0.0.1:port.
	Addr string
	Host string
	Port int
	// User is the user the server accepts.
	User string
	// KeyFile is the client's private key (OpenSSH format, no passphrase).
	KeyFile string
	// KnownHosts is a known_hosts file with the server's Ed25519 host key
	// for Addr.
	KnownHosts string
	// HostKey is the server's Ed25519 host key.
	HostKey ssh.PublicKey

	handler Handler
	srv     *sshserve.Server

	mu    sync.Mutex
	execs []Exec
}

// Start starts a server on 127.0.0.1:0 with a fresh Ed25519 host key and a
// fresh client key, both files in t.TempDir().
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.User == "" {
		cfg.User = "admin"
	}
	if cfg.Handler == nil {
		cfg.Handler = NotFound
	}
	hostSigner, _ := GenerateKey(t)
	clientSigner, keyFile := GenerateKey(t)

	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == cfg.User && bytes.Equal(key.Marshal(), clientSigner.PublicKey().Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s not accepted for %q", ssh.FingerprintSHA256(key), c.User())
		},
	}
	if cfg.Password != "" {
		sc.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == cfg.User && string(pw) == cfg.Password {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	sc.AddHostKey(hostSigner)
	if cfg.ECDSAHostKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		sc.AddHostKey(s)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	s := &Server{
		Addr:    ln.Addr().String(),
		Host:    tcp.IP.String(),
		Port:    tcp.Port,
		User:    cfg.User,
		KeyFile: keyFile,
		HostKey: hostSigner.PublicKey(),
		handler: cfg.Handler,
	}
	s.KnownHosts = WriteKnownHosts(t, s.Addr, s.HostKey)

	s.srv = sshserve.Serve(ln, sc, s.session)
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// Execs returns the commands run so far, in the order they arrived.
func (s *Server) Execs() []Exec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.execs)
}

// Commands returns the command lines of Execs.
func (s *Server) Commands() []string {
	var cmds []string
	for _, e := range s.Execs() {
		cmds = append(cmds, e.Command)
	}
	return cmds
}

// session serves one channel: it waits for an exec request, refusing
// others, then reads the command's standard input, asks the handler and
// sends the reply and the exit status.
func (s *Server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var cmd string
	for req := range reqs {
		if req.Type != "exec" {
			// env, pty-req, shell, subsystem: not a recorded session's.
			req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			continue
		}
		req.Reply(true, nil)
		cmd = p.Command
		break
	}
	if cmd == "" {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The requests end when the client closes the channel.
		for req := range reqs {
			req.Reply(false, nil)
		}
		cancel()
	}()

	stdin, err := io.ReadAll(ch)
	if err != nil {
		return
	}
	if len(stdin) == 0 {
		stdin = nil
	}
	e := Exec{Command: cmd, Stdin: stdin}
	s.mu.Lock()
	s.execs = append(s.execs, e)
	s.mu.Unlock()

	r := s.handler(ctx, e)
	if ctx.Err() != nil {
		return
	}
	io.WriteString(ch, r.Stdout)
	io.WriteString(ch.Stderr(), r.Stderr)
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(r.Exit)}))
}

// NotFound answers as bash does for a command it cannot find: exit status
// 127.
func NotFound(_ context.Context, e Exec) Reply {
	name, _, _ := strings.Cut(strings.TrimSpace(e.Command), " ")
	return Reply{Stderr: fmt.Sprintf("bash: line 1: %s: command not found\n", name), Exit: 127}
}

// Recording is the replies of a recorded session by command line.
type Recording struct {
	Commands map[string]Reply
}

// recordedReply is a Reply as the file has it.
type recordedReply struct {
	Reply
	StdoutJSON json.RawMessage `json:"stdout_json,omitempty"`
}

// LoadRecording reads a recording (see the package documentation).
func LoadRecording(t testing.TB, path string) *Recording {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Commands map[string]recordedReply `json:"commands"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("recording %s: %v", path, err)
	}
	rec := &Recording{Commands: make(map[string]Reply, len(file.Commands))}
	for cmd, r := range file.Commands {
		if r.StdoutJSON != nil {
			if r.Stdout != "" {
				t.Fatalf("recording %s: %q has both stdout and stdout_json", path, cmd)
			}
			var v any
			if err := json.Unmarshal(r.StdoutJSON, &v); err != nil {
				t.Fatalf("recording %s: %q: %v", path, cmd, err)
			}
			out, err := PythonJSON(v)
			if err != nil {
				t.Fatalf("recording %s: %q: %v", path, cmd, err)
			}
			r.Stdout = string(out)
		}
		rec.Commands[cmd] = r.Reply
	}
	return rec
}

// Handle answers with the recorded reply of e.Command, NotFound for a
// command the recording does not have.
func (r *Recording) Handle(ctx context.Context, e Exec) Reply {
	if reply, ok := r.Commands[e.Command]; ok {
		return reply
	}
	return NotFound(ctx, e)
}

// PythonJSON prints v as Python's json.dumps(v, indent=4, sort_keys=True)
// does (for the ASCII text of a switch configuration), with a final
// newline as print adds.
func PythonJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GenerateKey makes an Ed25519 key as the simulated switches do
// (switchsim.NewKey) and writes its private half, in OpenSSH format
// without passphrase, to a file in t.TempDir().
func GenerateKey(t testing.TB) (ssh.Signer, string) {
	t.Helper()
	signer, pemBytes, err := switchsim.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "id_ed25519-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(pemBytes); err != nil {
		t.Fatal(err)
	}
	return signer, f.Name()
}

// WriteKnownHosts writes a known_hosts file in t.TempDir() with one line
// per key for addr (host:port).
func WriteKnownHosts(t testing.TB, addr string, keys ...ssh.PublicKey) string {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k))
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
