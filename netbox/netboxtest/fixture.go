package netboxtest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/internal/yamljson"
)

// Fixture is the content a Server starts with. Objects refer to each other by name (or slug); ids
// are assigned in the order objects appear, starting at 1 per type, so tests can rely on them.
type Fixture struct {
	Sites         []SiteSpec        `yaml:"sites"`
	Racks         []RackSpec        `yaml:"racks"`
	Manufacturers []NamedSpec       `yaml:"manufacturers"`
	DeviceTypes   []DeviceTypeSpec  `yaml:"device_types"`
	Roles         []RoleSpec        `yaml:"roles"`
	Platforms     []PlatformSpec    `yaml:"platforms"`
	Tags          []TagSpec         `yaml:"tags"`
	CustomFields  []CustomFieldSpec `yaml:"custom_fields"`
	VLANs         []VLANSpec        `yaml:"vlans"`
	Devices       []DeviceSpec      `yaml:"devices"`
	Cables        []CableSpec       `yaml:"cables"`
	IPAddresses   []IPAddressSpec   `yaml:"ip_addresses"`
}

// NamedSpec is an object known by name; the slug defaults to the name made URL-safe.
type NamedSpec struct {
	Name        string `yaml:"name"`
	Slug        string `yaml:"slug"`
	Description string `yaml:"description"`
}

// SiteSpec is a site.
type SiteSpec struct {
	NamedSpec `yaml:",inline"`
	Status    string `yaml:"status"`
}

// RackSpec is a rack in a site.
type RackSpec struct {
	Name     string `yaml:"name"`
	Site     string `yaml:"site"`
	Status   string `yaml:"status"`
	UHeight  int    `yaml:"u_height"`
	Comments string `yaml:"comments"`
}

// DeviceTypeSpec is a device type of a manufacturer.
type DeviceTypeSpec struct {
	Manufacturer string  `yaml:"manufacturer"`
	Model        string  `yaml:"model"`
	Slug         string  `yaml:"slug"`
	UHeight      float64 `yaml:"u_height"`
}

// RoleSpec is a device role.
type RoleSpec struct {
	NamedSpec `yaml:",inline"`
	Color     string `yaml:"color"`
}

// PlatformSpec is a platform.
type PlatformSpec struct {
	NamedSpec    `yaml:",inline"`
	Manufacturer string `yaml:"manufacturer"`
}

// TagSpec is a tag.
type TagSpec struct {
	NamedSpec `yaml:",inline"`
	Color     string `yaml:"color"`
}

// CustomFieldSpec is a custom field.
type CustomFieldSpec struct {
	Name        string   `yaml:"name"`
	Type        string   `yaml:"type"`
	ObjectTypes []string `yaml:"object_types"`
	Label       string   `yaml:"label"`
	Description string   `yaml:"description"`
	Required    bool     `yaml:"required"`
	Default     any      `yaml:"default"`
	FilterLogic string   `yaml:"filter_logic"`
}

// VLANSpec is a VLAN, global or in a site.
type VLANSpec struct {
	VID         int    `yaml:"vid"`
	Name        string `yaml:"name"`
	Site        string `yaml:"site"`
	Status      string `yaml:"status"`
	Description string `yaml:"description"`
}

// DeviceSpec is a device with its interfaces.
type DeviceSpec struct {
	Name             string          `yaml:"name"`
	Role             string          `yaml:"role"`
	DeviceType       string          `yaml:"device_type"`
	Site             string          `yaml:"site"`
	Rack             string          `yaml:"rack"`
	Position         float64         `yaml:"position"`
	Face             string          `yaml:"face"`
	Status           string          `yaml:"status"`
	Platform         string          `yaml:"platform"`
	Serial           string          `yaml:"serial"`
	Description      string          `yaml:"description"`
	Tags             []string        `yaml:"tags"`
	CustomFields     map[string]any  `yaml:"custom_fields"`
	ConfigContext    map[string]any  `yaml:"config_context"`
	LocalContextData map[string]any  `yaml:"local_context_data"`
	Interfaces       []InterfaceSpec `yaml:"interfaces"`
}

// InterfaceSpec is an interface of a device.
type InterfaceSpec struct {
	Name         string         `yaml:"name"`
	Type         string         `yaml:"type"`
	Label        string         `yaml:"label"`
	Description  string         `yaml:"description"`
	Enabled      *bool          `yaml:"enabled"`
	MgmtOnly     bool           `yaml:"mgmt_only"`
	MTU          int            `yaml:"mtu"`
	Mode         string         `yaml:"mode"`
	UntaggedVLAN int            `yaml:"untagged_vlan"`
	TaggedVLANs  []int          `yaml:"tagged_vlans"`
	LAG          string         `yaml:"lag"`
	MACAddress   string         `yaml:"mac_address"`
	Tags         []string       `yaml:"tags"`
	CustomFields map[string]any `yaml:"custom_fields"`
}

// CableEnd names an interface by device and interface name.
type CableEnd struct {
	Device    string `yaml:"device"`
	Interface string `yaml:"interface"`
}

// CableSpec is a cable between two interfaces.
type CableSpec struct {
	A      CableEnd `yaml:"a"`
	B      CableEnd `yaml:"b"`
	Type   string   `yaml:"type"`
	Status string   `yaml:"status"`
	Label  string   `yaml:"label"`
	Color  string   `yaml:"color"`
}

// IPAddressSpec is an IP address, optionally on an interface; Primary makes it the device's primary
// IPv4 (or IPv6) address.
type IPAddressSpec struct {
	Address   string `yaml:"address"`
	Device    string `yaml:"device"`
	Interface string `yaml:"interface"`
	Status    string `yaml:"status"`
	Role      string `yaml:"role"`
	DNSName   string `yaml:"dns_name"`
	Primary   bool   `yaml:"primary"`
}

//go:embed sample_fabric.yaml
var sampleFabric []byte

// SampleFabric returns the embedded sample fabric: site dc1, two racks, leaf switches leaf-1 and
// leaf-2 tagged managed-by-osism, nodes node-1..node-4 tagged managed-by-ironic and cabled to both
// leaves, VLANs 100 (mgmt), 200 (storage), 300 (tenant), IP addresses and the project's custom fields.
func SampleFabric() (*Fixture, error) {
	f, err := LoadFixture(sampleFabric)
	if err != nil {
		return nil, fmt.Errorf("sample fabric: %w", err)
	}
	return f, nil
}

// LoadFixtureFile reads a YAML fixture file.
func LoadFixtureFile(path string) (*Fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	f, err := LoadFixture(data)
	if err != nil {
		return nil, fmt.Errorf("fixture %s: %w", path, err)
	}
	return f, nil
}

// LoadFixture parses a YAML fixture and checks it, so that an error names the key and what was
// expected before any server starts.
func LoadFixture(data []byte) (*Fixture, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f Fixture
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return &f, nil
		}
		return nil, explainYAML(err)
	}
	if err := f.apply(newStore()); err != nil {
		return nil, err
	}
	return &f, nil
}

var unknownKeyRe = regexp.MustCompile(`line (\d+): field (\S+) not found in type netboxtest\.(\w+)`)

var yamlTypes = map[string]reflect.Type{}

func init() {
	for _, v := range []any{Fixture{}, NamedSpec{}, SiteSpec{}, RackSpec{}, DeviceTypeSpec{}, RoleSpec{}, PlatformSpec{},
		TagSpec{}, CustomFieldSpec{}, VLANSpec{}, DeviceSpec{}, InterfaceSpec{}, CableEnd{}, CableSpec{}, IPAddressSpec{}} {
		t := reflect.TypeOf(v)
		yamlTypes[t.Name()] = t
	}
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == ",inline" {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		keys = append(keys, strings.Split(tag, ",")[0])
	}
	sort.Strings(keys)
	return keys
}

// explainYAML rewrites yaml.v3's unknown-field errors so that they list the keys that are allowed.
func explainYAML(err error) error {
	msg := unknownKeyRe.ReplaceAllStringFunc(err.Error(), func(m string) string {
		p := unknownKeyRe.FindStringSubmatch(m)
		what := strings.TrimSuffix(p[3], "Spec")
		if t, ok := yamlTypes[p[3]]; ok {
			return fmt.Sprintf("line %s: unknown key %q in %s (expected one of: %s)", p[1], p[2], what, strings.Join(yamlKeys(t), ", "))
		}
		return m
	})
	return fmt.Errorf("fixture: %s", msg)
}

var slugRe = regexp.MustCompile(`[^a-z0-9_-]+`)

func slugify(s string) string {
	return strings.Trim(slugRe.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// fixtureError names the place in the fixture and what went wrong.
func fixtureError(where string, errs fieldErrors) error {
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %s", k, strings.Join(errs[k], " ")))
	}
	return fmt.Errorf("fixture: %s: %s", where, strings.Join(parts, "; "))
}

// apply creates the fixture's objects through the same validation the REST API uses.
func (f *Fixture) apply(s *store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	create := func(kindName, where string, body map[string]any) (*object, error) {
		o, errs := s.decode(kinds[kindName], body, nil, false)
		if errs != nil {
			return nil, fixtureError(where, errs)
		}
		s.insert(o)
		return o, nil
	}
	ref := func(kindName, where, key, value string) (int, error) {
		for _, attr := range []string{"name", "slug", "model"} {
			if o := s.findBy(kindName, attr, value); o != nil {
				return o.id, nil
			}
		}
		return 0, fmt.Errorf("fixture: %s: %s: no %s named %q (define it first)", where, key, kinds[kindName].verbose, value)
	}
	optRef := func(kindName, where, key, value string) (any, error) {
		if value == "" {
			return nil, nil
		}
		return ref(kindName, where, key, value)
	}
	slug := func(n NamedSpec) string {
		if n.Slug != "" {
			return n.Slug
		}
		return slugify(n.Name)
	}
	orDefault := func(v, def string) any {
		if v == "" {
			return def
		}
		return v
	}

	for i, t := range f.Tags {
		body := map[string]any{"name": t.Name, "slug": slug(t.NamedSpec), "description": t.Description}
		if t.Color != "" {
			body["color"] = t.Color
		}
		if _, err := create("extras.tag", fmt.Sprintf("tags[%d]", i), body); err != nil {
			return err
		}
	}
	for i, c := range f.CustomFields {
		types := c.ObjectTypes
		if len(types) == 0 {
			types = []string{"dcim.device"}
		}
		ot := make([]any, len(types))
		for j, t := range types {
			if kinds[t] == nil {
				return fmt.Errorf("fixture: custom_fields[%d].object_types: unknown object type %q (expected e.g. dcim.device, dcim.interface)", i, t)
			}
			ot[j] = t
		}
		body := map[string]any{"name": c.Name, "type": orDefault(c.Type, "text"), "object_types": ot,
			"label": c.Label, "description": c.Description, "required": c.Required, "default": yamljson.Normalize(c.Default)}
		if c.FilterLogic != "" {
			body["filter_logic"] = c.FilterLogic
		}
		if _, err := create("extras.customfield", fmt.Sprintf("custom_fields[%d]", i), body); err != nil {
			return err
		}
	}
	for i, x := range f.Sites {
		if _, err := create("dcim.site", fmt.Sprintf("sites[%d]", i), map[string]any{"name": x.Name, "slug": slug(x.NamedSpec),
			"status": orDefault(x.Status, "active"), "description": x.Description}); err != nil {
			return err
		}
	}
	for i, x := range f.Racks {
		where := fmt.Sprintf("racks[%d]", i)
		site, err := ref("dcim.site", where, "site", x.Site)
		if err != nil {
			return err
		}
		body := map[string]any{"name": x.Name, "site": site, "status": orDefault(x.Status, "active"), "comments": x.Comments}
		if x.UHeight != 0 {
			body["u_height"] = float64(x.UHeight)
		}
		if _, err := create("dcim.rack", where, body); err != nil {
			return err
		}
	}
	for i, x := range f.Manufacturers {
		if _, err := create("dcim.manufacturer", fmt.Sprintf("manufacturers[%d]", i), map[string]any{"name": x.Name, "slug": slug(x), "description": x.Description}); err != nil {
			return err
		}
	}
	for i, x := range f.DeviceTypes {
		where := fmt.Sprintf("device_types[%d]", i)
		m, err := ref("dcim.manufacturer", where, "manufacturer", x.Manufacturer)
		if err != nil {
			return err
		}
		body := map[string]any{"manufacturer": m, "model": x.Model, "slug": orDefault(x.Slug, slugify(x.Model))}
		if x.UHeight != 0 {
			body["u_height"] = x.UHeight
		}
		if _, err := create("dcim.devicetype", where, body); err != nil {
			return err
		}
	}
	for i, x := range f.Roles {
		body := map[string]any{"name": x.Name, "slug": slug(x.NamedSpec), "description": x.Description}
		if x.Color != "" {
			body["color"] = x.Color
		}
		if _, err := create("dcim.devicerole", fmt.Sprintf("roles[%d]", i), body); err != nil {
			return err
		}
	}
	for i, x := range f.Platforms {
		where := fmt.Sprintf("platforms[%d]", i)
		m, err := optRef("dcim.manufacturer", where, "manufacturer", x.Manufacturer)
		if err != nil {
			return err
		}
		if _, err := create("dcim.platform", where, map[string]any{"name": x.Name, "slug": slug(x.NamedSpec), "manufacturer": m}); err != nil {
			return err
		}
	}
	vlanID := map[int]int{}
	for i, x := range f.VLANs {
		where := fmt.Sprintf("vlans[%d]", i)
		site, err := optRef("dcim.site", where, "site", x.Site)
		if err != nil {
			return err
		}
		o, err := create("ipam.vlan", where, map[string]any{"vid": float64(x.VID), "name": x.Name, "site": site,
			"status": orDefault(x.Status, "active"), "description": x.Description})
		if err != nil {
			return err
		}
		if _, dup := vlanID[x.VID]; !dup {
			vlanID[x.VID] = o.id
		}
	}
	ifaceByName := map[string]*object{}
	for i, x := range f.Devices {
		where := fmt.Sprintf("devices[%d] (%s)", i, x.Name)
		body := map[string]any{"name": x.Name, "status": orDefault(x.Status, "active"), "serial": x.Serial, "description": x.Description}
		for _, r := range []struct{ kind, key, val string }{{"dcim.devicerole", "role", x.Role}, {"dcim.devicetype", "device_type", x.DeviceType}, {"dcim.site", "site", x.Site}} {
			id, err := ref(r.kind, where, r.key, r.val)
			if err != nil {
				return err
			}
			body[r.key] = id
		}
		for _, r := range []struct{ kind, key, val string }{{"dcim.rack", "rack", x.Rack}, {"dcim.platform", "platform", x.Platform}} {
			id, err := optRef(r.kind, where, r.key, r.val)
			if err != nil {
				return err
			}
			body[r.key] = id
		}
		if x.Position != 0 {
			body["position"] = x.Position
			body["face"] = orDefault(x.Face, "front")
		}
		if len(x.Tags) > 0 {
			body["tags"] = tagRefs(x.Tags)
		}
		if x.CustomFields != nil {
			body["custom_fields"] = yamljson.Normalize(x.CustomFields)
		}
		if x.LocalContextData != nil {
			body["local_context_data"] = yamljson.Normalize(x.LocalContextData)
		}
		dev, err := create("dcim.device", where, body)
		if err != nil {
			return err
		}
		if x.ConfigContext != nil {
			dev.cc, _ = yamljson.Normalize(x.ConfigContext).(map[string]any)
		}
		var lags []struct {
			o   *object
			lag string
			idx int
		}
		for j, it := range x.Interfaces {
			iwhere := fmt.Sprintf("%s.interfaces[%d] (%s)", where, j, it.Name)
			ib := map[string]any{"device": dev.id, "name": it.Name, "type": orDefault(it.Type, "1000base-t"),
				"label": it.Label, "description": it.Description, "mgmt_only": it.MgmtOnly}
			if it.Enabled != nil {
				ib["enabled"] = *it.Enabled
			}
			if it.MTU != 0 {
				ib["mtu"] = float64(it.MTU)
			}
			if it.Mode != "" {
				ib["mode"] = it.Mode
			}
			if it.UntaggedVLAN != 0 {
				id, ok := vlanID[it.UntaggedVLAN]
				if !ok {
					return fmt.Errorf("fixture: %s: untagged_vlan: no VLAN with vid %d (define it under vlans)", iwhere, it.UntaggedVLAN)
				}
				ib["untagged_vlan"] = id
			}
			if len(it.TaggedVLANs) > 0 {
				var ids []any
				for _, vid := range it.TaggedVLANs {
					id, ok := vlanID[vid]
					if !ok {
						return fmt.Errorf("fixture: %s: tagged_vlans: no VLAN with vid %d (define it under vlans)", iwhere, vid)
					}
					ids = append(ids, float64(id))
				}
				ib["tagged_vlans"] = ids
			}
			if len(it.Tags) > 0 {
				ib["tags"] = tagRefs(it.Tags)
			}
			if it.CustomFields != nil {
				ib["custom_fields"] = yamljson.Normalize(it.CustomFields)
			}
			iface, err := create("dcim.interface", iwhere, ib)
			if err != nil {
				return err
			}
			ifaceByName[x.Name+"\x00"+it.Name] = iface
			if it.LAG != "" {
				lags = append(lags, struct {
					o   *object
					lag string
					idx int
				}{iface, it.LAG, j})
			}
			if it.MACAddress != "" {
				mac, err := create("dcim.macaddress", iwhere+".mac_address", map[string]any{"mac_address": it.MACAddress,
					"assigned_object_type": "dcim.interface", "assigned_object_id": float64(iface.id)})
				if err != nil {
					return err
				}
				if err := s.patch(iface, map[string]any{"primary_mac_address": float64(mac.id)}, iwhere); err != nil {
					return err
				}
			}
		}
		for _, l := range lags {
			lag := ifaceByName[x.Name+"\x00"+l.lag]
			if lag == nil {
				return fmt.Errorf("fixture: %s.interfaces[%d]: lag: no interface %q on %s", where, l.idx, l.lag, x.Name)
			}
			if err := s.patch(s.get("dcim.interface", l.o.id), map[string]any{"lag": float64(lag.id)}, fmt.Sprintf("%s.interfaces[%d]", where, l.idx)); err != nil {
				return err
			}
		}
	}
	end := func(where string, e CableEnd) (any, error) {
		iface := ifaceByName[e.Device+"\x00"+e.Interface]
		if iface == nil {
			return nil, fmt.Errorf("fixture: %s: no interface %q on device %q (define it under the device's interfaces)", where, e.Interface, e.Device)
		}
		return []any{map[string]any{"object_type": "dcim.interface", "object_id": float64(iface.id)}}, nil
	}
	for i, x := range f.Cables {
		where := fmt.Sprintf("cables[%d]", i)
		a, err := end(where+".a", x.A)
		if err != nil {
			return err
		}
		b, err := end(where+".b", x.B)
		if err != nil {
			return err
		}
		body := map[string]any{"a_terminations": a, "b_terminations": b, "status": orDefault(x.Status, "connected"),
			"label": x.Label, "color": x.Color}
		if x.Type != "" {
			body["type"] = x.Type
		}
		if _, err := create("dcim.cable", where, body); err != nil {
			return err
		}
	}
	for i, x := range f.IPAddresses {
		where := fmt.Sprintf("ip_addresses[%d] (%s)", i, x.Address)
		body := map[string]any{"address": x.Address, "status": orDefault(x.Status, "active"), "dns_name": x.DNSName}
		if x.Role != "" {
			body["role"] = x.Role
		}
		var iface *object
		if x.Device != "" || x.Interface != "" {
			iface = ifaceByName[x.Device+"\x00"+x.Interface]
			if iface == nil {
				return fmt.Errorf("fixture: %s: no interface %q on device %q", where, x.Interface, x.Device)
			}
			body["assigned_object_type"] = "dcim.interface"
			body["assigned_object_id"] = float64(iface.id)
		}
		ip, err := create("ipam.ipaddress", where, body)
		if err != nil {
			return err
		}
		if x.Primary {
			if iface == nil {
				return fmt.Errorf("fixture: %s: primary: the address must be on a device's interface", where)
			}
			field := "primary_ip4"
			if strings.Contains(ip.str("address"), ":") {
				field = "primary_ip6"
			}
			dev := s.get("dcim.device", iface.int("device"))
			if err := s.patch(dev, map[string]any{field: float64(ip.id)}, where+".primary"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *store) patch(o *object, body map[string]any, where string) error {
	n, errs := s.decode(o.k, body, o, true)
	if errs != nil {
		return fixtureError(where, errs)
	}
	s.replace(n)
	return nil
}

func tagRefs(slugs []string) []any {
	out := make([]any, len(slugs))
	for i, t := range slugs {
		out[i] = map[string]any{"slug": t}
	}
	return out
}
