package netboxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// endpointCase is one endpoint with bodies that create, patch and (for PUT) fully write an object.
type endpointCase struct {
	path   string
	create func(s *Server, n int) map[string]any
	patch  map[string]any
}

func endpointCases() []endpointCase {
	return []endpointCase{
		{"/api/dcim/sites/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("site-%d", n), "slug": fmt.Sprintf("site-%d", n), "status": "planned"}
		}, map[string]any{"description": "patched"}},
		{"/api/dcim/racks/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("rack-x%d", n), "site": 1}
		}, map[string]any{"u_height": 48}},
		{"/api/dcim/manufacturers/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("vendor-%d", n), "slug": fmt.Sprintf("vendor-%d", n)}
		}, map[string]any{"description": "patched"}},
		{"/api/dcim/device-types/", func(_ *Server, n int) map[string]any {
			return map[string]any{"manufacturer": 1, "model": fmt.Sprintf("model-%d", n), "slug": fmt.Sprintf("model-%d", n)}
		}, map[string]any{"part_number": "P-1"}},
		{"/api/dcim/device-roles/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("role-%d", n), "slug": fmt.Sprintf("role-%d", n)}
		}, map[string]any{"color": "aa1409"}},
		{"/api/dcim/platforms/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("platform-%d", n), "slug": fmt.Sprintf("platform-%d", n)}
		}, map[string]any{"manufacturer": map[string]any{"id": 1}}},
		{"/api/dcim/devices/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("dev-%d", n), "site": 1, "role": 2, "device_type": 2,
				"tags": []any{map[string]any{"slug": "managed-by-ironic"}}, "custom_fields": map[string]any{"device_state": "a"}}
		}, map[string]any{"custom_fields": map[string]any{"maintenance": true}, "local_context_data": map[string]any{"x": 1}}},
		{"/api/dcim/interfaces/", func(_ *Server, n int) map[string]any {
			return map[string]any{"device": 3, "name": fmt.Sprintf("eth%d", 10+n), "type": "10gbase-x-sfpp"}
		}, map[string]any{"mode": "tagged", "untagged_vlan": 1, "tagged_vlans": []any{2, 3}, "mtu": 9000}},
		{"/api/dcim/cables/", func(s *Server, n int) map[string]any {
			a, err := s.Create("dcim.interface", map[string]any{"device": 4, "name": fmt.Sprintf("c%d-a", n), "type": "25gbase-x-sfp28"})
			if err != nil {
				panic(err)
			}
			b, err := s.Create("dcim.interface", map[string]any{"device": 2, "name": fmt.Sprintf("c%d-b", n), "type": "25gbase-x-sfp28"})
			if err != nil {
				panic(err)
			}
			return map[string]any{
				"a_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": a}},
				"b_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": b}},
				"type":           "cat6"}
		}, map[string]any{"label": "patched", "color": "ff0000"}},
		{"/api/dcim/mac-addresses/", func(_ *Server, n int) map[string]any {
			return map[string]any{"mac_address": fmt.Sprintf("02:aa:00:00:00:%02x", n)}
		}, map[string]any{"description": "patched"}},
		{"/api/ipam/vlans/", func(_ *Server, n int) map[string]any {
			return map[string]any{"vid": 400 + n, "name": fmt.Sprintf("vlan-%d", n)}
		}, map[string]any{"site": 1}},
		{"/api/ipam/ip-addresses/", func(_ *Server, n int) map[string]any {
			return map[string]any{"address": fmt.Sprintf("10.0.0.%d/24", n), "assigned_object_type": "dcim.interface", "assigned_object_id": 1}
		}, map[string]any{"dns_name": "x.example", "role": "vip"}},
		{"/api/extras/tags/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("tag-%d", n), "slug": fmt.Sprintf("tag-%d", n)}
		}, map[string]any{"color": "00ff00"}},
		{"/api/extras/custom-fields/", func(_ *Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("field_%d", n), "type": "integer", "object_types": []any{"dcim.device"}}
		}, map[string]any{"label": "Patched"}},
	}
}

// TestConformance makes every request the project makes and requires that no answer violates
// NetBox's OpenAPI schema; New fails the test at cleanup on any violation as well.
func TestConformance(t *testing.T) {
	s := New(t, WithSampleFabric(), WithConformance())
	c := newClient(t, s)

	c.object(http.MethodGet, "/api/status/", nil, http.StatusOK)
	for i, ec := range endpointCases() {
		t.Run(ec.path, func(t *testing.T) {
			c := newClient(t, s)
			c.list(ec.path)
			c.list(ec.path + "?brief=1")
			c.list(ec.path + "?limit=1&offset=1")
			c.list(ec.path + "?q=a&limit=0")

			created := c.object(http.MethodPost, ec.path, ec.create(s, 3*i+1), http.StatusCreated)
			oid := id(t, created)
			detail := ec.path + strconv.Itoa(oid) + "/"
			c.object(http.MethodGet, detail, nil, http.StatusOK)
			c.object(http.MethodGet, detail+"?brief=1", nil, http.StatusOK)
			c.object(http.MethodPatch, detail, ec.patch, http.StatusOK)

			full := ec.create(s, 3*i+2)
			status, data := c.do(http.MethodPost, ec.path, []any{full})
			require.Equal(t, http.StatusCreated, status, "bulk POST: %s", data)
			var bulk []map[string]any
			require.NoError(t, json.Unmarshal(data, &bulk))
			require.Len(t, bulk, 1)
			second := id(t, bulk[0])

			put := ec.create(s, 3*i+3)
			c.object(http.MethodPut, ec.path+strconv.Itoa(second)+"/", put, http.StatusOK)

			patch := map[string]any{"id": oid}
			for k, v := range ec.patch {
				patch[k] = v
			}
			status, data = c.do(http.MethodPatch, ec.path, []any{patch})
			require.Equal(t, http.StatusOK, status, "bulk PATCH: %s", data)

			status, data = c.do(http.MethodPost, ec.path, map[string]any{})
			require.Equal(t, http.StatusBadRequest, status, "empty POST: %s", data)
			status, _ = c.do(http.MethodGet, ec.path+"999999/", nil)
			require.Equal(t, http.StatusNotFound, status)

			status, data = c.do(http.MethodDelete, detail, nil)
			require.Equal(t, http.StatusNoContent, status, "DELETE: %s", data)
			status, data = c.do(http.MethodDelete, ec.path, []any{map[string]any{"id": second}})
			require.Equal(t, http.StatusNoContent, status, "bulk DELETE: %s", data)
		})
	}

	// Filters the project uses, and the error answers.
	for _, path := range []string{
		"/api/dcim/devices/?tag=managed-by-osism", "/api/dcim/devices/?role=leaf&site=dc1",
		"/api/dcim/devices/?cf_device_type=switch", "/api/dcim/devices/?status=active&role_id=1",
		"/api/dcim/interfaces/?device_id=3", "/api/dcim/interfaces/?device=leaf-1&type=lag",
		"/api/dcim/cables/?device=node-1", "/api/ipam/ip-addresses/?device=node-1&interface_id=27",
		"/api/ipam/vlans/?vid=100", "/api/extras/custom-fields/?name=device_state",
		"/api/dcim/interfaces/?cf_network_interface_name=enp1s0f0",
	} {
		c.list(path)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodGet, "/api/dcim/devices/?rolee=leaf", nil, http.StatusBadRequest},
		{http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"nope": 1}}, http.StatusBadRequest},
		{http.MethodPost, "/api/dcim/devices/", []any{map[string]any{"name": "x"}}, http.StatusBadRequest},
		{http.MethodPost, "/api/dcim/devices/", "{not json", http.StatusBadRequest},
		{http.MethodDelete, "/api/dcim/sites/1/", nil, http.StatusConflict},
	} {
		status, data := c.do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.want, status, "%s %s: %s", tc.method, tc.path, data)
	}
	anon := &client{t: t, s: s}
	status, _ := anon.do(http.MethodGet, "/api/dcim/devices/", nil)
	require.Equal(t, http.StatusForbidden, status)

	require.Empty(t, s.SchemaViolations())
}

// TestConformanceCatchesMismatch proves the validator is not a rubber stamp: answers broken in the
// ways a double could go wrong are reported.
func TestConformanceCatchesMismatch(t *testing.T) {
	s := New(t, WithSampleFabric())
	doc, _, err := loadSchema()
	require.NoError(t, err)
	good, ok := s.Get("dcim.device", 1)
	require.True(t, ok)

	info := answerInfo{tmpl: "/api/dcim/devices/{id}/", k: kinds["dcim.device"]}
	encode := func(m map[string]any) []byte {
		data, err := json.Marshal(m)
		require.NoError(t, err)
		return data
	}
	msgs, _ := validateAnswer(doc, http.MethodGet, info, http.StatusOK, encode(good))
	require.Empty(t, msgs, "the unmodified device must conform")

	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"wrong type", func(m map[string]any) { m["id"] = "seven" }, "/id"},
		{"missing required field", func(m map[string]any) { delete(m, "site") }, "site"},
		{"unknown field", func(m map[string]any) { m["sitee"] = 1 }, "sitee"},
		{"bad choice value", func(m map[string]any) { m["status"] = map[string]any{"value": "bogus", "label": "Bogus"} }, "/status/value"},
		{"null where NetBox never sends null", func(m map[string]any) { m["serial"] = nil }, "/serial"},
		{"nested object missing its id", func(m map[string]any) { delete(m["role"].(map[string]any), "id") }, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(encode(good), &m))
			tc.mutate(m)
			msgs, _ := validateAnswer(doc, http.MethodGet, info, http.StatusOK, encode(m))
			require.NotEmpty(t, msgs)
			require.Contains(t, fmt.Sprint(msgs), tc.want)
		})
	}

	t.Run("undeclared status", func(t *testing.T) {
		msgs, _ := validateAnswer(doc, http.MethodGet, info, http.StatusAccepted, encode(good))
		require.NotEmpty(t, msgs)
	})
	t.Run("error shape", func(t *testing.T) {
		msgs, _ := validateAnswer(doc, http.MethodGet, info, http.StatusBadRequest, []byte(`{"name": "not a list"}`))
		require.NotEmpty(t, msgs)
	})
}

func TestSchemaLoadTime(t *testing.T) {
	_, d, err := loadSchema()
	require.NoError(t, err)
	require.Positive(t, d)
	t.Logf("NetBox OpenAPI schema loaded and prepared in %s", d)
}
