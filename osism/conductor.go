package osism

import (
	"fmt"
	"strings"
)

// The conductor's task kinds: NetBox devices to Ironic nodes, and Ironic's
// states back to NetBox.
const (
	KindSyncIronic = "conductor.sync_ironic"
	KindSyncNetBox = "conductor.sync_netbox"
)

// SyncIronicArgs registers the NetBox devices of the conductor's filters
// as Ironic nodes with their ports, and moves new nodes to available (or
// adopts them); Node limits it to one device.
type SyncIronicArgs struct {
	// Node is a device (and node) name; empty means every device.
	Node string `json:"node,omitempty"`
	// DryRun reports what would change, secrets masked, and changes
	// nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Force updates every node, also those that do not differ.
	Force bool `json:"force,omitempty"`
	// Adopt adopts nodes instead of providing them (a device whose
	// provision_state is active is always adopted).
	Adopt bool `json:"adopt,omitempty"`
}

// Kind is "conductor.sync_ironic".
func (SyncIronicArgs) Kind() string { return KindSyncIronic }

// Queue is conductor.
func (SyncIronicArgs) Queue() Queue { return QueueConductor }

// Validate checks the node name.
func (a SyncIronicArgs) Validate() error { return checkSyncNode("sync ironic", a.Node) }

// SyncNetBoxArgs writes Ironic's provision state, power state and
// maintenance of every node (or of Node) to the devices of the same name
// in the primary NetBox and every secondary.
type SyncNetBoxArgs struct {
	Node string `json:"node,omitempty"`
}

// Kind is "conductor.sync_netbox".
func (SyncNetBoxArgs) Kind() string { return KindSyncNetBox }

// Queue is conductor.
func (SyncNetBoxArgs) Queue() Queue { return QueueConductor }

// Validate checks the node name.
func (a SyncNetBoxArgs) Validate() error { return checkSyncNode("sync netbox", a.Node) }

func checkSyncNode(op, node string) error {
	if node == "" {
		return nil
	}
	if strings.TrimSpace(node) != node || strings.ContainsAny(node, "/?#\n\t") {
		return fmt.Errorf("%s: node %q: expected a device name (no slashes, no surrounding blanks)", op, node)
	}
	return nil
}
