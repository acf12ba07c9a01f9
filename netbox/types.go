package netbox

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Choice is one of NetBox's {value, label} fields (status, type, mode). It
// is a plain string pair so that a value NetBox added after 4.3, or a
// custom status choice, decodes like any other. An unset choice (NetBox
// sends null) has an empty Value.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// UnmarshalJSON accepts null, a bare string and {value, label} with a
// string or numeric value.
func (c *Choice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*c = Choice{}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Choice{Value: s, Label: s}
		return nil
	}
	var raw struct {
		Value json.RawMessage `json:"value"`
		Label string          `json:"label"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	c.Label = raw.Label
	c.Value = ""
	if len(raw.Value) > 0 && !bytes.Equal(raw.Value, []byte("null")) {
		var s string
		if json.Unmarshal(raw.Value, &s) == nil {
			c.Value = s
		} else {
			c.Value = string(raw.Value)
		}
	}
	return nil
}

// Ref is a nested object as NetBox embeds it (brief form).
type Ref struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
	Slug string `json:"slug,omitempty"`
}

// Tag is a tag as NetBox nests it in objects and lists it.
type Tag struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Color       string `json:"color,omitempty"`
	Description string `json:"description,omitempty"`
}

// IPRef is an IP address as a device's primary_ip4 nests it.
type IPRef struct {
	ID      int    `json:"id"`
	Address string `json:"address"`
	Family  Choice `json:"family"`
}

// Device is what this package reads of a dcim device.
type Device struct {
	ID           int          `json:"id"`
	Name         string       `json:"name"`
	Role         Ref          `json:"role"`
	DeviceType   Ref          `json:"device_type"`
	Platform     *Ref         `json:"platform"`
	Site         Ref          `json:"site"`
	Rack         *Ref         `json:"rack"`
	Position     *float64     `json:"position"`
	Status       Choice       `json:"status"`
	Serial       string       `json:"serial"`
	PrimaryIP4   *IPRef       `json:"primary_ip4"`
	PrimaryIP6   *IPRef       `json:"primary_ip6"`
	OOBIP        *IPRef       `json:"oob_ip"`
	Tags         []Tag        `json:"tags"`
	CustomFields CustomFields `json:"custom_fields"`
	// ConfigContextJSON is the rendered config context when it was asked
	// for (Client.ConfigContext, DeviceFilter.WithConfigContext); it stays
	// raw so that lists do not pay to decode it.
	ConfigContextJSON json.RawMessage `json:"config_context"`
}

// DeviceType is what this package reads of a dcim device type: its brief
// representation, which names the model and its manufacturer
// (Device.DeviceType holds only the id and slug).
type DeviceType struct {
	ID           int    `json:"id"`
	Model        string `json:"model"`
	Slug         string `json:"slug"`
	Manufacturer Ref    `json:"manufacturer"` // id, name and slug
	Description  string `json:"description"`
}

func (d *Device) objectID() int     { return d.ID }
func (t *DeviceType) objectID() int { return t.ID }
func (i *Interface) objectID() int  { return i.ID }
func (v *VLAN) objectID() int       { return v.ID }
func (a *IPAddress) objectID() int  { return a.ID }
func (c *Cable) objectID() int      { return c.ID }
func (t *Tag) objectID() int        { return t.ID }

// HasTag reports whether the device carries the tag (by slug).
func (d Device) HasTag(slug string) bool {
	for _, t := range d.Tags {
		if t.Slug == slug {
			return true
		}
	}
	return false
}

// CustomFields are an object's custom field values as NetBox sends them;
// unset fields are present with a nil value.
type CustomFields map[string]any

// String returns a text custom field; null, absent and non-strings read
// as "" (numbers and booleans as their JSON text).
func (cf CustomFields) String(name string) string {
	switch v := cf[name].(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Bool returns a boolean custom field and whether it was set.
func (cf CustomFields) Bool(name string) (value, ok bool) {
	v, ok := cf[name].(bool)
	return v, ok
}

// DeviceRef is a device as an interface or cable termination nests it.
type DeviceRef struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// InterfaceRef is an interface nested in another object.
type InterfaceRef struct {
	ID     int       `json:"id"`
	Name   string    `json:"name"`
	Device DeviceRef `json:"device"`
	Cable  *CableRef `json:"cable"`
}

// VLANRef is a VLAN nested in an interface.
type VLANRef struct {
	ID   int    `json:"id"`
	VID  int    `json:"vid"`
	Name string `json:"name"`
}

// MACRef is an interface's primary MAC address object.
type MACRef struct {
	ID         int    `json:"id"`
	MACAddress string `json:"mac_address"`
}

// CableRef is a cable nested in an interface.
type CableRef struct {
	ID    int    `json:"id"`
	Label string `json:"label"`
}

// Interface is what this package reads of a dcim interface. Type is a
// Choice so interface types newer than go-netbox's 4.3 enum decode.
type Interface struct {
	ID            int          `json:"id"`
	Device        DeviceRef    `json:"device"`
	Name          string       `json:"name"`
	Label         string       `json:"label"`
	Type          Choice       `json:"type"`
	Enabled       bool         `json:"enabled"`
	Parent        *Ref         `json:"parent"`
	LAG           *Ref         `json:"lag"`
	MTU           *int         `json:"mtu"`
	MACAddress    string       `json:"mac_address"`
	PrimaryMAC    *MACRef      `json:"primary_mac_address"`
	Description   string       `json:"description"`
	MgmtOnly      bool         `json:"mgmt_only"`
	Mode          Choice       `json:"mode"`
	UntaggedVLAN  *VLANRef     `json:"untagged_vlan"`
	TaggedVLANs   []VLANRef    `json:"tagged_vlans"`
	Cable         *CableRef    `json:"cable"`
	CableEnd      string       `json:"cable_end"`
	LinkPeers     []linkPeer   `json:"link_peers"`
	LinkPeersType string       `json:"link_peers_type"`
	Tags          []Tag        `json:"tags"`
	CustomFields  CustomFields `json:"custom_fields"`
}

// linkPeer is one object at the far end of an interface's cable. NetBox
// sends several shapes here (interfaces, front ports, circuit
// terminations); fields that do not apply stay zero.
type linkPeer struct {
	ID     int       `json:"id"`
	Name   string    `json:"name"`
	Device DeviceRef `json:"device"`
}

// Peer is the far end of an interface's cable.
type Peer struct {
	Interface  Interface // the local interface
	Cable      int
	PeerType   string // "dcim.interface", "dcim.frontport", ...
	PeerID     int
	PeerName   string
	PeerDevice DeviceRef
}

// VLAN is an ipam VLAN.
type VLAN struct {
	ID     int          `json:"id"`
	VID    int          `json:"vid"`
	Name   string       `json:"name"`
	Site   *Ref         `json:"site"`
	Group  *Ref         `json:"group"`
	Status Choice       `json:"status"`
	Tags   []Tag        `json:"tags"`
	Fields CustomFields `json:"custom_fields"`
}

// IPAddress is an ipam IP address.
type IPAddress struct {
	ID                 int          `json:"id"`
	Address            string       `json:"address"`
	Family             Choice       `json:"family"`
	Status             Choice       `json:"status"`
	DNSName            string       `json:"dns_name"`
	Description        string       `json:"description"`
	AssignedObjectType string       `json:"assigned_object_type"`
	AssignedObjectID   *int         `json:"assigned_object_id"`
	AssignedObject     *ipAssigned  `json:"assigned_object"`
	Tags               []Tag        `json:"tags"`
	CustomFields       CustomFields `json:"custom_fields"`
}

type ipAssigned struct {
	ID     int       `json:"id"`
	Name   string    `json:"name"`
	Device DeviceRef `json:"device"`
}

// InterfaceID is the id of the interface the address is assigned to, or 0.
func (a IPAddress) InterfaceID() int {
	if a.AssignedObjectType != "dcim.interface" || a.AssignedObjectID == nil {
		return 0
	}
	return *a.AssignedObjectID
}

// Cable is a dcim cable between interfaces.
type Cable struct {
	ID            int           `json:"id"`
	Type          Choice        `json:"type"`
	Status        Choice        `json:"status"`
	Label         string        `json:"label"`
	ATerminations []Termination `json:"a_terminations"`
	BTerminations []Termination `json:"b_terminations"`
}

// Termination is one end of a cable.
type Termination struct {
	ObjectType string       `json:"object_type"`
	ObjectID   int          `json:"object_id"`
	Object     InterfaceRef `json:"object"`
}

// LAG is a link aggregation interface with its members.
type LAG struct {
	Interface Interface
	Members   []Interface
}
