package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/osism/go-osism/switchcfg"
)

// fleet simulates the switches: a session costs sessionCost to open, each
// command commandCost. show running-config and write memory count as one
// command each, a configuration change as one per line sent. Nothing is
// dialled.
//
// Each switch keeps its running configuration in memory. Apply computes the
// commands with the FRR dialect, as the real driver does, pays for them,
// and then sets the running configuration to the rendered one: the
// dialect's Commands are what turns running into rendered (its tests apply
// them with a vtysh simulator and check that the result compares equal and
// needs no further commands), so the rendered configuration is what the
// switch runs afterwards. Compare ignores comments and the lines FRR adds
// on its own, so the rendered text stands in for what vtysh would print.
type fleet struct {
	sessionCost, commandCost time.Duration
	dialect                  *switchcfg.FRR

	mu       sync.Mutex
	switches map[string]*fakeSwitch
}

type fakeSwitch struct {
	running []byte
	open    int // sessions open now
	maxOpen int
	// deploys are sessions that configured (Apply called), reads the
	// others (compare, dry run).
	deploys, reads int
	emptyApplies   int // deploy sessions that had nothing to send
	commands       int // configuration lines sent
	busy           time.Duration
}

func newFleet(sessionCost, commandCost time.Duration) *fleet {
	return &fleet{sessionCost: sessionCost, commandCost: commandCost, dialect: switchcfg.NewFRR(), switches: map[string]*fakeSwitch{}}
}

// seed sets a switch's running configuration.
func (f *fleet) seed(sw string, running []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switches[sw] = &fakeSwitch{running: append([]byte(nil), running...)}
}

// drivers is the Deployer's Drivers hook: every switch is an FRR one.
func (f *fleet) drivers(deploymentType string) (switchcfg.Driver, switchcfg.Dialect, error) {
	if deploymentType != "frr" {
		return nil, nil, fmt.Errorf("fabricbench: deployment_type %q: only frr is simulated", deploymentType)
	}
	return f, f.dialect, nil
}

func (f *fleet) get(sw string) *fakeSwitch {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.switches[sw]
	if s == nil {
		s = &fakeSwitch{}
		f.switches[sw] = s
	}
	return s
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Open checks the target as the SSH drivers do and pays for the session.
func (f *fleet) Open(ctx context.Context, t switchcfg.Target) (switchcfg.Session, error) {
	var errs []error
	if t.Host == "" {
		errs = append(errs, errors.New("no SSH host"))
	}
	if t.User == "" {
		errs = append(errs, errors.New("no SSH user"))
	}
	if t.KeyFile == "" && t.Password == "" {
		errs = append(errs, errors.New("no SSH key file or password"))
	}
	if t.KnownHosts == "" && !t.InsecureIgnoreHostKey {
		errs = append(errs, errors.New("no known_hosts file"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("switch %s: %w", t.Switch, err)
	}
	began := time.Now()
	if err := wait(ctx, f.sessionCost); err != nil {
		return nil, fmt.Errorf("switch %s: open: %w", t.Switch, err)
	}
	s := f.get(t.Switch)
	f.mu.Lock()
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	f.mu.Unlock()
	return &session{f: f, sw: t.Switch, s: s, began: began}, nil
}

type session struct {
	f       *fleet
	sw      string
	s       *fakeSwitch
	began   time.Time
	applied bool
	closed  bool
}

func (s *session) RunningConfig(ctx context.Context) ([]byte, error) {
	if err := wait(ctx, s.f.commandCost); err != nil {
		return nil, fmt.Errorf("switch %s: show running-config: %w", s.sw, err)
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return append([]byte(nil), s.s.running...), nil
}

func (s *session) Apply(ctx context.Context, rendered, running []byte) ([]string, error) {
	s.applied = true
	cmds := s.f.dialect.Commands(rendered, running)
	if len(cmds) == 0 {
		s.f.mu.Lock()
		s.s.emptyApplies++
		s.f.mu.Unlock()
		return nil, nil
	}
	if err := wait(ctx, time.Duration(len(cmds))*s.f.commandCost); err != nil {
		return cmds, fmt.Errorf("switch %s: configure: %w", s.sw, err)
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.s.running = append([]byte(nil), rendered...)
	s.s.commands += len(cmds)
	return cmds, nil
}

func (s *session) Save(ctx context.Context) error {
	if err := wait(ctx, s.f.commandCost); err != nil {
		return fmt.Errorf("switch %s: write memory: %w", s.sw, err)
	}
	return nil
}

func (s *session) Close() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.s.open--
	s.s.busy += time.Since(s.began)
	if s.applied {
		s.s.deploys++
	} else {
		s.s.reads++
	}
	return nil
}

// snapshot returns a copy of every switch's counters.
func (f *fleet) snapshot() map[string]fakeSwitch {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]fakeSwitch, len(f.switches))
	for k, v := range f.switches {
		out[k] = *v
	}
	return out
}
