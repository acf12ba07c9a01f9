package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/osism/go-osism/switchcfg"
)

// memorySwitches are switches that live in this process: each runs the
// configuration last sent to it. They stand in for the leaves, so that
// phases 3 and 4 run without hardware; a real fabric uses switchcfg's SSH
// drivers.
type memorySwitches struct {
	mu      sync.Mutex
	running map[string][]byte
	count   map[string]int
}

func newMemorySwitches() *memorySwitches {
	return &memorySwitches{running: map[string][]byte{}, count: map[string]int{}}
}

// driver is a Deployer.Drivers: FRR's dialect over switches in memory.
func (m *memorySwitches) driver(deploymentType string) (switchcfg.Driver, switchcfg.Dialect, error) {
	if deploymentType != "frr" {
		return nil, nil, fmt.Errorf("deployment_type %q: the example's switches in memory speak frr only", deploymentType)
	}
	d := switchcfg.NewFRR()
	return memoryDriver{m: m, dialect: d}, d, nil
}

func (m *memorySwitches) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for sw := range m.count {
		out = append(out, sw)
	}
	slices.Sort(out)
	return out
}

func (m *memorySwitches) sent(sw string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count[sw]
}

type memoryDriver struct {
	m       *memorySwitches
	dialect switchcfg.Dialect
}

// Open opens a session to t.Switch; a switch first reached runs a bare
// FRR configuration, as a new leaf does.
func (d memoryDriver) Open(_ context.Context, t switchcfg.Target) (switchcfg.Session, error) {
	d.m.mu.Lock()
	if _, ok := d.m.running[t.Switch]; !ok {
		d.m.running[t.Switch] = []byte("frr version 8.4.4\nfrr defaults traditional\nhostname " + t.Switch + "\n!\nend\n")
	}
	d.m.mu.Unlock()
	return &memorySession{m: d.m, dialect: d.dialect, sw: t.Switch}, nil
}

type memorySession struct {
	m       *memorySwitches
	dialect switchcfg.Dialect
	sw      string
}

func (s *memorySession) RunningConfig(context.Context) ([]byte, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return slices.Clone(s.m.running[s.sw]), nil
}

// Apply takes the rendered configuration whole; the commands are what a
// line-oriented switch would have been sent.
func (s *memorySession) Apply(_ context.Context, rendered, running []byte) ([]string, error) {
	sent := s.dialect.Commands(rendered, running)
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	// Like FRR, the switch prints its configuration ending with "end".
	cfg := bytes.TrimRight(rendered, "\n")
	if !bytes.HasSuffix(cfg, []byte("\nend")) {
		cfg = append(cfg, "\nend"...)
	}
	s.m.running[s.sw] = append(cfg, '\n')
	s.m.count[s.sw] += len(sent)
	return sent, nil
}

func (s *memorySession) Save(context.Context) error { return nil }
func (s *memorySession) Close() error               { return nil }
