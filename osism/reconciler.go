package osism

// KindReconcilerRun builds the Ansible inventory from NetBox and the
// configuration repository (the reconciler worker, queue reconciler).
const KindReconcilerRun = "reconciler.run"

// ReconcilerDedupKey is the de-duplication key the watchdog, the beat and
// the API submit reconciler.run with: one run queued or running at a time
// covers every change that came before it.
const ReconcilerDedupKey = "reconciler/run"

// ReconcilerRunArgs asks for one run of the reconciler.
type ReconcilerRunArgs struct {
	// DryRun reports what would change (a diff) and writes nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Reason says what asked for the run ("watchdog", "beat", "webhook",
	// "cli"); it is shown in the task's output.
	Reason string `json:"reason,omitempty"`
}

// Kind is "reconciler.run".
func (ReconcilerRunArgs) Kind() string { return KindReconcilerRun }

// Queue is reconciler.
func (ReconcilerRunArgs) Queue() Queue { return QueueReconciler }
