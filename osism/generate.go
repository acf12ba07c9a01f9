package osism

import (
	"slices"
	"strings"
)

// KindNetBoxGenerate renders the configuration of switches from NetBox and
// commits it to the state repository (phase 2 alone, without a deploy):
// what the API submits when a NetBox webhook reports a change on a managed
// switch or one of its interfaces.
const KindNetBoxGenerate = "netbox.generate"

// NetBoxGenerateArgs renders Switches on the netbox queue.
type NetBoxGenerateArgs struct {
	Switches []string `json:"switches"`
	// Reason says what asked for the render ("webhook", "cli"); it is
	// shown in the task's output.
	Reason string `json:"reason,omitempty"`
}

// Kind is "netbox.generate".
func (NetBoxGenerateArgs) Kind() string { return KindNetBoxGenerate }

// Queue is netbox.
func (NetBoxGenerateArgs) Queue() Queue { return QueueNetBox }

// NetBoxGenerateDedupKey is the de-duplication key of a render of
// switches: one render queued or running per set of switches covers
// every change that came before it.
func NetBoxGenerateDedupKey(switches []string) string {
	s := slices.Clone(switches)
	slices.Sort(s)
	s = slices.Compact(s)
	return "netbox/generate/" + strings.Join(s, ",")
}
