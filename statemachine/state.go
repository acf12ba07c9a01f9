package statemachine

// State is a settled device state: one of the built-in states below or a
// state a user added to a Graph.
type State string

// The built-in states. Their meaning follows OSISM's bare-metal lifecycle.
const (
	// StateNew is a device that was just added. It is reserved: no
	// transition leads to it.
	StateNew State = "0"
	// StateA is unprovisioned, ready for introspection.
	StateA State = "a"
	// StateB is introspected, ready for cleaning or provisioning.
	StateB State = "b"
	// StateC is provisioned.
	StateC State = "c"
)

// Phase is one of the four steps of a transition, 1 to NumPhases.
type Phase int

// NumPhases is the number of phases of every transition.
const NumPhases = 4

// The phases of a transition, in the order they run.
const (
	// PhaseNetBox changes NetBox to the desired state of the target.
	PhaseNetBox Phase = 1
	// PhaseGenerate generates the configuration of every managed switch the
	// device is wired to.
	PhaseGenerate Phase = 2
	// PhaseDeploy deploys the generated configuration to those switches.
	PhaseDeploy Phase = 3
	// PhaseCompare compares what each switch runs with what NetBox says.
	PhaseCompare Phase = 4
)
