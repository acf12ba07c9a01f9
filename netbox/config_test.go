package netbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v4"
)

const (
	testV1 = "0123456789abcdef0123456789abcdef01234567"
	testV2 = "nbt_abcdef123456.s3cr3tS3cr3tS3cr3t"
)

func TestParseToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, header string
		kind             TokenKind
		wantErr          string
	}{
		{name: "v1", in: testV1, header: "Token " + testV1, kind: TokenV1},
		{name: "v1 with newline from a file", in: testV1 + "\n", header: "Token " + testV1, kind: TokenV1},
		{name: "v2 by its form", in: testV2, header: "Bearer " + testV2, kind: TokenV2},
		{name: "explicit Bearer", in: "Bearer " + testV2, header: "Bearer " + testV2, kind: TokenV2},
		{name: "explicit Token", in: "Token " + testV1, header: "Token " + testV1, kind: TokenV1},
		{name: "empty", in: "  \n", wantErr: "empty token"},
		{name: "space inside", in: "abc def", wantErr: "invalid character at position 3"},
		{name: "header injection", in: "abc\r\nX-Evil: 1", wantErr: "invalid character"},
		{name: "v2 without secret", in: "nbt_abc", wantErr: "nbt_<key>.<secret>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := ParseToken(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "def", "the error must not repeat the token")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.kind, tok.Kind())
			require.Equal(t, tc.header, tok.Header())
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "https://netbox.example", Token: testV2}
	tok, err := ParseToken(testV2)
	require.NoError(t, err)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	log.Info("config", "cfg", cfg, "token", tok)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg),
		fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v", tok, tok, tok),
		logBuf.String(),
	} {
		require.NotContains(t, s, "s3cr3t")
	}
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "NETBOX_TOKEN")
	require.NoError(t, os.WriteFile(tokFile, []byte(testV2+"\n"), 0o600))
	badFile := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(badFile, []byte("a b"), 0o600))
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
		kind    TokenKind
		url     string
	}{
		{name: "no URL", cfg: Config{Token: testV1}, wantErr: "no URL"},
		{name: "bad scheme", cfg: Config{URL: "ftp://x", Token: testV1}, wantErr: "scheme must be http or https"},
		{name: "credentials in URL", cfg: Config{URL: "https://u:p@x", Token: testV1}, wantErr: "must not carry credentials"},
		{name: "no token", cfg: Config{URL: "https://x"}, wantErr: "no token"},
		{name: "missing token file", cfg: Config{URL: "https://x", TokenFile: filepath.Join(dir, "nope")}, wantErr: "read token file"},
		{name: "bad token file", cfg: Config{URL: "https://x", TokenFile: badFile}, wantErr: "token file " + badFile},
		{name: "token file", cfg: Config{URL: "https://x/api/", TokenFile: tokFile}, kind: TokenV2, url: "https://x"},
		{name: "value wins over file", cfg: Config{URL: "https://x/netbox", Token: testV1, TokenFile: tokFile}, kind: TokenV1, url: "https://x/netbox"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.cfg)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidConfig)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.kind, c.TokenKind())
			require.Equal(t, tc.url, c.URL())
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("NETBOX_URL", "https://nb.example")
	t.Setenv("NETBOX_TOKEN", testV1)
	t.Setenv("NETBOX_TOKEN_FILE", "/run/secrets/NETBOX_TOKEN")
	t.Setenv("NETBOX_INSECURE", "true")
	c := ConfigFromEnv()
	require.Equal(t, Config{URL: "https://nb.example", Token: testV1, TokenFile: "/run/secrets/NETBOX_TOKEN", InsecureSkipVerify: true}, c)
}

func TestConfigFromEnvNetBoxAPI(t *testing.T) {
	t.Setenv("NETBOX_URL", "") // restored at cleanup
	require.NoError(t, os.Unsetenv("NETBOX_URL"))
	t.Setenv("NETBOX_API", "https://api.example")
	t.Setenv("NETBOX_TOKEN", testV2)
	t.Setenv("NETBOX_TOKEN_FILE", "")
	t.Setenv("NETBOX_INSECURE", "")
	require.Equal(t, Config{URL: "https://api.example", Token: testV2}, ConfigFromEnv())
}

func TestConfigFromEnviron(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		environ []string
		want    Config
	}{
		{name: "nothing", environ: nil, want: Config{}},
		{name: "every variable", environ: []string{"NETBOX_URL=https://nb.example", "NETBOX_TOKEN=" + testV1,
			"NETBOX_TOKEN_FILE=/run/secrets/NETBOX_TOKEN", "NETBOX_INSECURE=true"},
			want: Config{URL: "https://nb.example", Token: testV1, TokenFile: "/run/secrets/NETBOX_TOKEN", InsecureSkipVerify: true}},
		{name: "NETBOX_API when NETBOX_URL is unset", environ: []string{"NETBOX_API=https://api.example"},
			want: Config{URL: "https://api.example"}},
		{name: "an empty NETBOX_URL is set: no NETBOX_API", environ: []string{"NETBOX_URL=", "NETBOX_API=https://api.example"},
			want: Config{}},
		{name: "NETBOX_URL wins over NETBOX_API", environ: []string{"NETBOX_API=https://api.example", "NETBOX_URL=https://nb.example"},
			want: Config{URL: "https://nb.example"}},
		{name: "the last of a key wins", environ: []string{"NETBOX_URL=https://first", "NETBOX_URL=https://last"},
			want: Config{URL: "https://last"}},
		{name: "a value may hold =", environ: []string{"NETBOX_TOKEN=Token abc=="}, want: Config{Token: "Token abc=="}},
		{name: "insecure as 1", environ: []string{"NETBOX_INSECURE=1"}, want: Config{InsecureSkipVerify: true}},
		{name: "insecure not a boolean", environ: []string{"NETBOX_INSECURE=yes please"}, want: Config{}},
		{name: "other variables and malformed entries", environ: []string{"PATH=/bin", "NETBOX_URL", "=x", "netbox_url=https://lower", "NETBOX_SECONDARIES=[]"},
			want: Config{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, ConfigFromEnviron(tc.environ))
		})
	}
}

// TestConfigMarshal: Config is a section of a YAML or JSON configuration
// file with snake_case keys, and marshalling it never writes the token.
func TestConfigMarshal(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "https://nb.example", Token: testV2, TokenFile: "/run/secrets/NETBOX_TOKEN", InsecureSkipVerify: true,
		CAFile: "/etc/ssl/ca.pem", Timeout: 30 * time.Second, MaxRetries: 2, RetryBackoff: time.Second, MaxBackoff: 5 * time.Second,
		MaxConcurrent: 4, PageSize: 500, UserAgent: "test", Transport: http.DefaultTransport, Logger: slog.Default(),
		OnDecodeError: func(*DecodeError) {}}
	type file struct {
		NetBox  Config  `yaml:"netbox" json:"netbox"`
		Pointer *Config `yaml:"pointer" json:"pointer"`
	}
	f := file{NetBox: cfg, Pointer: &cfg}

	j, err := json.Marshal(f)
	require.NoError(t, err)
	y, err := yaml.Marshal(f)
	require.NoError(t, err)
	for name, out := range map[string][]byte{"json": j, "yaml": y} {
		require.NotContains(t, string(out), "s3cr3t", name)
		require.NotContains(t, string(out), "token:", name)
		require.NotContains(t, string(out), `"token"`, name)
		require.Contains(t, string(out), "token_file", name)
		require.Contains(t, string(out), "max_concurrent", name)
	}
	var back map[string]map[string]any
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, map[string]any{"url": "https://nb.example", "token_file": "/run/secrets/NETBOX_TOKEN", "insecure": true,
		"ca_file": "/etc/ssl/ca.pem", "timeout": float64(30 * time.Second), "max_retries": float64(2), "retry_backoff": float64(time.Second),
		"max_backoff": float64(5 * time.Second), "max_concurrent": float64(4), "page_size": float64(500), "user_agent": "test"}, back["netbox"])

	want := Config{URL: "https://nb.example", Token: testV1, TokenFile: "/run/secrets/NETBOX_TOKEN", InsecureSkipVerify: true,
		CAFile: "/etc/ssl/ca.pem", Timeout: 30 * time.Second, MaxRetries: -1, RetryBackoff: 100 * time.Millisecond,
		MaxBackoff: 2 * time.Second, MaxConcurrent: 4, PageSize: 500, UserAgent: "test"}
	section := "netbox:\n  url: https://nb.example\n  token: " + testV1 + "\n  token_file: /run/secrets/NETBOX_TOKEN\n  insecure: true\n" +
		"  ca_file: /etc/ssl/ca.pem\n  timeout: 30s\n  max_retries: -1\n  retry_backoff: 100ms\n  max_backoff: 2s\n" +
		"  max_concurrent: 4\n  page_size: 500\n  user_agent: test\n"
	var r file
	require.NoError(t, yaml.Unmarshal([]byte(section), &r))
	require.Equal(t, want, r.NetBox, "yaml reads the section, token included")
	var rj file
	require.NoError(t, json.Unmarshal([]byte(`{"netbox": {"url": "https://nb.example", "token": "`+testV1+`", "timeout": 1000000000}}`), &rj))
	require.Equal(t, Config{URL: "https://nb.example", Token: testV1, Timeout: time.Second}, rj.NetBox, "JSON reads the token too")

	// What is written can be read back, without the token.
	var again file
	require.NoError(t, yaml.Unmarshal(y, &again))
	noToken := cfg
	noToken.Token, noToken.Transport, noToken.Logger, noToken.OnDecodeError = "", nil, nil, nil
	require.Equal(t, noToken, again.NetBox)
}

func TestAPIErrorMatching(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		is     error
		msg    string
	}{
		{name: "not found", status: 404, body: `{"detail":"No Device matches the given query."}`, is: ErrNotFound, msg: "No Device matches"},
		{name: "forbidden", status: 403, body: `{"detail":"Invalid token"}`, is: ErrUnauthorized, msg: "Invalid token"},
		{name: "field errors", status: 400, body: `{"name":["This field is required."],"vid":["Ensure this value is less than or equal to 4094."]}`, msg: "name: This field is required.; vid: Ensure"},
		{name: "bulk field errors", status: 400, body: `[{}, {"custom_fields":{"device_state":["bad"]}}]`, msg: `[1].custom_fields: {"device_state":["bad"]}`},
		{name: "html", status: 502, body: `<html>Bad Gateway</html>`, msg: "<html>Bad Gateway</html>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("get device %q: %w", "node-1", newAPIError("GET", "/api/dcim/devices/", tc.status, []byte(tc.body)))
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.StatusCode)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			} else {
				require.False(t, errors.Is(err, ErrNotFound))
			}
			require.Contains(t, err.Error(), tc.msg)
			require.Contains(t, err.Error(), `get device "node-1"`)
			require.True(t, StatusIs(err, tc.status))
		})
	}
}

// countingRoundTripper stands for what an embedding program may put in
// http.DefaultTransport: instrumentation, a proxy, a test recorder.
type countingRoundTripper struct {
	next  http.RoundTripper
	calls atomic.Int32
}

func (c *countingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.next.RoundTrip(r)
}

// Not parallel: it replaces http.DefaultTransport for the whole process.
func TestNewWithReplacedDefaultTransport(t *testing.T) {
	orig := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = orig })
	srv := newRawServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, 200, map[string]any{"id": 1, "name": "node-1"})
	})
	for _, insecure := range []bool{false, true} {
		rt := &countingRoundTripper{next: orig}
		http.DefaultTransport = rt
		var c *Client
		require.NotPanics(t, func() { c = testClient(t, srv.URL, func(c *Config) { c.InsecureSkipVerify = insecure }) })
		d, err := c.DeviceByID(context.Background(), 1)
		require.NoError(t, err)
		require.Equal(t, "node-1", d.Name)
		require.Zero(t, rt.calls.Load(), "the client uses its own transport, with its TLS settings")
	}
}
