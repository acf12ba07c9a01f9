package switchsim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/osism/go-osism/internal/sshserve"
)

// Options configure a simulated leaf.
type Options struct {
	// Hostname is the switch's name, shown in its prompt (leaf-1#); required.
	Hostname string
	// Dir receives the files a client needs: known_hosts (the server's host
	// key for its address) and id_ed25519 (a generated client key the
	// server accepts); required.
	Dir string
	// User is the one user accepted; default "admin".
	User string
	// Password is accepted for User as well when not empty.
	Password string
	// AuthorizedKeys are accepted for User besides the generated key.
	AuthorizedKeys []ssh.PublicKey
	// Running is the running configuration at start; default "frr defaults
	// traditional" and the hostname.
	Running []byte
	// Addr is where to listen; default 127.0.0.1 on a random port.
	Addr string
}

// Server is a simulated FRR switch: an SSH server whose shell is vtysh.
type Server struct {
	// Addr is the listening address (host:port), Host and Port its parts.
	Addr string
	Host string
	Port int
	// Hostname is the switch's name.
	Hostname string
	// User is the user the server accepts.
	User string
	// KeyFile is the private key (OpenSSH format, no passphrase, mode 0600)
	// the server accepts for User.
	KeyFile string
	// KnownHosts is a known_hosts file with the server's host key for Addr.
	KnownHosts string
	// HostKey is the server's Ed25519 host key.
	HostKey ssh.PublicKey

	srv *sshserve.Server

	mu       sync.Mutex
	running  *Config
	startup  []byte
	commands []string
}

// Start starts a simulated leaf.
func Start(opts Options) (*Server, error) {
	if !validHostname.MatchString(opts.Hostname) {
		return nil, fmt.Errorf("switchsim: hostname %q: expected letters, digits, '.', '-' and '_'", opts.Hostname)
	}
	if opts.Dir == "" {
		return nil, errors.New("switchsim: no directory for the client's files (Options.Dir)")
	}
	if st, err := os.Stat(opts.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("switchsim: directory %q: expected an existing directory", opts.Dir)
	}
	if opts.User == "" {
		opts.User = "admin"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	running := opts.Running
	if running == nil {
		running = []byte("frr defaults traditional\nhostname " + opts.Hostname + "\n")
	}

	hostSigner, _, err := NewKey()
	if err != nil {
		return nil, err
	}
	clientSigner, clientPEM, err := NewKey()
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(opts.Dir, opts.Hostname+"_id_ed25519")
	if err := os.WriteFile(keyFile, clientPEM, 0o600); err != nil {
		return nil, fmt.Errorf("switchsim: %w", err)
	}
	accepted := append([]ssh.PublicKey{clientSigner.PublicKey()}, opts.AuthorizedKeys...)
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == opts.User && slices.ContainsFunc(accepted, func(k ssh.PublicKey) bool {
				return bytes.Equal(k.Marshal(), key.Marshal())
			}) {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s not accepted for %q", ssh.FingerprintSHA256(key), c.User())
		},
	}
	if opts.Password != "" {
		sc.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == opts.User && subtle.ConstantTimeCompare(pw, []byte(opts.Password)) == 1 {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("wrong user or password")
		}
	}
	sc.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("switchsim: %w", err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	s := &Server{
		Addr: ln.Addr().String(), Host: tcp.IP.String(), Port: tcp.Port,
		Hostname: opts.Hostname, User: opts.User, KeyFile: keyFile, HostKey: hostSigner.PublicKey(),
		running: ParseConfig(running),
	}
	s.startup = s.running.Show()
	s.KnownHosts = filepath.Join(opts.Dir, opts.Hostname+"_known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey) + "\n"
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("switchsim: %w", err)
	}
	s.srv = sshserve.Serve(ln, sc, func(_ context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) { s.session(ch, reqs) })
	return s, nil
}

var validHostname = regexp.MustCompile(`^[\w.\-]+$`)

// NewKey makes an Ed25519 key: its signer and its private half in
// OpenSSH format without passphrase.
func NewKey() (ssh.Signer, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}

// Running returns the running configuration as "show running-config"
// prints it.
func (s *Server) Running() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running.Show()
}

// Startup returns the configuration "write memory" saved last (the
// running configuration at start before any).
func (s *Server) Startup() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.startup)
}

// Commands returns the configuration commands applied so far, in order,
// from every session (refused ones are not in it).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Close stops the server and ends its sessions.
func (s *Server) Close() error { return s.srv.Close() }

// session serves a channel: a shell is an interactive vtysh; an exec
// request runs its command in vtysh's exec mode (as "vtysh -c" does).
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	pty := false
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			pty = true
			req.Reply(true, nil)
		case "env", "window-change":
			req.Reply(true, nil)
		case "shell":
			req.Reply(true, nil)
			go discard(reqs)
			v := &vtysh{s: s, out: ch, nl: "\n"}
			if pty {
				v.nl = "\r\n"
			}
			v.shell(ch)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			return
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			go discard(reqs)
			v := &vtysh{s: s, out: ch, nl: "\n"}
			status := uint32(0)
			for _, line := range strings.Split(strings.TrimSpace(p.Command), "\n") {
				if !v.line(line) || v.failed {
					break
				}
			}
			if v.failed {
				status = 1
			}
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			req.Reply(false, nil)
		}
	}
}

func discard(reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.WantReply {
			req.Reply(req.Type == "window-change", nil)
		}
	}
}

// vtysh is one session's command interpreter.
type vtysh struct {
	s      *Server
	out    io.Writer
	nl     string
	config bool
	cfg    *Config // the session's view of the running configuration's blocks
	failed bool    // the last command was refused
}

func (v *vtysh) write(text string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if v.nl != "\n" {
		text = strings.ReplaceAll(text, "\n", v.nl)
	}
	io.WriteString(v.out, text)
}

func (v *vtysh) prompt() {
	if v.config {
		v.s.mu.Lock()
		mode := v.s.running.modeOf(v.cfg)
		v.s.mu.Unlock()
		v.write(v.s.Hostname + "(" + mode + ")# ")
		return
	}
	v.write(v.s.Hostname + "# ")
}

// shell reads lines from in, echoing what it reads as a terminal does,
// until exit at the exec level or the end of the input.
func (v *vtysh) shell(in io.Reader) {
	v.write("\nHello, this is FRRouting (version 8.4, simulated by osism).\n\n")
	v.prompt()
	buf := make([]byte, 1024)
	var line []byte
	lastCR := false
	for {
		n, err := in.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case b == '\n' && lastCR:
				lastCR = false
				continue
			case b == '\r' || b == '\n':
				lastCR = b == '\r'
				v.write("\n")
				if !v.line(string(line)) {
					return
				}
				line = line[:0]
				v.prompt()
				continue
			case b == 0x7f || b == 0x08:
				if len(line) > 0 {
					line = line[:len(line)-1]
					v.write("\b \b")
				}
			case b == 0x04 && len(line) == 0: // ^D
				return
			case b == 0x03: // ^C
				line = line[:0]
				v.write("\n")
				v.prompt()
			case b >= 0x20 || b == '\t':
				line = append(line, b)
				v.out.Write([]byte{b})
			}
			lastCR = false
		}
		if err != nil {
			return
		}
	}
}

// line runs one command line; false ends the session.
func (v *vtysh) line(line string) bool {
	cmd := strings.Join(strings.Fields(line), " ")
	v.failed = false
	if cmd == "" || strings.HasPrefix(cmd, "!") {
		return true
	}
	if v.config {
		return v.configLine(cmd)
	}
	return v.exec(cmd)
}

func (v *vtysh) refuse(text string) {
	v.failed = true
	v.write(text + "\n")
}

func (v *vtysh) exec(cmd string) bool {
	switch {
	case cmd == "exit" || cmd == "quit" || cmd == "logout":
		return false
	case cmd == "enable" || cmd == "disable" || cmd == "end" || strings.HasPrefix(cmd, "terminal "):
	case cmd == "configure" || cmd == "configure terminal" || cmd == "conf t":
		v.config = true
		v.cfg = &Config{}
	case cmd == "show running-config" || cmd == "show run" || cmd == "write terminal":
		v.write(string(v.s.Running()))
	case cmd == "show startup-config":
		v.write(string(v.s.Startup()))
	case cmd == "show version":
		v.write("FRRouting 8.4 (" + v.s.Hostname + "), simulated by osism.\n")
	case cmd == "write" || cmd == "write memory" || cmd == "write file" ||
		cmd == "copy running-config startup-config":
		v.s.mu.Lock()
		v.s.startup = v.s.running.Show()
		v.s.mu.Unlock()
		v.write("Note: this version of vtysh never writes vtysh.conf\nBuilding Configuration...\nIntegrated configuration saved to /etc/frr/frr.conf\n[OK]\n")
	default:
		v.refuse("% Unknown command: " + cmd)
	}
	return true
}

// configWords are the first words of the configuration commands the
// simulated vtysh knows (after an optional "no"); others are unknown
// commands, as FRR prints them.
var configWords = map[string]bool{
	"frr": true, "hostname": true, "log": true, "service": true, "ip": true, "ipv6": true,
	"interface": true, "router": true, "vrf": true, "route-map": true, "line": true,
	"description": true, "shutdown": true, "neighbor": true, "bgp": true, "address-family": true,
	"redistribute": true, "network": true, "set": true, "match": true, "vni": true, "mtu": true,
	"link-detect": true, "password": true, "enable": true, "agentx": true, "debug": true,
	"exec-timeout": true, "maximum-paths": true, "timers": true, "advertise-all-vni": true,
	"advertise": true, "access-list": true, "bfd": true, "evpn": true, "rd": true, "route-target": true,
	"aggregate-address": true, "distance": true, "table": true, "multicast": true, "evpn-mh": true,
}

func (v *vtysh) configLine(cmd string) bool {
	switch {
	case cmd == "end":
		v.config = false
		return true
	case cmd == "exit" && v.cfg.Depth() == 0:
		v.config = false
		return true
	case strings.HasPrefix(cmd, "do "):
		return v.exec(strings.TrimPrefix(cmd, "do "))
	}
	word := firstWord(strings.TrimPrefix(cmd, "no "))
	if !configWords[word] && !terminator(cmd) {
		v.refuse("% Unknown command: " + cmd)
		return true
	}
	v.s.mu.Lock()
	err := v.s.running.applyAt(v.cfg, cmd)
	if err == nil {
		v.s.commands = append(v.s.commands, cmd)
	}
	v.s.mu.Unlock()
	if err != nil {
		v.refuse(err.Error())
	}
	return true
}

// applyAt applies cmd to c inside the blocks pos is in: pos keeps a
// session's place (its stack of block headers) while c is shared.
func (c *Config) applyAt(pos *Config, cmd string) error {
	// Re-enter pos's blocks in c by their headers.
	c.stack = c.stack[:0]
	cur := &c.root
	for _, h := range pos.stack {
		n := cur.child(h.line)
		if n == nil {
			n = cur.add(h.line)
			n.block = true
		}
		c.stack = append(c.stack, n)
		cur = n
	}
	err := c.Apply(cmd)
	pos.stack = pos.stack[:0]
	for _, n := range c.stack {
		pos.stack = append(pos.stack, &node{line: n.line})
	}
	c.stack = nil
	return err
}

// modeOf is Mode at pos's place.
func (c *Config) modeOf(pos *Config) string { return pos.Mode() }

// Type logs into the switch as a person does with ssh (its generated key,
// a terminal), types lines into vtysh and then "end" and "exit", and
// returns what
// the terminal showed, with "\n" line ends.
func (s *Server) Type(ctx context.Context, lines ...string) (string, error) {
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return "", fmt.Errorf("switchsim: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("switchsim: key %s: %w", s.KeyFile, err)
	}
	hosts, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		return "", fmt.Errorf("switchsim: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return "", fmt.Errorf("switchsim: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hosts,
	})
	if err != nil {
		conn.Close()
		return "", fmt.Errorf("switchsim: %s: %w", s.Hostname, err)
	}
	c := ssh.NewClient(sc, chans, reqs)
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	if err := sess.RequestPty("xterm", 40, 120, ssh.TerminalModes{}); err != nil {
		return "", err
	}
	var out bytes.Buffer
	sess.Stdout = &out
	in, err := sess.StdinPipe()
	if err != nil {
		return "", err
	}
	if err := sess.Shell(); err != nil {
		return "", err
	}
	for _, l := range append(slices.Clone(lines), "end", "exit") {
		if _, err := io.WriteString(in, l+"\r"); err != nil {
			return "", err
		}
	}
	if err := sess.Wait(); err != nil {
		return "", fmt.Errorf("switchsim: %s: %w", s.Hostname, err)
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), nil
}
