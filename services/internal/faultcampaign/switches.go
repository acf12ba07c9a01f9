package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/switchcfg"
)

// leavesFromEnv reads the FRR leaves that `scripts/services env` describes
// (the variables internal/testenv reads) and checks that each sshd sends
// its banner.
func leavesFromEnv() ([]testenv.SwitchEnv, error) {
	names := testenv.SwitchNames()
	if len(names) == 0 {
		return nil, fmt.Errorf("%s is not set: start the services with `%s` and load their settings with `%s`",
			testenv.EnvSwitches, testenv.StartCommand, testenv.EnvCommand)
	}
	need := func(name string) (string, error) {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			return "", fmt.Errorf("%s is not set (load the settings with `%s`)", name, testenv.EnvCommand)
		}
		return v, nil
	}
	var out []testenv.SwitchEnv
	for _, n := range names {
		p := testenv.SwitchEnvPrefix(n)
		sw := testenv.SwitchEnv{Name: n, Netns: os.Getenv(p + "NETNS")}
		var errs []error
		for _, f := range []struct {
			dst  *string
			name string
		}{{&sw.Addr, p + "SSH"}, {&sw.User, p + "USER"}, {&sw.KeyFile, testenv.EnvSwitchKey}, {&sw.KnownHosts, testenv.EnvSwitchKnownHosts}} {
			v, err := need(f.name)
			errs = append(errs, err)
			*f.dst = v
		}
		vtysh, err := need(p + "VTYSH")
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		sw.VtyshCmd = strings.Fields(vtysh)
		host, port, err := net.SplitHostPort(sw.Addr)
		if err != nil {
			return nil, fmt.Errorf("%sSSH=%q: expected host:port", p, sw.Addr)
		}
		sw.Host = host
		if sw.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("%sSSH=%q: expected host:port", p, sw.Addr)
		}
		if err := probeSSH(sw.Addr); err != nil {
			return nil, fmt.Errorf("switch %s: sshd at %s: %w", n, sw.Addr, err)
		}
		out = append(out, sw)
	}
	return out, nil
}

func probeSSH(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 512)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no SSH banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("not an SSH server (said %q)", strings.TrimSpace(line))
	}
	return nil
}

// lockLeaves takes the lock the tests take on the FRR leaves
// (testenv.LockSwitches), so that the campaign and test runs take turns.
func lockLeaves() (release func(), err error) {
	path := filepath.Join(os.TempDir(), "osism-test-switches.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("switch lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("switch lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// resetLeaves brings every leaf back to its base configuration with its
// local vtysh, as the tests do.
func resetLeaves(ctx context.Context, leaves []testenv.SwitchEnv) error {
	for _, sw := range leaves {
		running, err := sw.RunVtysh(ctx, "show running-config")
		if err != nil {
			return err
		}
		cmds := switchcfg.NewFRR().Commands([]byte("frr defaults traditional\n"), []byte(running))
		if len(cmds) > 0 {
			if _, err := sw.RunVtysh(ctx, append([]string{"configure terminal"}, append(cmds, "end")...)...); err != nil {
				return fmt.Errorf("reset %s: %w", sw.Name, err)
			}
		}
	}
	return nil
}

// sshProxy relays TCP connections to one leaf's sshd. Armed, it drops
// every relayed connection: those open at once, new ones a random 50-300
// ms after they open, so that sessions die in the middle of their work.
type sshProxy struct {
	name, target string
	ln           net.Listener

	mu     sync.Mutex
	conns  map[*relayed]struct{}
	armed  bool
	rng    *rand.Rand
	opened atomic.Int64
	// dropLo and dropHi bound the bytes after which an armed proxy drops
	// a new connection; 0: 50-300 ms after it opens instead.
	dropLo, dropHi int64
	dropped        []int64      // bytes each dropped connection had carried
	closed         []closedConn // connections that ended by themselves
	wg             sync.WaitGroup
}

// closedConn is a relayed connection that ended without a drop.
type closedConn struct {
	opened time.Time
	bytes  int64
}

type relayed struct {
	client, server net.Conn
	opened         time.Time
	bytes          atomic.Int64
	dropAt         int64 // drop once this many bytes went through; 0: never
	once           sync.Once
}

func (r *relayed) close() {
	r.once.Do(func() { r.client.Close(); r.server.Close() })
}

func newSSHProxy(name, target string, seed uint64) (*sshProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &sshProxy{name: name, target: target, ln: ln, conns: map[*relayed]struct{}{}, rng: rand.New(rand.NewPCG(seed, 7))}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is where the worker connects instead of the leaf.
func (p *sshProxy) Addr() *net.TCPAddr { return p.ln.Addr().(*net.TCPAddr) }

func (p *sshProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.opened.Add(1)
		r := &relayed{client: c, server: s, opened: time.Now()}
		p.mu.Lock()
		p.conns[r] = struct{}{}
		if p.armed {
			if p.dropHi > 0 {
				r.dropAt = p.dropLo + p.rng.Int64N(max(1, p.dropHi-p.dropLo))
			} else {
				p.dropLater(r)
			}
		}
		p.mu.Unlock()
		p.wg.Add(2)
		relay := func(dst, src net.Conn) {
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			dropped := false
			for {
				n, err := src.Read(buf)
				if n > 0 {
					total := r.bytes.Add(int64(n))
					if r.dropAt > 0 && total >= r.dropAt {
						p.mu.Lock()
						if _, open := p.conns[r]; open && p.armed {
							p.dropped = append(p.dropped, total)
							dropped = true
						}
						p.mu.Unlock()
						if dropped {
							break
						}
					}
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			r.close()
			p.mu.Lock()
			if _, open := p.conns[r]; open {
				delete(p.conns, r)
				if !dropped && !p.armed {
					p.closed = append(p.closed, closedConn{opened: r.opened, bytes: r.bytes.Load()})
				}
			}
			p.mu.Unlock()
		}
		go relay(s, c)
		go relay(c, s)
	}
}

// dropLater closes r after a random 50-300 ms; p.mu is held.
func (p *sshProxy) dropLater(r *relayed) {
	d := 50*time.Millisecond + time.Duration(p.rng.Int64N(int64(250*time.Millisecond)))
	time.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, open := p.conns[r]; open && p.armed {
			p.dropped = append(p.dropped, r.bytes.Load())
			r.close()
		}
	})
}

// Arm starts dropping: every open connection now, every new one soon
// after it opens. Disarm stops it.
func (p *sshProxy) Arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
	for r := range p.conns {
		p.dropped = append(p.dropped, r.bytes.Load())
		r.close()
	}
}

func (p *sshProxy) Disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
}

// SetDropBytes makes an armed proxy drop each new connection once it has
// carried a random number of bytes in [lo, hi); hi 0 drops by time.
func (p *sshProxy) SetDropBytes(lo, hi int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLo, p.dropHi = lo, hi
}

// Closed returns the connections that ended by themselves since the last
// call, and forgets them.
func (p *sshProxy) Closed() []closedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.closed
	p.closed = nil
	return c
}

// Dropped returns the bytes carried by each connection dropped since the
// last call, and forgets them.
func (p *sshProxy) Dropped() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dropped
	p.dropped = nil
	return d
}

func (p *sshProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for r := range p.conns {
		r.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// writeKnownHosts writes a known_hosts file that gives each proxy address
// the host key of the leaf behind it, from the leaves' known_hosts.
func writeKnownHosts(path string, leaves []testenv.SwitchEnv, proxies map[string]*sshProxy) error {
	var b strings.Builder
	for _, sw := range leaves {
		data, err := os.ReadFile(sw.KnownHosts)
		if err != nil {
			return err
		}
		want := fmt.Sprintf("[%s]:%d", sw.Host, sw.Port)
		found := false
		for line := range strings.SplitSeq(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || !hostMatches(fields[0], want) {
				continue
			}
			fmt.Fprintf(&b, "[127.0.0.1]:%d %s\n", proxies[sw.Name].Addr().Port, strings.Join(fields[1:], " "))
			found = true
		}
		if !found {
			return fmt.Errorf("%s: no host key for %s", sw.KnownHosts, want)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func hostMatches(field, want string) bool {
	for h := range strings.SplitSeq(field, ",") {
		if h == want {
			return true
		}
	}
	return false
}
