package netbox

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
