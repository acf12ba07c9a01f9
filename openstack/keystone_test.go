package openstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/openstack"
)

// keystone is a Keystone v3 token endpoint whose catalog points the
// bare-metal service of RegionOne at the real Ironic: internal and public
// interfaces, and a decoy region. It records each auth request's body.
type keystone struct {
	url    string
	mu     sync.Mutex
	bodies []map[string]any
}

func newKeystone(t *testing.T, ironic string) *keystone {
	k := &keystone{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/auth/tokens" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		k.mu.Lock()
		k.bodies = append(k.bodies, body)
		k.mu.Unlock()
		ep := func(iface, region, url string) map[string]any {
			return map[string]any{"id": iface + region, "interface": iface, "region": region, "region_id": region, "url": url}
		}
		tok := map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"catalog": []any{map[string]any{"type": "baremetal", "name": "ironic", "id": "bm", "endpoints": []any{
				ep("internal", "RegionOne", ironic), ep("public", "RegionOne", ironic+"/v1"), ep("internal", "RegionTwo", "http://127.0.0.1:1"),
			}}},
		}}
		w.Header().Set("X-Subject-Token", "tok-1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(tok)
	}))
	t.Cleanup(srv.Close)
	k.url = srv.URL + "/v3"
	return k
}

func (k *keystone) last() map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.bodies[len(k.bodies)-1]
}

// dig walks nested maps.
func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// TestKeystoneAuth logs in with a password or an application credential
// and finds the real Ironic in the catalog by region and interface.
func TestKeystoneAuth(t *testing.T) {
	t.Parallel()
	ironic := testenv.Ironic(t)
	ks := newKeystone(t, ironic)

	t.Run("password, project scope, internal interface", func(t *testing.T) {
		cfg := openstack.Config{AuthURL: ks.url, Username: "admin", Password: "pw", ProjectName: "admin",
			UserDomainName: "Default", ProjectDomainName: "Default", RegionName: "RegionOne", Interface: "internal"}
		bm, err := openstack.NewBareMetal(ctxT(t), cfg)
		require.NoError(t, err)
		require.Equal(t, ironic+"/", bm.Endpoint())
		require.Equal(t, "1.82", bm.Microversion())
		body := ks.last()
		require.Equal(t, []any{"password"}, dig(body, "auth", "identity", "methods"))
		require.Equal(t, "admin", dig(body, "auth", "identity", "password", "user", "name"))
		require.Equal(t, "pw", dig(body, "auth", "identity", "password", "user", "password"))
		require.Equal(t, "Default", dig(body, "auth", "identity", "password", "user", "domain", "name"))
		require.Equal(t, "admin", dig(body, "auth", "scope", "project", "name"))
		require.Equal(t, "Default", dig(body, "auth", "scope", "project", "domain", "name"))
		_, err = bm.Nodes(ctxT(t), &openstack.ListNodesOpts{Limit: 1})
		require.NoError(t, err)
	})
	t.Run("application credential, public interface with /v1", func(t *testing.T) {
		cfg := openstack.Config{AuthURL: ks.url, ApplicationCredentialID: "abc", ApplicationCredentialSecret: "s", RegionName: "RegionOne"}
		bm, err := openstack.NewBareMetal(ctxT(t), cfg)
		require.NoError(t, err)
		require.Equal(t, ironic+"/", bm.Endpoint())
		body := ks.last()
		require.Equal(t, []any{"application_credential"}, dig(body, "auth", "identity", "methods"))
		require.Equal(t, "abc", dig(body, "auth", "identity", "application_credential", "id"))
		require.Nil(t, dig(body, "auth", "scope"), "an application credential carries its scope")
	})
	t.Run("no endpoint in the region", func(t *testing.T) {
		cfg := openstack.Config{AuthURL: ks.url, ApplicationCredentialID: "abc", ApplicationCredentialSecret: "s", RegionName: "RegionThree"}
		_, err := openstack.NewBareMetal(ctxT(t), cfg)
		require.ErrorContains(t, err, `openstack: no bare-metal endpoint in the catalog (region "RegionThree", interface "")`)
	})
}
