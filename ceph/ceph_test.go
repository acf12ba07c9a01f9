package ceph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ceph"
)

func TestRun(t *testing.T) {
	r := ceph.Run("ceph-osds", []string{"-e", "x=y"})
	require.Equal(t, "ceph", r.Environment)
	require.Equal(t, "osds", r.Role)
	require.Equal(t, []string{"-e", "x=y"}, r.Args)
	require.Equal(t, "rgws", ceph.Role("rgws"))
}
