package osism

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KindBaremetal runs a bare-metal operation on Ironic nodes (the openstack
// worker).
const KindBaremetal = "openstack.baremetal"

// BaremetalOp is a bare-metal operation, as `osism baremetal` names it.
type BaremetalOp string

// The operations of BaremetalArgs.
const (
	BaremetalManage           BaremetalOp = "manage"
	BaremetalProvide          BaremetalOp = "provide"
	BaremetalInspect          BaremetalOp = "inspect"
	BaremetalDeploy           BaremetalOp = "deploy"
	BaremetalRebuild          BaremetalOp = "rebuild"
	BaremetalUndeploy         BaremetalOp = "undeploy"
	BaremetalClean            BaremetalOp = "clean"
	BaremetalAdopt            BaremetalOp = "adopt"
	BaremetalAbort            BaremetalOp = "abort"
	BaremetalPowerOn          BaremetalOp = "power-on"
	BaremetalPowerOff         BaremetalOp = "power-off"
	BaremetalReboot           BaremetalOp = "reboot"
	BaremetalMaintenanceSet   BaremetalOp = "maintenance-set"
	BaremetalMaintenanceUnset BaremetalOp = "maintenance-unset"
	BaremetalDelete           BaremetalOp = "delete"
)

// BaremetalOps returns every operation.
func BaremetalOps() []BaremetalOp {
	return []BaremetalOp{BaremetalManage, BaremetalProvide, BaremetalInspect, BaremetalDeploy, BaremetalRebuild,
		BaremetalUndeploy, BaremetalClean, BaremetalAdopt, BaremetalAbort, BaremetalPowerOn, BaremetalPowerOff,
		BaremetalReboot, BaremetalMaintenanceSet, BaremetalMaintenanceUnset, BaremetalDelete}
}

// BaremetalStep is one step of a manual clean: interface and step name,
// with optional arguments.
type BaremetalStep struct {
	Interface string         `json:"interface"`
	Step      string         `json:"step"`
	Args      map[string]any `json:"args,omitempty"`
}

// BaremetalArgs runs Op on Nodes (names or UUIDs), one after the other,
// on the openstack queue. The task fails when any node fails; its output
// has a line per node and step.
type BaremetalArgs struct {
	Op    BaremetalOp `json:"op"`
	Nodes []string    `json:"nodes"`
	// Soft asks the OS to power off or reboot (power-off, reboot).
	Soft bool `json:"soft,omitempty"`
	// Reason is the maintenance reason (maintenance-set).
	Reason string `json:"reason,omitempty"`
	// CleanSteps for clean; empty means the default (erase the disks'
	// metadata, deploy.erase_devices_metadata).
	CleanSteps []BaremetalStep `json:"clean_steps,omitempty"`
	// ConfigDrive for deploy and rebuild: a gzipped, base64-encoded ISO
	// or a URL.
	ConfigDrive string `json:"config_drive,omitempty"`
	// NoWait returns once Ironic accepted each change instead of waiting
	// until the node rests.
	NoWait bool `json:"no_wait,omitempty"`
}

// Kind is "openstack.baremetal".
func (BaremetalArgs) Kind() string { return KindBaremetal }

// Queue is openstack.
func (BaremetalArgs) Queue() Queue { return QueueOpenStack }

// Redacted drops the config drive, which may hold user data and keys, from
// the task's records.
func (a BaremetalArgs) Redacted() Args {
	if a.ConfigDrive != "" {
		a.ConfigDrive = "******"
	}
	return a
}

// Validate checks the arguments and names what is wrong.
func (a BaremetalArgs) Validate() error {
	if !slices.Contains(BaremetalOps(), a.Op) {
		ops := make([]string, 0, len(BaremetalOps()))
		for _, o := range BaremetalOps() {
			ops = append(ops, string(o))
		}
		return fmt.Errorf("baremetal: operation %q: expected one of %s", a.Op, strings.Join(ops, ", "))
	}
	if len(a.Nodes) == 0 {
		return fmt.Errorf("baremetal %s: no nodes: expected one or more node names or UUIDs", a.Op)
	}
	for _, n := range a.Nodes {
		if strings.TrimSpace(n) == "" || strings.ContainsAny(n, "/?#") {
			return fmt.Errorf("baremetal %s: node %q: expected a name or UUID", a.Op, n)
		}
	}
	if a.Soft && a.Op != BaremetalPowerOff && a.Op != BaremetalReboot {
		return fmt.Errorf("baremetal %s: soft applies to power-off and reboot only", a.Op)
	}
	if a.Reason != "" && a.Op != BaremetalMaintenanceSet {
		return fmt.Errorf("baremetal %s: a reason applies to maintenance-set only", a.Op)
	}
	if len(a.CleanSteps) > 0 && a.Op != BaremetalClean {
		return fmt.Errorf("baremetal %s: clean steps apply to clean only", a.Op)
	}
	for i, s := range a.CleanSteps {
		if s.Interface == "" || s.Step == "" {
			return errors.New("baremetal clean: step " + fmt.Sprint(i+1) + ": expected an interface and a step name (deploy.erase_devices_metadata)")
		}
	}
	if a.ConfigDrive != "" && a.Op != BaremetalDeploy && a.Op != BaremetalRebuild {
		return fmt.Errorf("baremetal %s: a config drive applies to deploy and rebuild only", a.Op)
	}
	return nil
}
