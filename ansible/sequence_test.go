package ansible_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
)

func TestParseSequence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec    string
		want    []string
		wantErr string
	}{
		{spec: "nova", want: []string{"nova"}},
		{spec: "ceph-osds//my-role", want: []string{"ceph-osds", "my-role"}},
		{spec: "hello//fail//hello", want: []string{"hello", "fail", "hello"}},
		{spec: "a/b", want: []string{"a/b"}}, // one slash is not a separator; the role name is checked when it runs
		{spec: "", wantErr: `apply "": expected ROLE or ROLE//ROLE..., with no empty role`},
		{spec: "nova////keystone", wantErr: `apply "nova////keystone": expected ROLE or ROLE//ROLE..., with no empty role`},
		{spec: "nova//", wantErr: `apply "nova//": expected ROLE or ROLE//ROLE..., with no empty role`},
		{spec: "//nova", wantErr: `apply "//nova": expected ROLE or ROLE//ROLE..., with no empty role`},
		{spec: "//", wantErr: `apply "//": expected ROLE or ROLE//ROLE..., with no empty role`},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ansible.ParseSequence(tc.spec)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.yml"), []byte("manager:\n  - my-role\n"), 0o644))
	site, err := ansible.LoadRoleMap(dir)
	require.NoError(t, err)

	cases := []struct {
		name  string
		m     *ansible.RoleMap
		roles []string
		env   string
		want  []ansible.Step
	}{
		{
			name:  "one role from the map",
			m:     ansible.DefaultRoleMap(),
			roles: []string{"nova"},
			want:  []ansible.Step{{Role: "nova", Environment: "kolla"}},
		},
		{
			name:  "a sequence across environments, in order",
			m:     ansible.DefaultRoleMap(),
			roles: []string{"ceph-osds", "nova", "my-role"},
			want: []ansible.Step{
				{Role: "ceph-osds", Environment: "ceph"},
				{Role: "nova", Environment: "kolla"},
				{Role: "my-role", Environment: ansible.EnvironmentCustom},
			},
		},
		{
			name:  "a role the map does not know runs in custom",
			m:     ansible.DefaultRoleMap(),
			roles: []string{"hello-world"},
			want:  []ansible.Step{{Role: "hello-world", Environment: "custom"}},
		},
		{
			name:  "a map with a site file",
			m:     site,
			roles: []string{"my-role", "nova"},
			want:  []ansible.Step{{Role: "my-role", Environment: "manager"}, {Role: "nova", Environment: "kolla"}},
		},
		{
			name:  "an environment overrides the map for every role",
			m:     ansible.DefaultRoleMap(),
			roles: []string{"hello", "nova"},
			env:   "generic",
			want:  []ansible.Step{{Role: "hello", Environment: "generic"}, {Role: "nova", Environment: "generic"}},
		},
		{
			name: "no roles, no steps",
			m:    ansible.DefaultRoleMap(),
			want: []ansible.Step{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.m.Resolve(tc.roles, tc.env))
		})
	}
}
