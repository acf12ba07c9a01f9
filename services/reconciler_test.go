package services_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/ansible"
	"github.com/osism/go-osism/internal/testenv"
	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/netbox/netboxtest"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// reconcilerFixture: node-1 and node-2 are active and tagged
// managed-by-osism; node-3 is planned and leaf-1 untagged, so neither is
// in the inventory.
const reconcilerFixture = `
tags:
  - {name: Managed by OSISM, slug: managed-by-osism}
  - {name: Rack A, slug: rack-a}
custom_fields:
  - {name: inventory_hostname, type: text}
  - {name: inventory_groups, type: text}
sites:
  - {name: dc1}
manufacturers:
  - {name: acme}
device_types:
  - {manufacturer: acme, model: server}
roles:
  - {name: compute}
  - {name: control}
devices:
  - name: node-1
    role: compute
    device_type: server
    site: dc1
    status: active
    tags: [managed-by-osism, rack-a]
    custom_fields: {inventory_groups: "generic, ceph_osd"}
    config_context: {ansible_user: dragon, network_mtu: 9000, unlisted: x, ansible_become_password: s3cret-pw}
    interfaces:
      - {name: eth0, type: 1000base-t}
  - name: node-2
    role: control
    device_type: server
    site: dc1
    status: active
    tags: [managed-by-osism]
    custom_fields: {inventory_hostname: ctl-2}
    config_context: {ansible_port: 2222, ansible_user: netbox-user}
  - name: node-3
    role: compute
    device_type: server
    site: dc1
    status: planned
    tags: [managed-by-osism]
  - name: leaf-1
    role: compute
    device_type: server
    site: dc1
    status: active
ip_addresses:
  - {address: 10.0.0.11/24, device: node-1, interface: eth0, primary: true}
`

const staticINI = `# static groups of the configuration repository
[manager]
ctl-2 ansible_user=static-user

[control:children]
manager

[control:vars]
docker_registry="registry.example"

[monitoring]
mon-[01:02] ansible_port=22
`

const staticYAML = `all:
  vars:
    site_name: dc1
  children:
    ceph_osd:
      vars:
        osd_count: 4
    extra:
      hosts:
        node-1:
          extra_var: true
`

type reconcilerEnv struct {
	srv    *netboxtest.Server
	nb     *netbox.Client
	cfg    services.Config
	out    string
	logs   *syncBuffer
	static string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newReconcilerEnv(t *testing.T) *reconcilerEnv {
	t.Helper()
	fx, err := netboxtest.LoadFixture([]byte(reconcilerFixture))
	require.NoError(t, err)
	srv := netboxtest.New(t, netboxtest.WithFixture(fx))
	nb, err := netbox.New(netbox.Config{URL: srv.URL(), Token: srv.Token()})
	require.NoError(t, err)
	conf := t.TempDir()
	static := filepath.Join(conf, "inventory")
	require.NoError(t, os.MkdirAll(filepath.Join(static, "group_vars"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(static, "10-groups"), []byte(staticINI), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(static, "20-extra.yml"), []byte(staticYAML), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(static, "group_vars", "all.yml"), []byte("not: [an inventory\n"), 0o644))
	cfg := services.DefaultConfig()
	cfg.NetBox.URL, cfg.NetBox.Token = srv.URL(), srv.Token()
	cfg.Ansible.ConfigurationDir = conf
	cfg.Reconciler.OutputDir = filepath.Join(t.TempDir(), "inventory")
	cfg.Reconciler.GroupCustomField = "inventory_groups"
	cfg.Reconciler.HostVars = []string{"network_mtu"}
	return &reconcilerEnv{srv: srv, nb: nb, cfg: cfg, out: cfg.Reconciler.OutputDir, logs: &syncBuffer{}, static: static}
}

func (e *reconcilerEnv) reconciler(t *testing.T) *services.Reconciler {
	t.Helper()
	r, err := services.NewReconciler(e.cfg, e.nb, &services.ReconcilerOpts{Logger: slog.New(slog.NewTextHandler(e.logs, nil))})
	require.NoError(t, err)
	return r
}

// ansibleInventory is what ansible-inventory --list prints.
type ansibleInventory struct {
	Meta struct {
		HostVars map[string]map[string]any `json:"hostvars"`
	} `json:"_meta"`
	Groups map[string]struct {
		Hosts    []string `json:"hosts"`
		Children []string `json:"children"`
	}
}

// readInventory reads dir/hosts.yml back with the real ansible-inventory.
func readInventory(t *testing.T, dir string) ansibleInventory {
	t.Helper()
	bin := filepath.Join(filepath.Dir(testenv.AnsiblePlaybook(t)), "ansible-inventory")
	if _, err := os.Stat(bin); err != nil {
		if testenv.RequireIntegration() {
			t.Fatalf("ansible-inventory next to ansible-playbook: %v", err)
		}
		t.Skipf("ansible-inventory next to ansible-playbook: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-i", filepath.Join(dir, "hosts.yml"), "--list")
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "ANSIBLE_HOME="+home, "HOME="+home, "ANSIBLE_INVENTORY_UNPARSED_FAILED=true",
		"ANSIBLE_INVENTORY_ENABLED=yaml", "ANSIBLE_LOCAL_TEMP="+home)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ansible-inventory: %s", stderr.String())
	require.NotContains(t, stderr.String(), "WARNING", "ansible-inventory warned")
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &raw))
	var inv ansibleInventory
	inv.Groups = map[string]struct {
		Hosts    []string `json:"hosts"`
		Children []string `json:"children"`
	}{}
	for k, v := range raw {
		if k == "_meta" {
			require.NoError(t, json.Unmarshal(v, &inv.Meta))
			continue
		}
		g := inv.Groups[k]
		require.NoError(t, json.Unmarshal(v, &g))
		sort.Strings(g.Hosts)
		sort.Strings(g.Children)
		inv.Groups[k] = g
	}
	return inv
}

// snapshot is every file under dir with its bytes and modification time.
type fileState struct {
	data  string
	mtime time.Time
}

func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fileState{data: string(b), mtime: fi.ModTime()}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	require.NoError(t, err)
	return out
}

func TestReconcilerInventoryReadByAnsible(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	rep, err := e.reconciler(t).Reconcile(ctxT(t, time.Minute), false, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"ctl-2", "mon-01", "mon-02", "node-1"}, rep.Added)
	require.Equal(t, 1, rep.Conflicts, "ctl-2's ansible_user")
	require.Contains(t, e.logs.String(), "variable=ansible_user")
	require.NotContains(t, e.logs.String(), "s3cret-pw")

	inv := readInventory(t, e.out)
	for _, tc := range []struct {
		group    string
		hosts    []string
		children []string
	}{
		{group: "netbox_role_compute", hosts: []string{"node-1"}},
		{group: "netbox_role_control", hosts: []string{"ctl-2"}},
		{group: "netbox_site_dc1", hosts: []string{"ctl-2", "node-1"}},
		{group: "netbox_tag_managed_by_osism", hosts: []string{"ctl-2", "node-1"}},
		{group: "netbox_tag_rack_a", hosts: []string{"node-1"}},
		{group: "generic", hosts: []string{"node-1"}},
		{group: "ceph_osd", hosts: []string{"node-1"}},
		{group: "manager", hosts: []string{"ctl-2"}},
		{group: "control", children: []string{"manager"}},
		{group: "monitoring", hosts: []string{"mon-01", "mon-02"}},
		{group: "extra", hosts: []string{"node-1"}},
	} {
		t.Run(tc.group, func(t *testing.T) {
			g, ok := inv.Groups[tc.group]
			require.True(t, ok, "group %s missing: %v", tc.group, inv.Groups)
			require.Equal(t, tc.hosts, g.Hosts)
			require.Equal(t, tc.children, g.Children)
		})
	}
	_, ok := inv.Meta.HostVars["node-3"]
	require.False(t, ok, "node-3 is planned")
	_, ok = inv.Meta.HostVars["leaf-1"]
	require.False(t, ok, "leaf-1 is not tagged")

	for _, tc := range []struct {
		name, host, key string
		want            any
	}{
		{"primary ip", "node-1", "ansible_host", "10.0.0.11"},
		{"ansible_ from config context", "node-1", "ansible_user", "dragon"},
		{"listed key", "node-1", "network_mtu", float64(9000)},
		{"static yaml host var", "node-1", "extra_var", true},
		{"static group var", "node-1", "osd_count", float64(4)},
		{"all vars", "node-1", "site_name", "dc1"},
		{"static wins a conflict", "ctl-2", "ansible_user", "static-user"},
		{"netbox var", "ctl-2", "ansible_port", float64(2222)},
		{"group var through children", "ctl-2", "docker_registry", "registry.example"},
		{"ini host var", "mon-02", "ansible_port", float64(22)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, inv.Meta.HostVars[tc.host][tc.key], "%s of %s: %v", tc.key, tc.host, inv.Meta.HostVars[tc.host])
		})
	}
	_, ok = inv.Meta.HostVars["node-1"]["unlisted"]
	require.False(t, ok, "a config-context key that is neither ansible_* nor listed stays out")
	b, err := os.ReadFile(filepath.Join(e.out, "host_vars", "node-1.yml"))
	require.NoError(t, err)
	require.Contains(t, string(b), "ansible_user: dragon")
}

func TestReconcilerPrecedenceNetBox(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	e.cfg.Reconciler.Precedence = services.PrecedenceNetBox
	r := e.reconciler(t)
	for range 2 {
		_, err := r.Reconcile(ctxT(t, time.Minute), false, nil)
		require.NoError(t, err)
	}
	require.Equal(t, 1, strings.Count(e.logs.String(), "variable=ansible_user"), "a conflict is logged once: %s", e.logs.String())
	b, err := os.ReadFile(filepath.Join(e.out, "host_vars", "ctl-2.yml"))
	require.NoError(t, err)
	require.Contains(t, string(b), "ansible_user: netbox-user")
}

func TestReconcilerNetBoxChangeShowsInNextRun(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	r := e.reconciler(t)
	ctx := ctxT(t, time.Minute)
	_, err := r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	before := snapshot(t, e.out)

	// Nothing changed: nothing is rewritten.
	rep, err := r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Written)
	require.Empty(t, rep.Added)
	require.Equal(t, before, snapshot(t, e.out), "unchanged files keep their bytes and mtime")

	// node-1's config context changes, node-2 loses its tag, node-3 is
	// activated.
	n1, n2, n3 := e.srv.ID("dcim.device", "node-1"), e.srv.ID("dcim.device", "node-2"), e.srv.ID("dcim.device", "node-3")
	require.NoError(t, e.srv.Update("dcim.device", n1, map[string]any{"local_context_data": map[string]any{"ansible_user": "ops"}}))
	require.NoError(t, e.srv.Update("dcim.device", n2, map[string]any{"tags": []any{}}))
	require.NoError(t, e.srv.Update("dcim.device", n3, map[string]any{"status": "active"}))
	rep, err = r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"node-3"}, rep.Added)
	// ctl-2 leaves the tag's group and its NetBox variables.
	require.Equal(t, []string{"ctl-2", "node-1"}, rep.Changed)
	// ctl-2 stays: the static inventory still names it (in manager).
	require.Empty(t, rep.Removed)
	require.Contains(t, e.logs.String(), "host added\" host=node-3")
	require.Contains(t, e.logs.String(), "host changed\" host=node-1")

	inv := readInventory(t, e.out)
	require.Equal(t, "ops", inv.Meta.HostVars["node-1"]["ansible_user"])
	require.Equal(t, []string{"node-1", "node-3"}, inv.Groups["netbox_role_compute"].Hosts)
	require.Equal(t, []string{"node-1", "node-3"}, inv.Groups["netbox_tag_managed_by_osism"].Hosts)
	// ctl-2's variables now come from the static inventory alone.
	require.Nil(t, inv.Meta.HostVars["ctl-2"]["ansible_port"])
	after := snapshot(t, e.out)
	require.Equal(t, before["host_vars/mon-01.yml"], after["host_vars/mon-01.yml"], "an unchanged host's file is not rewritten")

	// A host gone from both sources loses its host_vars file.
	require.NoError(t, os.WriteFile(filepath.Join(e.static, "10-groups"), []byte("[manager]\n"), 0o644))
	rep, err = r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"ctl-2", "mon-01", "mon-02"}, rep.Removed)
	require.Contains(t, rep.Deleted, "host_vars/ctl-2.yml")
	require.NoFileExists(t, filepath.Join(e.out, "host_vars", "ctl-2.yml"))
	require.Contains(t, e.logs.String(), "host removed\" host=ctl-2")
}

func TestReconcilerRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, e *reconcilerEnv)
		want   []string
	}{
		{
			name: "host name from the custom field",
			change: func(t *testing.T, e *reconcilerEnv) {
				require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-1"), "inventory_hostname", "node 1"))
			},
			want: []string{`device "node-1"`, `host name "node 1"`},
		},
		{
			name: "variable name from the config context",
			change: func(t *testing.T, e *reconcilerEnv) {
				require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-1"),
					map[string]any{"local_context_data": map[string]any{"ansible_bad-name": 1}}))
			},
			want: []string{`device "node-1"`, `variable name "ansible_bad-name"`},
		},
		{
			name: "group name from the custom field",
			change: func(t *testing.T, e *reconcilerEnv) {
				require.NoError(t, e.srv.SetCustomField("dcim.device", e.srv.ID("dcim.device", "node-1"), "inventory_groups", "ok, 9bad"))
			},
			want: []string{`device "node-1"`, `group name "9bad"`},
		},
		{
			name: "variable name in the static inventory",
			change: func(t *testing.T, e *reconcilerEnv) {
				require.NoError(t, os.WriteFile(filepath.Join(e.static, "30-bad"), []byte("[manager]\nctl-2 class=1\n"), 0o644))
			},
			want: []string{"30-bad:2", `variable name "class"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newReconcilerEnv(t)
			r := e.reconciler(t)
			_, err := r.Reconcile(ctxT(t, time.Minute), false, nil)
			require.NoError(t, err)
			before := snapshot(t, e.out)
			tc.change(t, e)
			_, err = r.Reconcile(ctxT(t, time.Minute), false, nil)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, before, snapshot(t, e.out), "the previous inventory stays in place")
		})
	}
}

func TestReconcilerCrashMidWriteLeavesOldFilesWhole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		failAt string // the file whose rename fails
	}{
		{name: "before the first host_vars file", failAt: "ctl-2.yml"},
		{name: "between host_vars and hosts.yml", failAt: "hosts.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newReconcilerEnv(t)
			r := e.reconciler(t)
			ctx := ctxT(t, time.Minute)
			_, err := r.Reconcile(ctx, false, nil)
			require.NoError(t, err)
			oldInv := readInventory(t, e.out)
			before := snapshot(t, e.out)

			// Both node-1 and ctl-2 change, and node-3 arrives.
			require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-1"), map[string]any{"local_context_data": map[string]any{"ansible_user": "ops"}}))
			require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-2"), map[string]any{"local_context_data": map[string]any{"ansible_port": 2200}}))
			require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-3"), map[string]any{"status": "active"}))
			crash := errors.New("simulated crash")
			services.SetReconcilerBeforeRename(r, func(p string) error {
				if filepath.Base(p) == tc.failAt {
					return crash
				}
				return nil
			})
			_, err = r.Reconcile(ctx, false, nil)
			require.ErrorIs(t, err, crash)

			// Every file is the old one or the new one, whole; no
			// temporary file is left; hosts.yml is the old one.
			after := snapshot(t, e.out)
			require.Equal(t, before["hosts.yml"], after["hosts.yml"])
			for p := range after {
				require.False(t, strings.HasPrefix(filepath.Base(p), "."), "temporary file %s left", p)
			}
			require.Equal(t, oldInv.Groups, readInventory(t, e.out).Groups)

			// The next run completes the change.
			services.SetReconcilerBeforeRename(r, nil)
			rep, err := r.Reconcile(ctx, false, nil)
			require.NoError(t, err)
			require.Contains(t, rep.Written, "hosts.yml")
			inv := readInventory(t, e.out)
			require.Equal(t, "ops", inv.Meta.HostVars["node-1"]["ansible_user"])
			require.Equal(t, float64(2200), inv.Meta.HostVars["ctl-2"]["ansible_port"])
			require.Contains(t, inv.Groups["netbox_role_compute"].Hosts, "node-3")
		})
	}
}

func TestReconcilerDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	r := e.reconciler(t)
	ctx := ctxT(t, time.Minute)

	// Into an empty directory: every file is new.
	var diff bytes.Buffer
	rep, err := r.Reconcile(ctx, true, &diff)
	require.NoError(t, err)
	require.True(t, rep.DryRun)
	require.Contains(t, rep.Written, "hosts.yml")
	require.NoDirExists(t, e.out)
	require.Contains(t, diff.String(), "--- /dev/null\n+++ b/hosts.yml\n")
	require.Contains(t, diff.String(), "ansible_become_password: '"+ansible.Masked+"'")
	require.NotContains(t, diff.String(), "s3cret-pw", "secret values are masked in the diff")

	_, err = r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	before := snapshot(t, e.out)
	require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-1"),
		map[string]any{"local_context_data": map[string]any{"ansible_user": "ops", "ansible_become_password": "other-pw"}}))
	diff.Reset()
	rep, err = r.Reconcile(ctx, true, &diff)
	require.NoError(t, err)
	require.Equal(t, []string{"node-1"}, rep.Changed)
	require.Equal(t, before, snapshot(t, e.out), "a dry run writes nothing")
	require.Contains(t, diff.String(), "--- a/host_vars/node-1.yml\n+++ b/host_vars/node-1.yml\n")
	require.Contains(t, diff.String(), "-ansible_user: dragon\n+ansible_user: ops\n")
	require.NotContains(t, diff.String(), "other-pw")
	require.NotContains(t, diff.String(), "s3cret-pw")
}

func TestReconcilerWorker(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	bus := osismtest.New(t, nil)
	bus.NewRunner(t, osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueReconciler: 1},
		Handlers: mustHandlers(t, e.cfg), Logger: slog.New(slog.DiscardHandler)})
	ctx := ctxT(t, time.Minute)
	res, err := bus.Client.Submit(ctx, osism.ReconcilerRunArgs{Reason: "test"}, &osism.SubmitOpts{DedupKey: osism.ReconcilerDedupKey})
	require.NoError(t, err)
	var out strings.Builder
	code, err := bus.Client.Follow(ctx, res.ID, &out, nil)
	require.NoError(t, err)
	require.Equal(t, 0, code, out.String())
	require.Contains(t, out.String(), "reconciler run (test)\n")
	require.Contains(t, out.String(), "added node-1\n")
	task, err := bus.Client.Get(ctx, res.ID)
	require.NoError(t, err)
	var rep services.ReconcileReport
	require.NoError(t, json.Unmarshal(task.Result, &rep))
	require.Equal(t, 4, rep.Hosts)
	require.Equal(t, 5, rep.WrittenFiles, "hosts.yml and four host_vars files")
	require.FileExists(t, filepath.Join(e.out, "hosts.yml"))
}

func TestReconcilerConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    services.ReconcilerConfig
		wantErr string
	}{
		{
			name: "filters, output and group field",
			env: map[string]string{services.EnvReconcilerFilters: "[{site: dc1, status: active}]",
				services.EnvReconcilerOutputDir: "/srv/inv", services.EnvReconcilerGroupCustomField: "inventory_groups"},
			want: services.ReconcilerConfig{Filters: []map[string]any{{"site": "dc1", "status": "active"}},
				OutputDir: "/srv/inv", GroupCustomField: "inventory_groups"},
		},
		{name: "not a list", env: map[string]string{services.EnvReconcilerFilters: "site: dc1"}, wantErr: services.EnvReconcilerFilters + ": expected a list"},
		{name: "bad filter", env: map[string]string{services.EnvReconcilerFilters: "[{id: x}]"}, wantErr: services.EnvReconcilerFilters + `[0]: filter id "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c services.ReconcilerConfig
			err := c.ApplyEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c)
		})
	}
	for _, tc := range []struct {
		name string
		cfg  services.ReconcilerConfig
		want string
	}{
		{"precedence", services.ReconcilerConfig{Precedence: "ansible"}, `reconciler.precedence "ansible"`},
		{"host var", services.ReconcilerConfig{HostVars: []string{"a-b"}}, `reconciler.host_vars "a-b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.cfg.Validate(), tc.want)
		})
	}
}

func TestReconcilerStaticInventoryErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{name: "bad section", file: "10-bad", text: "[manager:hosts]\nctl-2\n", want: []string{"10-bad:1", `section "[manager:hosts]"`}},
		{name: "unclosed section", file: "10-bad", text: "[manager\n", want: []string{"10-bad:1", "expected [group]"}},
		{name: "unterminated quote", file: "10-bad", text: "[manager]\nctl-2 a='x\n", want: []string{"10-bad:2", "unterminated quote"}},
		{name: "vars without =", file: "10-bad", text: "[manager:vars]\njust-a-word\n", want: []string{"10-bad:2", "expected key=value"}},
		{name: "host var without =", file: "10-bad", text: "[manager]\nctl-2 novalue\n", want: []string{"10-bad:2", `expected key=value variables, got "novalue"`}},
		{name: "bad range", file: "10-bad", text: "[manager]\nn[5:1]\n", want: []string{"10-bad:2", `host range "n[5:1]"`}},
		{name: "yaml unknown key", file: "10-bad.yml", text: "all:\n  children:\n    g:\n      host: {a: null}\n", want: []string{"10-bad.yml:4", `unknown key "host"`}},
		{name: "yaml hosts not a mapping", file: "10-bad.yml", text: "all:\n  hosts: [a, b]\n", want: []string{"10-bad.yml:2", "expected a mapping of host names"}},
		{name: "not yaml", file: "10-bad.yaml", text: "all: [\n", want: []string{"10-bad.yaml", "not YAML"}},
		{name: "bad host name", file: "10-bad", text: "[manager]\nbad/host\n", want: []string{"10-bad:2", `host name "bad/host"`}},
		{name: "bad group var", file: "10-bad", text: "[manager:vars]\n2fast=1\n", want: []string{"10-bad:1", `variable name "2fast"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newReconcilerEnv(t)
			r := e.reconciler(t)
			_, err := r.Reconcile(ctxT(t, time.Minute), false, nil)
			require.NoError(t, err)
			before := snapshot(t, e.out)
			require.NoError(t, os.WriteFile(filepath.Join(e.static, tc.file), []byte(tc.text), 0o644))
			_, err = r.Reconcile(ctxT(t, time.Minute), false, nil)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, before, snapshot(t, e.out), "the previous inventory stays in place")
		})
	}
}
