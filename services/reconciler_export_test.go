package services

// SetReconcilerBeforeRename makes r call f before each file's rename into
// place; an error from f stops the run there, as a crash would.
func SetReconcilerBeforeRename(r *Reconciler, f func(path string) error) { r.beforeRename = f }
