package openstack

import "slices"

// ProvisionState is a node's provision state as Ironic names it.
type ProvisionState string

// Ironic's provision states. Stable states are where a node rests;
// transient ones (-ing, wait) move on by themselves; failed ones need an
// operator.
const (
	StateEnroll        ProvisionState = "enroll"
	StateVerifying     ProvisionState = "verifying"
	StateManageable    ProvisionState = "manageable"
	StateInspecting    ProvisionState = "inspecting"
	StateInspectWait   ProvisionState = "inspect wait"
	StateInspectFailed ProvisionState = "inspect failed"
	StateCleaning      ProvisionState = "cleaning"
	StateCleanWait     ProvisionState = "clean wait"
	StateCleanHold     ProvisionState = "clean hold"
	StateCleanFailed   ProvisionState = "clean failed"
	StateAvailable     ProvisionState = "available"
	StateDeploying     ProvisionState = "deploying"
	StateDeployWait    ProvisionState = "wait call-back"
	StateDeployHold    ProvisionState = "deploy hold"
	StateDeployFailed  ProvisionState = "deploy failed"
	StateActive        ProvisionState = "active"
	StateDeleting      ProvisionState = "deleting"
	StateError         ProvisionState = "error"
	StateAdopting      ProvisionState = "adopting"
	StateAdoptFailed   ProvisionState = "adopt failed"
	StateRescuing      ProvisionState = "rescuing"
	StateRescueWait    ProvisionState = "rescue wait"
	StateRescue        ProvisionState = "rescue"
	StateRescueFailed  ProvisionState = "rescue failed"
	StateUnrescuing    ProvisionState = "unrescuing"
	StateUnrescueFail  ProvisionState = "unrescue failed"
	StateServicing     ProvisionState = "servicing"
	StateServiceWait   ProvisionState = "service wait"
	StateServiceFailed ProvisionState = "service failed"
	StateRebuild       ProvisionState = "rebuild"
)

var (
	failedStates = []ProvisionState{StateInspectFailed, StateCleanFailed, StateDeployFailed, StateError,
		StateAdoptFailed, StateRescueFailed, StateUnrescueFail, StateServiceFailed}
	stableStates = []ProvisionState{StateEnroll, StateManageable, StateAvailable, StateActive, StateRescue}
	// deletableStates are where a node without an instance may be deleted
	// without harm (the conductor's sync uses the same list).
	deletableStates = []ProvisionState{StateEnroll, StateManageable, StateAvailable, StateCleanFailed}
)

// Failed reports whether s is a failure an operator must act on (deploy
// failed, clean failed, error, ...).
func (s ProvisionState) Failed() bool { return slices.Contains(failedStates, s) }

// Stable reports whether a node rests in s (enroll, manageable, available,
// active, rescue).
func (s ProvisionState) Stable() bool { return slices.Contains(stableStates, s) }

// Transient reports whether s moves on without an operator.
func (s ProvisionState) Transient() bool { return s != "" && !s.Failed() && !s.Stable() }

// Deletable reports whether a node in s may be deleted safely (given no
// instance and power off): enroll, manageable, available, clean failed.
func (s ProvisionState) Deletable() bool { return slices.Contains(deletableStates, s) }

// ProvisionStates returns every provision state this package knows.
func ProvisionStates() []ProvisionState {
	return []ProvisionState{StateEnroll, StateVerifying, StateManageable, StateInspecting, StateInspectWait,
		StateInspectFailed, StateCleaning, StateCleanWait, StateCleanHold, StateCleanFailed, StateAvailable,
		StateDeploying, StateDeployWait, StateDeployHold, StateDeployFailed, StateActive, StateDeleting, StateError,
		StateAdopting, StateAdoptFailed, StateRescuing, StateRescueWait, StateRescue, StateRescueFailed,
		StateUnrescuing, StateUnrescueFail, StateServicing, StateServiceWait, StateServiceFailed, StateRebuild}
}

// ParseProvisionState returns the state s names, or an error listing the
// states.
func ParseProvisionState(s string) (ProvisionState, error) {
	if st := ProvisionState(s); slices.Contains(ProvisionStates(), st) {
		return st, nil
	}
	return "", &ParseError{What: "provision state", Value: s, Expected: "an Ironic provision state such as enroll, manageable, available, active, deploy failed"}
}

// Target is the verb of a provision-state change (PUT .../states/provision).
type Target string

// The provision verbs.
const (
	TargetManage   Target = "manage"
	TargetProvide  Target = "provide"
	TargetInspect  Target = "inspect"
	TargetDeploy   Target = "active"
	TargetRebuild  Target = "rebuild"
	TargetUndeploy Target = "deleted"
	TargetClean    Target = "clean"
	TargetAdopt    Target = "adopt"
	TargetAbort    Target = "abort"
	TargetRescue   Target = "rescue"
	TargetUnrescue Target = "unrescue"
)

// PowerState is a node's power state.
type PowerState string

// Ironic's power states and power targets. A node whose power was never
// read has the empty PowerState.
const (
	PowerOn            PowerState = "power on"
	PowerOff           PowerState = "power off"
	PowerRebooting     PowerState = "rebooting"
	PowerSoftOff       PowerState = "soft power off"
	PowerSoftRebooting PowerState = "soft rebooting"
	PowerError         PowerState = "error"
)

// ParseError is a value that names no known state or verb.
type ParseError struct {
	What, Value, Expected string
}

func (e *ParseError) Error() string {
	return "openstack: " + e.What + " \"" + e.Value + "\": expected " + e.Expected
}

// BootDevice is a boot device Ironic sets (pxe, disk, cdrom, bios, safe).
type BootDevice string

// Boot devices.
const (
	BootPXE   BootDevice = "pxe"
	BootDisk  BootDevice = "disk"
	BootCDROM BootDevice = "cdrom"
	BootBIOS  BootDevice = "bios"
	BootSafe  BootDevice = "safe"
)
