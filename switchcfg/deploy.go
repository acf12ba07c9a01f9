package switchcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osism/go-osism/internal/batch"
	"github.com/osism/go-osism/statemachine"
)

// Deployer renders switch configurations into the state repository,
// deploys them and checks what the switches run. Requests for the same
// switch that arrive while one is in progress are batched: they share the
// next render, and the next SSH session to that switch.
type Deployer struct {
	Renderer    *Renderer
	Repo        *Repo
	Credentials *Credentials
	// Drivers picks the driver of a deployment type; default DriverFor.
	Drivers func(deploymentType string) (Driver, Dialect, error)
	// Locker, when set, gives the lock "switch/<name>" that is held
	// around every session to a switch, so that two deploys (of this
	// process or another) never reach one switch at once. A held lock is
	// waited for until ctx ends.
	Locker statemachine.Locker
	// MaxSessions bounds concurrent SSH sessions; default 8.
	MaxSessions int
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	once      sync.Once
	sem       chan struct{}
	render    *batch.Rounds[string, GenerateResult]
	mu        sync.Mutex
	deploys   map[string]*batch.Rounds[string, DeployResult]
	contexts  map[string]*Context
	seen      map[string]seenConfig // what each switch ran after this process deployed it
	sessions  map[string]int
	managed   []string // the managed switches, as of managedAt
	managedAt time.Time
	listing   *batch.Rounds[struct{}, []string] // one listing of managed switches at a time
	// switchesOf are the switches of the transitions in progress, by
	// device and target (hooks.go).
	switchesOf map[string][]string
}

// managedTTL is how long SwitchesOf trusts its list of managed switches.
const managedTTL = 30 * time.Second

type seenConfig struct {
	rev     string
	running []byte
}

// GenerateResult is a render committed to the state repository.
type GenerateResult struct {
	Switch  string `json:"switch"`
	Rev     string `json:"rev"`
	Changed bool   `json:"changed"`
}

// DeployResult is one switch after a deploy.
type DeployResult struct {
	Switch string `json:"switch"`
	Rev    string `json:"rev"`
	// Sent are the commands sent (all of them, or those a dry run would
	// send).
	Sent []string `json:"sent"`
	// Report compares what the switch runs afterwards with Rev.
	Report Report `json:"report"`
}

func (d *Deployer) init() {
	d.once.Do(func() {
		n := d.MaxSessions
		if n <= 0 {
			n = 8
		}
		d.sem = make(chan struct{}, n)
		d.render = batch.New(0, d.generateRound)
		d.listing = batch.New(0, func(ctx context.Context, _ []struct{}) (map[struct{}][]string, error) {
			devs, err := Switches(ctx, d.Renderer.nb)
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(devs))
			for _, dev := range devs {
				names = append(names, dev.Name)
			}
			d.mu.Lock()
			d.managed, d.managedAt = names, time.Now()
			d.mu.Unlock()
			return map[struct{}][]string{{}: names}, nil
		})
		d.deploys = map[string]*batch.Rounds[string, DeployResult]{}
		d.contexts = map[string]*Context{}
		d.seen = map[string]seenConfig{}
		d.sessions = map[string]int{}
		d.switchesOf = map[string][]string{}
		if d.Drivers == nil {
			d.Drivers = DriverFor
		}
		if d.Logger == nil {
			d.Logger = slog.Default()
		}
	})
}

// Sessions returns how many SSH sessions were opened to each switch.
func (d *Deployer) Sessions() map[string]int {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.sessions)
}

// Generate renders switches from NetBox and commits every changed
// configuration.
func (d *Deployer) Generate(ctx context.Context, switches ...string) ([]GenerateResult, error) {
	d.init()
	if len(switches) == 0 {
		return nil, errors.New("generate: no switch named")
	}
	for _, sw := range switches {
		if err := CheckName(sw); err != nil {
			return nil, err
		}
	}
	return d.render.Do(ctx, switches...)
}

// generateRound renders switches under their locks, held from before the
// NetBox read to after the commit: a render that read NetBox earlier can
// then never be committed on top of one that read it later (by this
// process or another with the same Locker), which would undo a device's
// change on the switch.
func (d *Deployer) generateRound(ctx context.Context, switches []string) (map[string]GenerateResult, error) {
	held, release, err := d.lockSwitches(ctx, switches)
	if err != nil {
		return nil, err
	}
	defer release()
	cs, err := d.Renderer.Contexts(ctx, switches...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]GenerateResult, len(cs))
	for _, c := range cs {
		d.mu.Lock()
		d.contexts[c.Device.Name] = c
		d.mu.Unlock()
		r, err := d.Renderer.RenderContext(c)
		if err != nil {
			return nil, err
		}
		if err := held(r.Switch); err != nil {
			return nil, fmt.Errorf("render %s: nothing committed: %w", r.Switch, err)
		}
		rev, changed, err := d.Repo.Commit(r.Switch, r.Config, "render "+r.Switch+" from NetBox")
		if err != nil {
			return nil, err
		}
		out[r.Switch] = GenerateResult{Switch: r.Switch, Rev: rev, Changed: changed}
	}
	return out, nil
}

// lockSwitches takes the locks of switches, in sorted order (so that two
// rounds never wait for each other), waiting for each until ctx ends.
// held says whether the lock of one of them is still held (a
// *LockLostError when not); release frees them all. Without a Locker
// nothing is locked.
func (d *Deployer) lockSwitches(ctx context.Context, switches []string) (held func(sw string) error, release func(), err error) {
	leases := map[string]statemachine.Lease{}
	release = func() {
		for _, l := range leases {
			_ = l.Release(context.WithoutCancel(ctx))
		}
	}
	held = func(sw string) error {
		if l := leases[sw]; l != nil && l.Lost() != nil {
			select {
			case <-l.Lost():
				return &LockLostError{Switch: sw}
			default:
			}
		}
		return nil
	}
	if d.Locker == nil {
		return held, release, nil
	}
	sorted := slices.Clone(switches)
	slices.Sort(sorted)
	for _, sw := range slices.Compact(sorted) {
		lease, err := statemachine.AcquireWait(ctx, d.Locker, SwitchLockKey(sw), nil)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("render switch %s: %w", sw, err)
		}
		leases[sw] = lease
	}
	return held, release, nil
}

// SwitchesOf returns the managed switches device's cables reach, sorted.
func (d *Deployer) SwitchesOf(ctx context.Context, device string) ([]string, error) {
	d.init()
	peers, err := d.Renderer.nb.Peers(ctx, device)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range peers {
		if n := p.PeerDevice.Name; n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	managed, err := d.managedSwitches(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range managed {
		if slices.Contains(names, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// managedSwitches returns the names of the managed switches, asked of
// NetBox at most every managedTTL.
func (d *Deployer) managedSwitches(ctx context.Context) ([]string, error) {
	d.mu.Lock()
	if d.managed != nil && time.Since(d.managedAt) < managedTTL {
		defer d.mu.Unlock()
		return d.managed, nil
	}
	d.mu.Unlock()
	res, err := d.listing.Do(ctx, struct{}{})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// target returns how to reach sw, from the contexts of the last render or
// NetBox.
func (d *Deployer) target(ctx context.Context, sw string) (Target, error) {
	d.mu.Lock()
	c := d.contexts[sw]
	d.mu.Unlock()
	if c == nil {
		cs, err := d.Renderer.Contexts(ctx, sw)
		if err != nil {
			return Target{}, err
		}
		c = cs[0]
		d.mu.Lock()
		d.contexts[sw] = c
		d.mu.Unlock()
	}
	return d.Credentials.target(c, d.Logger)
}

// rendered returns the newest committed configuration of sw and its
// revision, read from the state repository as it is now: another process
// (a worker, the CLI) may have committed a newer render than this one
// made.
func (d *Deployer) rendered(sw string) ([]byte, string, error) {
	rev, cfg, err := d.Repo.Latest(sw)
	if err != nil {
		return nil, "", fmt.Errorf("switch %s has no rendered configuration yet (osism netbox generate %s): %w", sw, sw, err)
	}
	return cfg, rev, nil
}

// session opens a session to sw within the session limit; release closes
// it.
func (d *Deployer) session(ctx context.Context, sw string) (Session, Dialect, Target, func(), error) {
	t, err := d.target(ctx, sw)
	if err != nil {
		return nil, nil, t, nil, err
	}
	drv, dialect, err := d.Drivers(t.DeploymentType)
	if err != nil {
		return nil, nil, t, nil, fmt.Errorf("switch %s: %w", sw, err)
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, t, nil, ctx.Err()
	}
	d.mu.Lock()
	d.sessions[sw]++
	d.mu.Unlock()
	s, err := openSession(ctx, drv, t)
	if err != nil {
		<-d.sem
		return nil, nil, t, nil, err
	}
	return guarded{s: s, sw: sw}, dialect, t, func() { _ = s.Close(); <-d.sem }, nil
}

// SwitchLockKey is the key of the lock a Deployer holds around every
// session to switch sw.
func SwitchLockKey(sw string) string { return "switch/" + sw }

// DeployOpts are the knobs of [Deployer.Deploy]; nil means the defaults.
type DeployOpts struct {
	// DryRun reads what each switch runs and reports the commands a
	// deploy would send, and sends none.
	DryRun bool
}

// Deploy brings every switch to its last committed configuration, sending
// only the difference, saves it, reads it back and marks the revision
// deployed.
func (d *Deployer) Deploy(ctx context.Context, switches []string, opts *DeployOpts) ([]DeployResult, error) {
	d.init()
	if opts != nil && opts.DryRun {
		return d.each(ctx, switches, d.compareLatest)
	}
	return d.each(ctx, switches, func(ctx context.Context, sw string) (DeployResult, error) {
		d.mu.Lock()
		r := d.deploys[sw]
		if r == nil {
			r = batch.New(0, func(ctx context.Context, _ []string) (map[string]DeployResult, error) {
				res, err := d.deployOne(ctx, sw)
				return map[string]DeployResult{sw: res}, err
			})
			d.deploys[sw] = r
		}
		d.mu.Unlock()
		res, err := r.Do(ctx, sw)
		if err != nil {
			return DeployResult{Switch: sw}, err
		}
		return res[0], nil
	})
}

// each runs f for every switch at once and returns the results in the
// order of switches; errors are joined.
func (d *Deployer) each(ctx context.Context, switches []string, f func(context.Context, string) (DeployResult, error)) ([]DeployResult, error) {
	out := make([]DeployResult, len(switches))
	errs := make([]error, len(switches))
	var wg sync.WaitGroup
	for i, sw := range switches {
		if err := CheckName(sw); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer recoverAs(&errs[i], "switch "+sw)
			out[i], errs[i] = f(ctx, sw)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// LockLostError is a switch lock lost while a session held it: the
// session's context is cancelled and nothing more is sent. It matches
// statemachine.ErrLockLost.
type LockLostError struct{ Switch string }

func (e *LockLostError) Error() string {
	return fmt.Sprintf("switch %s: lock %s lost; the session was stopped and nothing more was sent", e.Switch, SwitchLockKey(e.Switch))
}

func (e *LockLostError) Is(target error) bool { return target == statemachine.ErrLockLost }

// openLocked takes the lock of sw, opens a session and reads what sw runs.
// The session runs under the returned context, which ends when the lock is
// lost (its cause a *LockLostError); release closes the session and frees
// the lock.
func (d *Deployer) openLocked(ctx context.Context, sw string) (context.Context, Session, Dialect, []byte, func(), error) {
	unlock := func() {}
	if d.Locker != nil {
		lease, err := statemachine.AcquireWait(ctx, d.Locker, SwitchLockKey(sw), nil)
		if err != nil {
			return nil, nil, nil, nil, nil, fmt.Errorf("switch %s: %w", sw, err)
		}
		lctx, cancel := context.WithCancelCause(ctx)
		if lost := lease.Lost(); lost != nil {
			stop := make(chan struct{})
			go func() {
				select {
				case <-lost:
					d.Logger.Warn("switch lock lost: stopping the session", "switch", sw, "lock", SwitchLockKey(sw))
					cancel(&LockLostError{Switch: sw})
				case <-stop:
				}
			}()
			unlock = func() { close(stop); cancel(nil); _ = lease.Release(context.WithoutCancel(ctx)) }
		} else {
			unlock = func() { cancel(nil); _ = lease.Release(context.WithoutCancel(ctx)) }
		}
		ctx = lctx
	}
	s, dialect, _, release, err := d.session(ctx, sw)
	if err != nil {
		unlock()
		return nil, nil, nil, nil, nil, lostOr(ctx, err)
	}
	running, err := d.readRunning(ctx, s, dialect, sw)
	if err != nil {
		release()
		unlock()
		return nil, nil, nil, nil, nil, lostOr(ctx, err)
	}
	return ctx, s, dialect, running, func() { release(); unlock() }, nil
}

// readTries is how often a running configuration cut short is read.
const readTries = 3

// readRunning reads what sw runs. A read that the dialect (a [Completer])
// finds cut short is read again, up to readTries times in all; then it
// fails, naming the switch.
func (d *Deployer) readRunning(ctx context.Context, s Session, dialect Dialect, sw string) ([]byte, error) {
	c, ok := dialect.(Completer)
	for try := 1; ; try++ {
		running, err := s.RunningConfig(ctx)
		if err != nil || !ok {
			return running, err
		}
		cerr := c.Complete(running)
		if cerr == nil {
			return running, nil
		}
		if try == readTries {
			return nil, fmt.Errorf("switch %s: %w: read %d times, cut short each time: %v", sw, ErrShortRead, readTries, cerr)
		}
		d.Logger.Warn("switch running configuration cut short: reading it again", "switch", sw, "try", try, "reason", cerr.Error())
	}
}

// applyTries is how often a deploy sends what the switch still lacks:
// once, and again up to twice when the read-back shows commands missing.
const applyTries = 3

// lostOr is the *LockLostError that ended ctx, joined to err; else err.
func lostOr(ctx context.Context, err error) error {
	if lost, ok := errors.AsType[*LockLostError](context.Cause(ctx)); ok && !errors.Is(err, statemachine.ErrLockLost) {
		return errors.Join(lost, err)
	}
	return err
}

// stillHeld fails when the lock of the session's context was lost.
func stillHeld(ctx context.Context) error {
	if lost, ok := errors.AsType[*LockLostError](context.Cause(ctx)); ok {
		return lost
	}
	return nil
}

// deployOne deploys sw under its lock: the configuration sent is what the
// state repository holds for sw once the lock is held, so a newer render
// another process committed is never undone by an older one of this
// process.
func (d *Deployer) deployOne(ctx context.Context, sw string) (res DeployResult, err error) {
	res = DeployResult{Switch: sw}
	defer recoverAs(&err, "deploy switch "+sw)
	sctx, s, dialect, running, release, err := d.openLocked(ctx, sw)
	if err != nil {
		return res, err
	}
	defer release()
	rendered, rev, err := d.rendered(sw)
	if err != nil {
		return res, err
	}
	res.Rev = rev
	if err := stillHeld(sctx); err != nil {
		return res, err
	}
	for try := 1; ; try++ {
		sent, err := s.Apply(sctx, rendered, running)
		res.Sent = append(res.Sent, maskLines(dialect, sent)...)
		if err != nil {
			return res, lostOr(sctx, err)
		}
		if len(sent) == 0 {
			break
		}
		if err := s.Save(sctx); err != nil {
			return res, lostOr(sctx, err)
		}
		if running, err = d.readRunning(sctx, s, dialect, sw); err != nil {
			return res, lostOr(sctx, err)
		}
		left := dialect.Commands(rendered, running)
		if len(left) == 0 {
			break
		}
		if try == applyTries {
			res.Report = reportOf(dialect, sw, rendered, running)
			return res, fmt.Errorf("switch %s: %w: after sending the commands %d times, %d are still missing, first %q",
				sw, ErrNotApplied, applyTries, len(left), maskLine(dialect, left[0]))
		}
		d.Logger.Warn("switch lacks commands after the deploy: sending them again", "switch", sw, "try", try, "missing", len(left))
		if err := stillHeld(sctx); err != nil {
			return res, err
		}
	}
	res.Report = reportOf(dialect, sw, rendered, running)
	if err := stillHeld(sctx); err != nil {
		return res, err
	}
	d.mu.Lock()
	d.seen[sw] = seenConfig{rev: rev, running: running}
	d.mu.Unlock()
	if err := d.Repo.MarkDeployed(sw, rev); err != nil {
		return res, err
	}
	d.Logger.Info("switch deployed", "switch", sw, "rev", rev, "commands", len(res.Sent), "complies", res.Report.OK())
	return res, nil
}

// reportOf compares rendered with running in dialect, its lines masked.
func reportOf(dialect Dialect, sw string, rendered, running []byte) Report {
	rep := dialect.Compare(rendered, running)
	rep.Switch = sw
	rep.Missing = maskLines(dialect, rep.Missing)
	rep.Extra = maskLines(dialect, rep.Extra)
	return rep
}

// compareLatest reads what sw runs and compares it with its newest
// committed configuration, with the commands a deploy would send.
func (d *Deployer) compareLatest(ctx context.Context, sw string) (DeployResult, error) {
	rendered, rev, err := d.rendered(sw)
	if err != nil {
		return DeployResult{Switch: sw}, err
	}
	return d.readAndCompare(ctx, sw, rendered, rev)
}

// readAndCompare reads what sw runs, under its lock, and compares it with
// rendered (revision rev); Sent are the commands a deploy would send.
func (d *Deployer) readAndCompare(ctx context.Context, sw string, rendered []byte, rev string) (DeployResult, error) {
	res := DeployResult{Switch: sw, Rev: rev}
	_, _, dialect, running, release, err := d.openLocked(ctx, sw)
	if err != nil {
		return res, err
	}
	release()
	res.Sent = maskLines(dialect, dialect.Commands(rendered, running))
	res.Report = reportOf(dialect, sw, rendered, running)
	return res, nil
}

// Compare reads what each switch runs, in a session of its own, and
// compares it with its newest committed configuration.
func (d *Deployer) Compare(ctx context.Context, switches []string) ([]Report, error) {
	d.init()
	res, err := d.each(ctx, switches, d.compareLatest)
	return reports(res), err
}

// VerifyOpts are the knobs of [Deployer.Verify]; nil means the defaults.
type VerifyOpts struct {
	// Fresh reads every switch in a new session. Without it, what this
	// process's last deploy read back stands in for one.
	Fresh bool
}

// Verify checks that each switch runs the revision last deployed to it,
// which phase 4 of a transition needs: another device's newer render,
// committed but not yet deployed, is no fault of this transition. What
// this process's last deploy read back stands in for a read of the switch
// only while the revision marked deployed is the one this process
// deployed; when another process has deployed since, the switch is read
// anew.
func (d *Deployer) Verify(ctx context.Context, switches []string, opts *VerifyOpts) ([]Report, error) {
	d.init()
	fresh := opts != nil && opts.Fresh
	res, err := d.each(ctx, switches, func(ctx context.Context, sw string) (DeployResult, error) {
		rev, err := d.Repo.Deployed(sw)
		if err != nil {
			return DeployResult{Switch: sw}, fmt.Errorf("switch %s: %w", sw, err)
		}
		d.mu.Lock()
		seen, ok := d.seen[sw]
		d.mu.Unlock()
		if ok && !fresh && seen.rev == rev {
			cfg, err := d.Repo.Show(sw, seen.rev)
			if err != nil {
				return DeployResult{Switch: sw}, err
			}
			if _, dialect, err := d.Drivers(d.deploymentType(sw)); err == nil {
				return DeployResult{Switch: sw, Rev: seen.rev, Report: reportOf(dialect, sw, cfg, seen.running)}, nil
			}
		}
		cfg, err := d.Repo.Show(sw, rev)
		if err != nil {
			return DeployResult{Switch: sw}, err
		}
		return d.readAndCompare(ctx, sw, cfg, rev)
	})
	return reports(res), err
}

func reports(res []DeployResult) []Report {
	out := make([]Report, len(res))
	for i, r := range res {
		out[i] = r.Report
	}
	return out
}

func (d *Deployer) deploymentType(sw string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.contexts[sw]; c != nil {
		return c.Device.DeploymentType
	}
	return ""
}

// Rollback commits the configuration sw had at rev as a new revision and
// deploys it.
func (d *Deployer) Rollback(ctx context.Context, sw, rev string) (DeployResult, error) {
	d.init()
	if _, _, err := d.Repo.Rollback(sw, rev); err != nil {
		return DeployResult{Switch: sw}, err
	}
	res, err := d.Deploy(ctx, []string{sw}, nil)
	if len(res) == 0 {
		return DeployResult{Switch: sw}, err
	}
	return res[0], err
}

// String renders a report for people: one line per difference.
func (r Report) String() string {
	if r.OK() {
		return r.Switch + ": runs the rendered configuration"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d missing, %d extra", r.Switch, len(r.Missing), len(r.Extra))
	for _, m := range r.Missing {
		b.WriteString("\n  - missing: " + m)
	}
	for _, e := range r.Extra {
		b.WriteString("\n  + extra:   " + e)
	}
	return b.String()
}
