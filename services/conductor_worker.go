package services

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/openstack"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/statemachine"
)

// RegisterConductor registers the conductor's handlers,
// conductor.sync_ironic and conductor.sync_netbox, with the netbox,
// openstack, conductor and ansible (vault password) sections of cfg. The
// clients are made on the first task and kept. Device locks are the bus's
// (StateLocker), or the host's file locks with hostLocks (an in-process
// standalone worker).
func RegisterConductor(reg *osism.Registry, cfg Config, hostLocks bool) error {
	h := &conductorHandler{cfg: cfg, hostLocks: hostLocks}
	if err := osism.RegisterFunc(reg, h.syncIronic); err != nil {
		return err
	}
	return osism.RegisterFunc(reg, h.syncNetBox)
}

type conductorHandler struct {
	cfg       Config
	hostLocks bool
	mu        sync.Mutex
	nb        *netbox.Client
	secs      []*netbox.Secondary
	bm        *openstack.BareMetal
}

func (h *conductorHandler) clients(ctx context.Context) (*netbox.Client, []*netbox.Secondary, *openstack.BareMetal, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nb == nil {
		nb, err := netbox.New(h.cfg.NetBox)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("netbox: %w", err)
		}
		secs, err := netbox.OpenSecondaries(h.cfg.NetBox)
		if err != nil {
			return nil, nil, nil, err
		}
		h.nb, h.secs = nb, secs
	}
	if h.bm == nil {
		bm, err := openstack.NewBareMetal(ctx, h.cfg.OpenStack)
		if err != nil {
			return nil, nil, nil, err
		}
		h.bm = bm
	}
	return h.nb, h.secs, h.bm, nil
}

// conductorOpts are the sync options that come from the configuration
// and the bus.
func conductorOpts(cfg Config, client *osism.Client, hostLocks bool, bm *openstack.BareMetal) SyncIronicOpts {
	var locker statemachine.Locker
	if client != nil && !hostLocks {
		locker = StateLocker(client, 30*time.Second)
	} else {
		dir := cfg.Conductor.LockDir
		if dir == "" {
			dir = cfg.Fabric.lockDir()
		}
		locker = FileLocker(dir)
	}
	o := SyncIronicOpts{Locker: locker, VaultPasswordFile: cfg.Ansible.VaultPasswordFile}
	// Behind Keystone, Glance and Neutron resolve names; a noauth
	// Ironic (Bifrost, standalone) has neither.
	if cfg.OpenStack.Endpoint == "" && bm != nil {
		if sc := bm.ServiceClient(); sc != nil && sc.ProviderClient != nil {
			o.Resolver = NewOpenStackResolver(sc.ProviderClient, gophercloud.EndpointOpts{
				Region: cfg.OpenStack.RegionName, Availability: availabilityOf(cfg.OpenStack.Interface)})
		}
	}
	return o
}

func availabilityOf(iface string) gophercloud.Availability {
	switch iface {
	case "internal", "internalURL":
		return gophercloud.AvailabilityInternal
	case "admin", "adminURL":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

func (h *conductorHandler) syncIronic(ctx context.Context, job *osism.Job[osism.SyncIronicArgs]) error {
	if err := job.Args.Validate(); err != nil {
		return err
	}
	nb, _, bm, err := h.clients(ctx)
	if err != nil {
		return err
	}
	o := conductorOpts(h.cfg, job.Client, h.hostLocks, bm)
	o.Node, o.DryRun, o.Force, o.Adopt, o.Out = job.Args.Node, job.Args.DryRun, job.Args.Force, job.Args.Adopt, job.Output
	rep, err := SyncIronic(ctx, nb, bm, h.cfg.Conductor, o)
	if serr := job.SetResult(rep); serr != nil && err == nil {
		err = serr
	}
	return err
}

func (h *conductorHandler) syncNetBox(ctx context.Context, job *osism.Job[osism.SyncNetBoxArgs]) error {
	if err := job.Args.Validate(); err != nil {
		return err
	}
	nb, secs, bm, err := h.clients(ctx)
	if err != nil {
		return err
	}
	rep, err := SyncNetBox(ctx, nb, secs, bm, SyncNetBoxOpts{Node: job.Args.Node, Out: job.Output})
	if serr := job.SetResult(rep); serr != nil && err == nil {
		err = serr
	}
	return err
}
