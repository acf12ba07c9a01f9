package openstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/openstack"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigApplyEnv(t *testing.T) {
	t.Parallel()
	var c openstack.Config
	require.NoError(t, c.ApplyEnv(env(map[string]string{
		"OS_CLOUD": "admin", "OS_AUTH_URL": "https://keystone:5000/v3", "OS_USERNAME": "admin",
		"OS_PASSWORD": "hunter2", "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default",
		"OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "internal",
		"OS_CACERT": "/etc/ssl/ca.pem", "OS_APPLICATION_CREDENTIAL_SECRET": "s3cr3t", "OS_ENDPOINT": "http://bifrost:6385",
		"OS_INSECURE": "true",
	})))
	require.Equal(t, openstack.Config{Cloud: "admin", AuthURL: "https://keystone:5000/v3", Username: "admin", Password: "hunter2",
		ProjectName: "admin", UserDomainName: "Default", ProjectDomainName: "Default", RegionName: "RegionOne",
		Interface: "internal", CACert: "/etc/ssl/ca.pem", ApplicationCredentialSecret: "s3cr3t", Endpoint: "http://bifrost:6385",
		Insecure: true}, c)
	require.ErrorContains(t, c.ApplyEnv(env(map[string]string{"OS_INSECURE": "maybe"})), `OS_INSECURE="maybe": expected true or false`)

	// Secrets never print: fmt, slog, JSON.
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "openstack", c)
	js, err := json.Marshal(c)
	require.NoError(t, err)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logs.String(), string(js)} {
		require.NotContains(t, out, "hunter2")
		require.NotContains(t, out, "s3cr3t")
	}
	require.Contains(t, logs.String(), "******")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  openstack.Config
		err  string
	}{
		{"nothing", openstack.Config{}, "openstack: no credentials: set OS_CLOUD"},
		{"endpoint", openstack.Config{Endpoint: "http://ironic:6385"}, ""},
		{"bad endpoint", openstack.Config{Endpoint: "ironic:6385"}, `openstack.endpoint (OS_ENDPOINT) "ironic:6385": expected an http:// or https:// URL`},
		{"bad auth url", openstack.Config{AuthURL: "keystone"}, `openstack.auth_url (OS_AUTH_URL) "keystone"`},
		{"bad interface", openstack.Config{Cloud: "x", Interface: "private"}, `openstack.interface (OS_INTERFACE) "private": expected public, internal or admin`},
		{"cloud", openstack.Config{Cloud: "x"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
	require.ErrorIs(t, openstack.Config{}.Validate(), openstack.ErrNoCredentials)
}

// TestNewBareMetalErrors: what a Keystone login lacks is named before any
// request.
func TestNewBareMetalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  openstack.Config
		err  string
	}{
		{"no credentials", openstack.Config{}, "no credentials"},
		{"auth url only", openstack.Config{AuthURL: "http://127.0.0.1:1/v3"}, "openstack: OS_AUTH_URL http://127.0.0.1:1/v3: missing OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME"},
		{"no password", openstack.Config{AuthURL: "http://127.0.0.1:1/v3", Username: "u", ProjectName: "p"}, "missing OS_PASSWORD"},
		{"app credential without id", openstack.Config{AuthURL: "http://127.0.0.1:1/v3", ApplicationCredentialSecret: "x"}, "missing OS_APPLICATION_CREDENTIAL_ID"},
		{"unknown cloud", openstack.Config{Cloud: "nope", CloudsFile: filepath.Join(t.TempDir(), "none.yaml")}, `openstack: cloud "nope"`},
		{"keystone down", openstack.Config{AuthURL: "http://127.0.0.1:1/v3", Username: "u", Password: "topsecret", ProjectName: "p"}, `authenticate at http://127.0.0.1:1/v3 as "u"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openstack.NewBareMetal(context.Background(), tc.cfg)
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), "topsecret")
		})
	}
}

const cloudsYAML = `
clouds:
  admin:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: admin
      password: pw-from-file
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    cacert: /etc/ssl/ca.pem
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000/v3
      application_credential_id: abc
      application_credential_secret: appsecret
  bifrost:
    auth_type: none
    baremetal_endpoint_override: IRONIC
  broken:
    auth_type: none
  oidc:
    auth_type: v3oidcpassword
    auth: {auth_url: https://k/v3}
`

func TestResolveCloud(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "clouds.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cloudsYAML), 0o600))
	tests := []struct {
		name string
		cfg  openstack.Config
		want openstack.Config
		err  string
	}{
		{"password cloud", openstack.Config{Cloud: "admin", CloudsFile: file},
			openstack.Config{Cloud: "admin", CloudsFile: file, AuthURL: "https://keystone.example:5000/v3", Username: "admin",
				Password: "pw-from-file", ProjectName: "admin", UserDomainName: "Default", ProjectDomainName: "Default",
				RegionName: "RegionOne", Interface: "internal", CACert: "/etc/ssl/ca.pem"}, ""},
		{"variables win over the file", openstack.Config{Cloud: "admin", CloudsFile: file, RegionName: "RegionTwo", Password: "pw-from-env"},
			openstack.Config{Cloud: "admin", CloudsFile: file, AuthURL: "https://keystone.example:5000/v3", Username: "admin",
				Password: "pw-from-env", ProjectName: "admin", UserDomainName: "Default", ProjectDomainName: "Default",
				RegionName: "RegionTwo", Interface: "internal", CACert: "/etc/ssl/ca.pem"}, ""},
		{"application credential", openstack.Config{Cloud: "appcred", CloudsFile: file},
			openstack.Config{Cloud: "appcred", CloudsFile: file, AuthURL: "https://keystone.example:5000/v3",
				ApplicationCredentialID: "abc", ApplicationCredentialSecret: "appsecret"}, ""},
		{"bifrost noauth", openstack.Config{Cloud: "bifrost", CloudsFile: file},
			openstack.Config{Cloud: "bifrost", CloudsFile: file, Endpoint: "IRONIC"}, ""},
		{"noauth without endpoint", openstack.Config{Cloud: "broken", CloudsFile: file}, openstack.Config{},
			`cloud "broken" has auth_type none but no baremetal_endpoint_override`},
		{"unknown auth type", openstack.Config{Cloud: "oidc", CloudsFile: file}, openstack.Config{},
			`cloud "oidc": auth_type "v3oidcpassword": expected password, v3applicationcredential or none`},
		{"missing cloud", openstack.Config{Cloud: "prod", CloudsFile: file}, openstack.Config{},
			`no cloud "prod" (it has admin, appcred, bifrost, broken, oidc)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.ResolveCloud(nil)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, file)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCloudsSearchPath(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"clouds.yaml", "/x/openstack/clouds.yaml", "/etc/openstack/clouds.yaml"}, openstack.CloudsSearchPath("/x", "/home/u"))
	require.Equal(t, []string{"clouds.yaml", "/home/u/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml"}, openstack.CloudsSearchPath("", "/home/u"))

	dir := t.TempDir()
	second := filepath.Join(dir, "b", "clouds.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(second), 0o755))
	require.NoError(t, os.WriteFile(second, []byte(cloudsYAML), 0o600))
	got, err := openstack.Config{Cloud: "appcred"}.ResolveCloud([]string{filepath.Join(dir, "a", "clouds.yaml"), second})
	require.NoError(t, err, "the first file of the path that exists")
	require.Equal(t, "abc", got.ApplicationCredentialID)
	_, err = openstack.Config{Cloud: "appcred"}.ResolveCloud([]string{filepath.Join(dir, "a", "clouds.yaml")})
	require.ErrorContains(t, err, `openstack: cloud "appcred": no clouds.yaml in `+filepath.Join(dir, "a", "clouds.yaml"))
}

// TestCloudsYAMLConfigHome finds clouds.yaml under $XDG_CONFIG_HOME (from
// the lookup, not the process) and reaches the real Ironic through it.
func TestCloudsYAMLConfigHome(t *testing.T) {
	t.Parallel()
	url := testenv.Ironic(t)
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, "openstack"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, "openstack", "clouds.yaml"),
		bytes.ReplaceAll([]byte(cloudsYAML), []byte("IRONIC"), []byte(url)), 0o600))
	var c openstack.Config
	require.NoError(t, c.ApplyEnv(env(map[string]string{"OS_CLOUD": "bifrost", "XDG_CONFIG_HOME": home})))
	bm, err := openstack.NewBareMetal(ctxT(t), c)
	require.NoError(t, err)
	require.Equal(t, url+"/", bm.Endpoint())
}

// TestCloudsYAMLBifrost reaches the real Ironic through a Bifrost-style
// clouds.yaml (auth_type none).
func TestCloudsYAMLBifrost(t *testing.T) {
	t.Parallel()
	url := testenv.Ironic(t)
	file := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(file, bytes.ReplaceAll([]byte(cloudsYAML), []byte("IRONIC"), []byte(url)), 0o600))
	var c openstack.Config
	require.NoError(t, c.ApplyEnv(env(map[string]string{"OS_CLOUD": "bifrost", "OS_CLIENT_CONFIG_FILE": file})))
	bm, err := openstack.NewBareMetal(ctxT(t), c)
	require.NoError(t, err)
	require.Equal(t, url+"/", bm.Endpoint())
	require.Equal(t, "1.82", bm.Microversion())
}

// rootServer answers GET / as a bare-metal API with the given root
// document; anything else is 404.
func rootServer(t *testing.T, doc string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/nodes/node-1" {
			// Answer with the microversion the request carried.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"uuid":"u","name":"node-1","driver":"` + r.Header.Get("X-OpenStack-Ironic-API-Version") + `"}`))
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestMicroversionNegotiation(t *testing.T) {
	t.Parallel()
	doc := func(min, max string) string {
		return `{"name":"OpenStack Ironic API","default_version":{"id":"v1","status":"CURRENT","min_version":"` + min + `","version":"` + max + `"}}`
	}
	tests := []struct {
		name, doc, want, err string
		soft                 bool
	}{
		{"newer server", doc("1.1", "1.99"), openstack.LatestMicroversion, "", true},
		{"same", doc("1.1", "1.82"), "1.82", "", true},
		{"older server", doc("1.1", "1.20"), "1.20", "", false},
		{"no microversions", `{"name":"OpenStack Ironic API"}`, "1.1", "", false},
		{"server too new", doc("2.0", "2.5"), "", "needs microversion 2.0 or newer; this client speaks up to 1.82", false},
		{"garbage version", doc("1.1", "one"), "", `maximum microversion "one": expected MAJOR.MINOR`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bm, err := openstack.NewBareMetal(context.Background(), openstack.Config{Endpoint: rootServer(t, tc.doc)})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, bm.Microversion())
			require.Equal(t, tc.soft, bm.Supports(openstack.FeatureSoftPower))
			require.EqualValues(t, 1, bm.Requests(), "negotiated once")
			n, err := bm.Node(context.Background(), "node-1")
			require.NoError(t, err)
			require.Equal(t, tc.want, n.Driver, "each request carries the negotiated microversion")
			require.EqualValues(t, 2, bm.Requests(), "still negotiated once")
			if !tc.soft {
				err := bm.SetPower(context.Background(), "node-1", openstack.PowerRequest{Target: openstack.PowerOff, Soft: true})
				require.ErrorIs(t, err, openstack.ErrUnsupported)
				require.ErrorContains(t, err, "soft power needs bare-metal API 1.27; the server speaks "+tc.want)
				require.EqualValues(t, 2, bm.Requests(), "refused before any request")
			}
		})
	}
}
