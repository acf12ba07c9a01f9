// Package sshserve is the connection handling of the project's SSH
// servers (the simulated switches and the recorded-session test server):
// accept connections, run the SSH handshake, hand each session channel
// to the server's own code, and stop everything on Close.
package sshserve

import (
	"context"
	"errors"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Session serves one session channel and its requests; ctx ends when
// the connection or the server does.
type Session func(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request)

// Server accepts SSH connections on a listener until Close.
type Server struct {
	ln      net.Listener
	cfg     *ssh.ServerConfig
	session Session
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Serve starts accepting connections on ln, authenticated by cfg; each
// session channel runs session in a goroutine of its own, other channel
// types are refused.
func Serve(ln net.Listener, cfg *ssh.ServerConfig, session Session) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, cfg: cfg, session: session, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Close stops accepting, closes every connection and waits until every
// session has returned.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	conn, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return // a failed handshake: the client sees why
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ctx, ch, chReqs)
		}()
	}
	cancel()
}
