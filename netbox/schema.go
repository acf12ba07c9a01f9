package netbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"

	gonetbox "github.com/netbox-community/go-netbox/v4"
)

// Tags the project relies on.
const (
	TagManagedByOSISM  = "managed-by-osism"
	TagManagedByIronic = "managed-by-ironic"
)

// FieldSpec is a custom field the project relies on.
type FieldSpec struct {
	Name       string
	Type       string // NetBox custom field type: "text", "boolean"
	ObjectType string // "dcim.device", "dcim.interface"
	Label      string
	Default    any
}

// TagSpec is a tag the project relies on.
type TagSpec struct {
	Slug, Name, Color string
}

// RequiredFields are the custom fields OSISM reads and writes.
var RequiredFields = []FieldSpec{
	{Name: FieldDeviceState, Type: "text", ObjectType: "dcim.device", Label: "Device state", Default: "0"},
	{Name: FieldDeviceTransition, Type: "text", ObjectType: "dcim.device", Label: "Device transition", Default: "0"},
	{Name: "device_type", Type: "text", ObjectType: "dcim.device", Label: "Device type"},
	{Name: "deployment_enabled", Type: "boolean", ObjectType: "dcim.device", Label: "Deployment enabled"},
	{Name: "ironic_enabled", Type: "boolean", ObjectType: "dcim.device", Label: "Ironic enabled"},
	{Name: "maintenance", Type: "boolean", ObjectType: "dcim.device", Label: "Maintenance"},
	{Name: "deployment_type", Type: "text", ObjectType: "dcim.device", Label: "Deployment type"},
	{Name: "configuration_template", Type: "text", ObjectType: "dcim.device", Label: "Configuration template"},
	{Name: "provision_state", Type: "text", ObjectType: "dcim.device", Label: "Provision state"},
	{Name: "power_state", Type: "text", ObjectType: "dcim.device", Label: "Power state"},
	{Name: "introspection_state", Type: "text", ObjectType: "dcim.device", Label: "Introspection state"},
	{Name: "ironic_state", Type: "text", ObjectType: "dcim.device", Label: "Ironic state"},
	{Name: "network_interface_name", Type: "text", ObjectType: "dcim.interface", Label: "Network interface name"},
}

// RequiredTags are the tags OSISM reads.
var RequiredTags = []TagSpec{
	{Slug: TagManagedByOSISM, Name: "Managed by OSISM", Color: "2196f3"},
	{Slug: TagManagedByIronic, Name: "Managed by Ironic", Color: "ff9800"},
}

// CheckReport says whether NetBox is usable by OSISM.
type CheckReport struct {
	URL       string `json:"url"`
	Reachable bool   `json:"reachable"`
	Version   string `json:"version,omitempty"`
	TokenKind string `json:"token_kind"`
	// MissingFields are custom fields absent, or present but not on the
	// object type OSISM needs them on ("name (dcim.interface)").
	MissingFields []string `json:"missing_custom_fields"`
	MissingTags   []string `json:"missing_tags"`
	Error         string   `json:"error,omitempty"`
}

// OK reports whether NetBox answered and nothing is missing.
func (r CheckReport) OK() bool {
	return r.Reachable && r.Error == "" && len(r.MissingFields) == 0 && len(r.MissingTags) == 0
}

// Check reports reachability, NetBox's version and what Setup would create.
// A NetBox that cannot be reached is reported, not returned as an error;
// the error is for a cancelled ctx.
func (c *Client) Check(ctx context.Context) (CheckReport, error) {
	r := CheckReport{URL: c.URL(), TokenKind: c.TokenKind().String(), MissingFields: []string{}, MissingTags: []string{}}
	// /api/status/ answers a free-form object, so go-netbox's strict
	// decoding is harmless here.
	status, resp, err := c.api.StatusAPI.StatusRetrieve(ctx).Execute()
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if resp != nil {
			r.Reachable = true
			r.Error = (&APIError{Method: http.MethodGet, Path: "/api/status/", StatusCode: resp.StatusCode}).Error()
		} else {
			r.Error = unwrapURLError(err).Error()
		}
		return r, nil
	}
	r.Reachable = true
	if v, ok := status["netbox-version"].(string); ok {
		r.Version = v
	}
	missF, missT, err := c.missing(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		r.Error = err.Error()
		return r, nil
	}
	for _, f := range missF {
		r.MissingFields = append(r.MissingFields, fmt.Sprintf("%s (%s)", f.Name, f.ObjectType))
	}
	for _, t := range missT {
		r.MissingTags = append(r.MissingTags, t.Slug)
	}
	return r, nil
}

func (c *Client) missing(ctx context.Context) ([]FieldSpec, []TagSpec, error) {
	fields, err := c.CustomFields(ctx)
	if err != nil {
		return nil, nil, err
	}
	tags, err := c.Tags(ctx)
	if err != nil {
		return nil, nil, err
	}
	have := map[string]CustomField{}
	for _, f := range fields {
		have[f.Name] = f
	}
	var missF []FieldSpec
	for _, want := range RequiredFields {
		f, ok := have[want.Name]
		if !ok || !slices.Contains(f.ObjectTypes, want.ObjectType) {
			missF = append(missF, want)
		}
	}
	haveT := map[string]bool{}
	for _, t := range tags {
		haveT[t.Slug] = true
	}
	var missT []TagSpec
	for _, want := range RequiredTags {
		if !haveT[want.Slug] {
			missT = append(missT, want)
		}
	}
	return missF, missT, nil
}

// SetupReport lists what Setup created or extended.
type SetupReport struct {
	CreatedFields  []string `json:"created_custom_fields"`
	ExtendedFields []string `json:"extended_custom_fields"`
	CreatedTags    []string `json:"created_tags"`
}

// Setup creates the custom fields and tags OSISM relies on. It is
// idempotent: what exists is left alone, a field that exists on other
// object types gets the missing type added.
func (c *Client) Setup(ctx context.Context) (SetupReport, error) {
	rep := SetupReport{CreatedFields: []string{}, ExtendedFields: []string{}, CreatedTags: []string{}}
	missF, missT, err := c.missing(ctx)
	if err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	var existing map[string]CustomField
	if len(missF) > 0 {
		fs, err := c.CustomFields(ctx)
		if err != nil {
			return rep, fmt.Errorf("setup: %w", err)
		}
		existing = map[string]CustomField{}
		for _, f := range fs {
			existing[f.Name] = f
		}
	}
	var errs []error
	for _, f := range missF {
		if cur, ok := existing[f.Name]; ok {
			types := append(slices.Clone(cur.ObjectTypes), f.ObjectType)
			sort.Strings(types)
			req := gonetbox.NewPatchedWritableCustomFieldRequest()
			req.ObjectTypes = types
			if err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s%d/", pathCustomFields, cur.ID), nil, req, nil); err != nil {
				errs = append(errs, fmt.Errorf("add %s to custom field %s: %w", f.ObjectType, f.Name, err))
				continue
			}
			rep.ExtendedFields = append(rep.ExtendedFields, f.Name)
			continue
		}
		req := gonetbox.NewWritableCustomFieldRequest([]string{f.ObjectType}, f.Name)
		typ := gonetbox.PatchedWritableCustomFieldRequestType(f.Type)
		req.Type = &typ
		req.Label = &f.Label
		if f.Default != nil {
			req.Default = f.Default
		}
		if err := c.do(ctx, http.MethodPost, pathCustomFields, nil, req, nil); err != nil {
			errs = append(errs, fmt.Errorf("create custom field %s: %w", f.Name, err))
			continue
		}
		rep.CreatedFields = append(rep.CreatedFields, f.Name)
	}
	for _, t := range missT {
		req := gonetbox.NewTagRequest(t.Name, t.Slug)
		req.Color = &t.Color
		if err := c.do(ctx, http.MethodPost, pathTags, nil, req, nil); err != nil {
			errs = append(errs, fmt.Errorf("create tag %s: %w", t.Slug, err))
			continue
		}
		rep.CreatedTags = append(rep.CreatedTags, t.Slug)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	return rep, nil
}
