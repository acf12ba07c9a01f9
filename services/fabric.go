package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// DefaultSwitchStateDir is where rendered switch configurations are kept
// by default.
const DefaultSwitchStateDir = "/var/lib/osism/switches"

// Fabric wires NetBox, the state machine and the switches: the four phase
// hooks of a transition and the handler of netbox.connect.
type Fabric struct {
	NetBox   *netbox.Client
	Deployer *switchcfg.Deployer
	// DesiredStateDir and Collection locate the desired states (phase 1).
	DesiredStateDir string
	Collection      string
	// Locker serialises transitions of a device and sessions to a switch
	// (keys device/<name> and switch/<name>); default a MemoryLocker.
	Locker statemachine.Locker
	// Graph defaults to statemachine.DefaultGraph.
	Graph *statemachine.Graph

	mu         sync.Mutex
	switchesOf map[string][]string
	store      *netbox.Store
}

// NewFabric builds a fabric from the configuration: the switch templates,
// the state repository and the credentials file. locker may be nil.
func NewFabric(cfg osism.FabricConfig, nb *netbox.Client, locker statemachine.Locker, log *slog.Logger) (*Fabric, error) {
	if nb == nil {
		return nil, errors.New("fabric: no NetBox client (set NETBOX_URL and NETBOX_TOKEN)")
	}
	var opts []switchcfg.Option
	if cfg.TemplatesDir != "" {
		opts = append(opts, switchcfg.WithTemplateDir(cfg.TemplatesDir))
	}
	r, err := switchcfg.NewRenderer(nb, opts...)
	if err != nil {
		return nil, err
	}
	dir := cfg.StateDir
	if dir == "" {
		dir = DefaultSwitchStateDir
	}
	repo, err := switchcfg.OpenRepo(dir)
	if err != nil {
		return nil, err
	}
	var creds *switchcfg.Credentials
	if cfg.CredentialsFile != "" {
		if creds, err = switchcfg.LoadCredentials(cfg.CredentialsFile); err != nil {
			return nil, err
		}
	}
	if locker == nil {
		locker = statemachine.NewMemoryLocker()
	}
	f := &Fabric{NetBox: nb, DesiredStateDir: cfg.DesiredStateDir, Collection: cfg.Collection, Locker: locker,
		switchesOf: map[string][]string{}, store: netbox.NewBatchStore(nb)}
	f.Deployer = &switchcfg.Deployer{Renderer: r, Repo: repo, Credentials: creds, MaxSessions: cfg.MaxSessions,
		Lock: f.lockSwitch, Logger: log}
	return f, nil
}

// lockSwitch waits for the lock of switch sw.
func (f *Fabric) lockSwitch(ctx context.Context, sw string) (func(), error) {
	for {
		lease, err := f.Locker.Acquire(ctx, "switch/"+sw)
		if err == nil {
			return func() { _ = lease.Release(context.WithoutCancel(ctx)) }, nil
		}
		if !errors.Is(err, statemachine.ErrLocked) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Store is the fabric's state store on NetBox: it batches the records of
// concurrent transitions.
func (f *Fabric) Store() statemachine.Store { return f.store }

// Machine returns a state machine over NetBox with the four phases of
// collection and the observers. Its store batches the state records of
// concurrent transitions.
func (f *Fabric) Machine(collection string, observers ...statemachine.Observer) (*statemachine.Machine, error) {
	if collection == "" {
		collection = f.Collection
	}
	return statemachine.New(statemachine.Config{
		Graph:     f.Graph,
		Store:     f.store,
		Locker:    f.Locker,
		Hooks:     f.Hooks(collection),
		Observers: observers,
	})
}

// Hooks are the phases of a transition: 1 the desired state in NetBox, 2
// render and commit the switches the device's cables reach, 3 deploy them,
// 4 compare what they run with what was rendered.
func (f *Fabric) Hooks(collection string) map[statemachine.Phase][]statemachine.PhaseHook {
	return map[statemachine.Phase][]statemachine.PhaseHook{
		statemachine.PhaseNetBox:   {netbox.DesiredStateHook{Client: f.NetBox, Dir: f.DesiredStateDir, Collection: collection, Optional: true}},
		statemachine.PhaseGenerate: {hookFunc(f.generate)},
		statemachine.PhaseDeploy:   {hookFunc(f.deploy)},
		statemachine.PhaseCompare:  {hookFunc(f.check)},
	}
}

type hookFunc func(ctx context.Context, step statemachine.Step) error

func (h hookFunc) RunPhase(ctx context.Context, step statemachine.Step) error { return h(ctx, step) }

// switches returns the managed switches of device, asked of NetBox once
// per transition (again after a resume in another process).
func (f *Fabric) switches(ctx context.Context, step statemachine.Step) ([]string, error) {
	key := step.Device + "\x00" + string(step.To)
	f.mu.Lock()
	sws, ok := f.switchesOf[key]
	f.mu.Unlock()
	if ok && step.Phase != statemachine.PhaseGenerate {
		return sws, nil
	}
	sws, err := f.Deployer.SwitchesOf(ctx, step.Device)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.switchesOf[key] = sws
	f.mu.Unlock()
	return sws, nil
}

func (f *Fabric) forget(step statemachine.Step) {
	f.mu.Lock()
	delete(f.switchesOf, step.Device+"\x00"+string(step.To))
	f.mu.Unlock()
}

func (f *Fabric) generate(ctx context.Context, step statemachine.Step) error {
	sws, err := f.switches(ctx, step)
	if err != nil || len(sws) == 0 {
		if err == nil {
			step.Progress("no managed switch is cabled to "+step.Device, 0, 0)
		}
		return err
	}
	res, err := f.Deployer.Generate(ctx, sws...)
	if err != nil {
		return err
	}
	for i, r := range res {
		what := "unchanged"
		if r.Changed {
			what = "changed"
		}
		step.Progress(fmt.Sprintf("%s: rendered, %s, revision %s", r.Switch, what, short(r.Rev)), i+1, len(res))
	}
	return nil
}

func (f *Fabric) deploy(ctx context.Context, step statemachine.Step) error {
	sws, err := f.switches(ctx, step)
	if err != nil || len(sws) == 0 {
		return err
	}
	res, err := f.Deployer.Deploy(ctx, sws, false)
	for i, r := range res {
		if r.Rev == "" {
			continue
		}
		step.Progress(fmt.Sprintf("%s: revision %s deployed, %d commands sent", r.Switch, short(r.Rev), len(r.Sent)), i+1, len(res))
	}
	return err
}

func (f *Fabric) check(ctx context.Context, step statemachine.Step) error {
	sws, err := f.switches(ctx, step)
	defer f.forget(step)
	if err != nil || len(sws) == 0 {
		return err
	}
	reports, err := f.Deployer.Verify(ctx, sws, step.Resumed)
	if err != nil {
		return err
	}
	var bad []string
	for i, r := range reports {
		step.Progress(r.String(), i+1, len(reports))
		if !r.OK() {
			bad = append(bad, r.String())
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("switches do not run what NetBox says:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// progressLines writes the events of a transition as lines.
func progressLines(w io.Writer) statemachine.Observer {
	return func(e statemachine.Event) {
		switch e.Kind {
		case statemachine.PhaseStarted:
			resumed := ""
			if e.Resumed {
				resumed = " (resumed)"
			}
			fmt.Fprintf(w, "%s: %s -> %s: phase %d started%s\n", e.Device, e.From, e.To, e.Phase, resumed)
		case statemachine.PhaseProgress:
			fmt.Fprintf(w, "%s: phase %d: %s\n", e.Device, e.Phase, e.Message)
		case statemachine.PhaseFinished:
			fmt.Fprintf(w, "%s: phase %d finished in %s\n", e.Device, e.Phase, e.Duration.Round(time.Millisecond))
		case statemachine.PhaseFailed:
			fmt.Fprintf(w, "%s: phase %d failed: %v\n", e.Device, e.Phase, e.Err)
		case statemachine.TransitionFinished:
			fmt.Fprintf(w, "%s: now in state %s (%s)\n", e.Device, e.To, e.Duration.Round(time.Millisecond))
		}
	}
}

// AddFabricWorkers registers the handler of netbox.connect. The fabric is
// built on the first task (NetBox from NETBOX_URL and NETBOX_TOKEN), with
// the bus's locks for devices and switches.
func AddFabricWorkers(ws *osism.Workers, cfg osism.FabricConfig, log *slog.Logger) error {
	var (
		mu     sync.Mutex
		fabric *Fabric
	)
	get := func(c *osism.Client) (*Fabric, error) {
		mu.Lock()
		defer mu.Unlock()
		if fabric != nil {
			return fabric, nil
		}
		nb, err := netbox.New(netbox.ConfigFromEnv())
		if err != nil {
			return nil, fmt.Errorf("netbox: %w", err)
		}
		var locker statemachine.Locker
		if c != nil {
			locker = StateLocker(c, 30*time.Second)
		}
		f, err := NewFabric(cfg, nb, locker, log)
		if err != nil {
			return nil, err
		}
		fabric = f
		return f, nil
	}
	return osism.AddWorkerFunc(ws, func(ctx context.Context, job *osism.Job[osism.NetBoxConnectArgs]) error {
		f, err := get(job.Client)
		if err != nil {
			return err
		}
		return f.Connect(ctx, job.Args, job.Output)
	})
}

// Connect moves a device to a state and writes the progress to out.
func (f *Fabric) Connect(ctx context.Context, a osism.NetBoxConnectArgs, out io.Writer) error {
	if a.Device == "" || a.State == "" {
		return errors.New("netbox.connect: a device and a state are required")
	}
	m, err := f.Machine(a.Collection, progressLines(out))
	if err != nil {
		return err
	}
	res, err := m.Transition(ctx, a.Device, statemachine.State(a.State), &statemachine.TransitionOpts{Enforce: a.Enforce})
	if err == nil && res.NoOp {
		fmt.Fprintf(out, "%s: already in state %s\n", a.Device, a.State)
	}
	return err
}
