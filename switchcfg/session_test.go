package switchcfg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

// A Target's password reaches no log, format verb or JSON.
func TestTargetKeepsThePasswordOut(t *testing.T) {
	t.Parallel()
	tg := switchcfg.Target{Switch: "leaf-1", Host: "192.0.2.11", User: "osism", Password: "pl4nted-secret"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("target", "target", tg)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("target", "target", tg)
	fmt.Fprintf(&buf, "%v %+v %#v %s", tg, tg, tg, tg)
	b, err := json.Marshal(tg)
	require.NoError(t, err)
	buf.Write(b)
	require.NotContains(t, buf.String(), "pl4nted-secret")
	require.Contains(t, buf.String(), "leaf-1")
	require.Contains(t, buf.String(), "password_set=true")
}
