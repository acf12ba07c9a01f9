package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/switchcfg"
)

// RegisterGenerate registers the handler of netbox.generate: it renders
// the named switches from NetBox and commits each to the state repository
// (the fabric's Deployer.Generate), and stores the renders as the task's
// result. The fabric is built on the first task, from cfg's netbox and
// fabric sections, with the bus's locks for switches.
func RegisterGenerate(reg *osism.Registry, cfg Config, log *slog.Logger) error {
	return registerGenerate(reg, cfg, log, false)
}

func registerGenerate(reg *osism.Registry, cfg Config, log *slog.Logger, hostLocks bool) error {
	get := lazyFabric(cfg, log, hostLocks)
	return osism.RegisterFunc(reg, func(ctx context.Context, job *osism.Job[osism.NetBoxGenerateArgs]) error {
		if len(job.Args.Switches) == 0 {
			return errors.New("netbox.generate: no switches given: expected the names of managed switches")
		}
		for _, sw := range job.Args.Switches {
			if err := switchcfg.CheckName(sw); err != nil {
				return fmt.Errorf("netbox.generate: %w", err)
			}
		}
		f, err := get(job.Client)
		if err != nil {
			return err
		}
		if job.Args.Reason != "" {
			fmt.Fprintf(job.Output, "osism: render of %v asked for by %s\n", job.Args.Switches, job.Args.Reason)
		}
		res, err := f.Deployer.Generate(ctx, job.Args.Switches...)
		for _, r := range res {
			what := "unchanged"
			if r.Changed {
				what = "changed"
			}
			fmt.Fprintf(job.Output, "%s: revision %s, %s\n", r.Switch, r.Rev, what)
		}
		if serr := job.SetResult(res); serr != nil && err == nil {
			err = serr
		}
		return err
	})
}
