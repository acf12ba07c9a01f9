package netbox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	gonetbox "github.com/netbox-community/go-netbox/v4"
)

const (
	pathVLANs = "/api/ipam/vlans/"
	pathIPs   = "/api/ipam/ip-addresses/"
)

// VLANFilter selects VLANs.
type VLANFilter struct {
	VID  []int
	Name []string
	Site []string // site slugs
}

// VLANs lists VLANs f selects.
func (c *Client) VLANs(ctx context.Context, f VLANFilter) ([]VLAN, error) {
	q := url.Values{}
	for _, v := range f.VID {
		q.Add("vid", strconv.Itoa(v))
	}
	for _, n := range f.Name {
		q.Add("name", n)
	}
	for _, s := range f.Site {
		q.Add("site", s)
	}
	vs, err := list[VLAN](ctx, c, pathVLANs, q)
	if err != nil {
		return nil, fmt.Errorf("list VLANs (%s): %w", q.Encode(), err)
	}
	return vs, nil
}

// VLANSpec creates a VLAN.
type VLANSpec struct {
	VID    int
	Name   string // default "VLAN <vid>", as upstream OSISM names them
	SiteID int    // 0: a global VLAN
}

// CreateVLAN creates a VLAN.
func (c *Client) CreateVLAN(ctx context.Context, s VLANSpec) (VLAN, error) {
	if s.VID < 1 || s.VID > 4094 {
		return VLAN{}, fmt.Errorf("create VLAN %d: vid must be 1-4094", s.VID)
	}
	if s.Name == "" {
		s.Name = "VLAN " + strconv.Itoa(s.VID)
	}
	req := gonetbox.NewVLANRequest(int32(s.VID), s.Name)
	if s.SiteID != 0 {
		site := gonetbox.Int32AsPatchedWritableVLANRequestSite(gonetbox.PtrInt32(int32(s.SiteID)))
		req.Site = *gonetbox.NewNullablePatchedWritableVLANRequestSite(&site)
	}
	var out VLAN
	if err := c.do(ctx, http.MethodPost, pathVLANs, nil, req, &out); err != nil {
		return VLAN{}, fmt.Errorf("create VLAN %d: %w", s.VID, err)
	}
	return out, nil
}

// IPAddressFilter selects IP addresses.
type IPAddressFilter struct {
	Address     []string
	Device      []string
	DeviceID    []int
	InterfaceID []int
}

// IPAddresses lists IP addresses f selects.
func (c *Client) IPAddresses(ctx context.Context, f IPAddressFilter) ([]IPAddress, error) {
	q := url.Values{}
	for _, a := range f.Address {
		q.Add("address", a)
	}
	for _, d := range f.Device {
		q.Add("device", d)
	}
	for _, id := range f.DeviceID {
		q.Add("device_id", strconv.Itoa(id))
	}
	for _, id := range f.InterfaceID {
		q.Add("interface_id", strconv.Itoa(id))
	}
	as, err := list[IPAddress](ctx, c, pathIPs, q)
	if err != nil {
		return nil, fmt.Errorf("list IP addresses (%s): %w", q.Encode(), err)
	}
	return as, nil
}

// IPAddressSpec creates or reassigns an IP address.
type IPAddressSpec struct {
	Address     string // CIDR, e.g. 192.0.2.10/24
	InterfaceID int    // 0: unassigned
	Status      string // default "active"
	DNSName     string
	Description string
}

func (s IPAddressSpec) request() gonetbox.WritableIPAddressRequest {
	req := gonetbox.NewWritableIPAddressRequest(s.Address)
	if s.InterfaceID != 0 {
		req.AssignedObjectType = *gonetbox.NewNullableString(gonetbox.PtrString("dcim.interface"))
		req.AssignedObjectId = *gonetbox.NewNullableInt64(gonetbox.PtrInt64(int64(s.InterfaceID)))
	}
	if s.Status != "" {
		st := gonetbox.PatchedWritableIPAddressRequestStatus(s.Status)
		req.Status = &st
	}
	if s.DNSName != "" {
		req.DnsName = &s.DNSName
	}
	if s.Description != "" {
		req.Description = &s.Description
	}
	return *req
}

// CreateIPAddress creates an IP address.
func (c *Client) CreateIPAddress(ctx context.Context, s IPAddressSpec) (IPAddress, error) {
	var out IPAddress
	if err := c.do(ctx, http.MethodPost, pathIPs, nil, s.request(), &out); err != nil {
		return IPAddress{}, fmt.Errorf("create IP address %s: %w", s.Address, err)
	}
	return out, nil
}

// AssignIPAddress moves an existing IP address to an interface.
func (c *Client) AssignIPAddress(ctx context.Context, id, iface int) error {
	req := gonetbox.NewPatchedWritableIPAddressRequest()
	req.AssignedObjectType = *gonetbox.NewNullableString(gonetbox.PtrString("dcim.interface"))
	req.AssignedObjectId = *gonetbox.NewNullableInt64(gonetbox.PtrInt64(int64(iface)))
	if err := c.do(ctx, http.MethodPatch, pathIPs+strconv.Itoa(id)+"/", nil, req, nil); err != nil {
		return fmt.Errorf("assign IP address %d to interface %d: %w", id, iface, err)
	}
	return nil
}

// DeleteIPAddress removes an IP address; one already gone is not an error.
func (c *Client) DeleteIPAddress(ctx context.Context, id int) error {
	return c.del(ctx, "delete IP address", pathIPs, id)
}
