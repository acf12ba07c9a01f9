package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
)

// DefaultCleanSteps is what `osism baremetal clean` runs without steps:
// wipe the disks' partition tables and signatures, as a quick clean does.
var DefaultCleanSteps = []osism.BaremetalStep{{Interface: "deploy", Step: "erase_devices_metadata"}}

// RegisterOpenStack registers the openstack.baremetal handler: it runs
// bare-metal operations against the Ironic cfg names. The client is made
// on the first task and kept while it works.
func RegisterOpenStack(reg *osism.Registry, cfg openstack.Config) error {
	h := &baremetalHandler{cfg: cfg}
	return osism.RegisterFunc(reg, h.work)
}

type baremetalHandler struct {
	cfg openstack.Config
	mu  sync.Mutex
	bm  *openstack.BareMetal
}

func (h *baremetalHandler) client(ctx context.Context) (*openstack.BareMetal, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bm != nil {
		return h.bm, nil
	}
	bm, err := openstack.NewBareMetal(ctx, h.cfg)
	if err != nil {
		return nil, err
	}
	h.bm = bm
	return bm, nil
}

func (h *baremetalHandler) work(ctx context.Context, job *osism.Job[osism.BaremetalArgs]) error {
	if err := job.Args.Validate(); err != nil {
		return err
	}
	bm, err := h.client(ctx)
	if err != nil {
		return err
	}
	res, err := RunBaremetal(ctx, bm, job.Args, job.Output)
	if rerr := job.SetResult(res); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// BaremetalResult is how one node ended an operation.
type BaremetalResult struct {
	Node           string                   `json:"node"`
	UUID           string                   `json:"uuid,omitempty"`
	ProvisionState openstack.ProvisionState `json:"provision_state,omitempty"`
	PowerState     openstack.PowerState     `json:"power_state,omitempty"`
	Maintenance    bool                     `json:"maintenance"`
	Deleted        bool                     `json:"deleted,omitempty"`
	Error          string                   `json:"error,omitempty"`
}

// ErrNodesFailed matches the error of a bare-metal operation some of whose
// nodes failed.
var ErrNodesFailed = errors.New("nodes failed")

// RunBaremetal runs args.Op on each node in turn against bm, writing a
// line per step to out, and returns how each node ended. A node that
// fails does not stop the others; the error then says how many failed
// (ErrNodesFailed) and names them.
func RunBaremetal(ctx context.Context, bm *openstack.BareMetal, args osism.BaremetalArgs, out io.Writer) ([]BaremetalResult, error) {
	if err := args.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	results := make([]BaremetalResult, 0, len(args.Nodes))
	var failed []string
	for _, ref := range args.Nodes {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		r := BaremetalResult{Node: ref}
		n, err := runBaremetalNode(ctx, bm, args, ref, out)
		if n != nil {
			r.UUID, r.ProvisionState, r.PowerState, r.Maintenance = n.UUID, n.ProvisionState, n.PowerState, n.Maintenance
		}
		if err == nil && args.Op == osism.BaremetalDelete {
			r.Deleted = true
		}
		if err != nil {
			r.Error = err.Error()
			failed = append(failed, err.Error())
			fmt.Fprintf(out, "%s: %s failed: %v\n", ref, args.Op, err)
		} else {
			fmt.Fprintf(out, "%s: %s done: %s\n", ref, args.Op, describe(n, r.Deleted))
		}
		results = append(results, r)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("baremetal %s: %d of %d %w: %s", args.Op, len(failed), len(args.Nodes), ErrNodesFailed, strings.Join(failed, "; "))
	}
	return results, nil
}

func describe(n *openstack.Node, deleted bool) string {
	if deleted {
		return "deleted"
	}
	if n == nil {
		return "accepted"
	}
	s := fmt.Sprintf("provision state %s, power %s", n.ProvisionState, orNA(string(n.PowerState)))
	if n.Maintenance {
		s += ", maintenance"
	}
	return s
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

// runBaremetalNode runs the operation on one node; the node returned is
// as the operation left it (nil when none was read).
func runBaremetalNode(ctx context.Context, bm *openstack.BareMetal, args osism.BaremetalArgs, ref string, out io.Writer) (*openstack.Node, error) {
	step := func(format string, a ...any) { fmt.Fprintf(out, "%s: "+format+"\n", append([]any{ref}, a...)...) }
	provision := func(req openstack.ProvisionRequest) (*openstack.Node, error) {
		step("provision %s", req.Target)
		if args.NoWait {
			if err := bm.SetProvisionState(ctx, ref, req); err != nil {
				return nil, err
			}
			return bm.Node(ctx, ref)
		}
		return bm.Provision(ctx, ref, req)
	}
	power := func(req openstack.PowerRequest) (*openstack.Node, error) {
		step("%s%s", map[bool]string{true: "soft "}[req.Soft], req.Target)
		if args.NoWait {
			if err := bm.SetPower(ctx, ref, req); err != nil {
				return nil, err
			}
			return bm.Node(ctx, ref)
		}
		return bm.Power(ctx, ref, req)
	}
	// manageFirst moves an enrolled node to manageable, which provide and
	// adopt start from.
	manageFirst := func() error {
		n, err := bm.Node(ctx, ref)
		if err != nil {
			return err
		}
		if n.ProvisionState == openstack.StateEnroll {
			if _, err := bm.Provision(ctx, ref, openstack.ProvisionRequest{Target: openstack.TargetManage}); err != nil {
				return err
			}
			step("manageable")
		}
		return nil
	}
	switch args.Op {
	case osism.BaremetalManage:
		return provision(openstack.ProvisionRequest{Target: openstack.TargetManage})
	case osism.BaremetalProvide:
		if err := manageFirst(); err != nil {
			return nil, err
		}
		return provision(openstack.ProvisionRequest{Target: openstack.TargetProvide})
	case osism.BaremetalInspect:
		return provision(openstack.ProvisionRequest{Target: openstack.TargetInspect})
	case osism.BaremetalDeploy:
		req := openstack.ProvisionRequest{Target: openstack.TargetDeploy}
		if args.ConfigDrive != "" {
			req.ConfigDrive = args.ConfigDrive
		}
		return provision(req)
	case osism.BaremetalRebuild:
		req := openstack.ProvisionRequest{Target: openstack.TargetRebuild}
		if args.ConfigDrive != "" {
			req.ConfigDrive = args.ConfigDrive
		}
		return provision(req)
	case osism.BaremetalUndeploy:
		return provision(openstack.ProvisionRequest{Target: openstack.TargetUndeploy})
	case osism.BaremetalClean:
		steps := args.CleanSteps
		if len(steps) == 0 {
			steps = DefaultCleanSteps
		}
		req := openstack.ProvisionRequest{Target: openstack.TargetClean}
		for _, s := range steps {
			req.CleanSteps = append(req.CleanSteps, openstack.CleanStep{Interface: s.Interface, Step: s.Step, Args: s.Args})
		}
		return provision(req)
	case osism.BaremetalAdopt:
		if err := manageFirst(); err != nil {
			return nil, err
		}
		return provision(openstack.ProvisionRequest{Target: openstack.TargetAdopt})
	case osism.BaremetalAbort:
		return provision(openstack.ProvisionRequest{Target: openstack.TargetAbort})
	case osism.BaremetalPowerOn:
		return power(openstack.PowerRequest{Target: openstack.PowerOn})
	case osism.BaremetalPowerOff:
		return power(openstack.PowerRequest{Target: openstack.PowerOff, Soft: args.Soft})
	case osism.BaremetalReboot:
		return power(openstack.PowerRequest{Target: openstack.PowerRebooting, Soft: args.Soft})
	case osism.BaremetalMaintenanceSet:
		step("maintenance set")
		if err := bm.SetMaintenance(ctx, ref, args.Reason); err != nil {
			return nil, err
		}
		return bm.Node(ctx, ref)
	case osism.BaremetalMaintenanceUnset:
		step("maintenance unset")
		if err := bm.UnsetMaintenance(ctx, ref); err != nil {
			return nil, err
		}
		return bm.Node(ctx, ref)
	case osism.BaremetalDelete:
		n, err := bm.Node(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !n.SafeToDelete() {
			return n, fmt.Errorf("node %s is not safe to delete (provision state %s, power %s, instance %q): undeploy and power it off first",
				n.Ref(), n.ProvisionState, orNA(string(n.PowerState)), n.InstanceUUID)
		}
		step("delete")
		return nil, bm.DeleteNode(ctx, n.UUID)
	}
	return nil, fmt.Errorf("baremetal: operation %q: not handled", args.Op)
}

// BaremetalTargets returns the nodes an operation with --all acts on:
// deploy the available nodes, rebuild the active ones, never a node in
// maintenance; in name order. filter, when not nil, narrows the nodes
// further (resource class, driver, conductor group, owner); its
// provision state and maintenance are the operation's.
func BaremetalTargets(ctx context.Context, bm *openstack.BareMetal, op osism.BaremetalOp, filter *openstack.ListNodesOpts) ([]string, error) {
	var state openstack.ProvisionState
	switch op {
	case osism.BaremetalDeploy:
		state = openstack.StateAvailable
	case osism.BaremetalRebuild:
		state = openstack.StateActive
	default:
		return nil, fmt.Errorf("baremetal %s: --all applies to deploy (available nodes) and rebuild (active nodes) only", op)
	}
	var o openstack.ListNodesOpts
	if filter != nil {
		o = *filter
	}
	off := false
	o.ProvisionState, o.Maintenance = state, &off
	ns, err := bm.Nodes(ctx, &o)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ns))
	for _, n := range ns {
		names = append(names, n.Ref())
	}
	slices.Sort(names)
	return names, nil
}

// BaremetalTask is the task of one node of RunBaremetalTasks.
type BaremetalTask struct {
	Node string `json:"node"`
	TaskOutcome
}

// BaremetalTasksOpts are the knobs of RunBaremetalTasks; nil means
// defaults.
type BaremetalTasksOpts struct {
	// Follow, when set and there is one node, follows its task's output
	// instead of waiting silently.
	Follow *ConnectFollow
	// Progress is told each time a node's task ended.
	Progress func(done, total, failed int)
}

// RunBaremetalTasks submits one openstack.baremetal task per node of args
// (so that several workers share them) and waits for them all; with one
// node and opts.Follow it follows that task's output. The error is a
// submit or follow that failed, or "N of M nodes failed" (ErrNodesFailed).
func RunBaremetalTasks(ctx context.Context, client *osism.Client, args osism.BaremetalArgs, opts *BaremetalTasksOpts) ([]BaremetalTask, error) {
	if opts == nil {
		opts = &BaremetalTasksOpts{}
	}
	if err := args.Validate(); err != nil {
		return nil, err
	}
	tasks := make([]BaremetalTask, 0, len(args.Nodes))
	for _, n := range args.Nodes {
		one := args
		one.Nodes = []string{n}
		res, err := client.Submit(ctx, one, nil)
		if err != nil {
			return tasks, err
		}
		tasks = append(tasks, BaremetalTask{Node: n, TaskOutcome: TaskOutcome{ID: res.ID}})
	}
	if len(tasks) == 1 && opts.Follow != nil {
		t := &tasks[0]
		if err := followOne(ctx, client, &t.TaskOutcome, opts.Follow); err != nil {
			return tasks, err
		}
		if t.Failed() {
			return tasks, fmt.Errorf("1 of 1 %w", ErrNodesFailed)
		}
		return tasks, nil
	}
	outs := make([]*TaskOutcome, len(tasks))
	for i := range tasks {
		outs[i] = &tasks[i].TaskOutcome
	}
	if failed := awaitAll(ctx, client, outs, opts.Progress); failed > 0 {
		return tasks, fmt.Errorf("%d of %d %w", failed, len(tasks), ErrNodesFailed)
	}
	return tasks, nil
}

// BaremetalNode is a node with, when asked for, its NetBox device.
type BaremetalNode struct {
	openstack.Node
	// Device is the NetBox device of the node's name (nil when not asked
	// for or there is none).
	Device *netbox.Device `json:"netbox_device,omitempty"`
}

// ListBaremetal lists the nodes opts selects; with nb, it joins each to
// the NetBox device of its name, reading the devices 50 names a request.
func ListBaremetal(ctx context.Context, bm *openstack.BareMetal, opts *openstack.ListNodesOpts, nb *netbox.Client) ([]BaremetalNode, error) {
	ns, err := bm.Nodes(ctx, opts)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ns, func(a, b openstack.Node) int { return strings.Compare(a.Ref(), b.Ref()) })
	out := make([]BaremetalNode, len(ns))
	for i, n := range ns {
		out[i].Node = n
	}
	if nb == nil {
		return out, nil
	}
	byName := map[string]*netbox.Device{}
	var names []string
	for _, n := range ns {
		if n.Name != "" {
			names = append(names, n.Name)
		}
	}
	for chunk := range slices.Chunk(names, 50) {
		ds, err := nb.Devices(ctx, netbox.DeviceFilter{Name: chunk})
		if err != nil {
			return nil, fmt.Errorf("baremetal list --netbox: %w", err)
		}
		for i := range ds {
			byName[ds[i].Name] = &ds[i]
		}
	}
	for i := range out {
		out[i].Device = byName[out[i].Name]
	}
	return out, nil
}
