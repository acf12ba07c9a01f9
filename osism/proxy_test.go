package osism_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// natsProxy sits between a client and the broker and forwards the NATS
// protocol frame by frame, so that a test can lose chosen messages (a
// publish acknowledgement, a worker's ack) or cut the client off the
// broker while both stay up.
type natsProxy struct {
	ln     net.Listener
	target string
	// dropPubAcks is how many acknowledgements of task publishes
	// (OSISM_TASKS) to lose on their way to the client.
	dropPubAcks atomic.Int64
	// dropAcks is how many acks of task messages (+ACK on
	// $JS.ACK.OSISM_TASKS.>) to lose on their way to the broker.
	dropAcks atomic.Int64
	// dropProgress loses every in-progress ack (+WPI) of task messages:
	// the worker's heartbeats.
	dropProgress atomic.Bool
	// dropped counts the messages lost.
	dropped atomic.Int64
	// frozen loses every frame both ways while the connections stay up:
	// a silent partition (the client's pings go unanswered only after
	// minutes).
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newNATSProxy(t *testing.T, target string) *natsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &natsProxy{ln: ln, target: strings.TrimPrefix(target, "nats://")}
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	go p.accept()
	return p
}

// URL is where clients connect.
func (p *natsProxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Cut closes every connection and refuses new ones until Heal.
func (p *natsProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// Freeze loses everything both ways from now on, without closing a
// connection; Thaw ends it.
func (p *natsProxy) Freeze() { p.frozen.Store(true) }

// Thaw lets frames through again.
func (p *natsProxy) Thaw() { p.frozen.Store(false) }

// Heal lets clients connect again.
func (p *natsProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *natsProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(s, c, p.fromBroker)
		go p.pipe(c, s, p.fromClient)
	}
}

// pipe copies frames from src to dst, leaving out those drop says to.
func (p *natsProxy) pipe(src, dst net.Conn, drop func(op, subject string, payload []byte) bool) {
	defer func() { _ = src.Close(); _ = dst.Close() }()
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		f := strings.Fields(string(line))
		var payload []byte
		frozen := p.frozen.Load()
		if len(f) > 0 {
			switch op := strings.ToUpper(f[0]); op {
			case "MSG", "HMSG", "PUB", "HPUB":
				n, err := strconv.Atoi(f[len(f)-1])
				if err != nil || len(f) < 3 {
					return
				}
				payload = make([]byte, n+2)
				if _, err := io.ReadFull(r, payload); err != nil {
					return
				}
				if frozen || drop(op, f[1], payload[:n]) {
					p.dropped.Add(1)
					continue
				}
			}
		}
		if frozen {
			continue
		}
		if _, err := dst.Write(append(line, payload...)); err != nil {
			return
		}
	}
}

func take(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

func (p *natsProxy) fromBroker(op, _ string, payload []byte) bool {
	return op == "MSG" && bytes.HasPrefix(payload, []byte(`{"stream":"OSISM_TASKS","seq":`)) && take(&p.dropPubAcks)
}

func (p *natsProxy) fromClient(op, subject string, payload []byte) bool {
	if op != "PUB" || !strings.HasPrefix(subject, "$JS.ACK.OSISM_TASKS.") {
		return false
	}
	return (string(payload) == "+ACK" && take(&p.dropAcks)) || (string(payload) == "+WPI" && p.dropProgress.Load())
}
