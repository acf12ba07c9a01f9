package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/nodes"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/statemachine"
)

// SyncIronicOpts are the knobs of SyncIronic.
type SyncIronicOpts struct {
	// Node limits the sync to the device (and node) of this name.
	Node string
	// DryRun reports what would change, secrets masked, and changes
	// nothing.
	DryRun bool
	// Force updates nodes that do not differ too.
	Force bool
	// Adopt adopts new nodes instead of providing them.
	Adopt bool
	// Out takes a line per device and step; nil discards them.
	Out io.Writer
	// Locker holds one sync per device at a time (a bus's StateLocker,
	// or FileLocker for the processes of one host); nil means file locks
	// in the conductor's lock directory.
	Locker statemachine.Locker
	// LockWait bounds the wait for a device's lock; default 2 minutes.
	LockWait time.Duration
	// VaultPasswordFile decrypts vault texts in the parameters (the
	// ansible section's vault_password_file).
	VaultPasswordFile string
	// Resolver turns image and network names into ids; nil leaves them.
	Resolver NameResolver
	// Progress is told each time a device is done.
	Progress func(done, total, failed int)
}

// The actions a sync took (or, in a dry run, would take) on a node.
const (
	SyncCreated   = "created"
	SyncUpdated   = "updated"
	SyncUnchanged = "unchanged"
	SyncDeleted   = "deleted"
	SyncKept      = "kept"
	SyncFailed    = "failed"
)

// SyncNode is how one device's node ended a sync.
type SyncNode struct {
	Device string `json:"device"`
	UUID   string `json:"uuid,omitempty"`
	// Action is created, updated, unchanged, deleted, kept (a node
	// whose device is gone but that is not safe to delete) or failed.
	Action string `json:"action"`
	// Changes are the node fields and ports that changed (or would), with
	// secrets masked.
	Changes        []string `json:"changes,omitempty"`
	ProvisionState string   `json:"provision_state,omitempty"`
	Error          string   `json:"error,omitempty"`
}

// SyncReport is what SyncIronic did.
type SyncReport struct {
	DryRun  bool       `json:"dry_run,omitempty"`
	Devices int        `json:"devices"`
	Nodes   []SyncNode `json:"nodes"`
	// Counts per action.
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Deleted   int `json:"deleted"`
	Kept      int `json:"kept"`
	Failed    int `json:"failed"`
	// IronicRequests is how many requests the client sent meanwhile.
	IronicRequests int64 `json:"ironic_requests"`
}

func (r *SyncReport) add(n SyncNode) {
	r.Nodes = append(r.Nodes, n)
	switch n.Action {
	case SyncCreated:
		r.Created++
	case SyncUpdated:
		r.Updated++
	case SyncUnchanged:
		r.Unchanged++
	case SyncDeleted:
		r.Deleted++
	case SyncKept:
		r.Kept++
	case SyncFailed:
		r.Failed++
	}
}

// ErrSyncFailed matches the error of a sync some of whose devices failed.
var ErrSyncFailed = errors.New("devices failed to sync")

// rawNode is a node as Ironic sent it, and typed.
type rawNode struct {
	m map[string]any
	n openstack.Node
}

func decodeRawNode(b json.RawMessage) (rawNode, error) {
	var r rawNode
	if err := json.Unmarshal(b, &r.m); err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r.n)
}

// listRawNodes lists every node with every field, a page at a time by
// marker (as the openstack package does: Ironic's next links are not
// followed).
func listRawNodes(ctx context.Context, bm *openstack.BareMetal) ([]rawNode, error) {
	var out []rawNode
	marker := ""
	for {
		var page []json.RawMessage
		err := nodes.ListDetail(bm.ServiceClient(), nodes.ListOpts{Marker: marker}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			return false, nodes.ExtractNodesInto(p, &page)
		})
		if err != nil {
			return nil, fmt.Errorf("list Ironic nodes: %w", err)
		}
		for _, b := range page {
			r, err := decodeRawNode(b)
			if err != nil {
				return nil, fmt.Errorf("list Ironic nodes: %w", err)
			}
			out = append(out, r)
		}
		if len(page) == 0 || out[len(out)-1].n.UUID == marker {
			return out, nil
		}
		marker = out[len(out)-1].n.UUID
	}
}

func getRawNode(ctx context.Context, bm *openstack.BareMetal, ref string) (*rawNode, error) {
	got := nodes.Get(ctx, bm.ServiceClient(), ref)
	err := got.Err
	if openstack.StatusIs(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get Ironic node %s: %w", ref, err)
	}
	b, err := json.Marshal(got.Body)
	if err != nil {
		return nil, fmt.Errorf("get Ironic node %s: %w", ref, err)
	}
	r, err := decodeRawNode(b)
	if err != nil {
		return nil, fmt.Errorf("get Ironic node %s: %w", ref, err)
	}
	return &r, nil
}

// SyncIronic registers the NetBox devices of cfg's filters (or the one
// named opts.Node) as Ironic nodes, as upstream's sync ironic does:
//
//   - node parameters merge, deepest last, the conductor file's and the
//     section's ironic_parameters, the config context's and the custom
//     field's; vault texts are decrypted, {{ ... }} templates rendered
//     with the custom field secrets and the OOB address, and image and
//     network names resolved;
//   - a missing node is created; a node is updated only where it differs
//     (opts.Force: always); its ports are the MACs of the device's enabled
//     non-management interfaces, and other ports are deleted;
//   - a node in enroll (or clean failed) is managed, powered off unless
//     adopted, then provided, or adopted with opts.Adopt or when the
//     device's provision_state is active;
//   - a node this sync manages (extra.osism_conductor is cfg's scope)
//     whose device is gone is deleted when that is safe (no instance,
//     powered off, in enroll, manageable, available or clean failed),
//     and otherwise kept and reported.
//
// A device fails alone; the error then counts the failed devices
// (ErrSyncFailed). Secrets never reach the output, the report or an
// error: they are masked.
func SyncIronic(ctx context.Context, nb *netbox.Client, bm *openstack.BareMetal, cfg ConductorConfig, opts SyncIronicOpts) (SyncReport, error) {
	rep := SyncReport{DryRun: opts.DryRun, Nodes: []SyncNode{}}
	start := bm.Requests()
	defer func() { rep.IronicRequests = bm.Requests() - start }()
	if nb == nil || bm == nil {
		return rep, errors.New("sync ironic: expected a NetBox and an Ironic client")
	}
	if err := checkSyncName(opts.Node); err != nil {
		return rep, err
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	w := &lineWriter{w: out}
	prefix := ""
	if opts.DryRun {
		prefix = "[DRY RUN] "
	}
	filters, err := cfg.deviceFilters()
	if err != nil {
		return rep, fmt.Errorf("sync ironic: %w", err)
	}
	base, err := cfg.baseParameters()
	if err != nil {
		return rep, fmt.Errorf("sync ironic: %w", err)
	}
	key := &vaultKey{}
	if opts.VaultPasswordFile != "" {
		pw, err := ansible.ReadVaultPassword(opts.VaultPasswordFile)
		if err != nil {
			key.why = "the vault password file cannot be read: " + err.Error()
		}
		key.password = pw
	}
	var res *cachingResolver
	if opts.Resolver != nil {
		res = &cachingResolver{r: opts.Resolver}
	}
	// The devices: the union of the filters, by name.
	devices := map[string]netbox.Device{}
	for _, f := range filters {
		if opts.Node != "" {
			f.Name = []string{opts.Node}
		}
		ds, err := nb.Devices(ctx, f)
		if err != nil {
			return rep, fmt.Errorf("sync ironic: %w", err)
		}
		for _, d := range ds {
			devices[d.Name] = d
		}
	}
	names := sortedMapKeys(devices)
	rep.Devices = len(names)
	if opts.Node != "" {
		w.printf("%sSyncing NetBox device %s with Ironic\n", prefix, opts.Node)
	} else {
		w.printf("%sSyncing %d NetBox devices with Ironic\n", prefix, len(names))
	}
	// The nodes: all of them, or the one.
	var all []rawNode
	if opts.Node != "" {
		n, err := getRawNode(ctx, bm, opts.Node)
		if err != nil {
			return rep, fmt.Errorf("sync ironic: %w", err)
		}
		if n != nil {
			all = []rawNode{*n}
		}
	} else if all, err = listRawNodes(ctx, bm); err != nil {
		return rep, fmt.Errorf("sync ironic: %w", err)
	}
	byName := make(map[string]*rawNode, len(all))
	var stale []*rawNode
	for i := range all {
		n := &all[i]
		if n.n.Name == "" {
			continue
		}
		byName[n.n.Name] = n
		if _, ok := devices[n.n.Name]; !ok && fmt.Sprint(n.n.Extra[extraScope]) == cfg.scope() && n.n.Extra[extraScope] != nil {
			stale = append(stale, n)
		}
	}
	if opts.Node != "" && len(names) == 0 && len(stale) == 0 {
		return rep, fmt.Errorf("sync ironic: device %q: not found in NetBox among the conductor's devices (%s)", opts.Node, filterText(filters))
	}
	// Ports: all at once for many nodes, the node's for one.
	var ports map[string][]openstack.Port
	if opts.Node == "" && len(names) > 0 {
		ps, err := bm.Ports(ctx, nil)
		if err != nil {
			return rep, fmt.Errorf("sync ironic: %w", err)
		}
		ports = make(map[string][]openstack.Port, len(all))
		for _, n := range all {
			ports[n.n.UUID] = nil // listed: no port unless one follows
		}
		for _, p := range ps {
			ports[p.NodeUUID] = append(ports[p.NodeUUID], p)
		}
	}
	locker := opts.Locker
	if locker == nil {
		dir := cfg.LockDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "osism-conductor.locks")
		}
		locker = FileLocker(dir)
	}
	s := &ironicSync{nb: nb, bm: bm, opts: opts, base: base, scope: cfg.scope(), key: key, res: res, w: w,
		prefix: prefix, locker: locker, ports: ports}

	total := len(stale) + len(names)
	var mu sync.Mutex
	done := 0
	finish := func(n SyncNode) {
		mu.Lock()
		defer mu.Unlock()
		rep.add(n)
		done++
		if opts.Progress != nil {
			opts.Progress(done, total, rep.Failed)
		}
	}
	for _, n := range stale {
		finish(s.removeStale(ctx, n))
	}
	// First every device's spec (NetBox reads only), so that a MAC that
	// moves between devices is known before any port is touched.
	specs := make(map[string]*prepared, len(names))
	for _, name := range names {
		specs[name] = &prepared{}
	}
	parallel(ctx, cfg.workers(), names, func(name string) {
		specs[name].spec, specs[name].err = s.prepare(ctx, devices[name])
	})
	s.wantedBy = map[string]string{}
	for _, name := range names {
		for _, mac := range specs[name].spec.macs {
			s.wantedBy[mac] = name
		}
	}
	parallel(ctx, cfg.workers(), names, func(name string) {
		finish(s.device(ctx, devices[name], byName[name], specs[name]))
	})
	slices.SortFunc(rep.Nodes, func(a, b SyncNode) int { return strings.Compare(a.Device, b.Device) })
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("sync ironic: %w", err)
	}
	w.printf("%s%d devices: %d created, %d updated, %d unchanged, %d deleted, %d kept, %d failed\n", prefix,
		rep.Devices, rep.Created, rep.Updated, rep.Unchanged, rep.Deleted, rep.Kept, rep.Failed)
	if rep.Failed > 0 {
		var failed []string
		for _, n := range rep.Nodes {
			if n.Action == SyncFailed {
				failed = append(failed, n.Device+": "+n.Error)
			}
		}
		return rep, fmt.Errorf("sync ironic: %d of %d %w: %s", rep.Failed, total, ErrSyncFailed, strings.Join(failed, "; "))
	}
	return rep, nil
}

func checkSyncName(node string) error {
	if node != "" && (strings.TrimSpace(node) != node || strings.ContainsAny(node, "/?#\n\t")) {
		return fmt.Errorf("sync: node %q: expected a device name", node)
	}
	return nil
}

func filterText(fs []netbox.DeviceFilter) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.String()
	}
	return strings.Join(parts, " or ")
}

// lineWriter serialises the lines of the workers.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

type ironicSync struct {
	nb     *netbox.Client
	bm     *openstack.BareMetal
	opts   SyncIronicOpts
	base   map[string]any
	scope  string
	key    *vaultKey
	res    *cachingResolver
	w      *lineWriter
	prefix string
	locker statemachine.Locker
	ports  map[string][]openstack.Port // by node UUID, of the listed nodes; others are asked for
	// wantedBy is the device that wants each MAC address.
	wantedBy map[string]string
}

// removeStale deletes a node whose device is gone, when that is safe.
func (s *ironicSync) removeStale(ctx context.Context, r *rawNode) SyncNode {
	n := r.n
	res := SyncNode{Device: n.Name, UUID: n.UUID, ProvisionState: string(n.ProvisionState)}
	safe := n.InstanceUUID == "" && (n.PowerState == openstack.PowerOff || n.PowerState == "") &&
		n.TargetProvisionState == "" && n.ProvisionState.Deletable()
	if !safe {
		res.Action = SyncKept
		res.Changes = []string{fmt.Sprintf("not deleted: provision state %q, power %q, instance %q", n.ProvisionState, orNA(string(n.PowerState)), n.InstanceUUID)}
		s.w.printf("%s%s: device gone from NetBox, node kept: it is not safe to delete (provision state %s, power %s%s)\n",
			s.prefix, n.Name, n.ProvisionState, orNA(string(n.PowerState)), map[bool]string{true: ", instance " + n.InstanceUUID}[n.InstanceUUID != ""])
		return res
	}
	res.Action = SyncDeleted
	res.Changes = []string{"delete node"}
	if s.opts.DryRun {
		s.w.printf("%s%s: would delete the node: its device is gone from NetBox\n", s.prefix, n.Name)
		return res
	}
	lease, err := s.lock(ctx, n.Name)
	if err != nil {
		return s.failed(res, err)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	if n.ProvisionState == openstack.StateCleanFailed {
		if _, err := s.bm.Provision(ctx, n.UUID, openstack.ProvisionRequest{Target: openstack.TargetManage}); err != nil {
			return s.failed(res, err)
		}
	}
	if err := s.bm.DeleteNode(ctx, n.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
		return s.failed(res, err)
	}
	s.w.printf("%s: node deleted: its device is gone from NetBox\n", n.Name)
	return res
}

func (s *ironicSync) failed(res SyncNode, err error) SyncNode {
	res.Action = SyncFailed
	res.Error = maskString(err.Error(), nil)
	s.w.printf("%s%s: failed: %s\n", s.prefix, res.Device, res.Error)
	return res
}

func (s *ironicSync) lock(ctx context.Context, device string) (statemachine.Lease, error) {
	wait := s.opts.LockWait
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	said := false
	lease, err := statemachine.AcquireWait(lctx, s.locker, "conductor/sync_ironic/"+device, func(error) {
		if !said {
			said = true
			s.w.printf("%s: waiting for the device's sync lock\n", device)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("lock of device %s: %w", device, err)
	}
	return lease, nil
}

// prepared is a device's spec, or why it has none.
type prepared struct {
	spec nodeSpec
	err  error
}

// parallel runs fn for each name on n goroutines, until ctx ends.
func parallel(ctx context.Context, n int, names []string, fn func(string)) {
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(n, max(1, len(names))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				fn(name)
			}
		}()
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		jobs <- name
	}
	close(jobs)
	wg.Wait()
}

// prepare reads a device's interfaces and computes its node.
func (s *ironicSync) prepare(ctx context.Context, dev netbox.Device) (nodeSpec, error) {
	ifaces, err := s.nb.Interfaces(ctx, netbox.InterfaceFilter{DeviceID: []int{dev.ID}})
	if err != nil {
		return nodeSpec{}, err
	}
	spec, err := prepareNode(ctx, dev, ifaces, s.base, s.scope, s.key, s.res)
	if err != nil {
		return spec, errors.New(maskString(fmt.Sprintf("device %s: %v", dev.Name, err), spec.secrets))
	}
	return spec, nil
}

// device syncs one device.
func (s *ironicSync) device(ctx context.Context, dev netbox.Device, have *rawNode, p *prepared) SyncNode {
	res := SyncNode{Device: dev.Name}
	if p.err != nil {
		return s.failed(res, p.err)
	}
	spec := p.spec
	for _, note := range spec.notes {
		s.w.printf("%s%s: %s\n", s.prefix, dev.Name, note)
	}
	adopt := s.opts.Adopt || spec.adopt
	if s.opts.DryRun {
		return s.dryRun(ctx, dev, have, spec, adopt)
	}
	lease, err := s.lock(ctx, dev.Name)
	if err != nil {
		return s.failed(res, err)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	if lost := lease.Lost(); lost != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-lost:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if have == nil {
		// Another sync may have created it since the list.
		if have, err = getRawNode(ctx, s.bm, dev.Name); err != nil {
			return s.failed(res, err)
		}
	}
	out, err := s.apply(ctx, dev, have, spec, adopt)
	if err != nil {
		out.Action = SyncFailed
		out.Error = maskString(err.Error(), spec.secrets)
		s.w.printf("%s: failed: %s\n", dev.Name, out.Error)
	}
	return out
}

// diffPatches are the JSON patches that make have what want says: a leaf
// of want that have lacks or holds otherwise is added (all of them with
// force). A value Ironic masks ("******") counts as equal.
func diffPatches(want, have map[string]any, path string, force bool, out *[]openstack.Patch, changed *[]string) {
	for _, k := range sortedMapKeys(want) {
		v := want[k]
		p := path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		wm, wok := v.(map[string]any)
		hm, hok := have[k].(map[string]any)
		if wok && hok {
			diffPatches(wm, hm, p, force, out, changed)
			continue
		}
		hv, present := have[k]
		if !force && present && (sameJSON(v, hv) || (hv == masked && path != "")) {
			continue
		}
		if wok && len(wm) == 0 && present && hv != nil {
			continue
		}
		*out = append(*out, openstack.Patch{Op: openstack.OpAdd, Path: p, Value: v})
		*changed = append(*changed, strings.TrimPrefix(p, "/"))
	}
}

func sameJSON(a, b any) bool {
	ab, err1 := json.Marshal(a)
	bb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return reflect.DeepEqual(a, b)
	}
	var x, y any
	_ = json.Unmarshal(ab, &x)
	_ = json.Unmarshal(bb, &y)
	return reflect.DeepEqual(x, y)
}

// portPlan is which ports to create and delete.
func portPlan(want []string, have []openstack.Port) (create []string, del []openstack.Port) {
	seen := map[string]bool{}
	for _, p := range have {
		mac := strings.ToLower(p.Address)
		if slices.Contains(want, mac) && !seen[mac] {
			seen[mac] = true
			continue
		}
		del = append(del, p)
	}
	for _, mac := range want {
		if !seen[mac] {
			create = append(create, mac)
		}
	}
	return create, del
}

// takePort deletes the port of mac from the node that has it, when that
// node is one this sync manages and the MAC now belongs to device in
// NetBox; it returns the node's name.
func (s *ironicSync) takePort(ctx context.Context, device, mac string) (string, error) {
	ps, err := s.bm.Ports(ctx, &openstack.ListPortsOpts{Address: mac})
	if err != nil {
		return "", err
	}
	if len(ps) == 0 {
		return "(gone)", nil // deleted meanwhile: its node's sync let it go
	}
	owner, err := getRawNode(ctx, s.bm, ps[0].NodeUUID)
	if err != nil {
		return "", err
	}
	if owner == nil {
		return "(gone)", nil
	}
	if fmt.Sprint(owner.n.Extra[extraScope]) != s.scope || s.wantedBy[mac] != device {
		return "", fmt.Errorf("port %s: the MAC address belongs to a port of node %s, which this sync does not manage or whose device has it in NetBox", mac, owner.n.Ref())
	}
	if err := s.bm.DeletePort(ctx, ps[0].UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
		return "", err
	}
	return owner.n.Ref(), nil
}

func (s *ironicSync) nodePorts(ctx context.Context, uuid string) ([]openstack.Port, error) {
	if ps, ok := s.ports[uuid]; ok {
		return ps, nil
	}
	return s.bm.Ports(ctx, &openstack.ListPortsOpts{Node: uuid})
}

func (s *ironicSync) dryRun(ctx context.Context, dev netbox.Device, have *rawNode, spec nodeSpec, adopt bool) SyncNode {
	res := SyncNode{Device: dev.Name}
	show := func(v any) string {
		b, _ := json.Marshal(mask(v, spec.secrets))
		return string(b)
	}
	next := "provide (available)"
	if adopt {
		next = "adopt (active)"
	}
	if have == nil {
		res.Action = SyncCreated
		res.Changes = append(res.Changes, "create node")
		s.w.printf("%s%s: would create the node with %s\n", s.prefix, dev.Name, show(spec.attrs))
		for _, mac := range spec.macs {
			res.Changes = append(res.Changes, "create port "+mac)
			s.w.printf("%s%s: would create port %s\n", s.prefix, dev.Name, mac)
		}
		s.w.printf("%s%s: would manage, then %s\n", s.prefix, dev.Name, next)
		return res
	}
	res.UUID, res.ProvisionState = have.n.UUID, string(have.n.ProvisionState)
	var patches []openstack.Patch
	diffPatches(spec.attrs, have.m, "", s.opts.Force, &patches, &res.Changes)
	for _, p := range patches {
		s.w.printf("%s%s: would set %s to %s\n", s.prefix, dev.Name, p.Path, show(p.Value))
	}
	ports, err := s.nodePorts(ctx, have.n.UUID)
	if err != nil {
		return s.failed(res, err)
	}
	create, del := portPlan(spec.macs, ports)
	for _, mac := range create {
		res.Changes = append(res.Changes, "create port "+mac)
		s.w.printf("%s%s: would create port %s\n", s.prefix, dev.Name, mac)
	}
	for _, p := range del {
		res.Changes = append(res.Changes, "delete port "+p.Address)
		s.w.printf("%s%s: would delete port %s\n", s.prefix, dev.Name, p.Address)
	}
	res.Action = SyncUnchanged
	if len(res.Changes) > 0 {
		res.Action = SyncUpdated
	}
	s.w.printf("%s%s: provision state %s\n", s.prefix, dev.Name, have.n.ProvisionState)
	return res
}

// apply makes the node what spec says and moves it on.
func (s *ironicSync) apply(ctx context.Context, dev netbox.Device, have *rawNode, spec nodeSpec, adopt bool) (SyncNode, error) {
	res := SyncNode{Device: dev.Name, Action: SyncUnchanged}
	var node openstack.Node
	var current map[string]any
	if have == nil {
		driver, _ := spec.attrs["driver"].(string)
		n, err := s.bm.CreateNode(ctx, openstack.CreateNode{Name: dev.Name, Driver: driver,
			Extra: map[string]any{extraScope: s.scope}})
		if err != nil {
			return res, err
		}
		node = *n
		b, _ := json.Marshal(n)
		_ = json.Unmarshal(b, &current)
		res.Action = SyncCreated
		res.Changes = append(res.Changes, "create node")
		s.w.printf("%s: node created (%s)\n", dev.Name, n.UUID)
	} else {
		node, current = have.n, have.m
	}
	res.UUID = node.UUID
	var patches []openstack.Patch
	var changed []string
	diffPatches(spec.attrs, current, "", s.opts.Force && have != nil, &patches, &changed)
	if len(patches) > 0 {
		n, err := s.bm.UpdateNode(ctx, node.UUID, patches...)
		if err != nil {
			return res, err
		}
		node = *n
		res.Changes = append(res.Changes, changed...)
		if res.Action == SyncUnchanged {
			res.Action = SyncUpdated
		}
		s.w.printf("%s: node updated: %s\n", dev.Name, strings.Join(changed, ", "))
	}
	var ports []openstack.Port
	if have != nil {
		var err error
		if ports, err = s.nodePorts(ctx, node.UUID); err != nil {
			return res, err
		}
	}
	create, del := portPlan(spec.macs, ports)
	for _, p := range del {
		if err := s.bm.DeletePort(ctx, p.UUID); err != nil && !errors.Is(err, openstack.ErrNotFound) {
			return res, err
		}
		res.Changes = append(res.Changes, "delete port "+p.Address)
		s.w.printf("%s: port %s deleted\n", dev.Name, p.Address)
	}
	for _, mac := range create {
		_, err := s.bm.CreatePort(ctx, openstack.CreatePort{NodeUUID: node.UUID, Address: mac})
		if openstack.StatusIs(err, 409) {
			var from string
			if from, err = s.takePort(ctx, dev.Name, mac); err == nil {
				s.w.printf("%s: port %s taken from node %s: the MAC moved to this device in NetBox\n", dev.Name, mac, from)
				_, err = s.bm.CreatePort(ctx, openstack.CreatePort{NodeUUID: node.UUID, Address: mac})
			}
		}
		if err != nil {
			return res, err
		}
		res.Changes = append(res.Changes, "create port "+mac)
		s.w.printf("%s: port %s created\n", dev.Name, mac)
	}
	if res.Action == SyncUnchanged && len(res.Changes) > 0 {
		res.Action = SyncUpdated
	}
	n, err := s.advance(ctx, dev.Name, node, adopt)
	if n != nil {
		res.ProvisionState = string(n.ProvisionState)
	}
	if n != nil && n.ProvisionState != node.ProvisionState {
		res.Changes = append(res.Changes, "provision state "+string(node.ProvisionState)+" -> "+string(n.ProvisionState))
	}
	return res, err
}

// advance moves a node on: enroll (or clean failed) to manageable,
// powered off unless adopted, then to available, or adopted to active.
// A node that rests elsewhere is left alone, without a request.
func (s *ironicSync) advance(ctx context.Context, name string, n openstack.Node, adopt bool) (*openstack.Node, error) {
	st := n.ProvisionState
	switch {
	case n.TargetProvisionState != "":
		return &n, nil
	case st == openstack.StateEnroll, st == openstack.StateCleanFailed, st == openstack.StateManageable:
	case st == openstack.StateAvailable && adopt:
	default:
		return &n, nil
	}
	v, err := s.bm.Validate(ctx, n.UUID)
	if err != nil {
		return &n, err
	}
	if r, ok := v["management"]; ok && r.Result != nil && !*r.Result {
		s.w.printf("%s: management interface not valid, node left %s: %s\n", name, st, r.Reason)
		return &n, nil
	}
	cur := &n
	if st == openstack.StateEnroll || st == openstack.StateCleanFailed {
		if cur, err = s.bm.Provision(ctx, n.UUID, openstack.ProvisionRequest{Target: openstack.TargetManage}); err != nil {
			return &n, err
		}
		s.w.printf("%s: manageable\n", name)
		if !adopt && cur.PowerState != openstack.PowerOff {
			if cur, err = s.bm.Power(ctx, n.UUID, openstack.PowerRequest{Target: openstack.PowerOff}); err != nil {
				return &n, err
			}
			s.w.printf("%s: powered off\n", name)
		}
	}
	if r, ok := v["boot"]; ok && r.Result != nil && !*r.Result {
		s.w.printf("%s: boot interface not valid, node left %s: %s\n", name, cur.ProvisionState, r.Reason)
		return cur, nil
	}
	if adopt && cur.ProvisionState == openstack.StateAvailable {
		if cur, err = s.bm.Provision(ctx, n.UUID, openstack.ProvisionRequest{Target: openstack.TargetManage}); err != nil {
			return &n, err
		}
	}
	if cur.ProvisionState != openstack.StateManageable {
		return cur, nil
	}
	target := openstack.TargetProvide
	if adopt {
		target = openstack.TargetAdopt
	}
	next, err := s.bm.Provision(ctx, n.UUID, openstack.ProvisionRequest{Target: target})
	if err != nil {
		return cur, err
	}
	s.w.printf("%s: %s\n", name, next.ProvisionState)
	return next, nil
}

// SyncNetBoxOpts are the knobs of SyncNetBox.
type SyncNetBoxOpts struct {
	// Node limits the sync to one node.
	Node string
	// Out takes a line per change; nil discards them.
	Out io.Writer
}

// SyncNetBoxReport is what SyncNetBox did, per NetBox.
type SyncNetBoxReport struct {
	Nodes    int               `json:"nodes"`
	NetBoxes []SyncNetBoxWrite `json:"netboxes"`
}

// SyncNetBoxWrite is one NetBox's part of a SyncNetBox.
type SyncNetBoxWrite struct {
	NetBox string `json:"netbox"` // "primary" or the secondary's name or URL
	// Written devices (one bulk PATCH per page), Unchanged ones, and
	// NoDevice: nodes without a device of their name.
	Written   []string `json:"written"`
	Unchanged int      `json:"unchanged"`
	NoDevice  []string `json:"no_device,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// SyncNetBox writes Ironic's provision_state, power_state and maintenance
// of every node (or of opts.Node) to the custom fields of the device of
// the node's name in the primary NetBox and in every secondary. A device
// whose fields already hold those values is not written. A NetBox that
// fails does not stop the others; the error names each.
func SyncNetBox(ctx context.Context, nb *netbox.Client, secs []*netbox.Secondary, bm *openstack.BareMetal, opts SyncNetBoxOpts) (SyncNetBoxReport, error) {
	rep := SyncNetBoxReport{NetBoxes: []SyncNetBoxWrite{}}
	if nb == nil || bm == nil {
		return rep, errors.New("sync netbox: expected a NetBox and an Ironic client")
	}
	if err := checkSyncName(opts.Node); err != nil {
		return rep, err
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	var ns []openstack.Node
	if opts.Node != "" {
		n, err := bm.Node(ctx, opts.Node)
		if err != nil {
			return rep, fmt.Errorf("sync netbox: %w", err)
		}
		ns = []openstack.Node{*n}
	} else {
		var err error
		if ns, err = bm.Nodes(ctx, nil); err != nil {
			return rep, fmt.Errorf("sync netbox: %w", err)
		}
	}
	want := map[string]map[string]any{}
	for _, n := range ns {
		if n.Name == "" {
			continue
		}
		f := map[string]any{cfProvisionState: nil, cfPowerState: nil, cfMaintenance: n.Maintenance}
		if n.ProvisionState != "" {
			f[cfProvisionState] = string(n.ProvisionState)
		}
		if n.PowerState != "" {
			f[cfPowerState] = string(n.PowerState)
		}
		want[n.Name] = f
	}
	rep.Nodes = len(want)
	names := sortedMapKeys(want)
	targets := []struct {
		label string
		c     *netbox.Client
	}{{"primary", nb}}
	for _, s := range secs {
		targets = append(targets, struct {
			label string
			c     *netbox.Client
		}{s.Config.Label(), s.Client})
	}
	var errs []error
	for _, t := range targets {
		wr := SyncNetBoxWrite{NetBox: t.label, Written: []string{}}
		err := syncNetBoxOne(ctx, t.c, names, want, &wr)
		if err != nil {
			wr.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s NetBox: %w", t.label, err))
		}
		for _, d := range wr.Written {
			fmt.Fprintf(out, "%s: %s written to %s NetBox\n", d, fieldsText(want[d]), t.label)
		}
		fmt.Fprintf(out, "%s NetBox: %d written, %d unchanged, %d nodes without a device\n", t.label, len(wr.Written), wr.Unchanged, len(wr.NoDevice))
		rep.NetBoxes = append(rep.NetBoxes, wr)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("sync netbox: %w", err)
	}
	return rep, nil
}

func fieldsText(f map[string]any) string {
	var parts []string
	for _, k := range sortedMapKeys(f) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, f[k]))
	}
	return strings.Join(parts, " ")
}

// syncNetBoxOne reads the devices of names in chunks and writes the
// differing ones with bulk PATCHes.
func syncNetBoxOne(ctx context.Context, c *netbox.Client, names []string, want map[string]map[string]any, wr *SyncNetBoxWrite) error {
	const chunk = 100
	updates := map[int]map[string]any{}
	ids := map[int]string{}
	found := map[string]bool{}
	for start := 0; start < len(names); start += chunk {
		part := names[start:min(start+chunk, len(names))]
		ds, err := c.Devices(ctx, netbox.DeviceFilter{Name: part})
		if err != nil {
			return err
		}
		for _, d := range ds {
			f, ok := want[d.Name]
			if !ok {
				continue
			}
			found[d.Name] = true
			if diff := fieldsDiff(d.CustomFields, f); len(diff) > 0 {
				updates[d.ID] = diff
				ids[d.ID] = d.Name
			} else {
				wr.Unchanged++
			}
		}
	}
	for _, n := range names {
		if !found[n] {
			wr.NoDevice = append(wr.NoDevice, n)
		}
	}
	if len(updates) == 0 {
		return nil
	}
	if err := c.UpdateDevicesCustomFields(ctx, updates); err != nil {
		return err
	}
	for _, id := range sortedIntKeys(ids) {
		wr.Written = append(wr.Written, ids[id])
	}
	slices.Sort(wr.Written)
	return nil
}

func sortedIntKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
