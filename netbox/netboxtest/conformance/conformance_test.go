package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox/netboxtest"
)

// TestConformanceCatchesMismatch proves the validator is not a rubber stamp: answers broken in the
// ways a double could go wrong are reported.
func TestConformanceCatchesMismatch(t *testing.T) {
	s := netboxtest.New(t, netboxtest.WithSampleFabric())
	doc, _, err := loadSchema("")
	require.NoError(t, err)
	good, ok := s.Get("dcim.device", 1)
	require.True(t, ok)

	kind := netboxtest.KindSchemaOf("dcim.device")
	require.NotNil(t, kind)
	encode := func(m map[string]any) []byte {
		data, err := json.Marshal(m)
		require.NoError(t, err)
		return data
	}
	answer := func(status int, body []byte) netboxtest.Answer {
		return netboxtest.Answer{Method: http.MethodGet, Template: "/api/dcim/devices/{id}/", RequestURI: "/api/dcim/devices/1/",
			Status: status, Body: body, Kind: kind}
	}
	msgs, op := validateAnswer(doc, answer(http.StatusOK, encode(good)))
	require.Empty(t, msgs, "the unmodified device must conform")
	require.Equal(t, "dcim_devices_retrieve", op)

	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"wrong type", func(m map[string]any) { m["id"] = "seven" }, "/id"},
		{"missing required field", func(m map[string]any) { delete(m, "site") }, "site"},
		{"unknown field", func(m map[string]any) { m["sitee"] = 1 }, "sitee"},
		{"bad choice value", func(m map[string]any) { m["status"] = map[string]any{"value": "bogus", "label": "Bogus"} }, "/status/value"},
		{"null where NetBox never sends null", func(m map[string]any) { m["serial"] = nil }, "/serial"},
		{"nested object missing its id", func(m map[string]any) { delete(m["role"].(map[string]any), "id") }, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(encode(good), &m))
			tc.mutate(m)
			msgs, _ := validateAnswer(doc, answer(http.StatusOK, encode(m)))
			require.NotEmpty(t, msgs)
			require.Contains(t, fmt.Sprint(msgs), tc.want)
		})
	}

	t.Run("undeclared status", func(t *testing.T) {
		msgs, _ := validateAnswer(doc, answer(http.StatusAccepted, encode(good)))
		require.NotEmpty(t, msgs)
	})
	t.Run("error shape", func(t *testing.T) {
		msgs, _ := validateAnswer(doc, answer(http.StatusBadRequest, []byte(`{"name": "not a list"}`)))
		require.NotEmpty(t, msgs)
	})
	t.Run("brief answer against the full schema", func(t *testing.T) {
		a := answer(http.StatusOK, encode(good))
		a.Brief = true
		msgs, _ := validateAnswer(doc, a)
		require.NotEmpty(t, msgs, "a full device is not a brief one")
	})
}

// TestNew checks that New's checker plugs into the double: a server with WithChecker(New()) starts,
// and its answers conform.
func TestNew(t *testing.T) {
	s, err := netboxtest.Start(netboxtest.WithSampleFabric(), netboxtest.WithChecker(New()))
	require.NoError(t, err)
	defer s.Close()
	resp, err := http.Get(s.URL() + "/api/dcim/devices/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, s.SchemaViolations())
}

func TestSchemaLoadTime(t *testing.T) {
	_, _, err := loadSchema("")
	require.NoError(t, err)
	d := SchemaLoadTime()
	require.Positive(t, d)
	t.Logf("NetBox OpenAPI schema loaded and prepared in %s", d)
}

// Which schema each constructor checks against: New reads no environment, NewWithSchema the file it
// is given, NewFromEnv the file SchemaEnv names. Not parallel: it sets the process environment.
func TestSchemaChoice(t *testing.T) {
	module, err := modulePath()
	require.NoError(t, err)
	dir := t.TempDir()
	copied := filepath.Join(dir, "openapi.yaml")
	data, err := os.ReadFile(module)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copied, data, 0o644))
	broken := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("openapi: [not, a, schema\n"), 0o644))
	missing := filepath.Join(dir, "missing.yaml")

	cases := []struct {
		name    string
		env     string // SchemaEnv's value; "" leaves it empty
		checker func() netboxtest.Checker
		wantErr string // a substring of Load's error; "" for none
	}{
		{"New ignores the environment", missing, New, ""},
		{"NewWithSchema of a copy", missing, func() netboxtest.Checker { return NewWithSchema(copied) }, ""},
		{"NewWithSchema of an empty path is New's", missing, func() netboxtest.Checker { return NewWithSchema("") }, ""},
		{"NewWithSchema of a missing file", "", func() netboxtest.Checker { return NewWithSchema(missing) }, missing},
		{"NewWithSchema of a broken file", "", func() netboxtest.Checker { return NewWithSchema(broken) }, broken},
		{"NewFromEnv without the variable", "", NewFromEnv, ""},
		{"NewFromEnv of a copy", copied, NewFromEnv, ""},
		{"NewFromEnv of a missing file", missing, NewFromEnv, missing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SchemaEnv, tc.env)
			c := tc.checker()
			err := c.Load()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, "load NetBox OpenAPI schema "+tc.wantErr)
				msgs, _ := c.Check(netboxtest.Answer{Method: http.MethodGet, Template: "/api/status/", RequestURI: "/api/status/",
					Status: http.StatusOK, Body: []byte(`{}`)})
				require.NotEmpty(t, msgs, "a checker without its schema reports every answer")
				return
			}
			require.NoError(t, err)
			msgs, op := c.Check(netboxtest.Answer{Method: http.MethodGet, Template: "/api/status/", RequestURI: "/api/status/",
				Status: http.StatusAccepted, Body: []byte(`{}`)})
			require.Equal(t, "status_retrieve", op)
			require.Equal(t, []string{"status 202 is not declared"}, msgs)
		})
	}
}
