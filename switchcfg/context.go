package switchcfg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/osism/go-osism/internal/natural"
	"github.com/osism/go-osism/netbox"
)

// Context is what a template sees of one switch. Templates address it by
// the JSON names: {{ device.name }}, {% for i in interfaces %}, {{ bgp.asn }}.
// Every field is always present (lists empty rather than missing, mlag
// none when the switch has no MLAG), so templates run with strict undefined
// checks and a typo is an error rather than an empty line.
type Context struct {
	Device     Device      `json:"device"`
	Interfaces []Interface `json:"interfaces"` // all interfaces, in natural name order (swp2 before swp10)
	VLANs      []VLAN      `json:"vlans"`      // VLANs on any interface, by VID
	MLAG       *MLAG       `json:"mlag"`       // nil: no MLAG in NetBox
	BGP        BGP         `json:"bgp"`
}

// Named is a related NetBox object: site, role, platform, manufacturer.
// Both are "" when the object is not set.
type Named struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

// Device is the switch.
type Device struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Site         Named  `json:"site"`
	Rack         string `json:"rack"`
	Role         Named  `json:"role"`
	Platform     Named  `json:"platform"`
	Manufacturer Named  `json:"manufacturer"`
	// Model is the device type's model, e.g. "AS7326-56X".
	Model      string `json:"model"`
	Serial     string `json:"serial"`
	Status     string `json:"status"`
	PrimaryIP4 string `json:"primary_ip4"` // CIDR, "" if unset
	PrimaryIP6 string `json:"primary_ip6"`
	// DeploymentType is the custom field deployment_type, e.g. "frr".
	DeploymentType string   `json:"deployment_type"`
	Tags           []string `json:"tags"` // slugs, sorted
	// CustomFields are all custom fields as NetBox sends them (unset ones
	// are none).
	CustomFields map[string]any `json:"custom_fields"`
	// ConfigContext is the device's rendered config context.
	ConfigContext map[string]any `json:"config_context"`
}

// Interface kinds.
const (
	KindEthernet = "ethernet" // any physical port
	KindLAG      = "lag"
	KindVirtual  = "virtual" // virtual and bridge interfaces
)

// Interface is one interface of the switch.
type Interface struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"` // KindEthernet, KindLAG or KindVirtual
	Type        string `json:"type"` // NetBox's type, e.g. "25gbase-x-sfp28"
	Label       string `json:"label"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	MgmtOnly    bool   `json:"mgmt_only"`
	MTU         int    `json:"mtu"` // 0: unset
	MACAddress  string `json:"mac_address"`
	// Mode is the 802.1Q mode: "", "access", "tagged" or "tagged-all".
	Mode         string    `json:"mode"`
	UntaggedVLAN *VLANRef  `json:"untagged_vlan"`
	TaggedVLANs  []VLANRef `json:"tagged_vlans"` // by VID
	// Addresses are the interface's IP addresses (CIDR), sorted.
	Addresses []string `json:"addresses"`
	// Peer is the far end of the interface's cable; nil without a cable.
	Peer *Peer `json:"peer"`
	// LAG is the name of the LAG this interface is a member of, or "".
	LAG string `json:"lag"`
	// Parent is the parent interface's name, or "".
	Parent string `json:"parent"`
	// Members are a LAG's member interfaces, in natural order.
	Members []string `json:"members"`
	// PeerDevices are the devices at the far ends of a LAG's members,
	// sorted.
	PeerDevices  []string       `json:"peer_devices"`
	CustomFields map[string]any `json:"custom_fields"`
}

// Peer kinds.
const (
	PeerSwitch = "switch" // a device with custom field device_type=switch
	PeerNode   = "node"   // any other device's interface
	PeerOther  = "other"  // not an interface: a front port, a circuit
)

// Peer is the object at the far end of a cable.
type Peer struct {
	Device    string `json:"device"`
	Interface string `json:"interface"` // the far end's name (interface, port)
	Kind      string `json:"kind"`      // PeerSwitch, PeerNode or PeerOther
	Role      string `json:"role"`      // the far device's role slug
	Cable     string `json:"cable"`     // the cable's label
}

// VLANRef is a VLAN on an interface.
type VLANRef struct {
	VID  int    `json:"vid"`
	Name string `json:"name"`
}

// VLAN is a VLAN used on the switch, with the interfaces that carry it.
type VLAN struct {
	VID      int      `json:"vid"`
	Name     string   `json:"name"`
	Untagged []string `json:"untagged"` // interfaces, natural order
	Tagged   []string `json:"tagged"`
}

// MLAG is the switch's MLAG as the netbox package's desired state writes
// it: a virtual interface (Vlan<vlan>) whose parent is a LAG
// (Port-Channel<channel>, the peer link) whose members are all cabled to
// one other device, the peer.
type MLAG struct {
	Peer      string   `json:"peer"`      // the peer switch
	PeerLink  string   `json:"peer_link"` // the LAG, e.g. Port-Channel1
	Members   []string `json:"members"`   // the peer link's members
	Interface string   `json:"interface"` // the virtual interface, e.g. Vlan4094
	VLAN      int      `json:"vlan"`      // its untagged VID, 0 if unset
	Address   string   `json:"address"`   // its address (CIDR), "" if none
	// PeerAddress is the peer's address on its interface of the same name
	// (or, failing that, the peer's address in the same prefix); PeerIP is
	// the same without the prefix length.
	PeerAddress string `json:"peer_address"`
	PeerIP      string `json:"peer_ip"`
	// DomainID is the config context's mlag_domain_id, else the number
	// the peer link's name ends in (Port-Channel1: 1), else 0.
	DomainID int `json:"domain_id"`
}

// BGP is the switch's BGP identity.
type BGP struct {
	// ASN is the config context's frr_asn, else the custom field frr_asn
	// (numbers or numeric strings), else 0: no BGP.
	ASN int64 `json:"asn"`
	// RouterID is the config context's frr_router_id, else the address of
	// its loopback key, else the primary IPv4 address, without prefix
	// length; "" if none is an IPv4 address.
	RouterID string `json:"router_id"`
}

// inputs are the NetBox objects one switch's context is built from.
type inputs struct {
	dev     netbox.Device
	devType deviceType
	ifaces  []netbox.Interface    // the switch's interfaces
	peers   map[int]netbox.Device // far-end devices by id
	ips     []netbox.IPAddress    // of the switch and its MLAG peers
}

// build turns one switch's NetBox objects into its template context. It
// sorts everything, so the same data gives the same context whatever order
// NetBox listed it in.
func build(in inputs) (*Context, error) {
	cc, err := decodeConfigContext(in.dev)
	if err != nil {
		return nil, err
	}
	c := &Context{
		Device:     device(in.dev, in.devType, cc),
		Interfaces: interfaces(in),
	}
	c.VLANs = vlans(c.Interfaces)
	c.MLAG = mlag(in, c.Interfaces, cc)
	c.BGP = bgp(in.dev, cc)
	return c, nil
}

func decodeConfigContext(d netbox.Device) (map[string]any, error) {
	out := map[string]any{}
	raw := bytes.TrimSpace(d.ConfigContextJSON)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("config context of %q: want a JSON object: %w", d.Name, err)
	}
	return out, nil
}

func named(r *netbox.Ref) Named {
	if r == nil {
		return Named{}
	}
	return Named{Name: r.Name, Slug: r.Slug}
}

func ipOf(r *netbox.IPRef) string {
	if r == nil {
		return ""
	}
	return r.Address
}

func device(d netbox.Device, dt deviceType, cc map[string]any) Device {
	tags := make([]string, 0, len(d.Tags))
	for _, t := range d.Tags {
		tags = append(tags, t.Slug)
	}
	slices.Sort(tags)
	cf := map[string]any(d.CustomFields)
	if cf == nil {
		cf = map[string]any{}
	}
	rack := ""
	if d.Rack != nil {
		rack = d.Rack.Name
	}
	return Device{
		ID:             d.ID,
		Name:           d.Name,
		Site:           named(&d.Site),
		Rack:           rack,
		Role:           named(&d.Role),
		Platform:       named(d.Platform),
		Manufacturer:   Named{Name: dt.Manufacturer.Name, Slug: dt.Manufacturer.Slug},
		Model:          dt.Model,
		Serial:         d.Serial,
		Status:         d.Status.Value,
		PrimaryIP4:     ipOf(d.PrimaryIP4),
		PrimaryIP6:     ipOf(d.PrimaryIP6),
		DeploymentType: d.CustomFields.String("deployment_type"),
		Tags:           tags,
		CustomFields:   cf,
		ConfigContext:  cc,
	}
}

func kindOf(typ string) string {
	switch typ {
	case "lag":
		return KindLAG
	case "virtual", "bridge":
		return KindVirtual
	}
	return KindEthernet
}

func interfaces(in inputs) []Interface {
	addrs := map[int][]string{}
	for _, a := range in.ips {
		if id := a.InterfaceID(); id != 0 {
			addrs[id] = append(addrs[id], a.Address)
		}
	}
	out := make([]Interface, 0, len(in.ifaces))
	byName := map[string]int{}
	for _, i := range in.ifaces {
		byName[i.Name] = len(out)
		out = append(out, iface(i, addrs[i.ID], in.peers))
	}
	// LAG members and their far ends, from the members' side.
	for _, i := range in.ifaces {
		if i.LAG == nil {
			continue
		}
		k, ok := byName[i.LAG.Name]
		if !ok {
			continue
		}
		out[k].Members = append(out[k].Members, i.Name)
		if p := out[byName[i.Name]].Peer; p != nil && p.Device != "" && !slices.Contains(out[k].PeerDevices, p.Device) {
			out[k].PeerDevices = append(out[k].PeerDevices, p.Device)
		}
	}
	for k := range out {
		slices.SortFunc(out[k].Members, naturalCompare)
		slices.Sort(out[k].PeerDevices)
	}
	slices.SortFunc(out, func(a, b Interface) int { return naturalCompare(a.Name, b.Name) })
	return out
}

func iface(i netbox.Interface, addrs []string, peers map[int]netbox.Device) Interface {
	out := Interface{
		Name:         i.Name,
		Kind:         kindOf(i.Type.Value),
		Type:         i.Type.Value,
		Label:        i.Label,
		Description:  i.Description,
		Enabled:      i.Enabled,
		MgmtOnly:     i.MgmtOnly,
		MACAddress:   macOf(i),
		Mode:         i.Mode.Value,
		TaggedVLANs:  []VLANRef{},
		Addresses:    append([]string{}, addrs...),
		Members:      []string{},
		PeerDevices:  []string{},
		CustomFields: map[string]any(i.CustomFields),
		Peer:         peerOf(i, peers),
	}
	if out.CustomFields == nil {
		out.CustomFields = map[string]any{}
	}
	if i.MTU != nil {
		out.MTU = *i.MTU
	}
	if i.UntaggedVLAN != nil {
		out.UntaggedVLAN = &VLANRef{VID: i.UntaggedVLAN.VID, Name: i.UntaggedVLAN.Name}
	}
	for _, v := range i.TaggedVLANs {
		out.TaggedVLANs = append(out.TaggedVLANs, VLANRef{VID: v.VID, Name: v.Name})
	}
	slices.SortFunc(out.TaggedVLANs, func(a, b VLANRef) int { return a.VID - b.VID })
	slices.SortFunc(out.Addresses, compareAddr)
	if i.LAG != nil {
		out.LAG = i.LAG.Name
	}
	if i.Parent != nil {
		out.Parent = i.Parent.Name
	}
	return out
}

func macOf(i netbox.Interface) string {
	if i.PrimaryMAC != nil && i.PrimaryMAC.MACAddress != "" {
		return i.PrimaryMAC.MACAddress
	}
	return i.MACAddress
}

// peerOf is the far end of i's cable; of several (a breakout), the first
// by device and name.
func peerOf(i netbox.Interface, devs map[int]netbox.Device) *Peer {
	if i.Cable == nil || len(i.LinkPeers) == 0 {
		return nil
	}
	var best *Peer
	for _, lp := range i.LinkPeers {
		p := &Peer{Device: lp.Device.Name, Interface: lp.Name, Kind: PeerOther, Cable: i.Cable.Label}
		if i.LinkPeersType == "dcim.interface" {
			p.Kind = PeerNode
		}
		if d, ok := devs[lp.Device.ID]; ok {
			p.Role = d.Role.Slug
			if p.Kind == PeerNode && IsSwitch(d) {
				p.Kind = PeerSwitch
			}
		}
		if best == nil || p.Device < best.Device || p.Device == best.Device && natural.Less(p.Interface, best.Interface) {
			best = p
		}
	}
	return best
}

// compareAddr orders addresses numerically (IPv4 before IPv6), anything
// that does not parse after them as text.
func compareAddr(a, b string) int {
	pa, ea := netip.ParsePrefix(a)
	pb, eb := netip.ParsePrefix(b)
	switch {
	case ea == nil && eb == nil:
		if c := pa.Addr().Compare(pb.Addr()); c != 0 {
			return c
		}
		return pa.Bits() - pb.Bits()
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func vlans(ifaces []Interface) []VLAN {
	byVID := map[int]*VLAN{}
	get := func(r VLANRef) *VLAN {
		v, ok := byVID[r.VID]
		if !ok {
			v = &VLAN{VID: r.VID, Name: r.Name, Untagged: []string{}, Tagged: []string{}}
			byVID[r.VID] = v
		}
		return v
	}
	for _, i := range ifaces { // in natural order, so members come sorted
		if i.UntaggedVLAN != nil {
			v := get(*i.UntaggedVLAN)
			v.Untagged = append(v.Untagged, i.Name)
		}
		for _, t := range i.TaggedVLANs {
			v := get(t)
			v.Tagged = append(v.Tagged, i.Name)
		}
	}
	out := make([]VLAN, 0, len(byVID))
	for _, v := range byVID {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b VLAN) int { return a.VID - b.VID })
	return out
}

var trailingNumber = regexp.MustCompile(`(\d+)$`)

// mlag finds the MLAG: the first virtual interface (by name) whose parent
// is a LAG whose members all lead to one other device.
func mlag(in inputs, ifaces []Interface, cc map[string]any) *MLAG {
	byName := map[string]Interface{}
	for _, i := range ifaces {
		byName[i.Name] = i
	}
	for _, v := range ifaces {
		lag, ok := byName[v.Parent]
		if v.Kind != KindVirtual || !ok || lag.Kind != KindLAG || len(lag.PeerDevices) != 1 || lag.PeerDevices[0] == in.dev.Name {
			continue
		}
		m := &MLAG{
			Peer:      lag.PeerDevices[0],
			PeerLink:  lag.Name,
			Members:   lag.Members,
			Interface: v.Name,
		}
		if v.UntaggedVLAN != nil {
			m.VLAN = v.UntaggedVLAN.VID
		}
		if len(v.Addresses) > 0 {
			m.Address = v.Addresses[0]
		}
		m.PeerAddress = peerAddress(in.ips, m.Peer, v.Name, m.Address)
		if p, err := netip.ParsePrefix(m.PeerAddress); err == nil {
			m.PeerIP = p.Addr().String()
		}
		if n, ok := intOf(cc["mlag_domain_id"]); ok {
			m.DomainID = int(n)
		} else if d := trailingNumber.FindString(lag.Name); d != "" {
			m.DomainID, _ = strconv.Atoi(d)
		}
		return m
	}
	return nil
}

// peerAddress is the peer's address on its interface named like ours, else
// its address in the same prefix as ours.
func peerAddress(ips []netbox.IPAddress, peer, ifName, local string) string {
	var onName, inPrefix []string
	lp, lerr := netip.ParsePrefix(local)
	for _, a := range ips {
		if a.AssignedObject == nil || a.AssignedObject.Device.Name != peer {
			continue
		}
		if a.AssignedObject.Name == ifName {
			onName = append(onName, a.Address)
		}
		if p, err := netip.ParsePrefix(a.Address); err == nil && lerr == nil && lp.Masked() == p.Masked() {
			inPrefix = append(inPrefix, a.Address)
		}
	}
	for _, list := range [][]string{onName, inPrefix} {
		if len(list) > 0 {
			slices.SortFunc(list, compareAddr)
			return list[0]
		}
	}
	return ""
}

func bgp(d netbox.Device, cc map[string]any) BGP {
	var b BGP
	if n, ok := intOf(cc["frr_asn"]); ok {
		b.ASN = n
	} else if n, ok := intOf(d.CustomFields["frr_asn"]); ok {
		b.ASN = n
	}
	for _, v := range []any{cc["frr_router_id"], cc["loopback"], ipOf(d.PrimaryIP4)} {
		if s, ok := v.(string); ok {
			if a := hostIPv4(s); a != "" {
				b.RouterID = a
				break
			}
		}
	}
	return b
}

// hostIPv4 is s's IPv4 address, with or without a prefix length, or "".
func hostIPv4(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		return p.Addr().String()
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return a.String()
	}
	return ""
}

// intOf reads a whole number from JSON (float64, json.Number, a numeric
// string).
func intOf(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case int:
		return int64(n), true
	case int64:
		return n, true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// templateData is the context as the template engine gets it: its JSON
// form, with whole numbers as integers (JSON's float64 would print 65101.0).
func (c *Context) templateData() (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode context of %q: %w", c.Device.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode context of %q: %w", c.Device.Name, err)
	}
	return normalizeNumbers(m).(map[string]any), nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}
