package netbox

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"updated","model":"device"}`)
	const secret = "hook-secret"
	good := Sign(secret, body)
	cases := []struct {
		name, secret, header string
		body                 []byte
		want                 error
	}{
		{name: "valid", secret: secret, header: good, body: body},
		{name: "valid, upper-case hex", secret: secret, header: strings.ToUpper(good), body: body},
		{name: "one digit in the other case", secret: secret, header: mixedCase(good), body: body, want: ErrSignatureMalformed},
		{name: "wrong secret", secret: "other", header: good, body: body, want: ErrSignatureMismatch},
		{name: "body changed", secret: secret, header: good, body: append([]byte(" "), body...), want: ErrSignatureMismatch},
		{name: "missing", secret: secret, header: "", body: body, want: ErrSignatureMissing},
		{name: "not hex", secret: secret, header: "zz" + good[2:], body: body, want: ErrSignatureMalformed},
		{name: "SHA-256 length", secret: secret, header: good[:64], body: body, want: ErrSignatureMalformed},
		{name: "no secret configured", secret: "", header: good, body: body, want: ErrNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySignature(tc.secret, tc.body, tc.header)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			if tc.want != ErrNoSecret {
				require.ErrorIs(t, err, ErrSignature)
			}
		})
	}
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	body := []byte(`{
	  "event": "updated", "timestamp": "2024-05-01 10:00:00.123456+00:00", "model": "device",
	  "username": "admin", "request_id": "6d7f1f7e-4d6a-4a43-9b4f-1d1e5f0c0a11",
	  "data": {"id": 7, "name": "node-1", "status": {"value": "active", "label": "Active"},
	           "custom_fields": {"device_state": "b", "device_transition": null}},
	  "snapshots": {"prechange": {"custom_fields": {"device_state": "a"}}, "postchange": {"custom_fields": {"device_state": "b"}}}
	}`)
	p, err := ParseWebhook(body)
	require.NoError(t, err)
	require.Equal(t, EventUpdated, p.Event)
	require.Equal(t, "device", p.Model)
	require.Equal(t, "admin", p.Username)
	require.Equal(t, "6d7f1f7e-4d6a-4a43-9b4f-1d1e5f0c0a11", p.RequestID)
	require.Equal(t, time.Date(2024, 5, 1, 10, 0, 0, 123456000, time.UTC), p.Timestamp.UTC())
	require.JSONEq(t, `{"custom_fields": {"device_state": "a"}}`, string(p.Snapshots.Prechange))
	d, err := p.Device()
	require.NoError(t, err)
	require.Equal(t, "node-1", d.Name)
	require.Equal(t, "b", d.CustomFields.String(FieldDeviceState))
	_, err = p.Interface()
	require.ErrorContains(t, err, `model is "device", not "interface"`)

	cases := []struct{ name, body, want string }{
		{name: "not JSON", body: `{`, want: "parse webhook"},
		{name: "no event", body: `{"model":"device"}`, want: "missing event or model"},
		{name: "bad timestamp", body: `{"event":"created","model":"device","timestamp":"yesterday"}`, want: `timestamp "yesterday"`},
		{name: "RFC 3339 timestamp", body: `{"event":"created","model":"device","timestamp":"2024-05-01T10:00:00Z"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWebhook([]byte(tc.body))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// mixedCase upper-cases the first letter of a lowercase hex signature.
func mixedCase(sig string) string {
	i := strings.IndexAny(sig, "abcdef")
	return sig[:i] + strings.ToUpper(sig[i:i+1]) + sig[i+1:]
}
