package netbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
)

const secretToken = "0123456789abcdef0123456789abcdef0badf00d"

func TestParseSecondaries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    []netbox.SecondaryConfig
		wantErr string
	}{
		{name: "blank", in: "  \n"},
		{name: "upstream default", in: "[]"},
		{name: "YAML list as upstream", in: `
- NETBOX_URL: https://nb-dr.example
  NETBOX_TOKEN: ` + secretToken + `
  NETBOX_NAME: dr
  NETBOX_SITE: fra1
- {NETBOX_URL: "http://nb-lab.example", NETBOX_TOKEN: "` + secretToken + `", IGNORE_SSL_ERRORS: "True"}`,
			want: []netbox.SecondaryConfig{
				{Name: "dr", Site: "fra1", URL: "https://nb-dr.example", Token: secretToken},
				{URL: "http://nb-lab.example", Token: secretToken, InsecureSkipVerify: true},
			}},
		{name: "JSON", in: `[{"NETBOX_URL": "https://a.example", "NETBOX_TOKEN": "` + secretToken + `", "IGNORE_SSL_ERRORS": false}]`,
			want: []netbox.SecondaryConfig{{URL: "https://a.example", Token: secretToken}}},
		{name: "numeric token", in: `[{NETBOX_URL: https://a.example, NETBOX_TOKEN: 1234567890}]`,
			want: []netbox.SecondaryConfig{{URL: "https://a.example", Token: "1234567890"}}},
		{name: "not a list", in: `{NETBOX_URL: https://a.example}`, wantErr: "NETBOX_SECONDARIES: expected a list of mappings"},
		{name: "element not a mapping", in: `["` + secretToken + `"]`, wantErr: "NETBOX_SECONDARIES[0]: expected a mapping"},
		{name: "unknown key", in: `[{NETBOX_URL: https://a.example, NETBOX_TOKEN: ` + secretToken + `, NETBOX_PASSWORD: x}]`,
			wantErr: `NETBOX_SECONDARIES[0]: unknown key "NETBOX_PASSWORD"`},
		{name: "no URL", in: `[{NETBOX_TOKEN: ` + secretToken + `}]`, wantErr: "NETBOX_SECONDARIES[0]: NETBOX_URL is missing"},
		{name: "no token", in: `[{NETBOX_URL: https://a.example, NETBOX_NAME: dr}]`, wantErr: "NETBOX_TOKEN is missing or empty (secondary dr)"},
		{name: "bad boolean", in: `[{NETBOX_URL: https://a.example, NETBOX_TOKEN: ` + secretToken + `, IGNORE_SSL_ERRORS: maybe}]`,
			wantErr: `IGNORE_SSL_ERRORS "maybe": expected true or false`},
		{name: "broken YAML quoting the token", in: `[{NETBOX_TOKEN: "` + secretToken + `}]`, wantErr: "NETBOX_SECONDARIES: not YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := netbox.ParseSecondaries(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), secretToken, "an error never quotes a token")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSecondariesFromEnvAndFile(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		netbox.EnvURL:         "https://nb.example",
		netbox.EnvToken:       secretToken,
		netbox.EnvSecondaries: `[{NETBOX_URL: https://nb-dr.example, NETBOX_TOKEN: ` + secretToken + `, NETBOX_NAME: dr}]`,
	}
	var c netbox.Config
	require.NoError(t, c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.Equal(t, []netbox.SecondaryConfig{{Name: "dr", URL: "https://nb-dr.example", Token: secretToken}}, c.Secondaries)

	env[netbox.EnvSecondaries] = `[{NETBOX_URL: https://nb-dr.example}]`
	err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.ErrorContains(t, err, "environment NETBOX_SECONDARIES[0]: NETBOX_TOKEN is missing")

	got := netbox.ConfigFromEnviron([]string{netbox.EnvSecondaries + "=[{NETBOX_URL: https://nb-dr.example, NETBOX_TOKEN: " + secretToken + "}]"})
	require.Equal(t, []netbox.SecondaryConfig{{URL: "https://nb-dr.example", Token: secretToken}}, got.Secondaries)

	var fromFile netbox.Config
	require.NoError(t, yaml.Unmarshal([]byte(`
url: https://nb.example
secondaries:
  - {name: dr, site: fra1, url: https://nb-dr.example, token_file: /run/secrets/dr}
`), &fromFile))
	require.Equal(t, []netbox.SecondaryConfig{{Name: "dr", Site: "fra1", URL: "https://nb-dr.example", TokenFile: "/run/secrets/dr"}}, fromFile.Secondaries)

	// Written back, printed or logged, the configuration shows no token.
	c.Secondaries = []netbox.SecondaryConfig{{Name: "dr", URL: "https://nb-dr.example", Token: secretToken}}
	j, err := json.Marshal(c)
	require.NoError(t, err)
	y, err := yaml.Marshal(c)
	require.NoError(t, err)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secondary", c.Secondaries[0])
	for _, out := range []string{string(j), string(y), fmt.Sprint(c.Secondaries), fmt.Sprintf("%#v", c.Secondaries[0]), logged.String()} {
		require.NotContains(t, out, secretToken)
		require.Contains(t, out, "nb-dr.example")
	}
}

func TestSecondaryMatches(t *testing.T) {
	t.Parallel()
	s := netbox.SecondaryConfig{Name: "DR", Site: "fra1", URL: "https://nb-dr.example"}
	for filter, want := range map[string]bool{"": true, "dr": true, "FRA": true, "nb-dr": true, "ams": false, "primary": false} {
		require.Equal(t, want, s.Matches(filter), "filter %q", filter)
	}
}

// OpenSecondaries makes one client per secondary, each with its own URL
// and token and the primary's other settings.
func TestOpenSecondaries(t *testing.T) {
	t.Parallel()
	primary := netboxtest.New(t, netboxtest.WithSampleFabric())
	dr := netboxtest.New(t, netboxtest.WithSampleFabric())
	lab := netboxtest.New(t, netboxtest.WithSampleFabric())
	cfg := netbox.Config{URL: primary.URL(), Token: primary.Token(), Timeout: 5 * time.Second, Secondaries: []netbox.SecondaryConfig{
		{Name: "dr", URL: dr.URL(), Token: dr.Token()},
		{Name: "lab", URL: lab.URL(), Token: lab.Token()},
	}}
	secs, err := netbox.OpenSecondaries(cfg)
	require.NoError(t, err)
	require.Len(t, secs, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, srv := range []*netboxtest.Server{dr, lab} {
		require.Equal(t, cfg.Secondaries[i].Name, secs[i].Config.Name)
		d, err := secs[i].Device(ctx, "node-1")
		require.NoError(t, err)
		require.NoError(t, secs[i].UpdateDeviceCustomFields(ctx, d.ID, map[string]any{"power_state": "power on"}))
		require.Equal(t, "power on", srv.CustomField("dcim.device", d.ID, "power_state"))
	}
	require.Equal(t, "power off", primary.CustomField("dcim.device", primary.ID("dcim.device", "node-1"), "power_state"))

	cfg.Secondaries = append(cfg.Secondaries, netbox.SecondaryConfig{Name: "broken", URL: "ftp://nb.example", Token: secretToken})
	_, err = netbox.OpenSecondaries(cfg)
	require.ErrorContains(t, err, "secondary NetBox 2 (broken)")
	require.ErrorIs(t, err, netbox.ErrInvalidConfig)
	require.NotContains(t, err.Error(), secretToken)
}
