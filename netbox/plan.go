package netbox

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/osism/go-osism/internal/natural"
)

// Change is one write Apply makes to NetBox.
type Change struct {
	Action string `json:"action"` // "create", "update", "delete"
	Kind   string `json:"kind"`   // "vlan", "interface", "cable", "mac-address", "ip-address", "device"
	Object string `json:"object"` // "leaf-1 swp1", "VLAN 100", "10.0.0.1/24"
	Detail string `json:"detail,omitempty"`
}

func (c Change) String() string {
	s := c.Action + " " + c.Kind + " " + c.Object
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Plan lists the changes that make NetBox match a device's desired state.
type Plan struct {
	Device  string   `json:"device"`
	Changes []Change `json:"changes"`
}

// Empty reports whether NetBox already matches.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

func (p Plan) String() string {
	if p.Empty() {
		return p.Device + ": no changes"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d changes", p.Device, len(p.Changes))
	for _, c := range p.Changes {
		b.WriteString("\n  ")
		b.WriteString(c.String())
	}
	return b.String()
}

// Plan lists the changes Apply would make for device, without writing.
func (c *Client) Plan(ctx context.Context, device string, ds DesiredState) (Plan, error) {
	pl, err := c.planChanges(ctx, device, ds)
	if err != nil {
		return Plan{}, err
	}
	return pl.plan(), nil
}

// Apply makes NetBox match the device's desired state (phase 1 of a
// transition) and returns what it changed. It is idempotent: when NetBox
// matches it only reads. On an error the changes made so far stay; running
// Apply again continues from there.
func (c *Client) Apply(ctx context.Context, device string, ds DesiredState) (Plan, error) {
	pl, err := c.planChanges(ctx, device, ds)
	if err != nil {
		return Plan{}, err
	}
	done := Plan{Device: device, Changes: []Change{}}
	for _, o := range pl.ops {
		if err := o.run(ctx); err != nil {
			return done, fmt.Errorf("apply desired state of %q: %s: %w", device, o.changes[0], err)
		}
		done.Changes = append(done.Changes, o.changes...)
	}
	return done, nil
}

// ref is the id of an object that exists, or will once the op creating it
// has run; ops read it when they run, not when they are planned.
type ref struct{ id int }

type opt[T any] struct {
	set bool
	v   T
}

func some[T any](v T) opt[T] { return opt[T]{set: true, v: v} }

type ifWant struct {
	label, desc, mode opt[string]
	enabled, mgmt     opt[bool]
	mtu               opt[int]
	untagged          opt[*ref] // nil clears
	tagged            opt[[]*ref]
	lag, parent       opt[*ref]
	mac               opt[string] // "" clears the primary MAC
}

type ifModel struct {
	r    *ref
	dev  *Device
	name string
	cur  *Interface // nil: created by this plan
	want ifWant
}

func (m *ifModel) String() string { return m.dev.Name + " " + m.name }

type op struct {
	changes []Change
	run     func(ctx context.Context) error
}

// planner compares a device's desired state with what NetBox holds and plans
// the writes (ops) that make NetBox match; Plan lists them, Apply runs them.
type planner struct {
	c      *Client
	device *Device
	spec   map[string]InterfaceState
	devs   map[string]*Device
	ifs    map[int]map[string]*ifModel // device id -> name -> interface
	vlans  map[int]*ref                // vid -> VLAN
	ips    map[string]IPAddress        // address -> existing object
	devIPs []IPAddress                 // addresses on the device's interfaces
	macs   map[string][]macAddress
	newIPs map[string]*ref

	creates, cables, macOps, ipOps, updates, deletes []op
	order                                            []*ifModel
}

func (c *Client) planChanges(ctx context.Context, device string, ds DesiredState) (*plannedOps, error) {
	spec, ok := ds[device]
	if !ok {
		return nil, fmt.Errorf("plan %q: the desired state has no entry for this device (it has %s)", device, strings.Join(ds.Devices(), ", "))
	}
	pl := &planner{c: c, spec: spec, devs: map[string]*Device{}, ifs: map[int]map[string]*ifModel{},
		vlans: map[int]*ref{}, ips: map[string]IPAddress{}, macs: map[string][]macAddress{}, newIPs: map[string]*ref{}}
	if err := pl.load(ctx, device); err != nil {
		return nil, fmt.Errorf("plan %q: %w", device, err)
	}
	if err := pl.build(); err != nil {
		return nil, fmt.Errorf("plan %q: %w", device, err)
	}
	if err := pl.diffInterfaces(); err != nil {
		return nil, fmt.Errorf("plan %q: %w", device, err)
	}
	ops := slices.Concat(pl.creates, pl.cables, pl.macOps, pl.ipOps, pl.updates, pl.deletes)
	return &plannedOps{planner: pl, ops: ops}, nil
}

type plannedOps struct {
	*planner
	ops []op
}

func (po *plannedOps) plan() Plan {
	p := Plan{Device: po.device.Name, Changes: []Change{}}
	for _, o := range po.ops {
		p.Changes = append(p.Changes, o.changes...)
	}
	return p
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return natural.Less(out[i], out[j]) })
	return out
}

func sortedInts(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func boolKeys(m map[int]string) map[int]bool {
	out := make(map[int]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
