package netboxtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/netbox/netboxtest/conformance"
)

// endpointCase is one endpoint with bodies that create, patch and (for PUT) fully write an object.
type endpointCase struct {
	path   string
	create func(s *netboxtest.Server, n int) map[string]any
	patch  map[string]any
}

func endpointCases() []endpointCase {
	return []endpointCase{
		{"/api/dcim/sites/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("site-%d", n), "slug": fmt.Sprintf("site-%d", n), "status": "planned"}
		}, map[string]any{"description": "patched"}},
		{"/api/dcim/racks/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("rack-x%d", n), "site": 1}
		}, map[string]any{"u_height": 48}},
		{"/api/dcim/manufacturers/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("vendor-%d", n), "slug": fmt.Sprintf("vendor-%d", n)}
		}, map[string]any{"description": "patched"}},
		{"/api/dcim/device-types/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"manufacturer": 1, "model": fmt.Sprintf("model-%d", n), "slug": fmt.Sprintf("model-%d", n)}
		}, map[string]any{"part_number": "P-1"}},
		{"/api/dcim/device-roles/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("role-%d", n), "slug": fmt.Sprintf("role-%d", n)}
		}, map[string]any{"color": "aa1409"}},
		{"/api/dcim/platforms/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("platform-%d", n), "slug": fmt.Sprintf("platform-%d", n)}
		}, map[string]any{"manufacturer": map[string]any{"id": 1}}},
		{"/api/dcim/devices/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("dev-%d", n), "site": 1, "role": 2, "device_type": 2,
				"tags": []any{map[string]any{"slug": "managed-by-ironic"}}, "custom_fields": map[string]any{"device_state": "a"}}
		}, map[string]any{"custom_fields": map[string]any{"maintenance": true}, "local_context_data": map[string]any{"x": 1}}},
		{"/api/dcim/interfaces/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"device": 3, "name": fmt.Sprintf("eth%d", 10+n), "type": "10gbase-x-sfpp"}
		}, map[string]any{"mode": "tagged", "untagged_vlan": 1, "tagged_vlans": []any{2, 3}, "mtu": 9000}},
		{"/api/dcim/cables/", func(s *netboxtest.Server, n int) map[string]any {
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
		{"/api/dcim/mac-addresses/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"mac_address": fmt.Sprintf("02:aa:00:00:00:%02x", n)}
		}, map[string]any{"description": "patched"}},
		{"/api/ipam/vlans/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"vid": 400 + n, "name": fmt.Sprintf("vlan-%d", n)}
		}, map[string]any{"site": 1}},
		{"/api/ipam/ip-addresses/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"address": fmt.Sprintf("10.0.0.%d/24", n), "assigned_object_type": "dcim.interface", "assigned_object_id": 1}
		}, map[string]any{"dns_name": "x.example", "role": "vip"}},
		{"/api/extras/tags/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("tag-%d", n), "slug": fmt.Sprintf("tag-%d", n)}
		}, map[string]any{"color": "00ff00"}},
		{"/api/extras/custom-fields/", func(_ *netboxtest.Server, n int) map[string]any {
			return map[string]any{"name": fmt.Sprintf("field_%d", n), "type": "integer", "object_types": []any{"dcim.device"}}
		}, map[string]any{"label": "Patched"}},
	}
}

// TestConformance makes every request the project makes and requires that no answer violates
// NetBox's OpenAPI schema; New fails the test at cleanup on any violation as well.
func TestConformance(t *testing.T) {
	s := netboxtest.New(t, netboxtest.WithSampleFabric(), netboxtest.WithChecker(conformance.New()))
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

// client talks to a Server the way the project's client does, with a chosen Authorization header.
// (The package's internal tests have their own; an external test cannot use it.)
type client struct {
	t    testing.TB
	s    *netboxtest.Server
	auth string
}

func newClient(t testing.TB, s *netboxtest.Server) *client {
	t.Helper()
	return &client{t: t, s: s, auth: "Token " + s.Token()}
}

// do sends a request; body is marshalled to JSON unless it is a string, which is sent as is.
func (c *client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.s.URL()+path, rd)
	require.NoError(c.t, err)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, data
}

// object sends a request and decodes a JSON object answer, requiring the status.
func (c *client) object(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	status, data := c.do(method, path, body)
	require.Equal(c.t, want, status, "%s %s: %s", method, path, data)
	var out map[string]any
	require.NoError(c.t, json.Unmarshal(data, &out), "%s %s: %s", method, path, data)
	return out
}

// list GETs a list endpoint and requires a 200.
func (c *client) list(path string) {
	c.t.Helper()
	status, data := c.do(http.MethodGet, path, nil)
	require.Equal(c.t, http.StatusOK, status, "GET %s: %s", path, data)
}

func id(t testing.TB, m map[string]any) int {
	t.Helper()
	v, ok := m["id"].(float64)
	require.True(t, ok, "no id in %v", m)
	return int(v)
}
