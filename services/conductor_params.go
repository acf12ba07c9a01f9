package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/netbox"
)

// NameResolver turns image and network names of node parameters into ids
// (Glance and Neutron in a full cloud). A value that already is a UUID
// (or, for images, a URL) is never asked for.
type NameResolver interface {
	ImageID(ctx context.Context, name string) (string, error)
	NetworkID(ctx context.Context, name string) (string, error)
}

// ErrNameNotFound matches a name a NameResolver does not know.
var ErrNameNotFound = errors.New("no such name")

// OpenStackResolver resolves names with Glance (images) and Neutron
// (networks) over gophercloud; either client may be nil, and its names
// then stay as they are.
type OpenStackResolver struct {
	Image, Network *gophercloud.ServiceClient
}

// NewOpenStackResolver finds Glance and Neutron in the catalog of pc (a
// Keystone login); a service the catalog lacks is left out.
func NewOpenStackResolver(pc *gophercloud.ProviderClient, eo gophercloud.EndpointOpts) *OpenStackResolver {
	r := &OpenStackResolver{}
	if sc, err := gos.NewImageV2(pc, eo); err == nil {
		r.Image = sc
	}
	if sc, err := gos.NewNetworkV2(pc, eo); err == nil {
		r.Network = sc
	}
	return r
}

// ImageID is the id of the one image named name.
func (r *OpenStackResolver) ImageID(ctx context.Context, name string) (string, error) {
	if r.Image == nil {
		return name, nil
	}
	page, err := images.List(r.Image, images.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", name, err)
	}
	is, err := images.ExtractImages(page)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", name, err)
	}
	ids := make([]string, 0, len(is))
	for _, i := range is {
		if i.Name == name {
			ids = append(ids, i.ID)
		}
	}
	return oneID("image", name, ids)
}

// NetworkID is the id of the one network named name.
func (r *OpenStackResolver) NetworkID(ctx context.Context, name string) (string, error) {
	if r.Network == nil {
		return name, nil
	}
	page, err := networks.List(r.Network, networks.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("network %q: %w", name, err)
	}
	ns, err := networks.ExtractNetworks(page)
	if err != nil {
		return "", fmt.Errorf("network %q: %w", name, err)
	}
	ids := make([]string, 0, len(ns))
	for _, n := range ns {
		if n.Name == name {
			ids = append(ids, n.ID)
		}
	}
	return oneID("network", name, ids)
}

func oneID(what, name string, ids []string) (string, error) {
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%s %q: %w", what, name, ErrNameNotFound)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%s %q: %d of that name: expected one (use its id)", what, name, len(ids))
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func looksLikeUUID(s string) bool { return uuidRE.MatchString(s) }

func looksLikeURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Scheme == "file")
}

// cachingResolver asks its resolver once per name.
type cachingResolver struct {
	r  NameResolver
	mu sync.Mutex
	m  map[string]string
}

func (c *cachingResolver) resolve(ctx context.Context, image bool, name string) (string, error) {
	key := "n:" + name
	if image {
		key = "i:" + name
	}
	// One question at a time: the workers of a sync ask for the same
	// few names.
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.m[key]; ok {
		return id, nil
	}
	var id string
	var err error
	if image {
		id, err = c.r.ImageID(ctx, name)
	} else {
		id, err = c.r.NetworkID(ctx, name)
	}
	if err != nil {
		return "", err
	}
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[key] = id
	return id, nil
}

// The node parameters that name images and networks.
var (
	imageParams   = [][2]string{{"instance_info", "image_source"}, {"driver_info", "deploy_kernel"}, {"driver_info", "deploy_ramdisk"}}
	networkParams = [][2]string{{"driver_info", "cleaning_network"}, {"driver_info", "provisioning_network"}}
)

// resolveNames replaces image and network names in attrs by their ids.
func resolveNames(ctx context.Context, attrs map[string]any, r *cachingResolver) error {
	if r == nil || r.r == nil {
		return nil
	}
	for _, p := range append(slices.Clone(imageParams), networkParams...) {
		m, ok := attrs[p[0]].(map[string]any)
		if !ok {
			continue
		}
		v, ok := m[p[1]].(string)
		if !ok || v == "" || looksLikeUUID(v) {
			continue
		}
		image := slices.Contains(imageParams, p)
		if image && looksLikeURL(v) {
			continue
		}
		id, err := r.resolve(ctx, image, v)
		if err != nil {
			return fmt.Errorf("ironic_parameters.%s.%s: %w", p[0], p[1], err)
		}
		m[p[1]] = id
	}
	return nil
}

// driverParams are the driver_info keys of the drivers upstream knows;
// the keys of the drivers a node does not use are dropped.
var driverParams = map[string][]string{"ipmi": {"ipmi_"}, "redfish": {"redfish_"}}

// vaultKey decrypts vault texts, or says why it cannot.
type vaultKey struct {
	password []byte
	why      string // why there is no password
}

func (v *vaultKey) decrypt(path, s string) (string, error) {
	if v == nil || len(v.password) == 0 {
		why := "no vault password is configured (ansible.vault_password_file, OSISM_VAULT_PASSWORD_FILE)"
		if v != nil && v.why != "" {
			why = v.why
		}
		return "", fmt.Errorf("%s is vault-encrypted but %s", path, why)
	}
	b, err := ansible.DecryptVault(s, v.password)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// deepDecrypt decrypts every vault text in v, in place, and records the
// plain texts as secrets.
func deepDecrypt(v any, path string, key *vaultKey, secrets *[]string) error {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedMapKeys(x) {
			p := path + "." + k
			if s, ok := x[k].(string); ok && ansible.IsVaultEncrypted(s) {
				plain, err := key.decrypt(p, s)
				if err != nil {
					return err
				}
				x[k] = plain
				*secrets = append(*secrets, plain)
				continue
			}
			if err := deepDecrypt(x[k], p, key, secrets); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			if s, ok := e.(string); ok && ansible.IsVaultEncrypted(s) {
				plain, err := key.decrypt(p, s)
				if err != nil {
					return err
				}
				x[i] = plain
				*secrets = append(*secrets, plain)
				continue
			}
			if err := deepDecrypt(e, p, key, secrets); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// asMap reads a JSON custom field or config context value as a mapping:
// a mapping as is, a string as JSON text, null as none.
func asMap(v any, what string) (map[string]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return deepCopy(x).(map[string]any), nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil, nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(x), &m); err != nil {
			return nil, fmt.Errorf("%s: expected a JSON object", what)
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: expected a mapping, got %T", what, v)
}

var templateRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\s*\}\}`)

// render replaces {{ name }} and {{ secrets.key }} in every string of v.
func render(v any, path string, vars map[string]string, secrets map[string]any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedMapKeys(x) {
			r, err := render(x[k], path+"."+k, vars, secrets)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
		return x, nil
	case []any:
		for i, e := range x {
			r, err := render(e, fmt.Sprintf("%s[%d]", path, i), vars, secrets)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
		return x, nil
	case string:
		if !strings.Contains(x, "{{") {
			return x, nil
		}
		var missing string
		out := templateRE.ReplaceAllStringFunc(x, func(m string) string {
			name := templateRE.FindStringSubmatch(m)[1]
			if key, ok := strings.CutPrefix(name, "secrets."); ok {
				if s, ok := secrets[key]; ok && s != nil {
					return strings.TrimSpace(fmt.Sprint(s))
				}
			} else if val, ok := vars[name]; ok {
				return val
			}
			if missing == "" {
				missing = strconv.Quote(name)
				if name == "remote_board_address" {
					missing += " (the device has no OOB address, oob_ip)"
				}
			}
			return m
		})
		if missing != "" {
			return nil, fmt.Errorf("%s: template variable %s is not defined: expected remote_board_username, remote_board_password, remote_board_address, ironic_osism_* or secrets.<key> of the custom field secrets", path, missing)
		}
		if strings.Contains(out, "{{") {
			return nil, fmt.Errorf("%s: template %q: expected {{ name }} or {{ secrets.key }} only", path, maskAll(x))
		}
		return out, nil
	}
	return v, nil
}

// maskAll hides a whole template that failed: it may hold a secret.
func maskAll(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// nodeSpec is what a device should be in Ironic.
type nodeSpec struct {
	attrs   map[string]any
	macs    []string // lower case, sorted
	secrets []string // values to mask in any output
	adopt   bool
	notes   []string
}

// prepareNode merges and renders a device's node parameters, as
// upstream: base (conductor file and section) <- config context
// ironic_parameters <- custom field ironic_parameters, vault texts
// decrypted, templates rendered with the custom field secrets and the
// OOB address, names resolved.
func prepareNode(ctx context.Context, dev netbox.Device, ifaces []netbox.Interface, base map[string]any, scope string, key *vaultKey, res *cachingResolver) (nodeSpec, error) {
	spec := nodeSpec{attrs: deepCopy(base).(map[string]any)}
	if len(dev.ConfigContextJSON) > 0 && string(dev.ConfigContextJSON) != "null" {
		var cc map[string]any
		if err := json.Unmarshal(dev.ConfigContextJSON, &cc); err != nil {
			return spec, fmt.Errorf("config context: expected a JSON object")
		}
		p, err := asMap(cc["ironic_parameters"], "config context ironic_parameters")
		if err != nil {
			return spec, err
		}
		if err := deepDecrypt(p, "config_context.ironic_parameters", key, &spec.secrets); err != nil {
			return spec, err
		}
		deepMerge(spec.attrs, p)
	}
	p, err := asMap(dev.CustomFields["ironic_parameters"], "custom field ironic_parameters")
	if err != nil {
		return spec, err
	}
	if err := deepDecrypt(p, "custom_fields.ironic_parameters", key, &spec.secrets); err != nil {
		return spec, err
	}
	deepMerge(spec.attrs, p)
	secrets, err := asMap(dev.CustomFields["secrets"], "custom field secrets")
	if err != nil {
		return spec, err
	}
	if err := deepDecrypt(secrets, "custom_fields.secrets", key, &spec.secrets); err != nil {
		return spec, err
	}
	for _, k := range sortedMapKeys(secrets) {
		if s, ok := secrets[k].(string); ok && s != "" {
			spec.secrets = append(spec.secrets, strings.TrimSpace(s))
		}
	}
	driver, _ := spec.attrs["driver"].(string)
	if di, ok := spec.attrs["driver_info"].(map[string]any); ok {
		if _, known := driverParams[driver]; known {
			for d, prefixes := range driverParams {
				if d == driver {
					continue
				}
				for k := range di {
					for _, pre := range prefixes {
						if strings.HasPrefix(k, pre) {
							delete(di, k)
						}
					}
				}
			}
		}
	}
	vars := map[string]string{"remote_board_username": "admin", "remote_board_password": "password"}
	if s, ok := secrets["remote_board_username"]; ok && s != nil {
		vars["remote_board_username"] = strings.TrimSpace(fmt.Sprint(s))
	}
	if s, ok := secrets["remote_board_password"]; ok && s != nil {
		vars["remote_board_password"] = strings.TrimSpace(fmt.Sprint(s))
	}
	if dev.OOBIP != nil && dev.OOBIP.Address != "" {
		addr, _, _ := strings.Cut(dev.OOBIP.Address, "/")
		vars["remote_board_address"] = addr
	}
	for k, v := range secrets {
		if strings.HasPrefix(k, "ironic_osism_") && v != nil {
			vars[k] = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	if _, ok := secrets["remote_board_password"]; ok {
		spec.secrets = append(spec.secrets, vars["remote_board_password"])
	}
	if _, err := render(spec.attrs, "ironic_parameters", vars, secrets); err != nil {
		return spec, err
	}
	if err := resolveNames(ctx, spec.attrs, res); err != nil {
		return spec, err
	}
	delete(spec.attrs, "name")
	delete(spec.attrs, "uuid")
	if _, ok := spec.attrs["target_raid_config"]; ok {
		delete(spec.attrs, "target_raid_config")
		spec.notes = append(spec.notes, "target_raid_config is not synced (set it with the RAID API)")
	}
	spec.attrs["resource_class"] = dev.Name
	for _, k := range []string{"extra", "driver_info", "properties", "instance_info"} {
		if v, ok := spec.attrs[k]; ok && v != nil {
			if _, ok := v.(map[string]any); !ok {
				return spec, fmt.Errorf("ironic_parameters.%s: expected a mapping, got %s", k, jsonKind(v))
			}
		}
	}
	extra, _ := spec.attrs["extra"].(map[string]any)
	if extra == nil {
		extra = map[string]any{}
	}
	if ii, ok := spec.attrs["instance_info"].(map[string]any); ok && len(ii) > 0 {
		b, _ := json.Marshal(ii)
		extra["instance_info"] = string(b)
	}
	for _, cf := range []string{"netplan_parameters", "frr_parameters"} {
		if v := dev.CustomFields[cf]; v != nil {
			v = deepCopy(v)
			if err := deepDecrypt(v, "custom_fields."+cf, key, &spec.secrets); err != nil {
				return spec, err
			}
			b, _ := json.Marshal(v)
			extra[cf] = string(b)
		}
	}
	extra[extraScope] = scope
	spec.attrs["extra"] = extra
	if _, ok := spec.attrs["driver"].(string); !ok {
		return spec, errors.New("no driver: expected ironic_parameters.driver (ipmi, redfish, fake-hardware, ...) in the conductor file, the config context or the custom field")
	}
	for _, i := range ifaces {
		mac := strings.ToLower(strings.TrimSpace(i.MACAddress))
		if mac == "" && i.PrimaryMAC != nil {
			mac = strings.ToLower(i.PrimaryMAC.MACAddress)
		}
		if i.Enabled && !i.MgmtOnly && mac != "" && !slices.Contains(spec.macs, mac) {
			spec.macs = append(spec.macs, mac)
		}
	}
	slices.Sort(spec.macs)
	spec.adopt = dev.CustomFields.String("provision_state") == "active"
	return spec, nil
}

// extraScope is the key of a node's extra that marks it as one sync
// ironic manages, with the scope as its value.
const extraScope = "osism_conductor"

// masked is the stand-in for secrets in output.
const masked = "******"

var secretKeyRE = regexp.MustCompile(`(?i)(password|secret|token|_key$|^key$)`)

// mask returns v with the values under secret-sounding keys and every
// known secret inside strings replaced by "******".
func mask(v any, secrets []string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if secretKeyRE.MatchString(k) && e != nil {
				out[k] = masked
				continue
			}
			out[k] = mask(e, secrets)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mask(e, secrets)
		}
		return out
	case string:
		return maskString(x, secrets)
	}
	return v
}

func maskString(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, masked)
		}
	}
	return s
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "null"
}
