package netboxtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// client talks to a Server the way the project's client does, with a chosen Authorization header.
type client struct {
	t    testing.TB
	s    *Server
	auth string
}

func newClient(t testing.TB, s *Server) *client {
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

// list GETs a list endpoint and returns the page.
func (c *client) list(path string) page {
	c.t.Helper()
	status, data := c.do(http.MethodGet, path, nil)
	require.Equal(c.t, http.StatusOK, status, "GET %s: %s", path, data)
	var p page
	require.NoError(c.t, json.Unmarshal(data, &p))
	return p
}

type page struct {
	Count    int              `json:"count"`
	Next     *string          `json:"next"`
	Previous *string          `json:"previous"`
	Results  []map[string]any `json:"results"`
}

func (p page) names(t testing.TB, key string) []string {
	t.Helper()
	out := make([]string, 0, len(p.Results))
	for _, r := range p.Results {
		v, ok := r[key].(string)
		require.True(t, ok, "result has no string %q: %v", key, r)
		out = append(out, v)
	}
	return out
}

func id(t testing.TB, m map[string]any) int {
	t.Helper()
	v, ok := m["id"].(float64)
	require.True(t, ok, "no id in %v", m)
	return int(v)
}
