package services_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/kolla"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/services"
)

// kollaActions is kolla.Actions as the error of an unknown action lists
// them, spelled out so that a change of the list or its order shows here.
const kollaActions = "bootstrap, bootstrap-servers, check, config, deploy, deploy-containers, destroy, precheck, " +
	"prune-images, pull, reconfigure, refresh-containers, stop, upgrade, upgrade-bifrost, validate-config"

func TestPlanApply(t *testing.T) {
	t.Parallel()
	roles, err := ansible.LoadRoleMap("")
	require.NoError(t, err)
	extra := []string{"-e", "x=y", "--limit", "ctl-1"}

	cases := []struct {
		name string
		req  services.ApplyRequest
		want []services.ApplyStep
	}{
		{
			name: "kolla role: kolla.run on kolla-ansible, the action kept",
			req:  services.ApplyRequest{Spec: "nova", Action: "reconfigure", Sub: "region-1", Args: extra},
			want: []services.ApplyStep{{Role: "nova", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
				Args: osism.KollaRunArgs{Role: "nova", Action: "reconfigure", Sub: "region-1", Args: extra}}},
		},
		{
			name: "kolla role without an action: empty, the default is kolla's",
			req:  services.ApplyRequest{Spec: "common"},
			want: []services.ApplyStep{{Role: "common", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
				Args: osism.KollaRunArgs{Role: "common"}}},
		},
		{
			name: "ceph role: ceph.run on ceph-ansible",
			req:  services.ApplyRequest{Spec: "ceph-osds", Sub: "ceph-b", Args: extra},
			want: []services.ApplyStep{{Role: "ceph-osds", Environment: "ceph", Kind: "ceph.run", Queue: "ceph-ansible",
				Args: osism.CephRunArgs{Role: "ceph-osds", Sub: "ceph-b", Args: extra}}},
		},
		{
			name: "generic role: ansible.run on osism-ansible",
			req:  services.ApplyRequest{Spec: "facts", Args: extra},
			want: []services.ApplyStep{{Role: "facts", Environment: "generic", Kind: "ansible.run", Queue: "osism-ansible",
				Args: osism.AnsibleRunArgs{Environment: "generic", Role: "facts", Args: extra}}},
		},
		{
			name: "unknown role: the custom environment, ansible.run",
			req:  services.ApplyRequest{Spec: "hello-world"},
			want: []services.ApplyStep{{Role: "hello-world", Environment: "custom", Kind: "ansible.run", Queue: "osism-ansible",
				Args: osism.AnsibleRunArgs{Environment: "custom", Role: "hello-world"}}},
		},
		{
			name: "--environment overrides the role map: a kolla role in generic",
			req:  services.ApplyRequest{Spec: "nova", Environment: "generic"},
			want: []services.ApplyStep{{Role: "nova", Environment: "generic", Kind: "ansible.run", Queue: "osism-ansible",
				Args: osism.AnsibleRunArgs{Environment: "generic", Role: "nova"}}},
		},
		{
			name: "--environment kolla makes an unknown role a kolla role, with the action",
			req:  services.ApplyRequest{Spec: "my-service", Environment: "kolla", Action: "upgrade"},
			want: []services.ApplyStep{{Role: "my-service", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
				Args: osism.KollaRunArgs{Role: "my-service", Action: "upgrade"}}},
		},
		{
			name: "sequence: in order, the action dropped for non-kolla roles and kept for kolla ones",
			req:  services.ApplyRequest{Spec: "facts//nova//ceph-osds//hello-world//neutron", Action: "upgrade", Args: extra},
			want: []services.ApplyStep{
				{Role: "facts", Environment: "generic", Kind: "ansible.run", Queue: "osism-ansible",
					Args: osism.AnsibleRunArgs{Environment: "generic", Role: "facts", Args: extra}},
				{Role: "nova", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
					Args: osism.KollaRunArgs{Role: "nova", Action: "upgrade", Args: extra}},
				{Role: "ceph-osds", Environment: "ceph", Kind: "ceph.run", Queue: "ceph-ansible",
					Args: osism.CephRunArgs{Role: "ceph-osds", Args: extra}},
				{Role: "hello-world", Environment: "custom", Kind: "ansible.run", Queue: "osism-ansible",
					Args: osism.AnsibleRunArgs{Environment: "custom", Role: "hello-world", Args: extra}},
				{Role: "neutron", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
					Args: osism.KollaRunArgs{Role: "neutron", Action: "upgrade", Args: extra}},
			},
		},
		{
			name: "sequence of non-kolla roles with an action: dropped for all",
			req:  services.ApplyRequest{Spec: "facts//chrony", Action: "deploy"},
			want: []services.ApplyStep{
				{Role: "facts", Environment: "generic", Kind: "ansible.run", Queue: "osism-ansible",
					Args: osism.AnsibleRunArgs{Environment: "generic", Role: "facts"}},
				{Role: "chrony", Environment: "generic", Kind: "ansible.run", Queue: "osism-ansible",
					Args: osism.AnsibleRunArgs{Environment: "generic", Role: "chrony"}},
			},
		},
		{
			name: "sequence with --environment: every role in it",
			req:  services.ApplyRequest{Spec: "nova//facts", Environment: "kolla", Action: "stop"},
			want: []services.ApplyStep{
				{Role: "nova", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
					Args: osism.KollaRunArgs{Role: "nova", Action: "stop"}},
				{Role: "facts", Environment: "kolla", Kind: "kolla.run", Queue: "kolla-ansible",
					Args: osism.KollaRunArgs{Role: "facts", Action: "stop"}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := services.PlanApply(roles, tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			for _, st := range got {
				require.Equal(t, st.Kind, st.Args.Kind(), "the step's kind is its task's")
				require.Equal(t, st.Queue, string(st.Args.Queue()), "the step's queue is its task's")
			}
		})
	}
}

func TestPlanApplyErrors(t *testing.T) {
	t.Parallel()
	roles, err := ansible.LoadRoleMap("")
	require.NoError(t, err)

	cases := []struct {
		name   string
		req    services.ApplyRequest
		want   string
		target error // a sentinel the error must match, if any
	}{
		{name: "empty spec", req: services.ApplyRequest{Spec: ""},
			want: `apply "": expected ROLE or ROLE//ROLE..., with no empty role`},
		{name: "empty role in the middle of a sequence", req: services.ApplyRequest{Spec: "facts////nova"},
			want: `apply "facts////nova": expected ROLE or ROLE//ROLE..., with no empty role`},
		{name: "empty role at the end", req: services.ApplyRequest{Spec: "facts//"},
			want: `apply "facts//": expected ROLE or ROLE//ROLE..., with no empty role`},
		{name: "empty role at the start", req: services.ApplyRequest{Spec: "//nova", Action: "deploy"},
			want: `apply "//nova": expected ROLE or ROLE//ROLE..., with no empty role`},
		{name: "unknown action for a kolla role", req: services.ApplyRequest{Spec: "nova", Action: "explode"},
			want: `apply --action "explode": expected one of ` + kollaActions, target: kolla.ErrUnknownAction},
		{name: "unknown action in a sequence without kolla roles", req: services.ApplyRequest{Spec: "facts//chrony", Action: "explode"},
			want: `apply --action "explode": expected one of ` + kollaActions, target: kolla.ErrUnknownAction},
		{name: "action for a generic role applied alone", req: services.ApplyRequest{Spec: "facts", Action: "deploy"},
			want: "apply facts --action deploy: actions apply to the kolla environment only, and facts runs in generic", target: kolla.ErrNotKolla},
		{name: "action for a ceph role applied alone", req: services.ApplyRequest{Spec: "ceph-osds", Action: "upgrade"},
			want: "apply ceph-osds --action upgrade: actions apply to the kolla environment only, and ceph-osds runs in ceph", target: kolla.ErrNotKolla},
		{name: "action for an unknown role applied alone", req: services.ApplyRequest{Spec: "hello-world", Action: "deploy"},
			want: "apply hello-world --action deploy: actions apply to the kolla environment only, and hello-world runs in custom", target: kolla.ErrNotKolla},
		{name: "action for a kolla role moved out of kolla by --environment", req: services.ApplyRequest{Spec: "nova", Environment: "generic", Action: "deploy"},
			want: "apply nova --action deploy: actions apply to the kolla environment only, and nova runs in generic", target: kolla.ErrNotKolla},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			steps, err := services.PlanApply(roles, tc.req)
			require.EqualError(t, err, tc.want)
			require.Nil(t, steps, "no steps with an error")
			if tc.target != nil {
				require.ErrorIs(t, err, tc.target)
			}
			// The two sentinels of the policy never match each other's
			// errors, nor the sequence's.
			for _, s := range []error{kolla.ErrUnknownAction, kolla.ErrNotKolla} {
				if s != tc.target {
					require.NotErrorIs(t, err, s)
				}
			}
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")

	type call struct{ attempt, code int }
	cases := []struct {
		name    string
		retries int
		// codes are the exit statuses of the runs, in order; the last one
		// repeats.
		codes []int
		// runErr is returned by the run whose index is errAt (-1: none).
		runErr error
		errAt  int
		// cancelAt cancels ctx during the run of that index (-1: never,
		// -2: before the first run).
		cancelAt  int
		wantCode  int
		wantErr   error
		wantRuns  int
		wantCalls []call
	}{
		{name: "success: runs once", retries: 3, codes: []int{0}, errAt: -1, cancelAt: -1,
			wantCode: 0, wantRuns: 1},
		{name: "always failing: retried up to N, told attempts 1..N", retries: 3, codes: []int{2}, errAt: -1, cancelAt: -1,
			wantCode: 2, wantRuns: 4, wantCalls: []call{{1, 2}, {2, 2}, {3, 2}}},
		{name: "succeeds on the third run", retries: 5, codes: []int{4, 1, 0}, errAt: -1, cancelAt: -1,
			wantCode: 0, wantRuns: 3, wantCalls: []call{{1, 4}, {2, 1}}},
		{name: "no retries: one run", retries: 0, codes: []int{1}, errAt: -1, cancelAt: -1,
			wantCode: 1, wantRuns: 1},
		{name: "negative retries: one run", retries: -1, codes: []int{1}, errAt: -1, cancelAt: -1,
			wantCode: 1, wantRuns: 1},
		{name: "cancelled run: no retry", retries: 3, codes: []int{osism.ExitCancelled}, errAt: -1, cancelAt: -1,
			wantCode: osism.ExitCancelled, wantRuns: 1},
		{name: "cancelled after a failure: stops there", retries: 3, codes: []int{1, osism.ExitCancelled, 0}, errAt: -1, cancelAt: -1,
			wantCode: osism.ExitCancelled, wantRuns: 2, wantCalls: []call{{1, 1}}},
		{name: "an error stops it", retries: 3, codes: []int{1}, runErr: errBoom, errAt: 0, cancelAt: -1,
			wantCode: 1, wantErr: errBoom, wantRuns: 1},
		{name: "an error after a retry stops it", retries: 3, codes: []int{1, 7}, runErr: errBoom, errAt: 1, cancelAt: -1,
			wantCode: 7, wantErr: errBoom, wantRuns: 2, wantCalls: []call{{1, 1}}},
		{name: "ctx cancelled during a failing run: no retry", retries: 3, codes: []int{1}, errAt: -1, cancelAt: 0,
			wantCode: 1, wantRuns: 1},
		{name: "ctx cancelled during the second run", retries: 3, codes: []int{1}, errAt: -1, cancelAt: 1,
			wantCode: 1, wantRuns: 2, wantCalls: []call{{1, 1}}},
		{name: "ctx cancelled before: the run happens once", retries: 3, codes: []int{1}, errAt: -1, cancelAt: -2,
			wantCode: 1, wantRuns: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelAt == -2 {
				cancel()
			}
			runs := 0
			run := func(rctx context.Context) (int, error) {
				require.Same(t, ctx, rctx, "the run gets Retry's context")
				i := runs
				runs++
				if i == tc.cancelAt {
					cancel()
				}
				code := tc.codes[min(i, len(tc.codes)-1)]
				if i == tc.errAt {
					return code, tc.runErr
				}
				return code, nil
			}
			var calls []call
			code, err := services.Retry(ctx, tc.retries, run, func(attempt, code int) {
				require.Equal(t, len(calls)+1, runs, "onRetry comes after run %d, before the next", runs)
				calls = append(calls, call{attempt, code})
			})
			require.Equal(t, tc.wantCode, code)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err, "the exit status tells, not an error")
			}
			require.Equal(t, tc.wantRuns, runs)
			require.Equal(t, tc.wantCalls, calls)
		})
	}

	t.Run("nil onRetry", func(t *testing.T) {
		t.Parallel()
		runs := 0
		code, err := services.Retry(context.Background(), 2, func(context.Context) (int, error) { runs++; return 3, nil }, nil)
		require.NoError(t, err)
		require.Equal(t, 3, code)
		require.Equal(t, 3, runs)
	})
}
