package netbox_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

// fieldDef is what must agree between RequiredFields and a custom field
// definition.
type fieldDef struct {
	Type        string
	ObjectTypes []string
	Default     any
	Label       string
}

// TestRequiredFieldsMatchTheDouble ties RequiredFields to the custom fields
// the test double defines, both in its sample fabric and for generated
// devices (WithDevices): the same names, each with the same type, object
// types and default, so that neither list can drift from the other.
func TestRequiredFieldsMatchTheDouble(t *testing.T) {
	t.Parallel()
	want := map[string]fieldDef{}
	for _, f := range netbox.RequiredFields {
		require.NotContains(t, want, f.Name, "RequiredFields names %s twice", f.Name)
		want[f.Name] = fieldDef{Type: f.Type, ObjectTypes: []string{f.ObjectType}, Default: f.Default, Label: f.Label}
	}
	cases := []struct {
		name      string
		opt       netboxtest.Option
		withLabel bool // the double's definitions carry labels
	}{
		{name: "sample fabric", opt: netboxtest.WithSampleFabric(), withLabel: true},
		{name: "generated devices", opt: netboxtest.WithDevices(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := netboxtest.New(t, tc.opt)
			fields, err := client(t, srv, srv.Token()).CustomFields(context.Background())
			require.NoError(t, err)
			got := map[string]fieldDef{}
			for _, f := range fields {
				types := slices.Clone(f.ObjectTypes)
				slices.Sort(types)
				d := fieldDef{Type: f.Type.Value, ObjectTypes: types, Default: f.Default}
				if tc.withLabel {
					d.Label = f.Label
				}
				got[f.Name] = d
			}
			w := want
			if !tc.withLabel {
				w = map[string]fieldDef{}
				for name, d := range want {
					d.Label = ""
					w[name] = d
				}
			}
			require.Equal(t, w, got)
		})
	}
}
