package services

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
)

// RegisterReconciler registers reconciler.run (queue reconciler) with the
// reconciler, ansible and netbox sections of cfg. The NetBox client and
// the reconciler are made on the first task and kept, so that a conflict
// is logged once per worker. The task prints the hosts added, removed and
// changed (and, dry, the diff) and its result is the ReconcileReport.
func RegisterReconciler(reg *osism.Registry, cfg Config) error {
	h := &reconcilerHandler{cfg: cfg}
	return osism.RegisterFunc(reg, h.run)
}

type reconcilerHandler struct {
	cfg Config
	mu  sync.Mutex
	r   *Reconciler
}

func (h *reconcilerHandler) reconciler() (*Reconciler, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r == nil {
		nb, err := netbox.New(h.cfg.NetBox)
		if err != nil {
			return nil, fmt.Errorf("netbox: %w", err)
		}
		r, err := NewReconciler(h.cfg, nb, nil)
		if err != nil {
			return nil, err
		}
		h.r = r
	}
	return h.r, nil
}

func (h *reconcilerHandler) run(ctx context.Context, job *osism.Job[osism.ReconcilerRunArgs]) error {
	r, err := h.reconciler()
	if err != nil {
		return err
	}
	if job.Args.Reason != "" {
		fmt.Fprintf(job.Output, "reconciler run (%s)\n", job.Args.Reason)
	}
	rep, err := r.Reconcile(ctx, job.Args.DryRun, job.Output)
	if err != nil {
		return err
	}
	if err := WriteReconcileReport(job.Output, r.OutputDir(), rep); err != nil {
		return err
	}
	// The record keeps the lists short: a first run writes a file per
	// host, and the task record is no place for 10,000 names.
	rep.WrittenFiles, rep.DeletedFiles = len(rep.Written), len(rep.Deleted)
	if len(rep.Written) > maxReportFiles {
		rep.Written = rep.Written[:maxReportFiles]
	}
	if len(rep.Deleted) > maxReportFiles {
		rep.Deleted = rep.Deleted[:maxReportFiles]
	}
	return job.SetResult(rep)
}

// maxReportFiles is how many file names a task's result lists.
const maxReportFiles = 100

// WriteReconcileReport prints a report for people: one line per host
// added, removed or changed, then a summary.
func WriteReconcileReport(w io.Writer, dir string, rep ReconcileReport) error {
	var b strings.Builder
	for _, x := range []struct {
		what  string
		hosts []string
	}{{"added", rep.Added}, {"removed", rep.Removed}, {"changed", rep.Changed}} {
		for _, h := range x.hosts {
			fmt.Fprintf(&b, "%s %s\n", x.what, h)
		}
	}
	verb := "wrote"
	if rep.DryRun {
		verb = "would write"
	}
	fmt.Fprintf(&b, "%d hosts in %s: %s %d files, deleted %d, %d conflicts\n", rep.Hosts, dir, verb, len(rep.Written), len(rep.Deleted), rep.Conflicts)
	_, err := io.WriteString(w, b.String())
	return err
}
