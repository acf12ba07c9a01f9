package openstack

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/ports"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Port is a node's network port, by MAC address.
type Port struct {
	UUID                string         `json:"uuid"`
	NodeUUID            string         `json:"node_uuid"`
	Address             string         `json:"address"`
	PXEEnabled          bool           `json:"pxe_enabled"`
	LocalLinkConnection map[string]any `json:"local_link_connection,omitempty"`
	PhysicalNetwork     string         `json:"physical_network,omitempty"`
	Extra               map[string]any `json:"extra,omitempty"`
}

// ListPortsOpts filters a port list.
type ListPortsOpts struct {
	// Node is a node's name or UUID.
	Node string
	// Address is a MAC address.
	Address string
	// Limit is the page size; every page is read.
	Limit int
}

func (o ListPortsOpts) query(marker string) string {
	q := url.Values{}
	if o.Node != "" {
		q.Set("node", o.Node)
	}
	if o.Address != "" {
		q.Set("address", o.Address)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if marker != "" {
		q.Set("marker", marker)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

type portQuery string

func (q portQuery) ToPortListQuery() (string, error)       { return string(q), nil }
func (q portQuery) ToPortListDetailQuery() (string, error) { return string(q), nil }

// Ports lists the ports opts selects, with details, reading every page.
func (bm *BareMetal) Ports(ctx context.Context, opts *ListPortsOpts) ([]Port, error) {
	var o ListPortsOpts
	if opts != nil {
		o = *opts
	}
	if o.Limit < 0 {
		return nil, fmt.Errorf("openstack: list ports: limit %d: expected 0 (the server's) or more", o.Limit)
	}
	var all []Port
	marker := ""
	for {
		var page []Port
		_, last, more, err := firstPage(ctx, ports.ListDetail(bm.sc, portQuery(o.query(marker))), func(p pagination.Page) (int, string, error) {
			if err := p.(ports.PortPage).ExtractIntoSlicePtr(&page, "ports"); err != nil {
				return 0, "", err
			}
			if len(page) == 0 {
				return 0, "", nil
			}
			return len(page), page[len(page)-1].UUID, nil
		})
		if err != nil {
			return nil, wrap(err, "list ports", o.Node)
		}
		all = append(all, page...)
		if !more || len(page) == 0 || last == "" || last == marker {
			return all, nil
		}
		marker = last
	}
}

// CreatePort is a new port of a node.
type CreatePort struct {
	NodeUUID            string         `json:"node_uuid"`
	Address             string         `json:"address"`
	PXEEnabled          *bool          `json:"pxe_enabled,omitempty"`
	LocalLinkConnection map[string]any `json:"local_link_connection,omitempty"`
	PhysicalNetwork     string         `json:"physical_network,omitempty"`
	Extra               map[string]any `json:"extra,omitempty"`
}

// ToPortCreateMap is the request body.
func (c CreatePort) ToPortCreateMap() (map[string]any, error) { return toMap(c) }

// CreatePort creates a port; the node is its UUID (ports take no name).
func (bm *BareMetal) CreatePort(ctx context.Context, c CreatePort) (*Port, error) {
	if c.NodeUUID == "" {
		return nil, fmt.Errorf("openstack: create port %s: no node UUID", c.Address)
	}
	if _, err := net.ParseMAC(c.Address); err != nil {
		return nil, fmt.Errorf("openstack: create port of node %s: address %q: expected a MAC address", c.NodeUUID, c.Address)
	}
	var p Port
	if err := ports.Create(ctx, bm.sc, c).ExtractInto(&p); err != nil {
		return nil, wrap(err, "create port "+c.Address+" of node", c.NodeUUID)
	}
	return &p, nil
}

// portPatch adapts a Patch to gophercloud's ports.Patch.
type portPatch struct{ m map[string]any }

func (p portPatch) ToPortUpdateMap() map[string]any { return p.m }

// UpdatePort applies the patches to port uuid.
func (bm *BareMetal) UpdatePort(ctx context.Context, uuid string, patches ...Patch) (*Port, error) {
	if err := checkRef("port", uuid); err != nil {
		return nil, err
	}
	if len(patches) == 0 {
		return nil, fmt.Errorf("openstack: update port %s: no changes", uuid)
	}
	ops := make(ports.UpdateOpts, len(patches))
	for i, p := range patches {
		m, err := p.ToNodeUpdateMap()
		if err != nil {
			return nil, fmt.Errorf("openstack: update port %s: %w", uuid, err)
		}
		ops[i] = portPatch{m}
	}
	var out Port
	if err := ports.Update(ctx, bm.sc, uuid, ops).ExtractInto(&out); err != nil {
		return nil, wrap(err, "update port", uuid)
	}
	return &out, nil
}

// DeletePort deletes port uuid.
func (bm *BareMetal) DeletePort(ctx context.Context, uuid string) error {
	if err := checkRef("port", uuid); err != nil {
		return err
	}
	return wrap(ports.Delete(ctx, bm.sc, uuid).ExtractErr(), "delete port", uuid)
}
