package netboxtest

import "fmt"

// projectCustomFields are the custom fields go-osism relies on (DESIGN.md, "NetBox facts").
var projectCustomFields = []CustomFieldSpec{
	{Name: "device_state", Type: "text", Default: "0"},
	{Name: "device_transition", Type: "text", Default: "0"},
	{Name: "device_type", Type: "text"},
	{Name: "deployment_enabled", Type: "boolean"},
	{Name: "ironic_enabled", Type: "boolean"},
	{Name: "maintenance", Type: "boolean"},
	{Name: "deployment_type", Type: "text"},
	{Name: "configuration_template", Type: "text"},
	{Name: "provision_state", Type: "text"},
	{Name: "power_state", Type: "text"},
	{Name: "introspection_state", Type: "text"},
	{Name: "ironic_state", Type: "text"},
	{Name: "network_interface_name", Type: "text", ObjectTypes: []string{"dcim.interface"}},
}

// generateDevices adds n devices named bench-00001... with the project's custom fields set, creating
// whatever site, role, type and fields are missing. It writes the store directly: validating 10,000
// bodies would only slow every benchmark's start.
func generateDevices(s *store, n int) error {
	missing := &Fixture{}
	s.mu.RLock()
	for _, cf := range projectCustomFields {
		if s.findBy("extras.customfield", "name", cf.Name) == nil {
			missing.CustomFields = append(missing.CustomFields, cf)
		}
	}
	if s.findBy("extras.tag", "slug", "managed-by-ironic") == nil {
		missing.Tags = append(missing.Tags, TagSpec{NamedSpec: NamedSpec{Name: "Managed by Ironic", Slug: "managed-by-ironic"}})
	}
	if s.findBy("dcim.site", "name", "bench") == nil {
		missing.Sites = append(missing.Sites, SiteSpec{NamedSpec: NamedSpec{Name: "bench"}})
		missing.Manufacturers = append(missing.Manufacturers, NamedSpec{Name: "bench-vendor"})
		missing.DeviceTypes = append(missing.DeviceTypes, DeviceTypeSpec{Manufacturer: "bench-vendor", Model: "bench-server"})
		missing.Roles = append(missing.Roles, RoleSpec{NamedSpec: NamedSpec{Name: "bench-node"}})
	}
	s.mu.RUnlock()
	if err := missing.apply(s); err != nil {
		return fmt.Errorf("WithDevices: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	site := s.findBy("dcim.site", "name", "bench")
	dt := s.findBy("dcim.devicetype", "model", "bench-server")
	role := s.findBy("dcim.devicerole", "name", "bench-node")
	tag := s.findBy("extras.tag", "slug", "managed-by-ironic")
	if site == nil || dt == nil || role == nil || tag == nil {
		return fmt.Errorf("WithDevices: the bench site, device type, role or tag could not be created")
	}
	proto, errs := s.decode(kinds["dcim.device"], map[string]any{"name": "bench-proto", "site": site.id,
		"device_type": dt.id, "role": role.id}, nil, false)
	if errs != nil {
		return fixtureError("WithDevices", errs)
	}
	states := []string{"a", "b", "c"}
	for i := 1; i <= n; i++ {
		o := proto.clone()
		o.id = 0
		o.f["name"] = fmt.Sprintf("bench-%05d", i)
		o.f["serial"] = fmt.Sprintf("SN%08d", i)
		o.tags = []int{tag.id}
		o.cf["device_state"] = states[i%len(states)]
		o.cf["device_transition"] = ""
		o.cf["ironic_enabled"] = true
		o.cf["deployment_enabled"] = i%2 == 0
		o.cf["maintenance"] = false
		o.cf["provision_state"] = "available"
		o.cf["power_state"] = "power off"
		s.insert(o)
	}
	return nil
}
