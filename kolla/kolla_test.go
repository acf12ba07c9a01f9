package kolla_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/kolla"
)

// allActions is the list every unknown-action error ends with.
var allActions = "bootstrap, bootstrap-servers, check, config, deploy, deploy-containers, destroy, precheck, " +
	"prune-images, pull, reconfigure, refresh-containers, stop, upgrade, upgrade-bifrost, validate-config"

func TestRun(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		role     string
		action   string
		args     []string
		wantRole string
		wantArgs []string
		wantErr  string
	}{
		{name: "no action is deploy, before the user's arguments", role: "kolla-nova", args: []string{"-l", "node-1"},
			wantRole: "nova", wantArgs: []string{"-e", "kolla_action=deploy", "-l", "node-1"}},
		{name: "an action", role: "nova", action: "upgrade", wantRole: "nova", wantArgs: []string{"-e", "kolla_action=upgrade"}},
		{name: "an explicit kolla_action among the arguments comes last and wins", role: "keystone", action: "pull",
			args: []string{"-e", "kolla_action=stop"}, wantRole: "keystone", wantArgs: []string{"-e", "kolla_action=pull", "-e", "kolla_action=stop"}},
		{name: "an unknown action", role: "nova", action: "explode", wantErr: `kolla action "explode": expected one of ` + allActions},
		{name: "actions are case-sensitive", role: "nova", action: "Deploy", wantErr: `kolla action "Deploy": expected one of ` + allActions},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := kolla.Run(tc.role, tc.action, tc.args)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.ErrorIs(t, err, kolla.ErrUnknownAction)
				require.False(t, errors.Is(err, kolla.ErrNotKolla))
				return
			}
			require.NoError(t, err)
			require.Equal(t, kolla.Environment, r.Environment)
			require.Equal(t, tc.wantRole, r.Role)
			require.Equal(t, tc.wantArgs, r.Args)
		})
	}
}

func TestEveryActionRuns(t *testing.T) {
	t.Parallel()
	require.Equal(t, allActions, strings.Join(kolla.Actions, ", "))
	require.Contains(t, kolla.Actions, kolla.DefaultAction)
	for _, a := range kolla.Actions {
		_, err := kolla.Run("nova", a, nil)
		require.NoError(t, err, a)
		got, err := kolla.ActionFor(kolla.Environment, "nova", a, nil)
		require.NoError(t, err, a)
		require.Equal(t, a, got)
	}
}

func TestActionFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		env, role  string
		action     string
		inSequence bool
		want       string
		wantErr    string
		wantIs     error
	}{
		{name: "no action in kolla", env: "kolla", role: "nova"},
		{name: "no action outside kolla", env: "generic", role: "hello"},
		{name: "no action in a sequence", env: "ceph", role: "ceph-osds", inSequence: true},
		{name: "an action in kolla", env: "kolla", role: "nova", action: "reconfigure", want: "reconfigure"},
		{name: "an action in kolla, in a sequence", env: "kolla", role: "nova", action: "pull", inSequence: true, want: "pull"},
		{name: "an action outside kolla, alone", env: "generic", role: "hello", action: "deploy",
			wantErr: "apply hello --action deploy: actions apply to the kolla environment only, and hello runs in generic", wantIs: kolla.ErrNotKolla},
		{name: "an action for a ceph role, alone", env: "ceph", role: "ceph-osds", action: "upgrade",
			wantErr: "apply ceph-osds --action upgrade: actions apply to the kolla environment only, and ceph-osds runs in ceph", wantIs: kolla.ErrNotKolla},
		{name: "an action outside kolla, in a sequence, is dropped", env: "ceph", role: "ceph-osds", action: "upgrade", inSequence: true},
		{name: "an unknown action in kolla", env: "kolla", role: "nova", action: "explode",
			wantErr: `apply --action "explode": expected one of ` + allActions, wantIs: kolla.ErrUnknownAction},
		{name: "an unknown action outside kolla fails as unknown first", env: "generic", role: "hello", action: "explode",
			wantErr: `apply --action "explode": expected one of ` + allActions, wantIs: kolla.ErrUnknownAction},
		{name: "an unknown action in a sequence fails too", env: "ceph", role: "ceph-osds", action: "explode", inSequence: true,
			wantErr: `apply --action "explode": expected one of ` + allActions, wantIs: kolla.ErrUnknownAction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kolla.ActionFor(tc.env, tc.role, tc.action, &kolla.ActionOpts{InSequence: tc.inSequence})
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.ErrorIs(t, err, tc.wantIs)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := kolla.ActionFor("generic", "hello", "deploy", nil)
	require.False(t, errors.Is(err, kolla.ErrUnknownAction), "an action outside kolla is not an unknown action")
	require.ErrorIs(t, err, kolla.ErrNotKolla, "nil options: the role is applied alone")
}
