package statemachine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/statemachine"
)

// recordingStore wraps a MemoryStore and keeps every Save in order.
type recordingStore struct {
	*statemachine.MemoryStore
	mu    sync.Mutex
	saves []statemachine.Record
}

func newRecordingStore(devices map[string]statemachine.Record) *recordingStore {
	s := &recordingStore{MemoryStore: statemachine.NewMemoryStore()}
	for d, r := range devices {
		_ = s.MemoryStore.Save(context.Background(), d, r)
	}
	return s
}

func (s *recordingStore) Save(ctx context.Context, device string, rec statemachine.Record) error {
	s.mu.Lock()
	s.saves = append(s.saves, rec)
	s.mu.Unlock()
	return s.MemoryStore.Save(ctx, device, rec)
}

func (s *recordingStore) Saves() []statemachine.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]statemachine.Record(nil), s.saves...)
}

// phaseLog records which phases ran, with what the hook saw.
type phaseLog struct {
	mu    sync.Mutex
	steps []statemachine.Step
}

func (l *phaseLog) hook() statemachine.PhaseHook {
	return statemachine.PhaseHookFunc(func(_ context.Context, s statemachine.Step) error {
		l.mu.Lock()
		l.steps = append(l.steps, s)
		l.mu.Unlock()
		return nil
	})
}

func (l *phaseLog) phases() []statemachine.Phase {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []statemachine.Phase
	for _, s := range l.steps {
		out = append(out, s.Phase)
	}
	return out
}

func allPhases(h ...statemachine.PhaseHook) map[statemachine.Phase][]statemachine.PhaseHook {
	m := make(map[statemachine.Phase][]statemachine.PhaseHook)
	for p := statemachine.Phase(1); p <= statemachine.NumPhases; p++ {
		m[p] = h
	}
	return m
}

func newMachine(t *testing.T, cfg statemachine.Config) *statemachine.Machine {
	t.Helper()
	m, err := statemachine.New(cfg)
	require.NoError(t, err)
	return m
}

func rec(state, transition string) statemachine.Record {
	return statemachine.Record{State: state, Transition: transition}
}

func TestTransitionRecordsUpstreamEncoding(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	var log phaseLog
	m := newMachine(t, statemachine.Config{Store: store, Hooks: allPhases(log.hook())})

	res, err := m.Transition(context.Background(), "node-1", statemachine.StateB, nil)
	require.NoError(t, err)
	require.Equal(t, statemachine.Result{Device: "node-1", From: "a", To: "b"}, res)

	require.Equal(t, []statemachine.Record{
		rec("b-phase_1", "from_a-to_b-phase_1"),
		rec("b-phase_2", "from_a-to_b-phase_2"),
		rec("b-phase_3", "from_a-to_b-phase_3"),
		rec("b-phase_4", "from_a-to_b-phase_4"),
		rec("b", ""),
	}, store.Saves())
	require.Equal(t, []statemachine.Phase{1, 2, 3, 4}, log.phases())
	for _, s := range log.steps {
		require.Equal(t, "node-1", s.Device)
		require.Equal(t, statemachine.StateA, s.From)
		require.Equal(t, statemachine.StateB, s.To)
		require.False(t, s.Resumed)
	}
}

func TestHooksRunInOrderAndChain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	named := func(name string) statemachine.PhaseHook {
		return statemachine.PhaseHookFunc(func(_ context.Context, s statemachine.Step) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, fmt.Sprintf("%d:%s", s.Phase, name))
			return nil
		})
	}
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	m := newMachine(t, statemachine.Config{Store: store, Hooks: map[statemachine.Phase][]statemachine.PhaseHook{
		1: {named("netbox")},
		2: {named("render-leaf"), named("render-spine")},
		4: {named("compare")},
	}})
	_, err := m.Transition(context.Background(), "node-1", "b", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"1:netbox", "2:render-leaf", "2:render-spine", "4:compare"}, order)
}

// interruption makes a transition stop in phase N in one of the ways a real
// one stops, other than a killed process (TestResumeAfterKill).
type interruption struct {
	name string
	// hook returns the hook for phase N; cancel is the context's cancel.
	hook func(cancel context.CancelFunc, locker *statemachine.MemoryLocker) statemachine.PhaseHook
	want error
}

var errSwitchDown = errors.New("switch leaf-1 unreachable")

var interruptions = []interruption{
	{
		name: "hook error",
		hook: func(context.CancelFunc, *statemachine.MemoryLocker) statemachine.PhaseHook {
			return statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error { return errSwitchDown })
		},
		want: errSwitchDown,
	},
	{
		name: "context cancelled",
		hook: func(cancel context.CancelFunc, _ *statemachine.MemoryLocker) statemachine.PhaseHook {
			return statemachine.PhaseHookFunc(func(ctx context.Context, _ statemachine.Step) error {
				cancel()
				<-ctx.Done()
				return ctx.Err()
			})
		},
		want: context.Canceled,
	},
}

func TestResumeAtEveryPhase(t *testing.T) {
	t.Parallel()
	for _, in := range interruptions {
		for stop := statemachine.Phase(1); stop <= statemachine.NumPhases; stop++ {
			t.Run(fmt.Sprintf("%s in phase %d", in.name, stop), func(t *testing.T) {
				t.Parallel()
				store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
				locker := statemachine.NewMemoryLocker()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()

				var first phaseLog
				hooks := allPhases(first.hook())
				hooks[stop] = []statemachine.PhaseHook{first.hook(), in.hook(cancel, locker)}
				m := newMachine(t, statemachine.Config{Store: store, Locker: locker, Hooks: hooks})
				_, err := m.Transition(ctx, "node-1", "b", nil)
				require.ErrorIs(t, err, in.want)
				var pe *statemachine.PhaseError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, stop, pe.Phase)
				require.False(t, locker.Held(statemachine.LockKey("node-1")), "the device lock is released after a failure")

				got, err := store.Load(context.Background(), "node-1")
				require.NoError(t, err)
				require.Equal(t, rec(fmt.Sprintf("b-phase_%d", stop), fmt.Sprintf("from_a-to_b-phase_%d", stop)), got)

				// A fresh machine reading the same store continues at the
				// recorded phase.
				var second phaseLog
				m2 := newMachine(t, statemachine.Config{Store: store, Hooks: allPhases(second.hook())})
				res, err := m2.Transition(context.Background(), "node-1", "b", nil)
				require.NoError(t, err)
				require.Equal(t, stop, res.ResumedAt)
				require.Equal(t, statemachine.StateA, res.From)
				var want []statemachine.Phase
				for p := stop; p <= statemachine.NumPhases; p++ {
					want = append(want, p)
				}
				require.Equal(t, want, second.phases())
				require.True(t, second.steps[0].Resumed, "the interrupted phase runs again marked as resumed")
				if len(second.steps) > 1 {
					require.False(t, second.steps[1].Resumed)
				}
				got, err = store.Load(context.Background(), "node-1")
				require.NoError(t, err)
				require.Equal(t, rec("b", ""), got)
			})
		}
	}
}

func TestLostLockStopsBeforeNextPhase(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	locker := statemachine.NewMemoryLocker()
	var log phaseLog
	hooks := allPhases(log.hook())
	hooks[2] = append(hooks[2], statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error {
		require.True(t, locker.Break(statemachine.LockKey("node-1")))
		return nil
	}))
	m := newMachine(t, statemachine.Config{Store: store, Locker: locker, Hooks: hooks})

	_, err := m.Transition(context.Background(), "node-1", "b", nil)
	require.ErrorIs(t, err, statemachine.ErrLockLost)
	var pe *statemachine.PhaseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, statemachine.Phase(3), pe.Phase, "stopped before phase 3 began")
	require.Equal(t, []statemachine.Phase{1, 2}, log.phases())
	got, err := store.Load(context.Background(), "node-1")
	require.NoError(t, err)
	require.Equal(t, rec("b-phase_2", "from_a-to_b-phase_2"), got, "phase 3 was never recorded")
}

func TestTransitionRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		stored   statemachine.Record
		target   statemachine.State
		opts     *statemachine.TransitionOpts
		wantErr  error
		wantMsg  string
		wantRes  statemachine.Result
		wantRecs []statemachine.Record
	}{
		{
			name: "to the current state is a no-op", stored: rec("b", ""), target: "b",
			wantRes: statemachine.Result{Device: "node-1", From: "b", To: "b", NoOp: true},
		},
		{
			name: "enforce to the current state is still a no-op", stored: rec("b", ""), target: "b",
			opts:    &statemachine.TransitionOpts{Enforce: true},
			wantRes: statemachine.Result{Device: "node-1", From: "b", To: "b", NoOp: true},
		},
		{
			name: "a target not allowed names the allowed ones", stored: rec("a", ""), target: "c",
			wantErr: statemachine.ErrNotAllowed,
			wantMsg: `device "node-1": transition a -> c is not allowed: allowed targets from a: b`,
		},
		{
			name: "the reserved new state is never a target", stored: rec("a", ""), target: "0",
			wantErr: statemachine.ErrNotAllowed,
			wantMsg: `allowed targets from a: b`,
		},
		{
			name: "an unknown target", stored: rec("a", ""), target: "z",
			wantMsg: `device "node-1": target state "z": unknown state: expected one of 0, a, b, c`,
		},
		{
			name: "in transit to another target is refused", stored: rec("b-phase_2", "from_a-to_b-phase_2"), target: "a",
			wantErr: statemachine.ErrInTransit,
			wantMsg: `device "node-1" is in transit a -> b (phase 2): refusing target a without enforce`,
		},
		{
			name:   "enforce while in transit runs from the state the device was moving to",
			stored: rec("b-phase_2", "from_a-to_b-phase_2"), target: "a",
			opts:    &statemachine.TransitionOpts{Enforce: true},
			wantRes: statemachine.Result{Device: "node-1", From: "b", To: "a"},
			wantRecs: []statemachine.Record{
				rec("a-phase_1", "from_b-to_a-phase_1"), rec("a-phase_2", "from_b-to_a-phase_2"),
				rec("a-phase_3", "from_b-to_a-phase_3"), rec("a-phase_4", "from_b-to_a-phase_4"), rec("a", ""),
			},
		},
		{
			name:   "enforce of the same target restarts at phase 1",
			stored: rec("b-phase_3", "from_a-to_b-phase_3"), target: "b",
			opts:    &statemachine.TransitionOpts{Enforce: true},
			wantRes: statemachine.Result{Device: "node-1", From: "a", To: "b"},
			wantRecs: []statemachine.Record{
				rec("b-phase_1", "from_a-to_b-phase_1"), rec("b-phase_2", "from_a-to_b-phase_2"),
				rec("b-phase_3", "from_a-to_b-phase_3"), rec("b-phase_4", "from_a-to_b-phase_4"), rec("b", ""),
			},
		},
		{
			name:   "enforce while in transit still checks the graph",
			stored: rec("b-phase_1", "from_a-to_b-phase_1"), target: "0",
			opts:    &statemachine.TransitionOpts{Enforce: true},
			wantErr: statemachine.ErrNotAllowed,
			wantMsg: `transition b -> 0 is not allowed: allowed targets from b: a, c`,
		},
		{
			name: "a new device moves to a", stored: rec("", ""), target: "a",
			wantRes: statemachine.Result{Device: "node-1", From: "0", To: "a"},
			wantRecs: []statemachine.Record{
				rec("a-phase_1", "from_0-to_a-phase_1"), rec("a-phase_2", "from_0-to_a-phase_2"),
				rec("a-phase_3", "from_0-to_a-phase_3"), rec("a-phase_4", "from_0-to_a-phase_4"), rec("a", ""),
			},
		},
		{
			name: "an unknown stored state is rejected", stored: rec("provisioned", ""), target: "b",
			wantErr: statemachine.ErrInvalidRecord,
			wantMsg: `device "node-1": device_state "provisioned": unknown state: expected one of 0, a, b, c`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore(map[string]statemachine.Record{"node-1": tc.stored})
			before := len(store.Saves())
			m := newMachine(t, statemachine.Config{Store: store})
			res, err := m.Transition(context.Background(), "node-1", tc.target, tc.opts)
			if tc.wantErr != nil || tc.wantMsg != "" {
				require.Error(t, err)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				require.Contains(t, err.Error(), tc.wantMsg)
				require.Len(t, store.Saves(), before, "a refused transition writes nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantRes, res)
			require.Equal(t, tc.wantRecs, store.Saves()[before:])
		})
	}
}

func TestUnknownDevice(t *testing.T) {
	t.Parallel()
	m := newMachine(t, statemachine.Config{Store: statemachine.NewMemoryStore()})
	_, err := m.Transition(context.Background(), "node-9", "a", nil)
	require.ErrorIs(t, err, statemachine.ErrDeviceNotFound)
	require.Contains(t, err.Error(), `"node-9"`)
}

func TestConcurrentTransitionsOfOneDeviceOneWins(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	entered := make(chan struct{})
	release := make(chan struct{})
	var runs atomic.Int32
	hooks := map[statemachine.Phase][]statemachine.PhaseHook{1: {statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error {
		if runs.Add(1) == 1 {
			close(entered)
			<-release
		}
		return nil
	})}}
	m := newMachine(t, statemachine.Config{Store: store, Hooks: hooks})

	const contenders = 8
	errs := make(chan error, contenders)
	go func() {
		_, err := m.Transition(context.Background(), "node-1", "b", nil)
		errs <- err
	}()
	<-entered
	var wg sync.WaitGroup
	for range contenders - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Transition(context.Background(), "node-1", "b", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(release)

	var won, locked int
	for range contenders {
		err := <-errs
		switch {
		case err == nil:
			won++
		case errors.Is(err, statemachine.ErrLocked):
			locked++
			require.Contains(t, err.Error(), `device "node-1"`)
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, won)
	require.Equal(t, contenders-1, locked)
	require.Equal(t, int32(1), runs.Load(), "phase 1 ran once")
	got, err := store.Load(context.Background(), "node-1")
	require.NoError(t, err)
	require.Equal(t, rec("b", ""), got)
}

// A hook may start transitions itself: the machine never calls hooks from
// inside looplab/fsm callbacks, so the deadlock of looplab/fsm#87 cannot
// happen.
func TestHookMayStartTransitions(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", ""), "node-2": rec("a", "")})
	var m *statemachine.Machine
	var nested, self error
	hooks := map[statemachine.Phase][]statemachine.PhaseHook{2: {statemachine.PhaseHookFunc(func(ctx context.Context, s statemachine.Step) error {
		if s.Device != "node-1" {
			return nil
		}
		_, nested = m.Transition(ctx, "node-2", "b", nil)
		_, self = m.Transition(ctx, "node-1", "b", nil)
		return nil
	})}}
	m = newMachine(t, statemachine.Config{Store: store, Hooks: hooks})

	done := make(chan error, 1)
	go func() { _, err := m.Transition(context.Background(), "node-1", "b", nil); done <- err }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("transition from inside a hook deadlocked")
	}
	require.NoError(t, nested)
	require.ErrorIs(t, self, statemachine.ErrLocked, "the same device is locked by the running transition")
	for _, d := range []string{"node-1", "node-2"} {
		got, err := store.Load(context.Background(), d)
		require.NoError(t, err)
		require.Equal(t, rec("b", ""), got, d)
	}
}

func TestObserversSeeEveryPhase(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	ch := make(chan statemachine.Event, 64)
	var calls atomic.Int32
	hooks := allPhases(statemachine.PhaseHookFunc(func(_ context.Context, s statemachine.Step) error {
		s.Progress("rendering", 1, 2)
		if s.Phase == 3 && calls.Add(1) == 1 {
			return errSwitchDown
		}
		return nil
	}))
	m := newMachine(t, statemachine.Config{Store: store, Hooks: hooks, Observers: []statemachine.Observer{statemachine.ChannelObserver(ch)}})

	_, err := m.Transition(context.Background(), "node-1", "b", nil)
	require.ErrorIs(t, err, errSwitchDown)
	_, err = m.Transition(context.Background(), "node-1", "b", nil)
	require.NoError(t, err)
	close(ch)

	var got []string
	for e := range ch {
		require.Equal(t, "node-1", e.Device)
		s := fmt.Sprintf("%s %d", e.Kind, e.Phase)
		if e.Resumed {
			s += " resumed"
		}
		if e.Kind == statemachine.PhaseProgress {
			s += fmt.Sprintf(" %s %d/%d", e.Message, e.Done, e.Total)
		}
		if e.Kind == statemachine.PhaseFailed {
			require.ErrorIs(t, e.Err, errSwitchDown)
		}
		got = append(got, s)
	}
	require.Equal(t, []string{
		"phase started 1", "phase progress 1 rendering 1/2", "phase finished 1",
		"phase started 2", "phase progress 2 rendering 1/2", "phase finished 2",
		"phase started 3", "phase progress 3 rendering 1/2", "phase failed 3",
		"phase started 3 resumed", "phase progress 3 resumed rendering 1/2", "phase finished 3 resumed",
		"phase started 4", "phase progress 4 rendering 1/2", "phase finished 4",
		"transition finished 0 resumed",
	}, got)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := statemachine.New(statemachine.Config{})
	require.ErrorContains(t, err, "Config.Store is required")
	_, err = statemachine.New(statemachine.Config{Store: statemachine.NewMemoryStore(), Hooks: map[statemachine.Phase][]statemachine.PhaseHook{5: nil}})
	require.ErrorContains(t, err, "phase 5: expected 1 to 4")
	_, err = statemachine.New(statemachine.Config{Store: statemachine.NewMemoryStore(), Hooks: map[statemachine.Phase][]statemachine.PhaseHook{2: {nil}}})
	require.ErrorContains(t, err, "phase 2, hook 1 is nil")
}

// fileStore keeps records in a JSON file, so that a second process sees what
// a killed one recorded.
type fileStore struct{ path string }

func (f fileStore) read() (map[string]statemachine.Record, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]statemachine.Record{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]statemachine.Record{}
	return m, json.Unmarshal(data, &m)
}

func (f fileStore) Load(_ context.Context, device string) (statemachine.Record, error) {
	m, err := f.read()
	if err != nil {
		return statemachine.Record{}, err
	}
	r, ok := m[device]
	if !ok {
		return r, fmt.Errorf("device %q: %w", device, statemachine.ErrDeviceNotFound)
	}
	return r, nil
}

func (f fileStore) Save(_ context.Context, device string, rec statemachine.Record) error {
	m, err := f.read()
	if err != nil {
		return err
	}
	m[device] = rec
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// TestHelperKilledTransition is the child process of TestResumeAfterKill: it
// starts a transition whose hook in phase $SM_KILL_PHASE signals and then
// waits to be killed.
func TestHelperKilledTransition(t *testing.T) {
	if os.Getenv("SM_HELPER") != "1" {
		t.Skip("helper process of TestResumeAfterKill")
	}
	stop, _ := strconv.Atoi(os.Getenv("SM_KILL_PHASE"))
	hooks := allPhases(statemachine.PhaseHookFunc(func(_ context.Context, s statemachine.Step) error {
		if int(s.Phase) == stop {
			_ = os.WriteFile(os.Getenv("SM_MARK"), []byte("in phase"), 0o600)
			select {}
		}
		return nil
	}))
	m := newMachine(t, statemachine.Config{Store: fileStore{os.Getenv("SM_STORE")}, Hooks: hooks})
	_, _ = m.Transition(context.Background(), "node-1", "b", nil)
	t.Fatal("the transition should have been killed")
}

func TestResumeAfterKill(t *testing.T) {
	t.Parallel()
	for stop := 1; stop <= statemachine.NumPhases; stop++ {
		t.Run(fmt.Sprintf("killed in phase %d", stop), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			store := fileStore{filepath.Join(dir, "store.json")}
			require.NoError(t, store.Save(context.Background(), "node-1", rec("a", "")))
			mark := filepath.Join(dir, "mark")

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperKilledTransition$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SM_HELPER=1", "SM_KILL_PHASE="+strconv.Itoa(stop), "SM_STORE="+store.path, "SM_MARK="+mark)
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool { _, err := os.Stat(mark); return err == nil }, 30*time.Second, 5*time.Millisecond)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()

			got, err := store.Load(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, rec(fmt.Sprintf("b-phase_%d", stop), fmt.Sprintf("from_a-to_b-phase_%d", stop)), got)

			var log phaseLog
			m := newMachine(t, statemachine.Config{Store: store, Hooks: allPhases(log.hook())})
			res, err := m.Transition(context.Background(), "node-1", "b", nil)
			require.NoError(t, err)
			require.Equal(t, statemachine.Phase(stop), res.ResumedAt)
			var want []statemachine.Phase
			for p := stop; p <= statemachine.NumPhases; p++ {
				want = append(want, statemachine.Phase(p))
			}
			require.Equal(t, want, log.phases())
			got, err = store.Load(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, rec("b", ""), got)
		})
	}
}

// A lock lost while a hook runs cancels the hook's context; nothing is
// recorded after the loss, and a fresh run converges.
func TestLostLockCancelsTheRunningHook(t *testing.T) {
	t.Parallel()
	for _, phase := range []statemachine.Phase{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("phase %d", phase), func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
			locker := statemachine.NewMemoryLocker()
			var sawCause error
			block := true
			hooks := allPhases()
			hooks[phase] = []statemachine.PhaseHook{statemachine.PhaseHookFunc(func(ctx context.Context, _ statemachine.Step) error {
				if !block {
					return nil
				}
				require.True(t, locker.Break(statemachine.LockKey("node-1")))
				select {
				case <-ctx.Done():
					sawCause = context.Cause(ctx)
					return ctx.Err()
				case <-time.After(30 * time.Second):
					return errors.New("the hook's context was not cancelled")
				}
			})}
			m := newMachine(t, statemachine.Config{Store: store, Locker: locker, Hooks: hooks})
			_, err := m.Transition(context.Background(), "node-1", "b", nil)
			require.ErrorIs(t, err, statemachine.ErrLockLost)
			require.ErrorIs(t, sawCause, statemachine.ErrLockLost, "the hook saw why")
			var pe *statemachine.PhaseError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, phase, pe.Phase)
			got, err := store.Load(context.Background(), "node-1")
			require.NoError(t, err)
			want := fmt.Sprintf("from_a-to_b-phase_%d", phase)
			require.Equal(t, rec(fmt.Sprintf("b-phase_%d", phase), want), got, "nothing written after the loss")

			block = false
			res, err := m.Transition(context.Background(), "node-1", "b", nil)
			require.NoError(t, err)
			require.Equal(t, phase, res.ResumedAt)
			got, err = store.Load(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, rec("b", ""), got)
		})
	}
}

// A lock lost after the last hook, before the final record, leaves phase 4
// recorded.
func TestLostLockBeforeTheFinalRecord(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	locker := statemachine.NewMemoryLocker()
	hooks := allPhases()
	hooks[4] = []statemachine.PhaseHook{statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error {
		require.True(t, locker.Break(statemachine.LockKey("node-1")))
		return nil
	})}
	m := newMachine(t, statemachine.Config{Store: store, Locker: locker, Hooks: hooks})
	_, err := m.Transition(context.Background(), "node-1", "b", nil)
	require.ErrorIs(t, err, statemachine.ErrLockLost)
	got, err := store.Load(context.Background(), "node-1")
	require.NoError(t, err)
	require.Equal(t, rec("b-phase_4", "from_a-to_b-phase_4"), got)
}

// Locked runs under the device's lock, before anything is read; its error
// stops the transition.
func TestLockedRunsUnderTheLock(t *testing.T) {
	t.Parallel()
	store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
	locker := statemachine.NewMemoryLocker()
	m := newMachine(t, statemachine.Config{Store: store, Locker: locker})
	errDone := errors.New("already done by another delivery")
	_, err := m.Transition(context.Background(), "node-1", "b", &statemachine.TransitionOpts{Locked: func(context.Context) error {
		require.True(t, locker.Held(statemachine.LockKey("node-1")))
		return errDone
	}})
	require.ErrorIs(t, err, errDone)
	got, err := store.Load(context.Background(), "node-1")
	require.NoError(t, err)
	require.Equal(t, rec("a", ""), got, "nothing ran")
	require.False(t, locker.Held(statemachine.LockKey("node-1")), "released")
}

// WaitLock waits for a device lock that another holder has, then runs
// under it; without WaitLock the transition fails at once, and a wait is
// bounded by the context.
func TestWaitLock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    func(waits *atomic.Int32) *statemachine.TransitionOpts
		release bool
		timeout time.Duration
		wantErr []error
		want    statemachine.Record
	}{
		{name: "without WaitLock a held lock fails at once", opts: func(*atomic.Int32) *statemachine.TransitionOpts { return nil },
			timeout: time.Minute, wantErr: []error{statemachine.ErrLocked}, want: rec("a", "")},
		{name: "WaitLock runs once the holder releases", release: true, timeout: time.Minute, want: rec("b", ""),
			opts: func(waits *atomic.Int32) *statemachine.TransitionOpts {
				return &statemachine.TransitionOpts{WaitLock: true, OnLockWait: func(err error) {
					if errors.Is(err, statemachine.ErrLocked) {
						waits.Add(1)
					}
				}}
			}},
		{name: "the context bounds the wait", timeout: 300 * time.Millisecond, wantErr: []error{statemachine.ErrLocked, context.DeadlineExceeded},
			want: rec("a", ""), opts: func(*atomic.Int32) *statemachine.TransitionOpts {
				return &statemachine.TransitionOpts{WaitLock: true}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newRecordingStore(map[string]statemachine.Record{"node-1": rec("a", "")})
			locker := statemachine.NewMemoryLocker()
			m := newMachine(t, statemachine.Config{Store: store, Locker: locker})
			held, err := locker.Acquire(context.Background(), statemachine.LockKey("node-1"))
			require.NoError(t, err)
			var waits atomic.Int32
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := m.Transition(ctx, "node-1", "b", tc.opts(&waits))
				done <- err
			}()
			if tc.release {
				deadline := time.Now().Add(30 * time.Second)
				for waits.Load() == 0 {
					require.True(t, time.Now().Before(deadline), "the transition waits for the lock")
					time.Sleep(5 * time.Millisecond)
				}
				require.NoError(t, held.Release(context.Background()))
			}
			err = <-done
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
			}
			for _, want := range tc.wantErr {
				require.ErrorIs(t, err, want)
			}
			got, err := store.Load(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
