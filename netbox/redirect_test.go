package netbox

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// A NetBox that redirects elsewhere must not hand the token over: the
// transport sets Authorization on every request it sends, redirects
// included, so it has to check where each one goes.
func TestTokenNeverFollowsRedirectElsewhere(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			other := newRawServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				writeJSON(w, 200, map[string]any{"id": 1, "name": "elsewhere"})
			})
			nb := newRawServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				switch r.URL.Path {
				case "/api/dcim/devices/1/":
					http.Redirect(w, r, other.URL+"/api/dcim/devices/1/", status)
				case "/api/dcim/devices/2/":
					http.Redirect(w, r, "/api/dcim/devices/3/", status) // same host
				case "/api/dcim/devices/3/":
					writeJSON(w, 200, map[string]any{"id": 3, "name": "here"})
				default:
					w.WriteHeader(404)
				}
			})
			c := testClient(t, nb.URL)

			_, err := c.DeviceByID(context.Background(), 1)
			require.NoError(t, err)
			other.mu.Lock()
			require.Equal(t, []string{""}, other.auth, "the other server saw the token")
			other.mu.Unlock()

			// A redirect within NetBox keeps the token.
			d, err := c.DeviceByID(context.Background(), 2)
			require.NoError(t, err)
			require.Equal(t, "here", d.Name)
			nb.mu.Lock()
			defer nb.mu.Unlock()
			require.Equal(t, []string{"Token " + testV1, "Token " + testV1, "Token " + testV1}, nb.auth)
		})
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("https://netbox.example.com/prefix")
	require.NoError(t, err)
	cases := []struct {
		url  string
		want bool
	}{
		{"https://netbox.example.com/api/dcim/devices/", true},
		{"https://NetBox.Example.com/api/", true},
		{"https://netbox.example.com:443/api/", true},
		{"http://netbox.example.com/api/", false},
		{"https://netbox.example.com:8443/api/", false},
		{"https://evil.example.com/api/", false},
		{"https://netbox.example.com.evil.example/api/", false},
		{"https://user@evil.example.com/api/", false},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			require.Equal(t, tc.want, sameOrigin(base, u))
		})
	}
}
