package osism_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/osism"
)

func TestSyncArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args interface {
			osism.Args
			Validate() error
		}
		kind string
		err  string
	}{
		{"ironic all", osism.SyncIronicArgs{DryRun: true}, "conductor.sync_ironic", ""},
		{"ironic one", osism.SyncIronicArgs{Node: "node-1", Force: true, Adopt: true}, "conductor.sync_ironic", ""},
		{"ironic slash", osism.SyncIronicArgs{Node: "a/b"}, "conductor.sync_ironic", `sync ironic: node "a/b": expected a device name`},
		{"ironic blank", osism.SyncIronicArgs{Node: " n"}, "conductor.sync_ironic", `node " n"`},
		{"netbox all", osism.SyncNetBoxArgs{}, "conductor.sync_netbox", ""},
		{"netbox query", osism.SyncNetBoxArgs{Node: "n?x"}, "conductor.sync_netbox", `sync netbox: node "n?x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.kind, tc.args.Kind())
			require.Equal(t, osism.QueueConductor, tc.args.Queue())
			err := tc.args.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
