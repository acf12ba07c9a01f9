package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
	"github.com/osism/go-osism/switchcfg"
)

// Fabric wires NetBox, the state machine, the switches and the bus: the
// four phase hooks of a transition (netbox.DesiredStateHook for phase 1,
// the switchcfg hooks for phases 2 to 4) and the handler of
// netbox.connect. It holds no logic of its own beyond the wiring.
type Fabric struct {
	NetBox   *netbox.Client
	Deployer *switchcfg.Deployer
	// DesiredState locates the desired states (phase 1).
	DesiredState netbox.DesiredStateConfig
	// Locker serialises transitions of a device and sessions to a switch
	// (keys device/<name> and switch/<name>).
	Locker statemachine.Locker
	// Graph defaults to statemachine.DefaultGraph.
	Graph *statemachine.Graph

	store    *netbox.Store
	mu       sync.Mutex
	machines map[string]*statemachine.Machine // by collection, for Connect
}

// NewFabric builds a fabric over the NetBox client nb from the fabric
// section of the configuration. With a bus client, devices and switches
// are locked on the bus, across every process that shares it; without
// one, with file locks in cfg.LockDir, across the processes of this host.
// log defaults to slog.Default().
func NewFabric(cfg FabricConfig, nb *netbox.Client, bus *osism.Client, log *slog.Logger) (*Fabric, error) {
	var locker statemachine.Locker
	if bus != nil {
		locker = StateLocker(bus, 30*time.Second)
	}
	return newFabric(cfg, nb, locker, log)
}

// newFabric is NewFabric with the locker given; nil means the host's file
// locks.
func newFabric(cfg FabricConfig, nb *netbox.Client, locker statemachine.Locker, log *slog.Logger) (*Fabric, error) {
	if nb == nil {
		return nil, errors.New("fabric: no NetBox client (set netbox.url and a token, or NETBOX_URL and NETBOX_TOKEN)")
	}
	if locker == nil {
		locker = FileLocker(cfg.lockDir())
	}
	d, err := switchcfg.NewDeployer(cfg.Switches, nb, locker, log)
	if err != nil {
		return nil, err
	}
	return &Fabric{NetBox: nb, Deployer: d, DesiredState: cfg.DesiredState, Locker: locker,
		store: netbox.NewBatchStore(nb), machines: map[string]*statemachine.Machine{}}, nil
}

// Store is the fabric's state store on NetBox: it batches the records of
// concurrent transitions.
func (f *Fabric) Store() statemachine.Store { return f.store }

// Machine returns a new state machine over NetBox with the four phases of
// collection (default the configured one) and the observers. Its store
// batches the state records of concurrent transitions.
func (f *Fabric) Machine(collection string, observers ...statemachine.Observer) (*statemachine.Machine, error) {
	return statemachine.New(statemachine.Config{
		Graph:     f.Graph,
		Store:     f.store,
		Locker:    f.Locker,
		Hooks:     f.Hooks(collection),
		Observers: observers,
	})
}

// machine is the fabric's one Machine of collection, made on first use.
func (f *Fabric) machine(collection string) (*statemachine.Machine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.machines[collection]; m != nil {
		return m, nil
	}
	m, err := f.Machine(collection)
	if err != nil {
		return nil, err
	}
	f.machines[collection] = m
	return m, nil
}

// Hooks are the phases of a transition: 1 the desired state of collection
// (default the configured one) in NetBox, 2 render and commit the switches
// the device's cables reach, 3 deploy them, 4 compare what they run with
// what was deployed.
func (f *Fabric) Hooks(collection string) map[statemachine.Phase][]statemachine.PhaseHook {
	if collection == "" {
		collection = f.DesiredState.Collection
	}
	hooks := switchcfg.Hooks(f.Deployer)
	ds := f.DesiredState.Hook(f.NetBox, collection)
	ds.OnMissing = noteMissing
	hooks[statemachine.PhaseNetBox] = []statemachine.PhaseHook{ds}
	return hooks
}

// RegisterFabric registers the handler of netbox.connect. The fabric is
// built on the first task, from cfg's netbox and fabric sections, with the
// bus's locks for devices and switches; workers of other queues need no
// NetBox.
func RegisterFabric(reg *osism.Registry, cfg Config, log *slog.Logger) error {
	return registerFabric(reg, cfg, log, false)
}

// lazyFabric returns a function that builds the fabric of cfg's netbox
// and fabric sections on its first call and returns the same one after,
// so that a worker whose queues never see such a task needs no NetBox.
// Devices and switches are locked on the bus of the task's client, or,
// with hostLocks (or no client), with the host's file locks.
func lazyFabric(cfg Config, log *slog.Logger, hostLocks bool) func(c *osism.Client) (*Fabric, error) {
	var (
		mu     sync.Mutex
		fabric *Fabric
	)
	return func(c *osism.Client) (*Fabric, error) {
		mu.Lock()
		defer mu.Unlock()
		if fabric != nil {
			return fabric, nil
		}
		nb, err := netbox.New(cfg.NetBox)
		if err != nil {
			return nil, fmt.Errorf("netbox: %w", err)
		}
		var locker statemachine.Locker
		if c != nil && !hostLocks {
			locker = StateLocker(c, 30*time.Second)
		}
		f, err := newFabric(cfg.Fabric, nb, locker, log)
		if err != nil {
			return nil, err
		}
		fabric = f
		return f, nil
	}
}

// registerFabric is RegisterFabric; with hostLocks, devices and switches
// are locked with the host's file locks instead of the bus's, for a bus
// that lives only inside one process.
func registerFabric(reg *osism.Registry, cfg Config, log *slog.Logger, hostLocks bool) error {
	get := lazyFabric(cfg, log, hostLocks)
	return osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[osism.NetBoxConnectArgs]) error {
		f, err := get(job.Client)
		if err != nil {
			return err
		}
		// A redelivered task waits for the device lock that the delivery
		// before it may still hold (its worker may have died with the lease
		// running), then finds out under the lock whether that delivery
		// finished the task.
		waiting := false
		res, err := f.Connect(ctx, job.Args, job.Output, &ConnectOpts{WaitLock: true, OnLockWait: func(error) {
			if !waiting {
				waiting = true
				fmt.Fprintf(job.Output, "osism: waiting for the lock of device %s\n", job.Args.Device)
			}
		}, Locked: func(ctx context.Context) error {
			return recordFinal(ctx, job.Client, job.ID)
		}})
		if errors.Is(err, errFinishedElsewhere) {
			fmt.Fprintf(job.Output, "osism: %v; not running it again\n", err)
			return nil
		}
		if serr := job.SetResult(res); serr != nil && err == nil {
			err = serr
		}
		if err == nil && res.NoDesiredState != "" {
			fmt.Fprintf(job.Output, "%s: %s; NetBox was left as it is\n", res.Device, res.NoDesiredState)
		}
		return err
	})
}

// errFinishedElsewhere marks a task that another delivery finished.
var errFinishedElsewhere = errors.New("already finished by another delivery")

// recordFinal re-reads the record of task id and reports whether it
// is already final.
func recordFinal(ctx context.Context, c *osism.Client, id string) error {
	if c == nil {
		return nil
	}
	t, err := c.Get(ctx, id)
	if errors.Is(err, osism.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("task %s: re-read under the device lock: %w", id, err)
	}
	if t.State.Finished() {
		return fmt.Errorf("task %s %w (%s)", id, errFinishedElsewhere, t.State)
	}
	return nil
}

// ConnectResult is the result of a netbox.connect task.
type ConnectResult struct {
	Device string `json:"device"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	// NoOp is true when the device already was in the target state.
	NoOp bool `json:"no_op,omitempty"`
	// ResumedAt is the phase an interrupted transition continued at.
	ResumedAt int `json:"resumed_at,omitempty"`
	// NoDesiredState says that phase 1 found no desired state, and which
	// files it looked for; NetBox was left as it was.
	NoDesiredState string `json:"no_desired_state,omitempty"`
}

// ConnectOpts are the knobs of [Fabric.Connect]; nil means the defaults.
type ConnectOpts struct {
	// Locked runs once the device's lock is held, before anything else
	// (statemachine.TransitionOpts.Locked).
	Locked func(ctx context.Context) error
	// WaitLock waits while the device's lock is held, until ctx ends,
	// instead of failing at once (statemachine.TransitionOpts.WaitLock);
	// OnLockWait hears each wait.
	WaitLock   bool
	OnLockWait func(error)
}

// Connect moves a device to a state and writes the progress to out.
func (f *Fabric) Connect(ctx context.Context, a osism.NetBoxConnectArgs, out io.Writer, opts *ConnectOpts) (ConnectResult, error) {
	res := ConnectResult{Device: a.Device, To: a.State}
	if a.Device == "" || a.State == "" {
		return res, errors.New("netbox.connect: a device and a state are required")
	}
	if opts == nil {
		opts = &ConnectOpts{}
	}
	m, err := f.machine(a.Collection)
	if err != nil {
		return res, err
	}
	// The note of a missing desired state belongs to this call: it travels
	// in the context to the phase-1 hook, so that another Connect of the
	// same device neither takes nor clears it.
	note := &missingNote{}
	tr, err := m.Transition(context.WithValue(ctx, missingKey{}, note), a.Device, statemachine.State(a.State),
		&statemachine.TransitionOpts{Enforce: a.Enforce, Locked: opts.Locked, WaitLock: opts.WaitLock, OnLockWait: opts.OnLockWait,
			Observers: append([]statemachine.Observer{statemachine.LineObserver(out)}, transitionObservers(ctx)...)})
	res.From, res.NoOp, res.ResumedAt = string(tr.From), tr.NoOp, int(tr.ResumedAt)
	if missing := note.take(); missing != nil {
		res.NoDesiredState = missing.Error()
	}
	if err == nil && tr.NoOp {
		fmt.Fprintf(out, "%s: already in state %s\n", a.Device, a.State)
	}
	return res, err
}

// missingKey is the context key of a Connect call's *missingNote.
type missingKey struct{}

// missingNote holds what phase 1 of one Connect call found missing.
type missingNote struct {
	mu sync.Mutex
	m  *netbox.MissingDesiredStateError
}

func (n *missingNote) take() *netbox.MissingDesiredStateError {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m
}

// noteMissing remembers, in the note of the Connect call whose context
// ctx is, that phase 1 found no desired state. A transition that is no
// Connect's (a Machine of the fabric's own) has no note.
func noteMissing(ctx context.Context, m *netbox.MissingDesiredStateError) {
	if n, ok := ctx.Value(missingKey{}).(*missingNote); ok {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.m = m
	}
}
