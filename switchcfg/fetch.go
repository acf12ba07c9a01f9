package switchcfg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/osism/go-osism/netbox"
)

// CustomFieldDeviceType is the custom field that marks switches: its value
// is "switch".
const CustomFieldDeviceType = "device_type"

// IsSwitch reports whether d is a switch (custom field device_type=switch).
func IsSwitch(d netbox.Device) bool { return d.CustomFields.String(CustomFieldDeviceType) == "switch" }

// IsManaged reports whether OSISM configures d: a switch tagged
// managed-by-osism.
func IsManaged(d netbox.Device) bool { return IsSwitch(d) && d.HasTag(netbox.TagManagedByOSISM) }

func managedFilter() netbox.DeviceFilter {
	return netbox.DeviceFilter{
		Tag:          []string{netbox.TagManagedByOSISM},
		CustomFields: map[string]string{CustomFieldDeviceType: "switch"},
	}
}

// Switches lists the switches OSISM configures (custom field
// device_type=switch and tag managed-by-osism), sorted by name. One NetBox
// request per 1000 switches.
func Switches(ctx context.Context, c *netbox.Client) ([]netbox.Device, error) {
	ds, err := c.Devices(ctx, managedFilter())
	if err != nil {
		return nil, fmt.Errorf("list managed switches: %w", err)
	}
	return onlyManaged(ds), nil
}

// onlyManaged drops devices NetBox's filter let through: its text custom
// field filter matches substrings ("switches").
func onlyManaged(ds []netbox.Device) []netbox.Device {
	out := ds[:0]
	for _, d := range ds {
		if IsManaged(d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b netbox.Device) int { return naturalCompare(a.Name, b.Name) })
	return out
}

// Filters go into the URL; a few hundred values would pass the request
// line limit of the usual web servers in front of NetBox (gunicorn: 4094
// bytes).
const (
	idsPerRequest   = 100
	namesPerRequest = 40
)

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// listChunked calls list once per chunk of keys and concatenates the
// answers.
func listChunked[K, T any](keys []K, n int, list func([]K) ([]T, error)) ([]T, error) {
	var out []T
	for _, part := range chunks(keys, n) {
		items, err := list(part)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// parallel runs fns at once and returns their errors joined.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			defer recoverAs(&errs[i], "read NetBox")
			errs[i] = fn()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// load reads what the contexts of the named switches (all managed switches
// if none is named) are built from, with a fixed number of requests
// whatever the number of switches and interfaces: the switches with their
// config contexts; then their interfaces and device types at once; then
// the far-end devices and the IP addresses at once.
func (r *Renderer) load(ctx context.Context, names []string) ([]inputs, error) {
	if r.nb == nil {
		return nil, errors.New("switchcfg: renderer has no NetBox client")
	}
	devs, err := r.switches(ctx, names)
	if err != nil {
		return nil, err
	}
	if len(devs) == 0 {
		return nil, nil
	}
	ids := make([]int, 0, len(devs))
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	var ifaces []netbox.Interface
	var types map[int]deviceType
	err = parallel(
		func() (err error) {
			ifaces, err = listChunked(ids, idsPerRequest, func(part []int) ([]netbox.Interface, error) {
				return r.nb.Interfaces(ctx, netbox.InterfaceFilter{DeviceID: part})
			})
			return err
		},
		func() (err error) { types, err = r.deviceTypes(ctx, devs); return err },
	)
	if err != nil {
		return nil, fmt.Errorf("read switches %s: %w", names4msg(devs), err)
	}
	peers, ips, err := r.farEnds(ctx, ids, ifaces)
	if err != nil {
		return nil, fmt.Errorf("read switches %s: %w", names4msg(devs), err)
	}
	for _, d := range devs {
		peers[d.ID] = d
	}
	byDevice := map[int][]netbox.Interface{}
	for _, i := range ifaces {
		byDevice[i.Device.ID] = append(byDevice[i.Device.ID], i)
	}
	out := make([]inputs, 0, len(devs))
	for _, d := range devs {
		out = append(out, inputs{dev: d, devType: types[d.DeviceType.ID], ifaces: byDevice[d.ID], peers: peers, ips: ips})
	}
	return out, nil
}

func names4msg(devs []netbox.Device) string {
	ns := make([]string, 0, len(devs))
	for _, d := range devs {
		ns = append(ns, strconv.Quote(d.Name))
	}
	return strings.Join(ns, ", ")
}

// switches reads the named devices, config context included, in the order
// named, and checks that each is one managed switch.
func (r *Renderer) switches(ctx context.Context, names []string) ([]netbox.Device, error) {
	if len(names) == 0 {
		f := managedFilter()
		f.WithConfigContext = true
		ds, err := r.nb.Devices(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list managed switches: %w", err)
		}
		return onlyManaged(ds), nil
	}
	names = dedupe(names)
	for _, n := range names {
		if n == "" {
			return nil, errors.New("switch name is empty")
		}
	}
	ds, err := listChunked(names, namesPerRequest, func(part []string) ([]netbox.Device, error) {
		return r.nb.Devices(ctx, netbox.DeviceFilter{Name: part, WithConfigContext: true})
	})
	if err != nil {
		return nil, fmt.Errorf("read switches %q: %w", names, err)
	}
	byName := map[string][]netbox.Device{}
	for _, d := range ds {
		byName[d.Name] = append(byName[d.Name], d)
	}
	out := make([]netbox.Device, 0, len(names))
	for _, n := range names {
		found := byName[n]
		switch {
		case len(found) == 0:
			return nil, fmt.Errorf("switch %q: %w", n, netbox.ErrNotFound)
		case len(found) > 1:
			return nil, fmt.Errorf("switch %q: %w (%d devices)", n, netbox.ErrAmbiguous, len(found))
		case !IsManaged(found[0]):
			return nil, fmt.Errorf("switch %q: %w (want custom field %s=switch and tag %s)", n, ErrNotSwitch, CustomFieldDeviceType, netbox.TagManagedByOSISM)
		}
		out = append(out, found[0])
	}
	return out, nil
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// farEnds reads the devices at the far ends of the switches' cables (for
// their role and whether they are switches) and the IP addresses of the
// switches and of their MLAG peers.
func (r *Renderer) farEnds(ctx context.Context, switchIDs []int, ifaces []netbox.Interface) (map[int]netbox.Device, []netbox.IPAddress, error) {
	own := map[int]bool{}
	for _, id := range switchIDs {
		own[id] = true
	}
	var peerIDs []int
	for _, i := range ifaces {
		for _, lp := range i.LinkPeers {
			if id := lp.Device.ID; id != 0 && !own[id] && !slices.Contains(peerIDs, id) {
				peerIDs = append(peerIDs, id)
			}
		}
	}
	slices.Sort(peerIDs)
	ipDevices := append(slices.Clone(switchIDs), mlagPeerIDs(ifaces, own)...)
	peers := map[int]netbox.Device{}
	var ips []netbox.IPAddress
	err := parallel(
		func() error {
			ds, err := listChunked(peerIDs, idsPerRequest, func(part []int) ([]netbox.Device, error) {
				return r.nb.Devices(ctx, netbox.DeviceFilter{ID: part})
			})
			for _, d := range ds {
				peers[d.ID] = d
			}
			return err
		},
		func() (err error) {
			ips, err = listChunked(ipDevices, idsPerRequest, func(part []int) ([]netbox.IPAddress, error) {
				return r.nb.IPAddresses(ctx, netbox.IPAddressFilter{DeviceID: part})
			})
			return err
		},
	)
	return peers, ips, err
}

// mlagPeerIDs are the devices other than the switches themselves at the
// far ends of LAGs that carry a virtual interface: the candidates for an
// MLAG peer, whose address the MLAG context names.
func mlagPeerIDs(ifaces []netbox.Interface, own map[int]bool) []int {
	carrier := map[int]bool{} // LAG ids that are some virtual interface's parent
	for _, i := range ifaces {
		if kindOf(i.Type.Value) == KindVirtual && i.Parent != nil {
			carrier[i.Parent.ID] = true
		}
	}
	var out []int
	for _, i := range ifaces {
		if i.LAG == nil || !carrier[i.LAG.ID] {
			continue
		}
		for _, lp := range i.LinkPeers {
			if id := lp.Device.ID; id != 0 && !own[id] && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// deviceType is what the context needs of a device type; netbox.Device
// carries only its id and slug.
type deviceType = netbox.DeviceType

// deviceTypes returns the device types of devs, from the renderer's cache
// or with one request for those it has not seen: a device type's
// manufacturer and model practically never change.
func (r *Renderer) deviceTypes(ctx context.Context, devs []netbox.Device) (map[int]deviceType, error) {
	out := map[int]deviceType{}
	var missing []int
	r.mu.Lock()
	for _, d := range devs {
		id := d.DeviceType.ID
		if t, ok := r.types[id]; ok {
			out[id] = t
		} else if !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	r.mu.Unlock()
	slices.Sort(missing)
	got, err := listChunked(missing, idsPerRequest, func(part []int) ([]deviceType, error) {
		return r.nb.DeviceTypes(ctx, part)
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range got {
		r.types[t.ID] = t
		out[t.ID] = t
	}
	return out, nil
}
