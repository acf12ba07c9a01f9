package netbox

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v4"
)

// Interface types of the desired state that are not cable types.
const (
	TypeVirtual     = "virtual"
	TypePortChannel = "port-channel"
	TypeMLAG        = "mlag"
)

// VLAN modes of an interface in the desired state.
const (
	VLANUntagged = "untagged"
	VLANTagged   = "tagged"
)

// DesiredState is the content of desired-state files: device name ->
// interface name -> what NetBox should hold for that interface.
type DesiredState map[string]map[string]InterfaceState

// InterfaceState is one interface of the desired state.
type InterfaceState struct {
	// Type is a NetBox cable type ("cat6", "dac-passive", ...) for a cabled
	// interface, or TypeVirtual, TypePortChannel, TypeMLAG.
	Type string `json:"type"`
	// Device and Interface name the far end of the cable.
	Device    string `json:"device,omitempty"`
	Interface string `json:"interface,omitempty"`
	// Data holds interface fields to set.
	Data       InterfaceData `json:"data,omitzero"`
	MACAddress string        `json:"mac_address,omitempty"`
	Addresses  []Address     `json:"addresses,omitempty"`
	// VLANs maps vid -> VLANUntagged or VLANTagged.
	VLANs map[int]string `json:"vlans,omitempty"`
	// Interfaces are the members of a port-channel or MLAG.
	Interfaces []string `json:"interfaces,omitempty"`
	// Channel numbers the far end's Port-Channel<channel> of a port-channel.
	Channel int        `json:"channel,omitempty"`
	MLAG    *MLAGState `json:"mlag,omitempty"`
}

// Cabled reports whether the interface is a physical one with a cable.
func (s InterfaceState) Cabled() bool {
	return s.Type != TypeVirtual && s.Type != TypePortChannel && s.Type != TypeMLAG
}

// InterfaceData are the interface fields a desired state may set.
type InterfaceData struct {
	Enabled     *bool   `json:"enabled,omitempty"`
	MTU         *int    `json:"mtu,omitempty"`
	Description *string `json:"description,omitempty"`
	MgmtOnly    *bool   `json:"mgmt_only,omitempty"`
}

// Address is an IP address of an interface.
type Address struct {
	Address     string `json:"address"`
	Primary     bool   `json:"primary,omitempty"`
	Status      string `json:"status,omitempty"`
	DNSName     string `json:"dns_name,omitempty"`
	Description string `json:"description,omitempty"`
}

// MLAGState is an MLAG: the local Port-Channel<channel> over the members,
// and a virtual interface Vlan<vlan> on top of it carrying address.
type MLAGState struct {
	Channel int    `json:"channel"`
	VLAN    int    `json:"vlan"`
	Address string `json:"address"`
}

// ErrNoDesiredState: neither the device's nor the collection's file exists.
// LoadDesiredState returns it as a *MissingDesiredStateError.
var ErrNoDesiredState = errors.New("no desired state")

// MissingDesiredStateError says which device and state have no desired
// state and which files were looked for. It matches ErrNoDesiredState.
type MissingDesiredStateError struct {
	Device     string
	State      string // normalized: "" and "0" are "a"
	Collection string
	Files      []string // the collection's file, then the device's
}

func (e *MissingDesiredStateError) Error() string {
	return fmt.Sprintf("no desired state for %s in state %s (looked for %s)", e.Device, e.State, strings.Join(e.Files, ", "))
}

// Is makes errors.Is(err, ErrNoDesiredState) true.
func (e *MissingDesiredStateError) Is(target error) bool { return target == ErrNoDesiredState }

// FileError is a problem in a desired-state file: which file, where, which
// key and what was expected instead.
type FileError struct {
	File string
	Line int
	Key  string // dotted path: node-1.eth0.vlans
	Msg  string
}

func (e *FileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("desired state %s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("desired state %s: %s: %s", loc, e.Key, e.Msg)
}

// NormalizeState maps upstream's "no state yet" values to "a".
func NormalizeState(state string) string {
	if state == "" || state == "0" || state == "None" {
		return "a"
	}
	return state
}

// LoadDesiredState reads <dir>/<collection>/<state>.yaml and
// <dir>/<collection>/<device>/<state>.yaml; the device's interfaces replace
// the collection's interfaces of the same name. A missing or "0" state
// means "a". It is an error if neither file exists: a
// *MissingDesiredStateError, which matches ErrNoDesiredState.
func LoadDesiredState(dir, collection, device, state string) (DesiredState, error) {
	state = NormalizeState(state)
	for what, v := range map[string]string{"collection": collection, "device": device, "state": state} {
		if !plainName(v) {
			return nil, fmt.Errorf("load desired state: %s %q: %s", what, v, plainNameRule)
		}
	}
	collFile := filepath.Join(dir, collection, state+".yaml")
	devFile := filepath.Join(dir, collection, device, state+".yaml")
	out := DesiredState{}
	found := false
	for _, f := range []string{collFile, devFile} {
		ds, err := ReadDesiredStateFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		out.merge(ds)
	}
	if !found {
		return nil, &MissingDesiredStateError{Device: device, State: state, Collection: collection, Files: []string{collFile, devFile}}
	}
	return out, nil
}

// maxPlainName is the longest plain name in bytes: a file name holds 255
// bytes, and a state's file adds ".yaml". (A NetBox name of 64 characters
// may take 256 bytes in UTF-8.)
const maxPlainName = 250

// plainNameRule is what plainName wants, for error texts.
const plainNameRule = "want a plain name (no path separator or control character, at most 250 bytes)"

// plainName reports whether v names one file or directory inside another:
// not empty, not . or .., without a path separator or control character,
// and short enough for a file name.
func plainName(v string) bool {
	return v != "" && v != "." && v != ".." && len(v) <= maxPlainName &&
		!strings.ContainsAny(v, `/\`) && strings.IndexFunc(v, unicode.IsControl) < 0
}

// CollectionDevices lists the devices a desired-state collection names,
// sorted and each once: the top-level keys of the *.yaml and *.yml files in
// <dir>/<collection> and the names of its subdirectories (one per device,
// see LoadDesiredState). Only the top level of the files is read, so a file
// whose interfaces LoadDesiredState would reject still names its devices; a
// file that is not YAML, or whose top level is not a mapping of device
// names, is a *FileError naming the file and line.
func CollectionDevices(dir, collection string) ([]string, error) {
	if !plainName(collection) {
		return nil, fmt.Errorf("devices of desired-state collection %q: %s", collection, plainNameRule)
	}
	root := filepath.Join(dir, collection)
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("collection %s: %w", collection, err)
	}
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, e := range entries {
		switch {
		case e.IsDir():
			add(e.Name())
		case strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml"):
			names, err := topLevelKeys(filepath.Join(root, e.Name()))
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				add(n)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// topLevelKeys reads the device names of a desired-state file.
func topLevelKeys(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("desired state %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &FileError{File: path, Msg: "not valid YAML: " + err.Error()}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // an empty file names no device
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	var out []string
	err = parser{file: path}.mapping(root, "", "a mapping of device name to interfaces", func(dev string, _ *yaml.Node) error {
		out = append(out, dev)
		return nil
	})
	return out, err
}

func (d DesiredState) merge(over DesiredState) {
	for dev, ifaces := range over {
		if d[dev] == nil {
			d[dev] = map[string]InterfaceState{}
		}
		for name, s := range ifaces {
			d[dev][name] = s
		}
	}
}

// ReadDesiredStateFile reads and checks one desired-state file.
func ReadDesiredStateFile(path string) (DesiredState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("desired state %s: %w", path, err)
	}
	return ParseDesiredState(path, b)
}

// ParseDesiredState parses a desired-state document; name appears in errors.
func ParseDesiredState(name string, data []byte) (DesiredState, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FileError{File: name, Msg: "not valid YAML: " + err.Error()}
	}
	p := parser{file: name}
	out := DesiredState{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, nil // an empty file declares nothing
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return out, nil
	}
	err := p.mapping(root, "", "a mapping of device name to interfaces", func(dev string, dn *yaml.Node) error {
		ifaces := map[string]InterfaceState{}
		if dn.Kind == yaml.ScalarNode && dn.Tag == "!!null" {
			out[dev] = ifaces
			return nil
		}
		err := p.mapping(dn, dev, "a mapping of interface name to its state", func(iface string, in *yaml.Node) error {
			s, err := p.iface(in, dev+"."+iface)
			if err != nil {
				return err
			}
			ifaces[iface] = s
			return nil
		})
		out[dev] = ifaces
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type parser struct{ file string }

func (p parser) errf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &FileError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p parser) mapping(n *yaml.Node, key, want string, each func(k string, v *yaml.Node) error) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, key, "expected %s, got %s", want, kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return p.errf(k, key, "expected a non-empty name as key, got %s", kindName(k))
		}
		if k.Value == "<<" {
			return p.errf(k, key, "merge keys (<<) are not supported")
		}
		if seen[k.Value] {
			return p.errf(k, join(key, k.Value), "duplicate key")
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if err := each(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func join(key, k string) string {
	if key == "" {
		return k
	}
	return key + "." + k
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func (p parser) str(n *yaml.Node, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		return "", p.errf(n, key, "expected a non-empty string, got %s", kindName(n))
	}
	return n.Value, nil
}

func (p parser) integer(n *yaml.Node, key string, lo, hi int) (int, error) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(n.Value); err == nil && v >= lo && v <= hi {
			return v, nil
		}
	}
	return 0, p.errf(n, key, "expected an integer %d-%d, got %s", lo, hi, kindName(n))
}

func (p parser) boolean(n *yaml.Node, key string) (bool, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, nil
		}
	}
	return false, p.errf(n, key, "expected true or false, got %s", kindName(n))
}

var interfaceKeys = []string{"type", "device", "interface", "data", "mac_address", "addresses", "vlans", "interfaces", "channel", "mlag"}

func (p parser) iface(n *yaml.Node, key string) (InterfaceState, error) {
	var s InterfaceState
	var typeNode *yaml.Node
	err := p.mapping(n, key, "a mapping with type, device, interface, ...", func(k string, v *yaml.Node) error {
		kk := key + "." + k
		var err error
		switch k {
		case "type":
			typeNode = v
			s.Type, err = p.str(v, kk)
		case "device":
			s.Device, err = p.str(v, kk)
		case "interface":
			s.Interface, err = p.str(v, kk)
		case "data":
			s.Data, err = p.data(v, kk)
		case "mac_address":
			var m string
			if m, err = p.str(v, kk); err == nil {
				hw, perr := net.ParseMAC(m)
				if perr != nil || len(hw) != 6 {
					return p.errf(v, kk, "expected a MAC address like 00:11:22:33:44:55, got %q", m)
				}
				s.MACAddress = strings.ToUpper(hw.String())
			}
		case "addresses":
			s.Addresses, err = p.addresses(v, kk)
		case "vlans":
			s.VLANs, err = p.vlans(v, kk)
		case "interfaces":
			s.Interfaces, err = p.names(v, kk)
		case "channel":
			s.Channel, err = p.integer(v, kk, 1, 1<<20)
		case "mlag":
			s.MLAG, err = p.mlag(v, kk)
		default:
			return p.errf(v, kk, "unknown key; expected one of %s", strings.Join(interfaceKeys, ", "))
		}
		return err
	})
	if err != nil {
		return s, err
	}
	if s.Type == "" {
		return s, p.errf(n, key+".type", "missing; expected a cable type, %s, %s or %s", TypeVirtual, TypePortChannel, TypeMLAG)
	}
	switch s.Type {
	case TypePortChannel:
		if len(s.Interfaces) == 0 {
			return s, p.errf(n, key+".interfaces", "missing; a port-channel needs its member interfaces")
		}
		if s.Channel == 0 {
			return s, p.errf(n, key+".channel", "missing; a port-channel needs the channel number of the far end's Port-Channel<channel>")
		}
	case TypeMLAG:
		if len(s.Interfaces) == 0 {
			return s, p.errf(n, key+".interfaces", "missing; an mlag needs its member interfaces")
		}
		if s.MLAG == nil {
			return s, p.errf(n, key+".mlag", "missing; expected {channel, vlan, address}")
		}
	case TypeVirtual:
	default:
		if s.Device == "" || s.Interface == "" {
			return s, p.errf(typeNode, key, "type %q is a cable type, so device and interface (the far end) are required", s.Type)
		}
	}
	if s.Type != TypePortChannel && s.Type != TypeMLAG && len(s.Interfaces) > 0 {
		return s, p.errf(n, key+".interfaces", "only a port-channel or mlag has member interfaces")
	}
	return s, nil
}

func (p parser) data(n *yaml.Node, key string) (InterfaceData, error) {
	var d InterfaceData
	err := p.mapping(n, key, "a mapping of interface fields", func(k string, v *yaml.Node) error {
		kk := key + "." + k
		switch k {
		case "enabled":
			b, err := p.boolean(v, kk)
			d.Enabled = &b
			return err
		case "mgmt_only":
			b, err := p.boolean(v, kk)
			d.MgmtOnly = &b
			return err
		case "mtu":
			m, err := p.integer(v, kk, 1, 65536)
			d.MTU = &m
			return err
		case "description":
			if v.Kind != yaml.ScalarNode {
				return p.errf(v, kk, "expected a string, got %s", kindName(v))
			}
			s := v.Value
			if v.Tag == "!!null" {
				s = "" // null clears the description
			}
			d.Description = &s
			return nil
		}
		return p.errf(v, kk, "unknown interface field; expected one of enabled, mtu, description, mgmt_only")
	})
	return d, err
}

func (p parser) addresses(n *yaml.Node, key string) ([]Address, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, key, "expected a list of addresses, got %s", kindName(n))
	}
	var out []Address
	for i, item := range n.Content {
		kk := fmt.Sprintf("%s[%d]", key, i)
		var a Address
		if item.Kind == yaml.ScalarNode {
			a.Address = item.Value
		} else {
			err := p.mapping(item, kk, "an address string or {address, primary}", func(k string, v *yaml.Node) error {
				var err error
				switch k {
				case "address":
					a.Address, err = p.str(v, kk+".address")
				case "primary":
					a.Primary, err = p.boolean(v, kk+".primary")
				case "status":
					a.Status, err = p.str(v, kk+".status")
				case "dns_name":
					a.DNSName, err = p.str(v, kk+".dns_name")
				case "description":
					a.Description, err = p.str(v, kk+".description")
				default:
					err = p.errf(v, kk+"."+k, "unknown key; expected address, primary, status, dns_name or description")
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		pf, err := netip.ParsePrefix(a.Address)
		if err != nil {
			return nil, p.errf(item, kk, "expected an address with prefix length like 192.0.2.10/24, got %q", a.Address)
		}
		if a.Primary && !pf.Addr().Is4() {
			return nil, p.errf(item, kk+".primary", "only an IPv4 address can be primary (primary_ip4)")
		}
		a.Address = pf.String()
		out = append(out, a)
	}
	return out, nil
}

func (p parser) vlans(n *yaml.Node, key string) (map[int]string, error) {
	out := map[int]string{}
	untagged := 0
	err := p.mapping(n, key, "a mapping of VLAN id to untagged or tagged", func(k string, v *yaml.Node) error {
		vid, err := strconv.Atoi(k)
		if err != nil || vid < 1 || vid > 4094 {
			return p.errf(v, key+"."+k, "expected a VLAN id 1-4094 as key")
		}
		mode := v.Value
		if v.Kind != yaml.ScalarNode || (mode != VLANUntagged && mode != VLANTagged) {
			return p.errf(v, key+"."+k, "expected untagged or tagged, got %s", kindName(v))
		}
		if mode == VLANUntagged {
			if untagged != 0 {
				return p.errf(v, key+"."+k, "VLAN %d is untagged already; an interface has one untagged VLAN", untagged)
			}
			untagged = vid
		}
		out[vid] = mode
		return nil
	})
	return out, err
}

func (p parser) names(n *yaml.Node, key string) ([]string, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, key, "expected a non-empty list of interface names, got %s", kindName(n))
	}
	var out []string
	for i, item := range n.Content {
		s, err := p.str(item, fmt.Sprintf("%s[%d]", key, i))
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, s) {
			return nil, p.errf(item, fmt.Sprintf("%s[%d]", key, i), "interface %q listed twice", s)
		}
		out = append(out, s)
	}
	return out, nil
}

func (p parser) mlag(n *yaml.Node, key string) (*MLAGState, error) {
	m := &MLAGState{}
	err := p.mapping(n, key, "{channel, vlan, address}", func(k string, v *yaml.Node) error {
		var err error
		switch k {
		case "channel":
			m.Channel, err = p.integer(v, key+".channel", 1, 1<<20)
		case "vlan":
			m.VLAN, err = p.integer(v, key+".vlan", 1, 4094)
		case "address":
			var a string
			if a, err = p.str(v, key+".address"); err == nil {
				pf, perr := netip.ParsePrefix(a)
				if perr != nil {
					return p.errf(v, key+".address", "expected an address with prefix length like 10.0.0.1/30, got %q", a)
				}
				m.Address = pf.String()
			}
		default:
			err = p.errf(v, key+"."+k, "unknown key; expected channel, vlan or address")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if m.Channel == 0 || m.VLAN == 0 || m.Address == "" {
		return nil, p.errf(n, key, "expected all of channel, vlan and address")
	}
	return m, nil
}

// Devices returns the device names of the desired state, sorted.
func (d DesiredState) Devices() []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
