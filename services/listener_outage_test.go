package services_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// tcpProxy forwards connections to a target. down drops every open
// connection and refuses new ones (nothing listens); up listens again on
// the same address. It stands in for RabbitMQ going away without
// stopping the RabbitMQ other tests share.
type tcpProxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, u) {
		_ = c.Close()
		_ = u.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// down stops listening and cuts every connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// up listens again on the same address.
func (p *tcpProxy) up(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

// RabbitMQ goes away (a proxy between the listener and RabbitMQ drops
// every connection and refuses new ones) while 1,000 events flow: none is
// lost, none is applied twice, and the listener consumes again within 5 s
// of RabbitMQ's return.
func TestListenerSurvivesBrokerOutage(t *testing.T) {
	t.Parallel()
	const devices, rounds = 50, 20 // 1,000 events
	e := newListenerEnv(t, true, netboxtest.WithDevices(devices))
	e.rabbit.declareQueue(t, e.cfg.Queue, e.cfg.Exchange)
	u, err := url.Parse(e.rabbit.url)
	require.NoError(t, err)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	e.cfg.URL = osism.Secret(u.String())
	e.cfg.Prefetch = 64
	// One event per NetBox write, so that the double's request counter
	// counts the events applied.
	e.cfg.BatchSize = 1

	// Event k sets power_state of device k%50 to on in even rounds and off
	// in odd ones: every event changes its device, so exactly one write
	// per event applied once.
	events := make([][]byte, 0, devices*rounds)
	for r := range rounds {
		for d := 1; d <= devices; d++ {
			state := "power on"
			if r%2 == 1 {
				state = "power off"
			}
			events = append(events, oslo(fmt.Sprintf("outage-%d-%d", r, d), "baremetal.node.power_set.end",
				map[string]any{"name": fmt.Sprintf("bench-%05d", d), "power_state": state}))
		}
	}
	patches := func() int { return e.srv.Requests(http.MethodPatch, "/api/dcim/devices/1/") }
	e.srv.SetLatency(time.Millisecond)
	e.rabbit.publish(t, e.cfg.Exchange, events[:500]...)
	l := e.start(t, services.ListenerOpts{})

	// The outage starts while events flow.
	osismtest.WaitFor(t, 60*time.Second, func() bool { return l.Stats().Applied >= 150 }, "events flowing")
	proxy.down()
	osismtest.WaitFor(t, 10*time.Second, func() bool { return !l.Stats().Consuming }, "the listener notices")
	before := l.Stats()
	e.rabbit.publish(t, e.cfg.Exchange, events[500:]...) // published while the listener is away
	// Long enough for the backoff to reach its ceiling (ReconnectMax).
	osismtest.WaitFor(t, 30*time.Second, func() bool { return l.Stats().Reconnects >= before.Reconnects+6 }, "connections refused")
	require.Less(t, l.Stats().Applied, uint64(len(events)), "the outage hit while events were in flight")

	proxy.up(t)
	back := time.Now()
	osismtest.WaitFor(t, 10*time.Second, func() bool { s := l.Stats(); return s.Consuming && s.ConsumingSince.After(back) }, "consuming again")
	reconnect := l.Stats().ConsumingSince.Sub(back)
	t.Logf("MEASURE reconnect: %s from the proxy's return to consuming (%d reconnect attempts during the outage)",
		reconnect.Round(time.Millisecond), l.Stats().Reconnects-before.Reconnects)
	require.Less(t, reconnect, 5*time.Second)

	osismtest.WaitFor(t, 120*time.Second, func() bool { return l.Stats().Applied == uint64(len(events)) }, "every event applied: %+v", lazy(func() any { return l.Stats() }))
	// Settled: nothing in flight, nothing left in the queue.
	osismtest.WaitFor(t, 30*time.Second, func() bool {
		s := l.Stats()
		q, err := e.rabbit.ch.QueueDeclarePassive(e.cfg.Queue, true, false, false, false, nil)
		return err == nil && q.Messages == 0 && s.Received == s.Applied+s.Duplicates+s.Requeued
	}, "the queue drained: %+v", lazy(func() any { return l.Stats() }))
	st := l.Stats()
	t.Logf("MEASURE outage run: %+v", st)
	require.Equal(t, len(events), patches(), "one NetBox write per event: none lost, none applied twice")
	require.EqualValues(t, len(events), st.Writes)
	require.Zero(t, st.DeadLettered)
	for d := 1; d <= devices; d++ {
		require.Equal(t, "power off", e.field(t, fmt.Sprintf("bench-%05d", d), "power_state"), "the last event of each device wins")
	}
}
