package netboxtest

import "strings"

// ftype says how a field is stored, written and rendered.
type ftype int

const (
	tStr       ftype = iota // string, "" when blank
	tNStr                   // string or null
	tInt                    // integer (nullable unless required)
	tFloat                  // number (nullable)
	tBool                   // boolean
	tChoice                 // a NetBox choice: stored as its value, rendered {value, label} or null
	tRef                    // a related object by id, rendered nested
	tRefs                   // several related objects by id
	tGRef                   // a generic relation (object_type + object_id)
	tJSON                   // arbitrary JSON
	tStrList                // list of strings
	tNull                   // a relation to a model the double does not serve: always null
	tEmptyList              // a list of a model the double does not serve: always []
	tComputed               // read-only, computed when rendered
)

type delAction int

const (
	delProtect delAction = iota
	delSetNull
	delCascade
)

// field describes one attribute of a NetBox model as its REST serializer shows it.
type field struct {
	name     string
	typ      ftype
	target   string // kind name of a tRef/tRefs
	choices  string // key into choiceSets for tChoice
	required bool   // required when creating
	nullable bool   // accepts null when written
	blankOK  bool   // a required string may be blank
	max      int    // max length of strings, max value of ints (0: none)
	min      int
	hasMin   bool
	def      any // default stored value
	onDelete delAction
	nested   []string // fields of the related object's nested form, when not its brief form
	compute  func(c *rctx, o *object) any
}

// kind is one NetBox model served under one list endpoint.
type kind struct {
	name      string // object type, e.g. "dcim.device"
	path      string // list path, e.g. "/api/dcim/devices/"
	uiPath    string // e.g. "/dcim/devices/"
	verbose   string // e.g. "device"
	schema    string // OpenAPI component of the full representation
	brief     string // OpenAPI component of the brief representation ("" when NetBox has none)
	fields    []*field
	byName    map[string]*field
	briefSet  []string // fields of ?brief=1 answers
	nestedSet []string // fields when nested in another object (brief without counts)
	display   func(c *rctx, o *object) string
	search    func(o *object) []string
	filters   map[string]filterFunc
	unique    [][]string // field sets that must be unique together
	validate  func(s *store, o *object, prev *object, in map[string]any) fieldErrors
	hasCF     bool
	hasTags   bool
}

func (k *kind) field(name string) *field { return k.byName[name] }

// Field constructors keep the model tables below short.

func fStr(name string, max int) *field { return &field{name: name, typ: tStr, max: max, def: ""} }
func fNStr(name string, max int) *field {
	return &field{name: name, typ: tNStr, max: max, nullable: true}
}
func fReqStr(name string, max int) *field {
	return &field{name: name, typ: tStr, max: max, required: true, def: ""}
}
func fInt(name string, min, max int) *field {
	return &field{name: name, typ: tInt, min: min, max: max, hasMin: true, nullable: true}
}
func fFloat(name string) *field { return &field{name: name, typ: tFloat, nullable: true} }
func fBool(name string, def bool) *field {
	return &field{name: name, typ: tBool, def: def}
}
func fChoice(name, set string, def any) *field {
	return &field{name: name, typ: tChoice, choices: set, def: def, nullable: true}
}
func fRef(name, target string, required bool, del delAction) *field {
	return &field{name: name, typ: tRef, target: target, required: required, nullable: !required, onDelete: del}
}
func fNull(name string) *field  { return &field{name: name, typ: tNull, nullable: true} }
func fEmpty(name string) *field { return &field{name: name, typ: tEmptyList} }
func fJSON(name string) *field  { return &field{name: name, typ: tJSON, nullable: true} }
func fTags() *field             { return &field{name: "tags", typ: tComputed} }
func fCF() *field               { return &field{name: "custom_fields", typ: tComputed} }
func fCreated() []*field {
	return []*field{{name: "created", typ: tComputed}, {name: "last_updated", typ: tComputed}}
}
func fCount(name, of, via string) *field {
	return &field{name: name, typ: tComputed, compute: func(c *rctx, o *object) any { return c.s.countRefs(of, via, o.k.name, o.id) }}
}
func fZero(name string) *field {
	return &field{name: name, typ: tComputed, compute: func(*rctx, *object) any { return 0 }}
}
func fCalc(name string, fn func(c *rctx, o *object) any) *field {
	return &field{name: name, typ: tComputed, compute: fn}
}

func head() []*field {
	return []*field{{name: "id", typ: tComputed}, {name: "url", typ: tComputed}, {name: "display_url", typ: tComputed}, {name: "display", typ: tComputed}}
}

func join(parts ...any) []*field {
	var out []*field
	for _, p := range parts {
		switch v := p.(type) {
		case *field:
			out = append(out, v)
		case []*field:
			out = append(out, v...)
		}
	}
	return out
}

var countFields = map[string]bool{}

func init() {
	for _, n := range []string{"device_count", "virtualmachine_count", "devicetype_count", "rack_count", "site_count",
		"inventoryitem_count", "platform_count", "vlan_count", "prefix_count", "circuit_count", "powerfeed_count", "tagged_items"} {
		countFields[n] = true
	}
}

// kinds lists every model the double serves, keyed by object type.
var kinds = map[string]*kind{}

// kindsByPath maps a list path to its kind.
var kindsByPath = map[string]*kind{}

// kindOrder is the order in which fixtures are loaded and resets happen.
var kindOrder []*kind

func register(k *kind) {
	k.byName = map[string]*field{}
	for _, f := range k.fields {
		k.byName[f.name] = f
		if f.name == "tags" {
			k.hasTags = true
		}
		if f.name == "custom_fields" {
			k.hasCF = true
		}
	}
	for _, b := range k.briefSet {
		if !countFields[b] {
			k.nestedSet = append(k.nestedSet, b)
		}
	}
	if k.filters == nil {
		k.filters = map[string]filterFunc{}
	}
	addCommonFilters(k)
	kinds[k.name] = k
	kindsByPath[k.path] = k
	kindOrder = append(kindOrder, k)
}

func nameDisplay(_ *rctx, o *object) string { return o.str("name") }

func nameSearch(o *object) []string {
	return []string{o.str("name"), o.str("slug"), o.str("description")}
}

func init() {
	register(&kind{
		name: "dcim.site", path: "/api/dcim/sites/", uiPath: "/dcim/sites/", verbose: "site",
		schema: "Site", brief: "BriefSite",
		fields: join(head(), fReqStr("name", 100), fReqStr("slug", 100), fChoice("status", "Site.status", "active"),
			fNull("region"), fNull("group"), fNull("tenant"), fStr("facility", 50), fNStr("time_zone", 0),
			fStr("description", 200), fStr("physical_address", 200), fStr("shipping_address", 200),
			fFloat("latitude"), fFloat("longitude"), fStr("comments", 0), fEmpty("asns"), fTags(), fCF(), fCreated(),
			fZero("circuit_count"), fCount("device_count", "dcim.device", "site"), fZero("prefix_count"),
			fCount("rack_count", "dcim.rack", "site"), fZero("virtualmachine_count"), fCount("vlan_count", "ipam.vlan", "site")),
		briefSet: []string{"id", "url", "display", "name", "slug", "description"},
		display:  nameDisplay, search: func(o *object) []string {
			return []string{o.str("name"), o.str("slug"), o.str("facility"), o.str("description"), o.str("physical_address"), o.str("comments")}
		},
		unique: [][]string{{"name"}, {"slug"}},
	})
	register(&kind{
		name: "dcim.rack", path: "/api/dcim/racks/", uiPath: "/dcim/racks/", verbose: "rack",
		schema: "Rack", brief: "BriefRack",
		fields: join(head(), fReqStr("name", 100), fNStr("facility_id", 50), fRef("site", "dcim.site", true, delProtect),
			fNull("location"), fNull("tenant"), fChoice("status", "Rack.status", "active"), fNull("role"),
			fStr("serial", 50), fNStr("asset_tag", 50), fNull("rack_type"), fChoice("form_factor", "Rack.form_factor", nil),
			fChoice("width", "Rack.width", 19), fInt("u_height", 1, 100), fInt("starting_unit", 1, 32767),
			fFloat("weight"), fInt("max_weight", 0, 2147483647), fChoice("weight_unit", "Rack.weight_unit", nil),
			fBool("desc_units", false), fInt("outer_width", 0, 32767), fInt("outer_height", 0, 32767),
			fInt("outer_depth", 0, 32767), fChoice("outer_unit", "Rack.outer_unit", nil), fInt("mounting_depth", 0, 32767),
			fChoice("airflow", "Rack.airflow", nil), fStr("description", 200), fStr("comments", 0), fTags(), fCF(), fCreated(),
			fCount("device_count", "dcim.device", "rack"), fZero("powerfeed_count")),
		briefSet: []string{"id", "url", "display", "name", "description", "device_count"},
		display:  nameDisplay, search: func(o *object) []string {
			return []string{o.str("name"), o.str("facility_id"), o.str("serial"), o.str("description"), o.str("comments")}
		},
		unique: [][]string{{"site", "name"}},
	})
	kinds["dcim.rack"].field("u_height").def = 42
	kinds["dcim.rack"].field("u_height").nullable = false
	kinds["dcim.rack"].field("starting_unit").def = 1
	kinds["dcim.rack"].field("starting_unit").nullable = false

	register(&kind{
		name: "dcim.manufacturer", path: "/api/dcim/manufacturers/", uiPath: "/dcim/manufacturers/", verbose: "manufacturer",
		schema: "Manufacturer", brief: "BriefManufacturer",
		fields: join(head(), fReqStr("name", 100), fReqStr("slug", 100), fStr("description", 200), fTags(), fCF(), fCreated(),
			fCount("devicetype_count", "dcim.devicetype", "manufacturer"), fZero("inventoryitem_count"),
			fCount("platform_count", "dcim.platform", "manufacturer")),
		briefSet: []string{"id", "url", "display", "name", "slug", "description", "devicetype_count"},
		display:  nameDisplay, search: nameSearch, unique: [][]string{{"name"}, {"slug"}},
	})
	register(&kind{
		name: "dcim.platform", path: "/api/dcim/platforms/", uiPath: "/dcim/platforms/", verbose: "platform",
		schema: "Platform", brief: "BriefPlatform",
		fields: join(head(), fReqStr("name", 100), fReqStr("slug", 100), fRef("manufacturer", "dcim.manufacturer", false, delProtect),
			fNull("config_template"), fStr("description", 200), fTags(), fCF(), fCreated(),
			fCount("device_count", "dcim.device", "platform"), fZero("virtualmachine_count")),
		briefSet: []string{"id", "url", "display", "name", "slug", "description", "device_count", "virtualmachine_count"},
		display:  nameDisplay, search: nameSearch, unique: [][]string{{"name"}, {"slug"}},
	})
	register(&kind{
		name: "dcim.devicetype", path: "/api/dcim/device-types/", uiPath: "/dcim/device-types/", verbose: "device type",
		schema: "DeviceType", brief: "BriefDeviceType",
		fields: join(head(), fRef("manufacturer", "dcim.manufacturer", true, delProtect), fRef("default_platform", "dcim.platform", false, delSetNull),
			fReqStr("model", 100), fReqStr("slug", 100), fStr("part_number", 50),
			&field{name: "u_height", typ: tFloat, def: 1.0, hasMin: true, min: 0, max: 1000},
			fBool("exclude_from_utilization", false), fBool("is_full_depth", true),
			fChoice("subdevice_role", "DeviceType.subdevice_role", nil), fChoice("airflow", "DeviceType.airflow", nil),
			fFloat("weight"), fChoice("weight_unit", "DeviceType.weight_unit", nil),
			&field{name: "front_image", typ: tComputed}, &field{name: "rear_image", typ: tComputed},
			fStr("description", 200), fStr("comments", 0), fTags(), fCF(), fCreated(),
			fCount("device_count", "dcim.device", "device_type"),
			fZero("console_port_template_count"), fZero("console_server_port_template_count"), fZero("power_port_template_count"),
			fZero("power_outlet_template_count"), fZero("interface_template_count"), fZero("front_port_template_count"),
			fZero("rear_port_template_count"), fZero("device_bay_template_count"), fZero("module_bay_template_count"),
			fZero("inventory_item_template_count")),
		briefSet: []string{"id", "url", "display", "manufacturer", "model", "slug", "description", "device_count"},
		display:  func(_ *rctx, o *object) string { return o.str("model") },
		search: func(o *object) []string {
			return []string{o.str("model"), o.str("slug"), o.str("part_number"), o.str("description"), o.str("comments")}
		},
		unique: [][]string{{"manufacturer", "model"}, {"manufacturer", "slug"}},
	})
	register(&kind{
		name: "dcim.devicerole", path: "/api/dcim/device-roles/", uiPath: "/dcim/device-roles/", verbose: "device role",
		schema: "DeviceRole", brief: "BriefDeviceRole",
		fields: join(head(), fReqStr("name", 100), fReqStr("slug", 100), colorField(), fBool("vm_role", true),
			fNull("config_template"), fNull("parent"), fStr("description", 200), fTags(), fCF(), fCreated(),
			fCount("device_count", "dcim.device", "role"), fZero("virtualmachine_count"), fStr("comments", 0), fZero("_depth")),
		briefSet: []string{"id", "url", "display", "name", "slug", "description", "device_count", "virtualmachine_count", "_depth"},
		display:  nameDisplay, search: nameSearch, unique: [][]string{{"name"}, {"slug"}},
	})
	register(&kind{
		name: "dcim.device", path: "/api/dcim/devices/", uiPath: "/dcim/devices/", verbose: "device",
		schema: "DeviceWithConfigContext", brief: "BriefDevice",
		fields: join(head(), fNStr("name", 64), fRef("device_type", "dcim.devicetype", true, delProtect),
			fRef("role", "dcim.devicerole", true, delProtect), fNull("tenant"), fRef("platform", "dcim.platform", false, delSetNull),
			fStr("serial", 50), fNStr("asset_tag", 50), fRef("site", "dcim.site", true, delProtect), fNull("location"),
			fRef("rack", "dcim.rack", false, delProtect), fFloat("position"), fChoice("face", "DeviceWithConfigContext.face", nil),
			fFloat("latitude"), fFloat("longitude"), fNull("parent_device"),
			fChoice("status", "DeviceWithConfigContext.status", "active"), fChoice("airflow", "DeviceWithConfigContext.airflow", nil),
			fCalc("primary_ip", primaryIP), fRef("primary_ip4", "ipam.ipaddress", false, delSetNull),
			fRef("primary_ip6", "ipam.ipaddress", false, delSetNull), fRef("oob_ip", "ipam.ipaddress", false, delSetNull),
			fNull("cluster"), fNull("virtual_chassis"), fInt("vc_position", 0, 255), fInt("vc_priority", 0, 255),
			fStr("description", 200), fStr("comments", 0), fNull("config_template"),
			fCalc("config_context", configContext), fJSON("local_context_data"), fTags(), fCF(), fCreated(),
			fZero("console_port_count"), fZero("console_server_port_count"), fZero("power_port_count"), fZero("power_outlet_count"),
			fCount("interface_count", "dcim.interface", "device"), fZero("front_port_count"), fZero("rear_port_count"),
			fZero("device_bay_count"), fZero("module_bay_count"), fZero("inventory_item_count")),
		briefSet: []string{"id", "url", "display", "name", "description"},
		display: func(c *rctx, o *object) string {
			if n := o.str("name"); n != "" {
				return n
			}
			return "Unnamed device (" + itoa(o.id) + ")"
		},
		search: func(o *object) []string {
			return []string{o.str("name"), o.str("serial"), o.str("asset_tag"), o.str("description"), o.str("comments")}
		},
		validate: validateDevice,
	})
	register(&kind{
		name: "dcim.interface", path: "/api/dcim/interfaces/", uiPath: "/dcim/interfaces/", verbose: "interface",
		schema: "Interface", brief: "BriefInterface",
		fields: join(head(), fRef("device", "dcim.device", true, delCascade), fEmpty("vdcs"), fNull("module"),
			fReqStr("name", 64), fStr("label", 64), &field{name: "type", typ: tChoice, choices: "Interface.type", required: true},
			fBool("enabled", true), ifaceRef("parent"), ifaceRef("bridge"), ifaceRef("lag"),
			fInt("mtu", 1, 65536), fCalc("mac_address", ifaceMAC), fRef("primary_mac_address", "dcim.macaddress", false, delSetNull),
			fCalc("mac_addresses", ifaceMACs), fInt("speed", 0, 2147483647), fChoice("duplex", "Interface.duplex", nil),
			fNStr("wwn", 0), fBool("mgmt_only", false), fStr("description", 200), fChoice("mode", "Interface.mode", nil),
			fChoice("rf_role", "Interface.rf_role", nil), fChoice("rf_channel", "Interface.rf_channel", nil),
			fChoice("poe_mode", "Interface.poe_mode", nil), fChoice("poe_type", "Interface.poe_type", nil),
			fFloat("rf_channel_frequency"), fFloat("rf_channel_width"), fInt("tx_power", 0, 127),
			fRef("untagged_vlan", "ipam.vlan", false, delSetNull),
			&field{name: "tagged_vlans", typ: tRefs, target: "ipam.vlan"},
			fNull("qinq_svlan"), fNull("vlan_translation_policy"), fBool("mark_connected", false),
			fCalc("cable", ifaceCable), fCalc("cable_end", ifaceCableEnd), fNull("wireless_link"),
			fCalc("link_peers", ifacePeers), fCalc("link_peers_type", ifacePeersType), fEmpty("wireless_lans"), fNull("vrf"),
			fNull("l2vpn_termination"), fCalc("connected_endpoints", ifaceEndpoints), fCalc("connected_endpoints_type", ifacePeersType),
			fCalc("connected_endpoints_reachable", ifaceReachable), fTags(), fCF(), fCreated(),
			fCalc("count_ipaddresses", func(c *rctx, o *object) any { return c.s.countGRefs("ipam.ipaddress", "assigned_object", o) }),
			fZero("count_fhrp_groups"), fCalc("_occupied", ifaceOccupied)),
		briefSet: []string{"id", "url", "display", "device", "name", "description", "cable", "_occupied"},
		display:  nameDisplay,
		search: func(o *object) []string {
			return []string{o.str("name"), o.str("label"), o.str("description")}
		},
		unique:   [][]string{{"device", "name"}},
		validate: validateInterface,
	})
	register(&kind{
		name: "dcim.macaddress", path: "/api/dcim/mac-addresses/", uiPath: "/dcim/mac-addresses/", verbose: "MAC address",
		schema: "MACAddress", brief: "BriefMACAddress",
		fields: join(head(), &field{name: "mac_address", typ: tStr, required: true, def: ""},
			&field{name: "assigned_object", typ: tGRef, nullable: true, onDelete: delCascade},
			fStr("description", 200), fStr("comments", 0), fTags(), fCF(), fCreated()),
		briefSet: []string{"id", "url", "display", "mac_address", "description"},
		display:  func(_ *rctx, o *object) string { return o.str("mac_address") },
		search:   func(o *object) []string { return []string{o.str("mac_address"), o.str("description")} },
		validate: validateMAC,
	})
	register(&kind{
		name: "dcim.cable", path: "/api/dcim/cables/", uiPath: "/dcim/cables/", verbose: "cable",
		schema: "Cable", brief: "BriefCable",
		fields: join(head(), &field{name: "type", typ: tNStr, nullable: true},
			&field{name: "a_terminations", typ: tGRef, required: true}, &field{name: "b_terminations", typ: tGRef, required: true},
			&field{name: "status", typ: tChoice, choices: "Cable.status", def: "connected"}, fNull("tenant"),
			fStr("label", 100), colorBlankField(), fFloat("length"), fChoice("length_unit", "Cable.length_unit", nil),
			fStr("description", 200), fStr("comments", 0), fTags(), fCF(), fCreated()),
		briefSet: []string{"id", "url", "display", "label", "description"},
		display: func(_ *rctx, o *object) string {
			if l := o.str("label"); l != "" {
				return l
			}
			return "#" + itoa(o.id)
		},
		search:   func(o *object) []string { return []string{o.str("label"), o.str("description")} },
		validate: validateCable,
	})
	register(&kind{
		name: "ipam.vlan", path: "/api/ipam/vlans/", uiPath: "/ipam/vlans/", verbose: "VLAN",
		schema: "VLAN", brief: "BriefVLAN",
		fields: join(head(), fRef("site", "dcim.site", false, delProtect), fNull("group"),
			&field{name: "vid", typ: tInt, required: true, min: 1, max: 4094, hasMin: true},
			fReqStr("name", 64), fNull("tenant"), fChoice("status", "VLAN.status", "active"), fNull("role"),
			fStr("description", 200), fChoice("qinq_role", "VLAN.qinq_role", nil), fNull("qinq_svlan"), fStr("comments", 0),
			fNull("l2vpn_termination"), fTags(), fCF(), fCreated(), fZero("prefix_count")),
		briefSet: []string{"id", "url", "display", "vid", "name", "description"},
		display:  func(_ *rctx, o *object) string { return o.str("name") + " (" + itoa(o.int("vid")) + ")" },
		search: func(o *object) []string {
			return []string{o.str("name"), o.str("description"), o.str("comments"), itoa(o.int("vid"))}
		},
	})
	register(&kind{
		name: "ipam.ipaddress", path: "/api/ipam/ip-addresses/", uiPath: "/ipam/ip-addresses/", verbose: "IP address",
		schema: "IPAddress", brief: "BriefIPAddress",
		fields: join(head(), fCalc("family", ipFamily), &field{name: "address", typ: tStr, required: true, def: ""},
			fNull("vrf"), fNull("tenant"), fChoice("status", "IPAddress.status", "active"), fChoice("role", "IPAddress.role", nil),
			&field{name: "assigned_object", typ: tGRef, nullable: true, onDelete: delCascade},
			fNull("nat_inside"), fEmpty("nat_outside"), fStr("dns_name", 255), fStr("description", 200), fStr("comments", 0),
			fTags(), fCF(), fCreated()),
		briefSet: []string{"id", "url", "display", "family", "address", "description"},
		display:  func(_ *rctx, o *object) string { return o.str("address") },
		search: func(o *object) []string {
			return []string{o.str("address"), o.str("dns_name"), o.str("description"), o.str("comments")}
		},
		validate: validateIP,
	})
	register(&kind{
		name: "extras.tag", path: "/api/extras/tags/", uiPath: "/extras/tags/", verbose: "tag",
		schema: "Tag", brief: "BriefTag",
		fields: join(head(), fReqStr("name", 100), fReqStr("slug", 100), colorField(), fStr("description", 200),
			&field{name: "weight", typ: tInt, def: 1000, min: 0, max: 32767, hasMin: true},
			&field{name: "object_types", typ: tStrList}, fCalc("tagged_items", func(c *rctx, o *object) any { return c.s.taggedItems(o.id) }),
			fCreated()),
		briefSet: []string{"id", "url", "display", "name", "slug", "color", "description"},
		display:  nameDisplay, search: nameSearch, unique: [][]string{{"name"}, {"slug"}},
	})
	register(&kind{
		name: "extras.customfield", path: "/api/extras/custom-fields/", uiPath: "/extras/custom-fields/", verbose: "custom field",
		schema: "CustomField",
		fields: join(head(), &field{name: "object_types", typ: tStrList, required: true},
			&field{name: "type", typ: tChoice, choices: "CustomField.type", required: true}, fNStr("related_object_type", 0),
			fCalc("data_type", cfDataType), fReqStr("name", 50), fStr("label", 50), fStr("group_name", 50),
			fStr("description", 200), fBool("required", false), fBool("unique", false),
			&field{name: "search_weight", typ: tInt, def: 1000, min: 0, max: 32767, hasMin: true},
			&field{name: "filter_logic", typ: tChoice, choices: "CustomField.filter_logic", def: "loose"},
			&field{name: "ui_visible", typ: tChoice, choices: "CustomField.ui_visible", def: "always"},
			&field{name: "ui_editable", typ: tChoice, choices: "CustomField.ui_editable", def: "yes"},
			fBool("is_cloneable", false), fJSON("default"), fJSON("related_object_filter"),
			&field{name: "weight", typ: tInt, def: 100, min: 0, max: 32767, hasMin: true},
			&field{name: "validation_minimum", typ: tInt, nullable: true}, &field{name: "validation_maximum", typ: tInt, nullable: true},
			fStr("validation_regex", 500), fNull("choice_set"), fStr("comments", 0), fCreated()),
		briefSet: []string{"id", "url", "display", "name", "description"},
		display: func(_ *rctx, o *object) string {
			if l := o.str("label"); l != "" {
				return l
			}
			n := strings.ReplaceAll(o.str("name"), "_", " ")
			if n == "" {
				return n
			}
			return strings.ToUpper(n[:1]) + strings.ToLower(n[1:])
		},
		search:   func(o *object) []string { return []string{o.str("name"), o.str("label"), o.str("description")} },
		unique:   [][]string{{"name"}},
		validate: validateCustomField,
	})
}

func colorField() *field {
	return &field{name: "color", typ: tStr, def: "9e9e9e", max: 6}
}

// colorBlankField is a cable's colour: blank by default, which NetBox sends as "" although the schema's
// pattern does not admit it.
func colorBlankField() *field { return &field{name: "color", typ: tStr, def: "", max: 6} }

func ifaceRef(name string) *field {
	f := fRef(name, "dcim.interface", false, delSetNull)
	// NetBox nests parent, bridge and lag with NestedInterfaceSerializer, whose device is a NestedDevice
	// and whose cable is a bare id.
	f.nested = []string{"id", "url", "display_url", "display", "device", "name", "cable", "_occupied"}
	return f
}
