package netboxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFilters(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"tag", "/api/dcim/devices/?tag=managed-by-osism", []string{"leaf-1", "leaf-2"}},
		{"repeated name is OR", "/api/dcim/devices/?name=node-1&name=node-3", []string{"node-1", "node-3"}},
		{"different params are AND", "/api/dcim/devices/?role=compute&rack_id=2", []string{"node-3", "node-4"}},
		{"repeated tag is AND as in NetBox", "/api/dcim/devices/?tag=managed-by-osism&tag=managed-by-ironic", []string{}},
		{"role_id", "/api/dcim/devices/?role_id=1", []string{"leaf-1", "leaf-2"}},
		{"site and status", "/api/dcim/devices/?site=dc1&status=active&role=leaf", []string{"leaf-1", "leaf-2"}},
		{"cf text loose", "/api/dcim/devices/?cf_device_type=swit", []string{"leaf-1", "leaf-2"}},
		{"cf boolean", "/api/dcim/devices/?cf_ironic_enabled=true", []string{"node-1", "node-2", "node-3", "node-4"}},
		{"cf OR", "/api/dcim/devices/?cf_device_state=a&cf_deployment_enabled=true", []string{"leaf-1", "leaf-2"}},
		{"q", "/api/dcim/devices/?q=NODE-", []string{"node-1", "node-2", "node-3", "node-4"}},
		{"q on serial", "/api/dcim/devices/?q=ec0002", []string{"leaf-2"}},
		{"id OR", "/api/dcim/devices/?id=1&id=6", []string{"leaf-1", "node-4"}},
		{"name lookup", "/api/dcim/devices/?name__isw=leaf", []string{"leaf-1", "leaf-2"}},
		{"interfaces by device", "/api/dcim/interfaces/?device=node-2", []string{"eth0", "eth1", "ipmi"}},
		{"interfaces by type", "/api/dcim/interfaces/?device_id=1&type=lag", []string{"peerlink"}},
		{"interfaces by lag", "/api/dcim/interfaces/?device=leaf-2&lag_id=24", []string{"swp31", "swp32"}},
		{"interfaces cabled", "/api/dcim/interfaces/?device=node-1&cabled=true", []string{"eth0", "eth1"}},
		{"interfaces mgmt_only", "/api/dcim/interfaces/?device=node-1&mgmt_only=true", []string{"ipmi"}},
		{"interface cf", "/api/dcim/interfaces/?cf_network_interface_name=enp1s0f1&device=node-4", []string{"eth1"}},
		{"vlans by vid", "/api/ipam/vlans/?vid=200&vid=300", []string{"storage", "tenant"}},
		{"ip by device", "/api/ipam/ip-addresses/?device=node-2", []string{"192.168.16.22/24", "192.168.32.22/24"}},
		{"ip by interface", "/api/ipam/ip-addresses/?interface_id=1", []string{"192.168.16.11/24"}},
		{"cables by device", "/api/dcim/cables/?device=node-4", []string{"node-4:eth0 / leaf-1:swp4", "node-4:eth1 / leaf-2:swp4"}},
		{"custom fields by type", "/api/extras/custom-fields/?object_type=dcim.interface", []string{"network_interface_name"}},
		{"tags by slug", "/api/extras/tags/?slug=managed-by-osism", []string{"managed-by-osism"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := c.list(tc.query + "&limit=0")
			key := "name"
			switch {
			case strings.HasPrefix(tc.query, "/api/ipam/ip-addresses/"):
				key = "address"
			case strings.HasPrefix(tc.query, "/api/dcim/cables/"):
				key = "label"
			case strings.HasPrefix(tc.query, "/api/extras/tags/"):
				key = "slug"
			}
			require.ElementsMatch(t, tc.want, p.names(t, key))
			require.Equal(t, len(tc.want), p.Count)
		})
	}
}

func TestFilterErrors(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	tests := []struct {
		name, query, key string
	}{
		{"unknown filter", "/api/dcim/devices/?rol=leaf", "rol"},
		{"unknown custom field", "/api/dcim/devices/?cf_nope=1", "cf_nope"},
		{"custom field of another type", "/api/dcim/devices/?cf_network_interface_name=x", "cf_network_interface_name"},
		{"unknown tag", "/api/dcim/devices/?tag=nope", "tag"},
		{"unknown role", "/api/dcim/devices/?role=nope", "role"},
		{"bad status", "/api/dcim/devices/?status=broken", "status"},
		{"bad id", "/api/dcim/devices/?id=x", "id"},
		{"bad boolean", "/api/dcim/devices/?cf_maintenance=maybe", "cf_maintenance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := c.object(http.MethodGet, tc.query, nil, http.StatusBadRequest)
			require.Contains(t, errs, tc.key)
		})
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric(), WithDevices(120))
	c := newClient(t, s)
	total := s.Count("dcim.device")
	require.Equal(t, 126, total)

	first := c.list("/api/dcim/devices/?role=bench-node")
	require.Equal(t, 120, first.Count)
	require.Len(t, first.Results, 50, "default page size")
	require.Nil(t, first.Previous)
	require.NotNil(t, first.Next)
	require.Equal(t, s.URL()+"/api/dcim/devices/?limit=50&offset=50&role=bench-node", *first.Next, "absolute, keys sorted")

	next, err := url.Parse(*first.Next)
	require.NoError(t, err)
	second := c.list(next.RequestURI())
	require.Len(t, second.Results, 50)
	require.Equal(t, s.URL()+"/api/dcim/devices/?limit=50&role=bench-node", *second.Previous, "offset dropped on the first page")
	require.NotEqual(t, first.Results[0]["id"], second.Results[0]["id"])

	last := c.list("/api/dcim/devices/?role=bench-node&limit=50&offset=100")
	require.Len(t, last.Results, 20)
	require.Nil(t, last.Next)
	require.Equal(t, s.URL()+"/api/dcim/devices/?limit=50&offset=50&role=bench-node", *last.Previous)

	tests := []struct {
		name  string
		query string
		want  int
	}{
		{"limit=0 means the maximum", "?limit=0", 126},
		{"limit is capped at 1000", "?limit=5000", 126},
		{"bad limit means the default", "?limit=x", 50},
		{"negative limit means the default", "?limit=-3", 50},
		{"offset past the end", "?offset=500", 0},
		{"bad offset means 0", "?offset=x&limit=3", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := c.list("/api/dcim/devices/" + tc.query)
			require.Len(t, p.Results, tc.want)
			require.Equal(t, 126, p.Count)
		})
	}
}

func TestBrief(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	tests := []struct {
		path string
		keys []string
	}{
		{"/api/dcim/devices/?brief=1", []string{"id", "url", "display", "name", "description"}},
		{"/api/dcim/interfaces/?brief=true", []string{"id", "url", "display", "device", "name", "description", "cable", "_occupied"}},
		{"/api/ipam/vlans/?brief=1", []string{"id", "url", "display", "vid", "name", "description"}},
		{"/api/extras/tags/?brief=1", []string{"id", "url", "display", "name", "slug", "color", "description"}},
		{"/api/dcim/devices/?fields=id,name", []string{"id", "name"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p := c.list(tc.path)
			require.NotEmpty(t, p.Results)
			for _, r := range p.Results {
				keys := make([]string, 0, len(r))
				for k := range r {
					keys = append(keys, k)
				}
				require.ElementsMatch(t, tc.keys, keys)
			}
		})
	}
	full := c.object(http.MethodGet, "/api/dcim/devices/1/", nil, http.StatusOK)
	require.Contains(t, full, "custom_fields")
	brief := c.object(http.MethodGet, "/api/dcim/devices/1/?brief=1", nil, http.StatusOK)
	require.NotContains(t, brief, "custom_fields")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric(), WithToken("0123456789abcdef0123456789abcdef01234567"),
		WithReadOnlyToken("ffffffffffffffffffffffffffffffffffffffff"), WithTokenV2("nbt_abcdefghijkl.secretsecretsecret"))
	require.Equal(t, "0123456789abcdef0123456789abcdef01234567", s.Token())
	require.Equal(t, "nbt_abcdefghijkl.secretsecretsecret", s.TokenV2())
	patch := map[string]any{"description": "x"}
	tests := []struct {
		name, auth, method string
		want               int
		detail             string
	}{
		{"v1 token reads", "Token " + s.Token(), http.MethodGet, http.StatusOK, ""},
		{"v1 token writes", "Token " + s.Token(), http.MethodPatch, http.StatusOK, ""},
		{"v2 token reads", "Bearer " + s.TokenV2(), http.MethodGet, http.StatusOK, ""},
		{"v2 token writes", "Bearer " + s.TokenV2(), http.MethodPatch, http.StatusOK, ""},
		{"missing token", "", http.MethodGet, http.StatusForbidden, "Authentication credentials were not provided."},
		{"unknown scheme is ignored", "Basic Zm9vOmJhcg==", http.MethodGet, http.StatusForbidden, "Authentication credentials were not provided."},
		{"wrong v1 token", "Token 1111111111111111111111111111111111111111", http.MethodGet, http.StatusForbidden, "Invalid v1 token"},
		{"wrong v2 secret", "Bearer nbt_abcdefghijkl.wrong", http.MethodGet, http.StatusForbidden, "Invalid v2 token"},
		{"unknown v2 key", "Bearer nbt_zzzzzzzzzzzz.secretsecretsecret", http.MethodGet, http.StatusForbidden, "Invalid v2 token"},
		{"v2 token without secret", "Bearer nbt_abcdefghijkl", http.MethodGet, http.StatusForbidden, "Could not parse key from v2 token"},
		{"extra words", "Token a b", http.MethodGet, http.StatusForbidden, "Invalid authorization header"},
		{"read-only token reads", "Token ffffffffffffffffffffffffffffffffffffffff", http.MethodGet, http.StatusOK, ""},
		{"read-only token cannot write", "Token ffffffffffffffffffffffffffffffffffffffff", http.MethodPatch, http.StatusForbidden, "You do not have permission to perform this action."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &client{t: t, s: s, auth: tc.auth}
			var body any
			if tc.method != http.MethodGet {
				body = patch
			}
			status, data := c.do(tc.method, "/api/dcim/sites/1/", body)
			require.Equal(t, tc.want, status, string(data))
			if tc.detail != "" {
				var m map[string]string
				require.NoError(t, json.Unmarshal(data, &m))
				require.Contains(t, m["detail"], tc.detail)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	tests := []struct {
		name, method, path string
		body               any
		key, contains      string
	}{
		{"missing required fields", http.MethodPost, "/api/dcim/devices/", map[string]any{"name": "x"}, "site", "This field is required."},
		{"unknown custom field", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"colour": "x"}}, "custom_fields", "Custom field 'colour' does not exist"},
		{"wrong custom field type", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"maintenance": "yes"}}, "custom_fields", "Value must be true or false."},
		{"text custom field given a number", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"device_state": 3}}, "custom_fields", "Value must be a string."},
		{"custom fields not a dict", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": "x"}, "custom_fields", "dictionary"},
		{"bad choice", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"status": "broken"}, "status", `"broken" is not a valid choice.`},
		{"choice as a dict", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"status": map[string]any{"value": "active"}}, "status", "do not use a dictionary"},
		{"unknown related id", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"role": 99}, "role", "Related object not found using the provided numeric ID: 99"},
		{"unknown related attrs", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"role": map[string]any{"slug": "nope"}}, "role", "Related object not found using the provided attributes"},
		{"blank name", http.MethodPatch, "/api/dcim/sites/1/", map[string]any{"name": ""}, "name", "This field may not be blank."},
		{"duplicate slug", http.MethodPost, "/api/dcim/sites/", map[string]any{"name": "dc9", "slug": "dc1"}, "slug", "already exists"},
		{"tagged VLANs without tagged mode", http.MethodPatch, "/api/dcim/interfaces/1/", map[string]any{"tagged_vlans": []any{1}}, "tagged_vlans", "Interface mode does not support tagged vlans"},
		{"primary IP of another device", http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"primary_ip4": 2}, "primary_ip4", "not assigned to this device"},
		{"vid out of range", http.MethodPost, "/api/ipam/vlans/", map[string]any{"vid": 5000, "name": "big"}, "vid", "less than or equal to 4094"},
		{"bad address", http.MethodPost, "/api/ipam/ip-addresses/", map[string]any{"address": "10.0.0.300/24"}, "address", "Invalid IP address format"},
		{"cable on a cabled interface", http.MethodPost, "/api/dcim/cables/", map[string]any{
			"a_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": 2}},
			"b_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": 3}}}, "__all__", "Duplicate termination"},
		{"malformed JSON", http.MethodPost, "/api/dcim/devices/", "{", "detail", "JSON parse error"},
		{"body is not an object", http.MethodPatch, "/api/dcim/devices/1/", "[1]", "non_field_errors", "Expected a dictionary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := c.object(tc.method, tc.path, tc.body, http.StatusBadRequest)
			require.Contains(t, errs, tc.key)
			require.Contains(t, fmt.Sprint(errs[tc.key]), tc.contains)
		})
	}

	t.Run("bulk create errors are a list", func(t *testing.T) {
		before := s.Count("dcim.site")
		status, data := c.do(http.MethodPost, "/api/dcim/sites/", []any{
			map[string]any{"name": "ok-1", "slug": "ok-1"}, map[string]any{"name": "bad"}})
		require.Equal(t, http.StatusBadRequest, status)
		var errs []map[string][]string
		require.NoError(t, json.Unmarshal(data, &errs))
		require.Equal(t, []map[string][]string{{}, {"slug": {"This field is required."}}}, errs)
		require.Equal(t, before, s.Count("dcim.site"), "a failed bulk create writes nothing")
	})
	t.Run("missing id in bulk update", func(t *testing.T) {
		status, data := c.do(http.MethodPatch, "/api/dcim/devices/", []any{map[string]any{"name": "x"}})
		require.Equal(t, http.StatusBadRequest, status)
		require.JSONEq(t, `[{"id":["This field is required."]}]`, string(data))
	})
	t.Run("delete of a protected object", func(t *testing.T) {
		errs := c.object(http.MethodDelete, "/api/dcim/device-roles/1/", nil, http.StatusConflict)
		require.Contains(t, errs["detail"], "2 dependent objects were found")
	})
}

func TestCustomFieldsMergeOnPatch(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	leaf := s.ID("dcim.device", "leaf-1")
	got := c.object(http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"device_state": "b-phase_1", "maintenance": true}}, http.StatusOK)
	cf := got["custom_fields"].(map[string]any)
	require.Equal(t, "b-phase_1", cf["device_state"])
	require.Equal(t, true, cf["maintenance"])
	require.Equal(t, "switch", cf["device_type"], "fields not written are kept")
	require.Nil(t, cf["ironic_state"], "unset custom fields are null")
	require.Equal(t, "b-phase_1", s.CustomField("dcim.device", leaf, "device_state"))

	require.NoError(t, s.SetCustomField("dcim.device", leaf, "device_transition", "from_a-to_b-phase_1"))
	require.Equal(t, "from_a-to_b-phase_1", s.CustomField("dcim.device", leaf, "device_transition"))
	require.Error(t, s.SetCustomField("dcim.device", leaf, "maintenance", "no"))

	created := c.object(http.MethodPost, "/api/dcim/devices/", map[string]any{"name": "new", "site": 1, "role": 2, "device_type": 2}, http.StatusCreated)
	require.Equal(t, "0", created["custom_fields"].(map[string]any)["device_transition"], "defaults fill new objects")
}

func TestBulkPatch(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric(), WithDevices(1000))
	c := newClient(t, s)
	p := c.list("/api/dcim/devices/?role=bench-node&limit=1000&fields=id")
	require.Len(t, p.Results, 1000)
	body := make([]any, 0, len(p.Results)+1)
	for _, r := range p.Results {
		body = append(body, map[string]any{"id": r["id"], "custom_fields": map[string]any{"device_state": "c"}})
	}
	body = append(body, map[string]any{"id": 999999, "name": "skipped as NetBox skips unknown ids"})
	s.ResetCounters()
	status, data := c.do(http.MethodPatch, "/api/dcim/devices/", body)
	require.Equal(t, http.StatusOK, status, string(data[:min(len(data), 500)]))
	var updated []map[string]any
	require.NoError(t, json.Unmarshal(data, &updated))
	require.Len(t, updated, 1000)
	require.Equal(t, 1, s.TotalRequests(), "1,000 devices in one request")
	require.Equal(t, 1000, c.list("/api/dcim/devices/?cf_device_state=c&limit=1").Count)
	require.Equal(t, "available", updated[0]["custom_fields"].(map[string]any)["provision_state"], "other custom fields kept")

	t.Run("an invalid object rolls the whole update back", func(t *testing.T) {
		status, data := c.do(http.MethodPatch, "/api/dcim/devices/", []any{
			map[string]any{"id": p.Results[0]["id"], "custom_fields": map[string]any{"device_state": "d"}},
			map[string]any{"id": p.Results[1]["id"], "custom_fields": map[string]any{"maintenance": "x"}}})
		require.Equal(t, http.StatusBadRequest, status, string(data))
		require.Equal(t, "c", s.CustomField("dcim.device", int(p.Results[0]["id"].(float64)), "device_state"))
	})
}

func TestCablesAndPeers(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)

	eth0 := c.object(http.MethodGet, "/api/dcim/interfaces/"+itoa(s.ID("dcim.interface", "node-1:eth0"))+"/", nil, http.StatusOK)
	require.Equal(t, "A", eth0["cable_end"])
	require.Equal(t, "dcim.interface", eth0["link_peers_type"])
	peers := eth0["link_peers"].([]any)
	require.Len(t, peers, 1)
	peer := peers[0].(map[string]any)
	require.Equal(t, "swp1", peer["name"])
	require.Equal(t, "leaf-1", peer["device"].(map[string]any)["name"])
	require.Equal(t, true, eth0["connected_endpoints_reachable"])

	ipmi := c.object(http.MethodGet, "/api/dcim/interfaces/"+itoa(s.ID("dcim.interface", "node-1:ipmi"))+"/", nil, http.StatusOK)
	require.Nil(t, ipmi["cable"])
	require.Nil(t, ipmi["cable_end"], "an uncabled interface has cable_end null, as NetBox sends it")
	require.Equal(t, []any{}, ipmi["link_peers"])
	require.Nil(t, ipmi["link_peers_type"])
	require.Nil(t, ipmi["connected_endpoints"])

	a, err := s.Create("dcim.interface", map[string]any{"device": 3, "name": "eth9", "type": "25gbase-x-sfp28"})
	require.NoError(t, err)
	b, err := s.Create("dcim.interface", map[string]any{"device": 1, "name": "swp9", "type": "25gbase-x-sfp28"})
	require.NoError(t, err)
	cable := c.object(http.MethodPost, "/api/dcim/cables/", map[string]any{
		"a_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": a}},
		"b_terminations": []any{map[string]any{"object_type": "dcim.interface", "object_id": b}},
		"label":          "node-1:eth9 / leaf-1:swp9"}, http.StatusCreated)
	for _, tc := range []struct {
		iface   int
		end     string
		peerID  int
		display string
	}{{a, "A", b, "swp9"}, {b, "B", a, "eth9"}} {
		got, ok := s.Get("dcim.interface", tc.iface)
		require.True(t, ok)
		require.Equal(t, cable["id"], got["cable"].(map[string]any)["id"])
		require.Equal(t, tc.end, got["cable_end"])
		require.Equal(t, float64(tc.peerID), got["link_peers"].([]any)[0].(map[string]any)["id"])
		require.Equal(t, true, got["_occupied"])
	}

	status, _ := c.do(http.MethodDelete, "/api/dcim/cables/"+itoa(id(t, cable))+"/", nil)
	require.Equal(t, http.StatusNoContent, status)
	got, _ := s.Get("dcim.interface", a)
	require.Nil(t, got["cable"], "deleting the cable frees both ends")
	require.Nil(t, got["cable_end"])
}

func TestInterfaceVLANsAndLAG(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	swp5 := c.object(http.MethodGet, "/api/dcim/interfaces/"+itoa(s.ID("dcim.interface", "leaf-1:swp5"))+"/", nil, http.StatusOK)
	require.Equal(t, "tagged", swp5["mode"].(map[string]any)["value"])
	require.Equal(t, float64(100), swp5["untagged_vlan"].(map[string]any)["vid"])
	require.Len(t, swp5["tagged_vlans"], 2)

	swp31 := c.object(http.MethodGet, "/api/dcim/interfaces/"+itoa(s.ID("dcim.interface", "leaf-1:swp31"))+"/", nil, http.StatusOK)
	lag := swp31["lag"].(map[string]any)
	require.Equal(t, "peerlink", lag["name"])
	require.Contains(t, lag, "display_url", "lag is nested as NestedInterface")

	// Clearing the mode clears the VLANs, as NetBox's Interface.save() does.
	got := c.object(http.MethodPatch, "/api/dcim/interfaces/"+itoa(id(t, swp5))+"/", map[string]any{"mode": ""}, http.StatusOK)
	require.Nil(t, got["mode"])
	require.Nil(t, got["untagged_vlan"])
	require.Equal(t, []any{}, got["tagged_vlans"])
}

func TestPrimaryIP(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	c := newClient(t, s)
	node := c.object(http.MethodGet, "/api/dcim/devices/3/", nil, http.StatusOK)
	require.Equal(t, "192.168.16.21/24", node["primary_ip4"].(map[string]any)["address"])
	require.Equal(t, node["primary_ip4"], node["primary_ip"])

	ip := c.object(http.MethodPost, "/api/ipam/ip-addresses/", map[string]any{"address": "10.1.0.3/24",
		"assigned_object_type": "dcim.interface", "assigned_object_id": s.ID("dcim.interface", "node-1:eth1")}, http.StatusCreated)
	got := c.object(http.MethodPatch, "/api/dcim/devices/3/", map[string]any{"primary_ip4": ip["id"]}, http.StatusOK)
	require.Equal(t, "10.1.0.3/24", got["primary_ip4"].(map[string]any)["address"])
}

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("FailNext", func(t *testing.T) {
		t.Parallel()
		s := New(t, WithSampleFabric())
		c := newClient(t, s)
		s.FailNext(2, http.StatusServiceUnavailable)
		before := s.CustomField("dcim.device", 1, "device_state")
		status, _ := c.do(http.MethodPatch, "/api/dcim/devices/1/", map[string]any{"custom_fields": map[string]any{"device_state": "b"}})
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, before, s.CustomField("dcim.device", 1, "device_state"), "a failed request touches no state")
		status, _ = c.do(http.MethodGet, "/api/dcim/devices/", nil)
		require.Equal(t, http.StatusServiceUnavailable, status)
		status, _ = c.do(http.MethodGet, "/api/dcim/devices/", nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, 2, s.Requests(http.MethodGet, "/api/dcim/devices/"))
		require.Equal(t, 1, s.Requests(http.MethodPatch, "/api/dcim/devices/{id}/"))
		require.Equal(t, 1, s.Requests(http.MethodPatch, "/api/dcim/devices/1/"), "concrete ids count under {id}")
		require.Equal(t, 3, s.TotalRequests())
		s.ResetCounters()
		require.Zero(t, s.TotalRequests())
	})
	t.Run("429 carries Retry-After", func(t *testing.T) {
		t.Parallel()
		s := New(t)
		s.FailNext(1, http.StatusTooManyRequests)
		req, err := http.NewRequest(http.MethodGet, s.URL()+"/api/status/", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "1", resp.Header.Get("Retry-After"))
	})
	t.Run("failure rate is reproducible with a seed", func(t *testing.T) {
		t.Parallel()
		run := func() []int {
			s := New(t, WithSeed(42))
			s.SetFailureRate(0.3, http.StatusBadGateway)
			c := newClient(t, s)
			var out []int
			for range 40 {
				status, _ := c.do(http.MethodGet, "/api/status/", nil)
				out = append(out, status)
			}
			return out
		}
		first := run()
		require.Equal(t, first, run())
		require.Contains(t, first, http.StatusBadGateway)
		require.Contains(t, first, http.StatusOK)
	})
	t.Run("status 0 hangs until the client gives up", func(t *testing.T) {
		t.Parallel()
		s := New(t)
		s.FailNext(1, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/api/status/", nil)
		require.NoError(t, err)
		_, err = http.DefaultClient.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		s := New(t, WithLatency(30*time.Millisecond))
		c := newClient(t, s)
		start := time.Now()
		c.do(http.MethodGet, "/api/status/", nil)
		require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
		s.SetLatency(0)
	})
}

func TestListensOnLoopback(t *testing.T) {
	t.Parallel()
	s := New(t)
	u, err := url.Parse(s.URL())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", u.Hostname())
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric())
	require.Equal(t, 6, s.Count("dcim.device"))
	require.Equal(t, 6, s.Count("/api/dcim/devices/"))
	require.Zero(t, s.Count("dcim.nothing"))
	require.NotZero(t, s.ID("dcim.interface", "leaf-2:peerlink"))
	require.Zero(t, s.ID("dcim.interface", "leaf-2:nope"))
	leaf, ok := s.Find("dcim.device", "leaf-1")
	require.True(t, ok)
	require.Equal(t, "switch", leaf["custom_fields"].(map[string]any)["device_type"])
	require.Equal(t, float64(65101), leaf["config_context"].(map[string]any)["frr_asn"])
	require.Equal(t, "managed-by-osism", leaf["tags"].([]any)[0].(map[string]any)["slug"])

	_, err := s.Create("dcim.device", map[string]any{"name": "x"})
	require.ErrorContains(t, err, "This field is required.")
	require.ErrorContains(t, s.Delete("dcim.site", 1), "dependent objects")
	require.NoError(t, s.Delete("dcim.device", s.ID("dcim.device", "node-4")))
	require.Equal(t, 5, s.Count("dcim.device"))
	require.Zero(t, s.ID("dcim.interface", "node-4:eth0"), "interfaces go with their device")
	p := newClient(t, s).list("/api/dcim/cables/?limit=0")
	require.Equal(t, 8, p.Count, "and so do their cables")
}

// TestNilChecker: WithChecker(nil) is an error that names the checker to use; without WithChecker
// no checker is needed.
func TestNilChecker(t *testing.T) {
	t.Parallel()
	_, err := Start(WithChecker(nil))
	require.ErrorIs(t, err, errNilChecker)
	require.EqualError(t, err, `netboxtest: WithChecker(nil): want a Checker, e.g. conformance.New() from github.com/osism/go-osism/netbox/netboxtest/conformance`)

	s, err := Start()
	require.NoError(t, err, "without WithChecker no checker is needed")
	s.Close()
}

// loadFailure is a Checker whose Load fails.
type loadFailure struct{ fakeChecker }

func (*loadFailure) Load() error { return errors.New("no schema here") }

// TestCheckerLoadError: Start fails with the error of the checker's Load and serves nothing.
func TestCheckerLoadError(t *testing.T) {
	t.Parallel()
	s, err := Start(WithChecker(&loadFailure{}))
	require.EqualError(t, err, "no schema here")
	require.Nil(t, s)
}

// fakeChecker records the answers it is given and reports each as a violation.
type fakeChecker struct {
	mu      sync.Mutex
	answers []Answer
}

func (f *fakeChecker) Load() error { return nil }

func (f *fakeChecker) Check(a Answer) ([]string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, a)
	return []string{"fake"}, "fake_op"
}

// TestCheckerHook: the Checker of WithChecker sees every answer with what it needs to pick the
// schema, and what it reports becomes a Violation.
func TestCheckerHook(t *testing.T) {
	t.Parallel()
	fake := &fakeChecker{}
	s, err := Start(WithSampleFabric(), WithChecker(fake))
	require.NoError(t, err)
	defer s.Close()
	c := newClient(t, s)
	c.list("/api/dcim/devices/?brief=1&limit=1")
	status, _ := c.do(http.MethodPost, "/api/dcim/sites/", []any{map[string]any{"name": "s9", "slug": "s9"}})
	require.Equal(t, http.StatusCreated, status)

	fake.mu.Lock()
	answers := fake.answers
	fake.mu.Unlock()
	require.Len(t, answers, 2)
	brief, bulk := answers[0], answers[1]
	require.Equal(t, "/api/dcim/devices/", brief.Template)
	require.Equal(t, "/api/dcim/devices/?brief=1&limit=1", brief.RequestURI)
	require.Equal(t, http.StatusOK, brief.Status)
	require.True(t, brief.Brief)
	require.Equal(t, &KindSchema{Name: "dcim.device", Schema: "DeviceWithConfigContext", Brief: "BriefDevice", BriefFields: kinds["dcim.device"].briefSet}, brief.Kind)
	require.Contains(t, string(brief.Body), `"results"`)
	require.True(t, bulk.BulkCreate)
	require.Equal(t, http.StatusCreated, bulk.Status)

	v := s.SchemaViolations()
	require.Len(t, v, 2)
	require.Equal(t, Violation{Method: http.MethodGet, Path: "/api/dcim/devices/?brief=1&limit=1", Status: http.StatusOK, Operation: "fake_op", Message: "fake"}, v[0])
}

// Lists served at once after a change rebuild the sorted table once and
// never hand a reader a slice another reader is rewriting (run with -race).
func TestConcurrentListsAfterChanges(t *testing.T) {
	t.Parallel()
	s := New(t, WithSampleFabric(), WithDevices(200))
	for round := range 5 {
		id, err := s.Create("extras.tag", map[string]any{"name": fmt.Sprintf("t-%d", round), "slug": fmt.Sprintf("t-%d", round)})
		require.NoError(t, err)
		require.NoError(t, s.Delete("extras.tag", id))
		var wg sync.WaitGroup
		counts := make([]int, 8)
		for g := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/extras/tags/?limit=1000", nil)
				req.Header.Set("Authorization", "Token "+s.Token())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				var p struct {
					Count   int   `json:"count"`
					Results []any `json:"results"`
				}
				if json.NewDecoder(resp.Body).Decode(&p) == nil && p.Count == len(p.Results) {
					counts[g] = p.Count
				}
			}()
		}
		wg.Wait()
		for g := range counts {
			require.Equal(t, counts[0], counts[g], "round %d: every reader sees the same, whole list", round)
			require.NotZero(t, counts[g])
		}
	}
}

func TestMaxPageSize(t *testing.T) {
	t.Parallel()
	s := New(t, WithDevices(120), WithMaxPageSize(30))
	c := newClient(t, s)
	tests := []struct {
		name     string
		query    string
		want     int
		nextWant string // the next link's limit and offset
	}{
		{"a limit above the maximum is cut to it", "?limit=1000", 30, "limit=30&offset=30"},
		{"limit=0 means the maximum", "?limit=0", 30, "limit=30&offset=30"},
		{"a limit below the maximum stays", "?limit=7&offset=7", 7, "limit=7&offset=14"},
		{"the default page size is not cut, as in NetBox", "", 50, "limit=50&offset=50"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := c.list("/api/dcim/devices/" + tc.query)
			require.Len(t, p.Results, tc.want)
			require.Equal(t, 120, p.Count)
			require.NotNil(t, p.Next)
			require.Equal(t, s.URL()+"/api/dcim/devices/?"+tc.nextWant, *p.Next)
		})
	}
}
