package netbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	gonetbox "github.com/netbox-community/go-netbox/v4"

	"github.com/osism/go-osism/internal/natural"
)

// DeviceFilter selects devices. Values within one field are OR, fields are
// AND, as NetBox filters work. Empty selects every device.
type DeviceFilter struct {
	Name   []string
	ID     []int
	Tag    []string // tag slugs
	Role   []string // role slugs
	Site   []string // site slugs
	Status []string // status values, custom ones included
	// CustomFields filters by custom field value: {"device_type": "switch"}
	// becomes ?cf_device_type=switch, a filter go-netbox cannot send.
	CustomFields map[string]string
	// Query is NetBox's free text search (?q=).
	Query string
	// WithConfigContext includes the rendered config context, which NetBox
	// computes per device and which dominates the answer's size.
	WithConfigContext bool
}

func (f DeviceFilter) values() url.Values {
	q := url.Values{}
	q["name"] = f.Name
	for _, id := range f.ID {
		q.Add("id", strconv.Itoa(id))
	}
	q["tag"] = f.Tag
	q["role"] = f.Role
	q["site"] = f.Site
	q["status"] = f.Status
	for k, v := range f.CustomFields {
		q.Add("cf_"+k, v)
	}
	if f.Query != "" {
		q.Set("q", f.Query)
	}
	if !f.WithConfigContext {
		q.Set("exclude", "config_context")
	}
	for k, v := range q {
		if len(v) == 0 {
			delete(q, k)
		}
	}
	return q
}

func (f DeviceFilter) String() string {
	q := f.values()
	q.Del("exclude")
	if len(q) == 0 {
		return "all devices"
	}
	return q.Encode()
}

const (
	pathDevices     = "/api/dcim/devices/"
	pathDeviceTypes = "/api/dcim/device-types/"
	pathInterfaces  = "/api/dcim/interfaces/"
	pathCables      = "/api/dcim/cables/"
	pathMACs        = "/api/dcim/mac-addresses/"
)

// Devices lists the devices f selects, all pages.
func (c *Client) Devices(ctx context.Context, f DeviceFilter) ([]Device, error) {
	for k := range f.CustomFields {
		if !validFieldName(k) {
			return nil, fmt.Errorf("list devices: custom field name %q: want lower-case letters, digits and _", k)
		}
	}
	ds, err := list[Device](ctx, c, pathDevices, f.values())
	if err != nil {
		return nil, fmt.Errorf("list devices (%s): %w", f, err)
	}
	return ds, nil
}

// Device returns the device named name; ErrNotFound if there is none.
func (c *Client) Device(ctx context.Context, name string) (Device, error) {
	if name == "" {
		return Device{}, errors.New("get device: empty name")
	}
	d, err := one[Device](ctx, c, pathDevices, url.Values{"name": {name}})
	if err != nil {
		return Device{}, fmt.Errorf("get device %q: %w", name, err)
	}
	return d, nil
}

// DeviceByID returns the device with the id, config context included.
func (c *Client) DeviceByID(ctx context.Context, id int) (Device, error) {
	var d Device
	if err := c.do(ctx, http.MethodGet, pathDevices+strconv.Itoa(id)+"/", nil, nil, &d); err != nil {
		return Device{}, fmt.Errorf("get device %d: %w", id, err)
	}
	return d, nil
}

// ConfigContext returns the device's rendered config context.
func (c *Client) ConfigContext(ctx context.Context, device string) (map[string]any, error) {
	ds, err := c.Devices(ctx, DeviceFilter{Name: []string{device}, WithConfigContext: true})
	if err != nil {
		return nil, fmt.Errorf("config context of %q: %w", device, err)
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("config context of %q: %w", device, ErrNotFound)
	}
	out := map[string]any{}
	if raw := ds[0].ConfigContextJSON; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("config context of %q: %w", device, err)
		}
	}
	return out, nil
}

// DeviceTypes returns the device types with the ids, all pages, in NetBox's
// order (by id); ids NetBox does not know are left out, and no ids means
// none, without a request. It reads the brief representation, so a field or
// choice of a newer NetBox cannot break it. The ids go into the URL: a
// caller with hundreds of them splits them over several calls.
func (c *Client) DeviceTypes(ctx context.Context, ids []int) ([]DeviceType, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q := url.Values{"brief": {"1"}}
	for _, id := range ids {
		q.Add("id", strconv.Itoa(id))
	}
	ts, err := list[DeviceType](ctx, c, pathDeviceTypes, q)
	if err != nil {
		return nil, fmt.Errorf("list device types %v: %w", ids, err)
	}
	return ts, nil
}

// InterfaceFilter selects interfaces.
type InterfaceFilter struct {
	Device   []string
	DeviceID []int
	Name     []string
	Type     []string
	LAGID    []int
}

func (f InterfaceFilter) values() url.Values {
	q := url.Values{}
	for _, d := range f.Device {
		q.Add("device", d)
	}
	for _, id := range f.DeviceID {
		q.Add("device_id", strconv.Itoa(id))
	}
	for _, n := range f.Name {
		q.Add("name", n)
	}
	for _, t := range f.Type {
		q.Add("type", t)
	}
	for _, id := range f.LAGID {
		q.Add("lag_id", strconv.Itoa(id))
	}
	return q
}

// Interfaces lists interfaces f selects.
func (c *Client) Interfaces(ctx context.Context, f InterfaceFilter) ([]Interface, error) {
	is, err := list[Interface](ctx, c, pathInterfaces, f.values())
	if err != nil {
		return nil, fmt.Errorf("list interfaces (%s): %w", f.values().Encode(), err)
	}
	return is, nil
}

// DeviceInterfaces lists the interfaces of the named device, sorted by name.
func (c *Client) DeviceInterfaces(ctx context.Context, device string) ([]Interface, error) {
	d, err := c.Device(ctx, device)
	if err != nil {
		return nil, fmt.Errorf("interfaces of %q: %w", device, err)
	}
	is, err := c.Interfaces(ctx, InterfaceFilter{DeviceID: []int{d.ID}})
	if err != nil {
		return nil, fmt.Errorf("interfaces of %q: %w", device, err)
	}
	sort.Slice(is, func(i, j int) bool { return natural.Less(is[i].Name, is[j].Name) })
	return is, nil
}

// Peers returns, for each cabled interface of the device, the object at the
// cable's far end. It reads the interfaces' link_peers, so it costs the same
// requests as DeviceInterfaces.
func (c *Client) Peers(ctx context.Context, device string) ([]Peer, error) {
	is, err := c.DeviceInterfaces(ctx, device)
	if err != nil {
		return nil, fmt.Errorf("peers of %q: %w", device, err)
	}
	var out []Peer
	for _, i := range is {
		if i.Cable == nil {
			continue
		}
		for _, lp := range i.LinkPeers {
			out = append(out, Peer{
				Interface: i, Cable: i.Cable.ID, PeerType: i.LinkPeersType,
				PeerID: lp.ID, PeerName: lp.Name, PeerDevice: lp.Device,
			})
		}
	}
	return out, nil
}

// LAGs returns the device's LAG interfaces with their members.
func (c *Client) LAGs(ctx context.Context, device string) ([]LAG, error) {
	is, err := c.DeviceInterfaces(ctx, device)
	if err != nil {
		return nil, fmt.Errorf("LAGs of %q: %w", device, err)
	}
	return lagsOf(is), nil
}

func lagsOf(is []Interface) []LAG {
	idx := map[int]int{}
	var out []LAG
	for _, i := range is {
		if i.Type.Value == "lag" {
			idx[i.ID] = len(out)
			out = append(out, LAG{Interface: i})
		}
	}
	for _, i := range is {
		if i.LAG != nil {
			if k, ok := idx[i.LAG.ID]; ok {
				out[k].Members = append(out[k].Members, i)
			}
		}
	}
	return out
}

// Cables lists the cables attached to the named device.
func (c *Client) Cables(ctx context.Context, device string) ([]Cable, error) {
	cs, err := list[Cable](ctx, c, pathCables, url.Values{"device": {device}})
	if err != nil {
		return nil, fmt.Errorf("cables of %q: %w", device, err)
	}
	return cs, nil
}

// CableSpec is a cable to create between two interfaces.
type CableSpec struct {
	AInterface int
	BInterface int
	Type       string // NetBox cable type, e.g. "cat6", "dac-passive"; "" for none
	Label      string
}

// CreateCable connects two interfaces.
func (c *Client) CreateCable(ctx context.Context, s CableSpec) (Cable, error) {
	req := gonetbox.WritableCableRequest{
		ATerminations: []gonetbox.GenericObjectRequest{{ObjectType: "dcim.interface", ObjectId: int32(s.AInterface)}},
		BTerminations: []gonetbox.GenericObjectRequest{{ObjectType: "dcim.interface", ObjectId: int32(s.BInterface)}},
	}
	if s.Type != "" {
		req.Type = *gonetbox.NewNullableCableType(gonetbox.CableType(s.Type).Ptr())
	}
	if s.Label != "" {
		req.Label = &s.Label
	}
	var out Cable
	if err := c.do(ctx, http.MethodPost, pathCables, nil, req, &out); err != nil {
		return Cable{}, fmt.Errorf("create cable %d-%d: %w", s.AInterface, s.BInterface, err)
	}
	return out, nil
}

// DeleteCable removes a cable; a cable already gone is not an error.
func (c *Client) DeleteCable(ctx context.Context, id int) error {
	return c.del(ctx, "delete cable", pathCables, id)
}

// InterfaceSpec creates an interface.
type InterfaceSpec struct {
	DeviceID int
	Name     string
	Type     string // "virtual", "lag", "1000base-t", ...
	Enabled  *bool
	MTU      *int
	Parent   int
	LAG      int
	Label    string
	Desc     string
}

// CreateInterface creates an interface.
func (c *Client) CreateInterface(ctx context.Context, s InterfaceSpec) (Interface, error) {
	dev := gonetbox.Int32AsBriefInterfaceRequestDevice(gonetbox.PtrInt32(int32(s.DeviceID)))
	typ := gonetbox.InterfaceTypeValue(s.Type)
	req := gonetbox.NewWritableInterfaceRequestWithDefaults()
	req.Device = dev
	req.Name = s.Name
	req.Type = typ
	req.Enabled = s.Enabled
	if s.MTU != nil {
		req.Mtu = *gonetbox.NewNullableInt32(gonetbox.PtrInt32(int32(*s.MTU)))
	}
	if s.Parent != 0 {
		req.Parent = *gonetbox.NewNullableInt32(gonetbox.PtrInt32(int32(s.Parent)))
	}
	if s.LAG != 0 {
		req.Lag = *gonetbox.NewNullableInt32(gonetbox.PtrInt32(int32(s.LAG)))
	}
	if s.Label != "" {
		req.Label = &s.Label
	}
	if s.Desc != "" {
		req.Description = &s.Desc
	}
	var out Interface
	if err := c.do(ctx, http.MethodPost, pathInterfaces, nil, req, &out); err != nil {
		return Interface{}, fmt.Errorf("create interface %q on device %d: %w", s.Name, s.DeviceID, err)
	}
	return out, nil
}

// DeleteInterface removes an interface; one already gone is not an error.
func (c *Client) DeleteInterface(ctx context.Context, id int) error {
	return c.del(ctx, "delete interface", pathInterfaces, id)
}

// InterfaceUpdate changes an interface. Nil fields stay as they are.
type InterfaceUpdate struct {
	Label       *string
	Enabled     *bool
	MTU         *int
	Description *string
	MgmtOnly    *bool
	// Mode: "access", "tagged", "tagged-all", "q-in-q"; "" clears it.
	Mode *string
	// UntaggedVLAN is a VLAN id (not vid); 0 clears it.
	UntaggedVLAN *int
	// TaggedVLANs are VLAN ids; an empty slice clears them.
	TaggedVLANs *[]int
	// LAG is the parent LAG's interface id; 0 removes the membership.
	LAG *int
	// Parent interface id; 0 clears it.
	Parent *int
	// PrimaryMAC is a MAC address object id; 0 clears it.
	PrimaryMAC *int
}

// IsZero reports whether the update changes nothing.
func (u InterfaceUpdate) IsZero() bool { return u == InterfaceUpdate{} }

func (u InterfaceUpdate) request() (map[string]any, error) {
	r := gonetbox.NewPatchedWritableInterfaceRequest()
	r.Label = u.Label
	r.Enabled = u.Enabled
	r.Description = u.Description
	r.MgmtOnly = u.MgmtOnly
	if u.MTU != nil {
		r.Mtu = *gonetbox.NewNullableInt32(nil)
		if *u.MTU != 0 {
			r.Mtu.Set(gonetbox.PtrInt32(int32(*u.MTU)))
		}
	}
	if u.Mode != nil {
		r.Mode = *gonetbox.NewNullablePatchedWritableInterfaceRequestMode(nil)
		if *u.Mode != "" {
			m := gonetbox.PatchedWritableInterfaceRequestMode(*u.Mode)
			r.Mode.Set(&m)
		}
	}
	if u.UntaggedVLAN != nil {
		r.UntaggedVlan = *gonetbox.NewNullableInterfaceRequestUntaggedVlan(nil)
		if *u.UntaggedVLAN != 0 {
			v := gonetbox.Int32AsInterfaceRequestUntaggedVlan(gonetbox.PtrInt32(int32(*u.UntaggedVLAN)))
			r.UntaggedVlan.Set(&v)
		}
	}
	if u.TaggedVLANs != nil {
		r.TaggedVlans = make([]int32, 0, len(*u.TaggedVLANs))
		for _, id := range *u.TaggedVLANs {
			r.TaggedVlans = append(r.TaggedVlans, int32(id))
		}
	}
	setNullableID := func(n interface{ Set(*int32) }, id *int) {
		if id == nil {
			return
		}
		if *id == 0 {
			n.Set(nil)
			return
		}
		n.Set(gonetbox.PtrInt32(int32(*id)))
	}
	setNullableID(&r.Lag, u.LAG)
	setNullableID(&r.Parent, u.Parent)
	if u.PrimaryMAC != nil {
		r.PrimaryMacAddress = *gonetbox.NewNullableInterfaceRequestPrimaryMacAddress(nil)
		if *u.PrimaryMAC != 0 {
			v := gonetbox.Int32AsInterfaceRequestPrimaryMacAddress(gonetbox.PtrInt32(int32(*u.PrimaryMAC)))
			r.PrimaryMacAddress.Set(&v)
		}
	}
	return toMap(r)
}

// UpdateInterface changes one interface.
func (c *Client) UpdateInterface(ctx context.Context, id int, u InterfaceUpdate) (Interface, error) {
	body, err := u.request()
	if err != nil {
		return Interface{}, fmt.Errorf("update interface %d: %w", id, err)
	}
	var out Interface
	if err := c.do(ctx, http.MethodPatch, pathInterfaces+strconv.Itoa(id)+"/", nil, body, &out); err != nil {
		return Interface{}, fmt.Errorf("update interface %d: %w", id, err)
	}
	return out, nil
}

// UpdateInterfaces changes many interfaces with NetBox's bulk PATCH, one
// request per page size of interfaces.
func (c *Client) UpdateInterfaces(ctx context.Context, updates map[int]InterfaceUpdate) error {
	ids := sortedKeys(updates)
	items := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		body, err := updates[id].request()
		if err != nil {
			return fmt.Errorf("update interface %d: %w", id, err)
		}
		body["id"] = id
		items = append(items, body)
	}
	if err := c.bulkPatch(ctx, pathInterfaces, items); err != nil {
		return fmt.Errorf("update %d interfaces: %w", len(items), err)
	}
	return nil
}

// SetInterfaceMAC makes mac the interface's primary MAC address, creating
// the MAC address object NetBox 4.2+ needs. An empty mac clears the primary
// MAC (the address object stays, as NetBox keeps it for history).
func (c *Client) SetInterfaceMAC(ctx context.Context, iface int, mac string) error {
	if mac == "" {
		_, err := c.UpdateInterface(ctx, iface, InterfaceUpdate{PrimaryMAC: ptr(0)})
		return err
	}
	id, err := c.ensureMAC(ctx, iface, mac)
	if err != nil {
		return err
	}
	if _, err := c.UpdateInterface(ctx, iface, InterfaceUpdate{PrimaryMAC: &id}); err != nil {
		return fmt.Errorf("set MAC %s on interface %d: %w", mac, iface, err)
	}
	return nil
}

type macAddress struct {
	ID                 int    `json:"id"`
	MACAddress         string `json:"mac_address"`
	AssignedObjectType string `json:"assigned_object_type"`
	AssignedObjectID   *int   `json:"assigned_object_id"`
}

// ensureMAC returns the id of the MAC address object mac on iface.
func (c *Client) ensureMAC(ctx context.Context, iface int, mac string) (int, error) {
	ms, err := list[macAddress](ctx, c, pathMACs, url.Values{"mac_address": {mac}})
	if err != nil {
		return 0, fmt.Errorf("find MAC %s: %w", mac, err)
	}
	for _, m := range ms {
		if m.AssignedObjectType == "dcim.interface" && m.AssignedObjectID != nil && *m.AssignedObjectID == iface {
			return m.ID, nil
		}
	}
	return c.createMAC(ctx, iface, mac)
}

func (c *Client) createMAC(ctx context.Context, iface int, mac string) (int, error) {
	req := gonetbox.NewMACAddressRequest(mac)
	req.AssignedObjectType = *gonetbox.NewNullableString(gonetbox.PtrString("dcim.interface"))
	req.AssignedObjectId = *gonetbox.NewNullableInt64(gonetbox.PtrInt64(int64(iface)))
	var out macAddress
	if err := c.do(ctx, http.MethodPost, pathMACs, nil, req, &out); err != nil {
		return 0, fmt.Errorf("create MAC %s on interface %d: %w", mac, iface, err)
	}
	return out.ID, nil
}

// UpdateDeviceCustomFields sets custom fields of one device. NetBox merges
// them into the device's other custom fields.
func (c *Client) UpdateDeviceCustomFields(ctx context.Context, id int, fields map[string]any) error {
	if err := checkFieldNames(fields); err != nil {
		return fmt.Errorf("update custom fields of device %d: %w", id, err)
	}
	req := gonetbox.NewPatchedWritableDeviceWithConfigContextRequest()
	req.CustomFields = fields
	if err := c.do(ctx, http.MethodPatch, pathDevices+strconv.Itoa(id)+"/", nil, req, nil); err != nil {
		return fmt.Errorf("update custom fields of device %d: %w", id, err)
	}
	return nil
}

// UpdateDevicesCustomFields sets custom fields on many devices (device id ->
// fields) with NetBox's bulk PATCH: one request per page size of devices
// instead of one per device.
func (c *Client) UpdateDevicesCustomFields(ctx context.Context, updates map[int]map[string]any) error {
	ids := sortedKeys(updates)
	items := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		if err := checkFieldNames(updates[id]); err != nil {
			return fmt.Errorf("update custom fields of device %d: %w", id, err)
		}
		items = append(items, map[string]any{"id": id, "custom_fields": updates[id]})
	}
	if err := c.bulkPatch(ctx, pathDevices, items); err != nil {
		return fmt.Errorf("update custom fields of %d devices: %w", len(items), err)
	}
	return nil
}

// SetPrimaryIPv4 sets the device's primary_ip4 to the IP address id; 0
// clears it.
func (c *Client) SetPrimaryIPv4(ctx context.Context, device, ip int) error {
	req := gonetbox.NewPatchedWritableDeviceWithConfigContextRequest()
	req.PrimaryIp4 = *gonetbox.NewNullableDeviceWithConfigContextRequestPrimaryIp4(nil)
	if ip != 0 {
		v := gonetbox.Int32AsDeviceWithConfigContextRequestPrimaryIp4(gonetbox.PtrInt32(int32(ip)))
		req.PrimaryIp4.Set(&v)
	}
	if err := c.do(ctx, http.MethodPatch, pathDevices+strconv.Itoa(device)+"/", nil, req, nil); err != nil {
		return fmt.Errorf("set primary IPv4 of device %d to %d: %w", device, ip, err)
	}
	return nil
}

// bulkPatch sends [{id, ...}] lists in chunks of the page size.
func (c *Client) bulkPatch(ctx context.Context, path string, items []map[string]any) error {
	for start := 0; start < len(items); start += c.pageSize {
		end := min(start+c.pageSize, len(items))
		if err := c.do(ctx, http.MethodPatch, path, nil, items[start:end], nil); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) del(ctx context.Context, op, path string, id int) error {
	err := c.do(ctx, http.MethodDelete, path+strconv.Itoa(id)+"/", nil, nil, nil)
	// A retried DELETE whose first attempt succeeded meets a 404: the goal,
	// the object being gone, is reached either way.
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%s %d: %w", op, id, err)
	}
	return nil
}

func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func checkFieldNames(fields map[string]any) error {
	if len(fields) == 0 {
		return errors.New("no custom fields given")
	}
	for k := range fields {
		if !validFieldName(k) {
			return fmt.Errorf("custom field name %q: want lower-case letters, digits and _", k)
		}
	}
	return nil
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

func ptr[T any](v T) *T { return &v }
