package services

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism"
)

// OpenFabric builds the fabric of cfg the way a command needs it: the
// NetBox client of cfg.NetBox and, when cfg names a broker, a client of
// it, so that devices and switches are locked on the bus; without a broker
// (standalone mode) they are locked with the host's file locks in
// cfg.Fabric.LockDir. The returned close releases what OpenFabric opened
// (the bus client); it is not nil when the error is nil. log defaults to
// slog.Default().
func OpenFabric(ctx context.Context, cfg Config, log *slog.Logger) (*Fabric, func() error, error) {
	nb, err := netbox.New(cfg.NetBox)
	if err != nil {
		return nil, nil, fmt.Errorf("netbox (netbox.url and a token, or %s and %s): %w", netbox.EnvURL, netbox.EnvToken, err)
	}
	closeFn := func() error { return nil }
	var bus *osism.Client
	if !cfg.Bus.Standalone() {
		if bus, err = osism.Dial(ctx, cfg.Bus); err != nil {
			return nil, nil, err
		}
		closeFn = bus.Close
	}
	f, err := NewFabric(cfg.Fabric, nb, bus, log)
	if err != nil {
		_ = closeFn()
		return nil, nil, err
	}
	return f, closeFn, nil
}
