package netbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
)

// InventoryDevice is what an Ansible inventory needs of one device: the
// device itself (role, site, tags, custom fields, primary addresses) and
// its rendered config context, decoded.
type InventoryDevice struct {
	Device
	// ConfigContext is the device's rendered config context; empty, never
	// nil, when NetBox has none.
	ConfigContext map[string]any
}

// PrimaryAddress returns the device's primary IPv4 address without its
// prefix length, else its primary IPv6 address, else "".
func (d InventoryDevice) PrimaryAddress() string {
	for _, ip := range []*IPRef{d.PrimaryIP4, d.PrimaryIP6} {
		if ip == nil || ip.Address == "" {
			continue
		}
		if p, err := netip.ParsePrefix(ip.Address); err == nil {
			return p.Addr().String()
		}
		if a, err := netip.ParseAddr(ip.Address); err == nil {
			return a.String()
		}
	}
	return ""
}

// InventoryDevices returns the devices any of the filters selects (their
// union, each device once), with their config contexts, sorted by name.
// Each filter costs one list request per page of NetBox's page size (the
// config contexts come in the list answers, not one request per device),
// the pages after the first read in parallel. A config context that is not
// a JSON object is an error naming the device.
func (c *Client) InventoryDevices(ctx context.Context, filters []DeviceFilter) ([]InventoryDevice, error) {
	if len(filters) == 0 {
		filters = []DeviceFilter{{}}
	}
	seen := map[int]bool{}
	var out []InventoryDevice
	for _, f := range filters {
		f.WithConfigContext = true
		ds, err := c.Devices(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		for _, d := range ds {
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			cc := map[string]any{}
			if raw := d.ConfigContextJSON; len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &cc); err != nil {
					return nil, fmt.Errorf("inventory: config context of device %q (id %d): expected a JSON object: %w", d.Name, d.ID, err)
				}
			}
			d.ConfigContextJSON = nil
			out = append(out, InventoryDevice{Device: d, ConfigContext: cc})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
