package openstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/nodes"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Node is a bare-metal node: the fields the sync, the listener and the CLI
// use.
type Node struct {
	UUID                 string         `json:"uuid"`
	Name                 string         `json:"name"`
	Driver               string         `json:"driver"`
	DriverInfo           map[string]any `json:"driver_info,omitempty"`
	Properties           map[string]any `json:"properties,omitempty"`
	InstanceInfo         map[string]any `json:"instance_info,omitempty"`
	InstanceUUID         string         `json:"instance_uuid,omitempty"`
	Extra                map[string]any `json:"extra,omitempty"`
	ResourceClass        string         `json:"resource_class,omitempty"`
	ProvisionState       ProvisionState `json:"provision_state"`
	TargetProvisionState ProvisionState `json:"target_provision_state,omitempty"`
	PowerState           PowerState     `json:"power_state,omitempty"`
	TargetPowerState     PowerState     `json:"target_power_state,omitempty"`
	Maintenance          bool           `json:"maintenance"`
	MaintenanceReason    string         `json:"maintenance_reason,omitempty"`
	Fault                string         `json:"fault,omitempty"`
	LastError            string         `json:"last_error,omitempty"`
	// Reservation is the conductor holding the node's lock ("" if none).
	Reservation    string   `json:"reservation,omitempty"`
	ConductorGroup string   `json:"conductor_group,omitempty"`
	Owner          string   `json:"owner,omitempty"`
	Description    string   `json:"description,omitempty"`
	Traits         []string `json:"traits,omitempty"`

	BootInterface       string `json:"boot_interface,omitempty"`
	ConsoleInterface    string `json:"console_interface,omitempty"`
	DeployInterface     string `json:"deploy_interface,omitempty"`
	InspectInterface    string `json:"inspect_interface,omitempty"`
	ManagementInterface string `json:"management_interface,omitempty"`
	NetworkInterface    string `json:"network_interface,omitempty"`
	PowerInterface      string `json:"power_interface,omitempty"`
	RAIDInterface       string `json:"raid_interface,omitempty"`
	RescueInterface     string `json:"rescue_interface,omitempty"`
	StorageInterface    string `json:"storage_interface,omitempty"`
	VendorInterface     string `json:"vendor_interface,omitempty"`
	BIOSInterface       string `json:"bios_interface,omitempty"`
}

// Ref is how messages name n: its name, else its UUID.
func (n *Node) Ref() string {
	if n.Name != "" {
		return n.Name
	}
	return n.UUID
}

// InTransit reports whether n is moving to another provision state.
func (n *Node) InTransit() bool { return n.TargetProvisionState != "" || n.ProvisionState.Transient() }

// SafeToDelete reports whether deleting n harms nothing: no instance,
// powered off (or never read), and a deletable provision state.
func (n *Node) SafeToDelete() bool {
	return n.InstanceUUID == "" && n.PowerState != PowerOn &&
		(n.TargetProvisionState == "" || n.ProvisionState.Failed()) && n.ProvisionState.Deletable()
}

// ListNodesOpts filters a node list. Every set field filters; the zero
// value lists every node.
type ListNodesOpts struct {
	ProvisionState ProvisionState
	// Maintenance, when set, lists only nodes in (true) or out of (false)
	// maintenance.
	Maintenance *bool
	// Associated, when set, lists only nodes with (true) or without
	// (false) an instance.
	Associated     *bool
	Driver         string
	ResourceClass  string
	ConductorGroup string
	Fault          string
	Owner          string
	InstanceUUID   string
	// Limit is the page size; 0 lets the server choose (its max_limit,
	// 1000 by default). Every page is read either way.
	Limit int
}

// query builds the list query. Ironic's "next" link drops the filters
// (checked with Ironic 21.4: provision_state is gone from it), so each
// page is asked for with this query and a marker instead of following
// the link.
func (o ListNodesOpts) query(marker string) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("provision_state", string(o.ProvisionState))
	if o.Maintenance != nil {
		q.Set("maintenance", strconv.FormatBool(*o.Maintenance))
	}
	if o.Associated != nil {
		q.Set("associated", strconv.FormatBool(*o.Associated))
	}
	set("driver", o.Driver)
	set("resource_class", o.ResourceClass)
	set("conductor_group", o.ConductorGroup)
	set("fault", o.Fault)
	set("owner", o.Owner)
	set("instance_uuid", o.InstanceUUID)
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	set("marker", marker)
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// nodeQuery adapts a query string to gophercloud's ListOptsBuilder.
type nodeQuery string

func (q nodeQuery) ToNodeListQuery() (string, error)       { return string(q), nil }
func (q nodeQuery) ToNodeListDetailQuery() (string, error) { return string(q), nil }

// firstPage fetches the one page at pager's URL: gophercloud's pager
// would follow Ironic's "next" link, which loses the filters.
func firstPage(ctx context.Context, pager pagination.Pager, extract func(pagination.Page) (int, string, error)) (n int, last string, more bool, err error) {
	err = pager.EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		var e error
		if n, last, e = extract(p); e != nil {
			return false, e
		}
		next, e := p.NextPageURL()
		more = next != ""
		return false, e
	})
	return n, last, more, err
}

// Nodes lists the nodes opts selects, with details, reading every page.
func (bm *BareMetal) Nodes(ctx context.Context, opts *ListNodesOpts) ([]Node, error) {
	var o ListNodesOpts
	if opts != nil {
		o = *opts
	}
	if o.Limit < 0 {
		return nil, fmt.Errorf("openstack: list nodes: limit %d: expected 0 (the server's) or more", o.Limit)
	}
	var all []Node
	marker := ""
	for {
		var page []Node
		_, last, more, err := firstPage(ctx, nodes.ListDetail(bm.sc, nodeQuery(o.query(marker))), func(p pagination.Page) (int, string, error) {
			if err := nodes.ExtractNodesInto(p, &page); err != nil {
				return 0, "", err
			}
			if len(page) == 0 {
				return 0, "", nil
			}
			return len(page), page[len(page)-1].UUID, nil
		})
		if err != nil {
			return nil, wrap(err, "list nodes", "")
		}
		all = append(all, page...)
		if !more || len(page) == 0 || last == "" || last == marker {
			return all, nil
		}
		marker = last
	}
}

// Node returns the node named or with the UUID ref.
func (bm *BareMetal) Node(ctx context.Context, ref string) (*Node, error) {
	if err := checkRef("node", ref); err != nil {
		return nil, err
	}
	var n Node
	if err := nodes.Get(ctx, bm.sc, ref).ExtractInto(&n); err != nil {
		return nil, wrap(err, "get node", ref)
	}
	return &n, nil
}

func checkRef(what, ref string) error {
	if strings.TrimSpace(ref) == "" || strings.ContainsAny(ref, "/?#") {
		return fmt.Errorf("openstack: %s %q: expected a name or UUID", what, ref)
	}
	return nil
}

// CreateNode is what a new node starts with. Driver is required.
type CreateNode struct {
	Name          string         `json:"name,omitempty"`
	UUID          string         `json:"uuid,omitempty"`
	Driver        string         `json:"driver"`
	DriverInfo    map[string]any `json:"driver_info,omitempty"`
	Properties    map[string]any `json:"properties,omitempty"`
	Extra         map[string]any `json:"extra,omitempty"`
	ResourceClass string         `json:"resource_class,omitempty"`
	Description   string         `json:"description,omitempty"`
	// Interfaces: "" leaves the driver's default.
	BootInterface       string `json:"boot_interface,omitempty"`
	DeployInterface     string `json:"deploy_interface,omitempty"`
	InspectInterface    string `json:"inspect_interface,omitempty"`
	ManagementInterface string `json:"management_interface,omitempty"`
	NetworkInterface    string `json:"network_interface,omitempty"`
	PowerInterface      string `json:"power_interface,omitempty"`
	RAIDInterface       string `json:"raid_interface,omitempty"`
	RescueInterface     string `json:"rescue_interface,omitempty"`
	ConsoleInterface    string `json:"console_interface,omitempty"`
	VendorInterface     string `json:"vendor_interface,omitempty"`
}

// ToNodeCreateMap is the request body.
func (c CreateNode) ToNodeCreateMap() (map[string]any, error) { return toMap(c) }

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// CreateNode creates a node; it starts in enroll.
func (bm *BareMetal) CreateNode(ctx context.Context, c CreateNode) (*Node, error) {
	ref := c.Name
	if ref == "" {
		ref = c.UUID
	}
	if c.Driver == "" {
		return nil, fmt.Errorf("openstack: create node %s: no driver: expected one such as ipmi, redfish or fake-hardware", ref)
	}
	var n Node
	if err := nodes.Create(ctx, bm.sc, c).ExtractInto(&n); err != nil {
		return nil, wrap(err, "create node", ref)
	}
	return &n, nil
}

// PatchOp is a JSON-patch operation (RFC 6902) on a node or port.
type PatchOp string

// The operations Ironic accepts.
const (
	OpAdd     PatchOp = "add"
	OpReplace PatchOp = "replace"
	OpRemove  PatchOp = "remove"
)

// Patch is one change: /driver_info/ipmi_address, /properties/cpus, ...
// Value is sent as is, also when it is false, 0 or "" (remove sends none).
type Patch struct {
	Op    PatchOp `json:"op"`
	Path  string  `json:"path"`
	Value any     `json:"value,omitempty"`
}

// Replace, Add and Remove build patches.
func Replace(path string, value any) Patch { return Patch{Op: OpReplace, Path: path, Value: value} }

// Add sets path, creating it (for a key of a map field).
func Add(path string, value any) Patch { return Patch{Op: OpAdd, Path: path, Value: value} }

// Remove unsets path.
func Remove(path string) Patch { return Patch{Op: OpRemove, Path: path} }

func (p Patch) toMap() (map[string]any, error) {
	switch p.Op {
	case OpAdd, OpReplace:
		return map[string]any{"op": string(p.Op), "path": p.Path, "value": p.Value}, nil
	case OpRemove:
		return map[string]any{"op": string(p.Op), "path": p.Path}, nil
	}
	return nil, fmt.Errorf("patch %s: op %q: expected add, replace or remove", p.Path, p.Op)
}

// ToNodeUpdateMap is the patch for gophercloud's nodes.Update.
func (p Patch) ToNodeUpdateMap() (map[string]any, error) {
	if !strings.HasPrefix(p.Path, "/") {
		return nil, fmt.Errorf("patch path %q: expected a JSON pointer such as /driver_info/ipmi_address", p.Path)
	}
	return p.toMap()
}

// UpdateNode applies the patches to node ref in one request.
func (bm *BareMetal) UpdateNode(ctx context.Context, ref string, patches ...Patch) (*Node, error) {
	if err := checkRef("node", ref); err != nil {
		return nil, err
	}
	if len(patches) == 0 {
		return nil, fmt.Errorf("openstack: update node %s: no changes", ref)
	}
	ops := make(nodes.UpdateOpts, len(patches))
	for i, p := range patches {
		ops[i] = p
	}
	var n Node
	if err := nodes.Update(ctx, bm.sc, ref, ops).ExtractInto(&n); err != nil {
		return nil, wrap(err, "update node", ref)
	}
	return &n, nil
}

// DeleteNode deletes node ref (and its ports).
func (bm *BareMetal) DeleteNode(ctx context.Context, ref string) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	return wrap(nodes.Delete(ctx, bm.sc, ref).ExtractErr(), "delete node", ref)
}

// CleanStep is one step of a manual clean ({"interface": "deploy", "step":
// "erase_devices"}).
type CleanStep struct {
	Interface string         `json:"interface"`
	Step      string         `json:"step"`
	Args      map[string]any `json:"args,omitempty"`
}

// ProvisionRequest is a provision-state change.
type ProvisionRequest struct {
	Target Target
	// ConfigDrive for deploy and rebuild: a string (gzipped, base64 ISO
	// or a URL) or, from microversion 1.56, a map (meta_data, user_data,
	// network_data).
	ConfigDrive any
	// CleanSteps for clean (required there).
	CleanSteps []CleanStep
	// DeploySteps for deploy and rebuild (microversion 1.69).
	DeploySteps []map[string]any
	// DisableRamdisk for clean: run the steps without the agent ramdisk.
	DisableRamdisk bool
}

type provisionBody struct {
	Target         string           `json:"target"`
	ConfigDrive    any              `json:"configdrive,omitempty"`
	CleanSteps     []CleanStep      `json:"clean_steps,omitempty"`
	DeploySteps    []map[string]any `json:"deploy_steps,omitempty"`
	DisableRamdisk bool             `json:"disable_ramdisk,omitempty"`
}

// ToProvisionStateMap is the request body.
func (b provisionBody) ToProvisionStateMap() (map[string]any, error) { return toMap(b) }

// SetProvisionState asks Ironic to move node ref (202 Accepted); it
// returns without waiting: see WaitProvisionState, or Provision.
func (bm *BareMetal) SetProvisionState(ctx context.Context, ref string, req ProvisionRequest) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	op := "set provision state " + string(req.Target) + " of node"
	var need []Feature
	switch req.Target {
	case TargetManage, TargetProvide, TargetInspect, TargetAbort:
		need = append(need, FeatureManage)
	case TargetDeploy, TargetUndeploy:
	case TargetRebuild:
		if req.ConfigDrive != nil {
			need = append(need, FeatureRebuildConfigDrive)
		}
	case TargetClean:
		if len(req.CleanSteps) == 0 {
			return fmt.Errorf("openstack: %s %s: clean needs clean steps", op, ref)
		}
		need = append(need, FeatureManualClean)
	case TargetAdopt:
		need = append(need, FeatureAdopt)
	case TargetRescue, TargetUnrescue:
		need = append(need, FeatureRescue)
	default:
		return &ParseError{What: "provision target", Value: string(req.Target), Expected: "manage, provide, inspect, active, rebuild, deleted, clean, adopt, abort, rescue or unrescue"}
	}
	if req.ConfigDrive != nil {
		switch req.ConfigDrive.(type) {
		case string:
		default:
			need = append(need, FeatureConfigDriveJSON)
		}
		if req.Target != TargetDeploy && req.Target != TargetRebuild {
			return fmt.Errorf("openstack: %s %s: a config drive goes with active or rebuild only", op, ref)
		}
	}
	if len(req.DeploySteps) > 0 {
		need = append(need, FeatureDeploySteps)
	}
	for _, f := range need {
		if err := bm.require(f); err != nil {
			return fmt.Errorf("%s %s: %w", op, ref, err)
		}
	}
	body := provisionBody{Target: string(req.Target), ConfigDrive: req.ConfigDrive, CleanSteps: req.CleanSteps,
		DeploySteps: req.DeploySteps, DisableRamdisk: req.DisableRamdisk}
	return wrap(nodes.ChangeProvisionState(ctx, bm.sc, ref, body).ExtractErr(), op, ref)
}

// Settled returns the provision states a node rests in after target
// succeeded (deleted ends in available; an automated clean passes through
// cleaning first).
func Settled(target Target) []ProvisionState {
	switch target {
	case TargetManage, TargetInspect, TargetClean:
		return []ProvisionState{StateManageable}
	case TargetProvide, TargetUndeploy:
		return []ProvisionState{StateAvailable}
	case TargetDeploy, TargetRebuild, TargetAdopt, TargetUnrescue:
		return []ProvisionState{StateActive}
	case TargetRescue:
		return []ProvisionState{StateRescue}
	}
	return nil
}

// Provision changes node ref's provision state and waits until it rests
// in the state the target leads to (Settled); a failed state on the way
// is a *NodeStateError with Ironic's last_error. Abort does not wait.
func (bm *BareMetal) Provision(ctx context.Context, ref string, req ProvisionRequest) (*Node, error) {
	if err := bm.SetProvisionState(ctx, ref, req); err != nil {
		return nil, err
	}
	targets := Settled(req.Target)
	if len(targets) == 0 {
		return bm.Node(ctx, ref)
	}
	return bm.WaitProvisionState(ctx, ref, targets...)
}

// PowerRequest is a power change.
type PowerRequest struct {
	// Target is PowerOn, PowerOff or PowerRebooting.
	Target PowerState
	// Soft asks the OS to shut down or reboot (microversion 1.27).
	Soft bool
	// TimeoutSeconds bounds a soft change on the conductor (1.27); 0 is
	// the conductor's default.
	TimeoutSeconds int
}

type powerBody struct {
	Target  string `json:"target"`
	Timeout int    `json:"timeout,omitempty"`
}

// ToPowerStateMap is the request body.
func (b powerBody) ToPowerStateMap() (map[string]any, error) { return toMap(b) }

// SetPower asks Ironic to change node ref's power (202 Accepted).
func (bm *BareMetal) SetPower(ctx context.Context, ref string, req PowerRequest) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	target := req.Target
	switch {
	case target == PowerOn && !req.Soft:
	case target == PowerOff && req.Soft:
		target = PowerSoftOff
	case target == PowerRebooting && req.Soft:
		target = PowerSoftRebooting
	case target == PowerOff, target == PowerRebooting, target == PowerSoftOff, target == PowerSoftRebooting:
	default:
		return &ParseError{What: "power target", Value: string(req.Target) + map[bool]string{true: " (soft)"}[req.Soft],
			Expected: "power on, power off or rebooting (soft for the last two)"}
	}
	op := "set power " + string(target) + " of node"
	if target == PowerSoftOff || target == PowerSoftRebooting || req.TimeoutSeconds > 0 {
		if err := bm.require(FeatureSoftPower); err != nil {
			return fmt.Errorf("%s %s: %w", op, ref, err)
		}
	}
	if req.TimeoutSeconds < 0 {
		return fmt.Errorf("openstack: %s %s: timeout %d: expected 0 or more seconds", op, ref, req.TimeoutSeconds)
	}
	return wrap(nodes.ChangePowerState(ctx, bm.sc, ref, powerBody{Target: string(target), Timeout: req.TimeoutSeconds}).ExtractErr(), op, ref)
}

// Power changes node ref's power and waits until it is on (on, reboot)
// or off, with no power change pending.
func (bm *BareMetal) Power(ctx context.Context, ref string, req PowerRequest) (*Node, error) {
	if err := bm.SetPower(ctx, ref, req); err != nil {
		return nil, err
	}
	want := PowerOn
	if req.Target == PowerOff || req.Target == PowerSoftOff {
		want = PowerOff
	}
	return bm.WaitFor(ctx, ref, func(n *Node) (bool, error) {
		if n.TargetPowerState == "" && n.PowerState == PowerError {
			return false, fmt.Errorf("openstack: node %s: power state error: last_error: %s", n.Ref(), n.LastError)
		}
		return n.TargetPowerState == "" && n.PowerState == want, nil
	})
}

// SetMaintenance puts node ref in maintenance with reason (may be empty).
func (bm *BareMetal) SetMaintenance(ctx context.Context, ref, reason string) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	return wrap(nodes.SetMaintenance(ctx, bm.sc, ref, nodes.MaintenanceOpts{Reason: reason}).ExtractErr(), "set maintenance of node", ref)
}

// UnsetMaintenance takes node ref out of maintenance.
func (bm *BareMetal) UnsetMaintenance(ctx context.Context, ref string) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	return wrap(nodes.UnsetMaintenance(ctx, bm.sc, ref).ExtractErr(), "unset maintenance of node", ref)
}

// InterfaceValidation is the result of one interface's validation.
type InterfaceValidation struct {
	// Result is nil when the driver does not implement the interface.
	Result *bool  `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Validation maps interface names (boot, deploy, power, ...) to results.
type Validation map[string]InterfaceValidation

// Failed lists the interfaces whose validation failed, with reasons, in
// name order.
func (v Validation) Failed() []string {
	var out []string
	for _, k := range sortedKeys(v) {
		if r := v[k]; r.Result != nil && !*r.Result {
			out = append(out, k+": "+r.Reason)
		}
	}
	return out
}

// Validate checks node ref's driver interfaces.
func (bm *BareMetal) Validate(ctx context.Context, ref string) (Validation, error) {
	if err := checkRef("node", ref); err != nil {
		return nil, err
	}
	var v Validation
	if err := nodes.Validate(ctx, bm.sc, ref).ExtractInto(&v); err != nil {
		return nil, wrap(err, "validate node", ref)
	}
	return v, nil
}

// SetBootDevice sets node ref's boot device; persistent keeps it across
// reboots.
func (bm *BareMetal) SetBootDevice(ctx context.Context, ref string, dev BootDevice, persistent bool) error {
	if err := checkRef("node", ref); err != nil {
		return err
	}
	switch dev {
	case BootPXE, BootDisk, BootCDROM, BootBIOS, BootSafe:
	default:
		return &ParseError{What: "boot device", Value: string(dev), Expected: "pxe, disk, cdrom, bios or safe"}
	}
	return wrap(nodes.SetBootDevice(ctx, bm.sc, ref, nodes.BootDeviceOpts{BootDevice: string(dev), Persistent: persistent}).ExtractErr(), "set boot device of node", ref)
}

// BootDevice returns node ref's boot device and whether it persists.
func (bm *BareMetal) BootDevice(ctx context.Context, ref string) (BootDevice, bool, error) {
	if err := checkRef("node", ref); err != nil {
		return "", false, err
	}
	var b struct {
		BootDevice *string `json:"boot_device"`
		Persistent *bool   `json:"persistent"`
	}
	if err := nodes.GetBootDevice(ctx, bm.sc, ref).ExtractInto(&b); err != nil {
		return "", false, wrap(err, "get boot device of node", ref)
	}
	var dev BootDevice
	if b.BootDevice != nil {
		dev = BootDevice(*b.BootDevice)
	}
	return dev, b.Persistent != nil && *b.Persistent, nil
}
