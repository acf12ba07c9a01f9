package switchcfg_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

// flakyDriver is an FRR switch whose reads can be cut short and which can
// drop what is sent to it.
type flakyDriver struct {
	mu      sync.Mutex
	running []byte // without the final "end"
	// cut reads are cut short next; cutAfterApply reads are cut short
	// after each apply.
	cut, cutAfterApply int
	// drop applies are taken by the switch without effect.
	drop    int
	reads   int
	applies [][]string
}

func (f *flakyDriver) drivers(string) (switchcfg.Driver, switchcfg.Dialect, error) {
	return f, switchcfg.NewFRR(), nil
}

func (f *flakyDriver) Open(context.Context, switchcfg.Target) (switchcfg.Session, error) {
	return flakySession{f}, nil
}

type flakySession struct{ f *flakyDriver }

func (s flakySession) RunningConfig(context.Context) ([]byte, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.reads++
	full := append(bytes.Clone(s.f.running), "end\n"...)
	if s.f.cut > 0 {
		s.f.cut--
		return full[:len(full)/2], nil
	}
	return full, nil
}

func (s flakySession) Apply(_ context.Context, rendered, running []byte) ([]string, error) {
	cmds := switchcfg.NewFRR().Commands(rendered, running)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if len(cmds) == 0 {
		return nil, nil
	}
	s.f.applies = append(s.f.applies, cmds)
	s.f.cut += s.f.cutAfterApply
	if s.f.drop > 0 {
		s.f.drop--
		return cmds, nil
	}
	s.f.running = bytes.Clone(rendered)
	return cmds, nil
}

func (flakySession) Save(context.Context) error { return nil }
func (flakySession) Close() error               { return nil }

// A running configuration read cut short (without FRR's final "end") is
// read again, up to three times, then the deploy fails naming the switch;
// a deploy whose read-back still lacks commands sends them again, up to
// twice, with a warning, then fails.
func TestDeployShortReadsAndResends(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                     string
		cut, cutAfterApply, drop int
		wantErr                  error
		wantReads, wantApplies   int
		wantWarn                 string
	}{
		{name: "complete reads", wantReads: 2, wantApplies: 1},
		{name: "first read cut twice", cut: 2, wantReads: 4, wantApplies: 1, wantWarn: "cut short"},
		{name: "first read cut three times", cut: 3, wantErr: switchcfg.ErrShortRead, wantReads: 3, wantApplies: 0, wantWarn: "cut short"},
		{name: "read-back cut once", cutAfterApply: 1, wantReads: 3, wantApplies: 1, wantWarn: "cut short"},
		{name: "read-back cut three times", cutAfterApply: 3, wantErr: switchcfg.ErrShortRead, wantReads: 4, wantApplies: 1, wantWarn: "cut short"},
		{name: "commands dropped once", drop: 1, wantReads: 3, wantApplies: 2, wantWarn: "sending them again"},
		{name: "commands dropped twice", drop: 2, wantReads: 4, wantApplies: 3, wantWarn: "sending them again"},
		{name: "commands dropped three times", drop: 3, wantErr: switchcfg.ErrNotApplied, wantReads: 4, wantApplies: 3, wantWarn: "sending them again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			drv := &flakyDriver{running: []byte("frr defaults traditional\n"), cut: tc.cut, cutAfterApply: tc.cutAfterApply, drop: tc.drop}
			_, _, d := doubleDeployer(t, drv.drivers)
			var logs bytes.Buffer
			d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			ctx := context.Background()
			gen, err := d.Generate(ctx, "leaf-1")
			require.NoError(t, err)

			res, err := d.Deploy(ctx, []string{"leaf-1"}, nil)
			drv.mu.Lock()
			reads, applies := drv.reads, len(drv.applies)
			drv.mu.Unlock()
			require.Equal(t, tc.wantReads, reads, "reads")
			require.Equal(t, tc.wantApplies, applies, "applies")
			if tc.wantWarn != "" {
				require.Contains(t, logs.String(), "level=WARN")
				require.Contains(t, logs.String(), tc.wantWarn)
				require.Contains(t, logs.String(), "switch=leaf-1")
			} else {
				require.NotContains(t, logs.String(), "level=WARN")
			}
			deployed, derr := d.Repo.Deployed("leaf-1")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Contains(t, err.Error(), "switch leaf-1")
				require.ErrorIs(t, derr, switchcfg.ErrNotDeployed, "a failed deploy marks nothing deployed")
				return
			}
			require.NoError(t, err)
			require.True(t, res[0].Report.OK(), res[0].Report.String())
			require.NoError(t, derr)
			require.Equal(t, gen[0].Rev, deployed)
			if tc.drop > 0 {
				drv.mu.Lock()
				require.Equal(t, drv.applies[0], drv.applies[len(drv.applies)-1], "what was missing is sent again")
				drv.mu.Unlock()
			}
		})
	}
}

// The FRR dialect knows that FRR's running configuration ends with "end".
func TestFRRComplete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, running string
		ok            bool
	}{
		{"complete", "frr defaults traditional\n!\nend\n", true},
		{"trailing blanks", "frr defaults traditional\nend\n\n  \r\n", true},
		{"cut", "frr defaults traditional\n!\nrouter bgp 65101\n", false},
		{"cut in the end line", "frr defaults traditional\nen", false},
		{"end inside", "interface swp1\n description end\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := switchcfg.NewFRR().Complete([]byte(tc.running))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.False(t, strings.Contains(err.Error(), tc.running) && tc.running != "", "the configuration is not quoted")
			optional := switchcfg.NewFRR()
			optional.EndOptional = true
			require.NoError(t, optional.Complete([]byte(tc.running)))
		})
	}
}

// cutDriver wraps a real driver: the first cuts reads of its sessions
// return half of what the switch printed.
type cutDriver struct {
	inner switchcfg.Driver
	mu    *sync.Mutex
	cuts  *int
}

func (c cutDriver) Open(ctx context.Context, t switchcfg.Target) (switchcfg.Session, error) {
	s, err := c.inner.Open(ctx, t)
	if err != nil {
		return nil, err
	}
	return cutSession{Session: s, c: c}, nil
}

type cutSession struct {
	switchcfg.Session
	c cutDriver
}

func (s cutSession) RunningConfig(ctx context.Context) ([]byte, error) {
	out, err := s.Session.RunningConfig(ctx)
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if err == nil && *s.c.cuts > 0 {
		*s.c.cuts--
		return out[:len(out)/2], nil
	}
	return out, err
}

// Against a real FRR leaf: reads cut short are read again, and the deploy
// ends with the leaf running the rendered configuration.
func TestDeployRereadsCutReadsOnTheLeaves(t *testing.T) {
	e := newHookEnv(t)
	ctx := context.Background()
	var mu sync.Mutex
	cuts := 2
	e.d.Drivers = func(dt string) (switchcfg.Driver, switchcfg.Dialect, error) {
		drv, dialect, err := switchcfg.DriverFor(dt)
		return cutDriver{inner: drv, mu: &mu, cuts: &cuts}, dialect, err
	}
	_, err := e.d.Generate(ctx, "leaf-1")
	require.NoError(t, err)
	res, err := e.d.Deploy(ctx, []string{"leaf-1"}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, res[0].Sent)
	require.True(t, res[0].Report.OK(), res[0].Report.String())
	mu.Lock()
	require.Zero(t, cuts, "both cut reads were read again")
	mu.Unlock()
	require.NoError(t, switchcfg.NewFRR().Complete([]byte(e.leaves["leaf-1"].Vtysh(t, "show running-config"))), "the leaf's own output ends with end")

	e.d.Drivers = switchcfg.DriverFor
	reports, err := e.d.Verify(ctx, []string{"leaf-1"}, &switchcfg.VerifyOpts{Fresh: true})
	require.NoError(t, err)
	require.True(t, reports[0].OK(), reports[0].String())
}
