package kolla_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/kolla"
)

func TestRun(t *testing.T) {
	r, err := kolla.Run("kolla-nova", "", []string{"-l", "node-1"})
	require.NoError(t, err)
	require.Equal(t, "kolla", r.Environment)
	require.Equal(t, "nova", r.Role)
	require.Equal(t, []string{"-e", "kolla_action=deploy", "-l", "node-1"}, r.Args)

	r, err = kolla.Run("nova", "upgrade", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"-e", "kolla_action=upgrade"}, r.Args)

	_, err = kolla.Run("nova", "explode", nil)
	require.ErrorContains(t, err, `kolla action "explode": expected one of bootstrap,`)
}
