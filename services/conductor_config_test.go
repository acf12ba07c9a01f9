package services_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/services"
)

func TestParseConductorFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		want       []map[string]any
		err        string
	}{
		{"upstream default", `[{status: active, tag: [managed-by-ironic]}]`, []map[string]any{{"status": "active", "tag": []any{"managed-by-ironic"}}}, ""},
		{"upstream's default text", `[{'status': 'active', 'tag': ['managed-by-ironic']}]`, []map[string]any{{"status": "active", "tag": []any{"managed-by-ironic"}}}, ""},
		{"json", `[{"site": "dc1", "cf_ironic_enabled": true}, {"name": ["a", "b"]}]`,
			[]map[string]any{{"site": "dc1", "cf_ironic_enabled": true}, {"name": []any{"a", "b"}}}, ""},
		{"not a list", `{status: active}`, nil, "NETBOX_FILTER_CONDUCTOR_IRONIC: expected a list of NetBox filter mappings"},
		{"not a mapping", `[active]`, nil, "NETBOX_FILTER_CONDUCTOR_IRONIC[0]: expected a mapping"},
		{"unknown key", `[{rack: r1}]`, nil, `NETBOX_FILTER_CONDUCTOR_IRONIC[0]: filter "rack": expected one of name, id, tag, role, site, status, q, cf_<custom field>`},
		{"nested value", `[{tag: [[a]]}]`, nil, "filter tag: expected a list of values, not of lists or mappings"},
		{"bad id", `[{id: x}]`, nil, `filter id "x": expected a number`},
		{"not yaml", `[{`, nil, "NETBOX_FILTER_CONDUCTOR_IRONIC: not YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := services.ParseConductorFilters(tc.text)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestConductorConfigFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	user := filepath.Join(dir, "osism.yaml")
	require.NoError(t, os.WriteFile(user, []byte("conductor:\n  scope: site-a\n  workers: 4\n  ironic_parameters:\n    driver: ipmi\n"), 0o600))
	cfg, err := services.LoadConfig(services.LoadOpts{UserPath: user, Environ: []string{
		`NETBOX_FILTER_CONDUCTOR_IRONIC=[{site: dc1}]`, "OSISM_CONDUCTOR_FILE=/x/conductor.yml"}})
	require.NoError(t, err)
	require.Equal(t, []map[string]any{{"site": "dc1"}}, cfg.Conductor.Filters)
	require.Equal(t, "/x/conductor.yml", cfg.Conductor.File)
	require.Equal(t, "site-a", cfg.Conductor.Scope)
	require.Equal(t, 4, cfg.Conductor.Workers)
	require.Equal(t, map[string]any{"driver": "ipmi"}, cfg.Conductor.IronicParameters)

	_, err = services.LoadConfig(services.LoadOpts{Environ: []string{`NETBOX_FILTER_CONDUCTOR_IRONIC=[{rack: 1}]`}})
	require.ErrorContains(t, err, `filter "rack"`)
	require.NoError(t, os.WriteFile(user, []byte("conductor:\n  workers: -1\n"), 0o600))
	_, err = services.LoadConfig(services.LoadOpts{UserPath: user})
	require.ErrorContains(t, err, "config conductor.workers -1: expected 0 (the default) or more")
}

// fakeOpenStack is Glance and Neutron answering name queries, counting
// them.
func fakeOpenStack(t *testing.T) (*services.OpenStackResolver, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		name := r.URL.Query().Get("name")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v2/images":
			var imgs []map[string]any
			switch name {
			case "ubuntu-24.04":
				imgs = append(imgs, map[string]any{"id": "11111111-2222-3333-4444-555555555555", "name": name})
			case "twice":
				imgs = append(imgs, map[string]any{"id": "a", "name": name}, map[string]any{"id": "b", "name": name})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"images": imgs})
		case "/v2.0/networks":
			var nets []map[string]any
			if name == "provisioning" {
				nets = append(nets, map[string]any{"id": "66666666-7777-8888-9999-000000000000", "name": name})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"networks": nets})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: 10 * time.Second}}
	return &services.OpenStackResolver{
		Image:   &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/", ResourceBase: srv.URL + "/v2/"},
		Network: &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srv.URL + "/", ResourceBase: srv.URL + "/v2.0/"},
	}, &n
}

func TestOpenStackResolver(t *testing.T) {
	t.Parallel()
	r, _ := fakeOpenStack(t)
	ctx := context.Background()
	tests := []struct {
		name, value, want, err string
		network                bool
	}{
		{"image", "ubuntu-24.04", "11111111-2222-3333-4444-555555555555", "", false},
		{"unknown image", "nope", "", `image "nope": no such name`, false},
		{"ambiguous image", "twice", "", `image "twice": 2 of that name: expected one (use its id)`, false},
		{"network", "provisioning", "66666666-7777-8888-9999-000000000000", "", true},
		{"unknown network", "nope", "", `network "nope": no such name`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			var err error
			if tc.network {
				got, err = r.NetworkID(ctx, tc.value)
			} else {
				got, err = r.ImageID(ctx, tc.value)
			}
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// Names in the merged parameters resolve once per sync; UUIDs and URLs
// are never asked for; the conductor file's parameters lie under the
// section's, which lie under the device's, and "DELETE" removes a key.
func TestSyncIronicParameters(t *testing.T) {
	t.Parallel()
	e := newSyncEnv(t)
	r, asked := fakeOpenStack(t)
	require.NoError(t, os.WriteFile(e.cfg.File, []byte(`ironic_parameters:
  driver: ipmi
  boot_interface: ipxe
  driver_info:
    deploy_kernel: http://files/ipa.kernel
    deploy_ramdisk: 22222222-2222-3333-4444-555555555555
    provisioning_network: provisioning
    ipmi_terminal_port: 623
    redfish_address: https://{{ remote_board_address }}
`), 0o600))
	e.cfg.IronicParameters = map[string]any{"driver": "fake-hardware", "instance_info": map[string]any{"image_source": "ubuntu-24.04"}}
	var names []string
	for i := range 2 {
		n, _ := e.device(t, "10.9.4."+string(rune('1'+i))+"/24", map[string]any{"ironic_parameters": map[string]any{
			"boot_interface": "DELETE", "properties": map[string]any{"capabilities": "boot_mode:uefi"}}})
		names = append(names, n)
	}
	rep, out, err := e.sync(t, services.SyncIronicOpts{DryRun: true, Resolver: r})
	require.NoError(t, err, out)
	require.Equal(t, 2, rep.Created, out)
	require.Equal(t, int64(2), asked.Load(), "one image and one network, once each")
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "would create the node") {
			continue
		}
		_, js, _ := strings.Cut(line, " with ")
		var attrs map[string]any
		require.NoError(t, json.Unmarshal([]byte(js), &attrs), line)
		require.Equal(t, "fake-hardware", attrs["driver"])
		require.NotContains(t, attrs, "boot_interface")
		di := attrs["driver_info"].(map[string]any)
		require.Equal(t, "66666666-7777-8888-9999-000000000000", di["provisioning_network"])
		require.Equal(t, "http://files/ipa.kernel", di["deploy_kernel"])
		require.Equal(t, "22222222-2222-3333-4444-555555555555", di["deploy_ramdisk"])
		require.Contains(t, di["redfish_address"], "https://10.9.4.")
		require.Equal(t, "11111111-2222-3333-4444-555555555555", attrs["instance_info"].(map[string]any)["image_source"])
		require.Equal(t, map[string]any{"capabilities": "boot_mode:uefi"}, attrs["properties"])
	}
	require.Len(t, names, 2)
}
