package services_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/netbox"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
)

// The child of TestReconcilerKilledMidWrite: it runs the reconciler of
// the environment and, at the rename of hosts.yml (every host_vars file
// already in place, hosts.yml's new text in its temporary file), writes
// the ready file and waits to be killed.
const (
	envReconcilerChild = "OSISM_TEST_RECONCILER_CHILD" // ready file
	envReconcilerNB    = "OSISM_TEST_RECONCILER_NETBOX"
	envReconcilerConf  = "OSISM_TEST_RECONCILER_CONF"
	envReconcilerOut   = "OSISM_TEST_RECONCILER_OUT"
)

func TestReconcilerCrashChild(t *testing.T) {
	ready := os.Getenv(envReconcilerChild)
	if ready == "" {
		t.Skip("the child of TestReconcilerKilledMidWrite")
	}
	url, token, _ := strings.Cut(os.Getenv(envReconcilerNB), " ")
	nb, err := netbox.New(netbox.Config{URL: url, Token: token})
	require.NoError(t, err)
	cfg := services.DefaultConfig()
	cfg.Ansible.ConfigurationDir = os.Getenv(envReconcilerConf)
	cfg.Reconciler.OutputDir = os.Getenv(envReconcilerOut)
	cfg.Reconciler.GroupCustomField = "inventory_groups"
	cfg.Reconciler.HostVars = []string{"network_mtu"}
	r, err := services.NewReconciler(cfg, nb, nil)
	require.NoError(t, err)
	services.SetReconcilerBeforeRename(r, func(p string) error {
		if filepath.Base(p) == services.ReconcilerHostsFile {
			if err := os.WriteFile(ready, []byte("ready"), 0o644); err != nil {
				return err
			}
			select {} // until killed
		}
		return nil
	})
	_, err = r.Reconcile(context.Background(), false, nil)
	t.Fatalf("the reconciler was not stopped at hosts.yml: %v", err)
}

// A reconciler killed (SIGKILL) in the middle of writing leaves every
// file whole, old or new, and hosts.yml the old one; the next run removes
// the temporary files it left and completes the change.
func TestReconcilerKilledMidWrite(t *testing.T) {
	t.Parallel()
	e := newReconcilerEnv(t)
	r := e.reconciler(t)
	ctx := ctxT(t, time.Minute)
	_, err := r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	old := readInventory(t, e.out)
	before := snapshot(t, e.out)
	require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-3"), map[string]any{"status": "active"}))
	require.NoError(t, e.srv.Update("dcim.device", e.srv.ID("dcim.device", "node-1"), map[string]any{"local_context_data": map[string]any{"ansible_user": "ops"}}))

	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestReconcilerCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envReconcilerChild+"="+ready, envReconcilerNB+"="+e.srv.URL()+" "+e.srv.Token(),
		envReconcilerConf+"="+filepath.Dir(e.static), envReconcilerOut+"="+e.out)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	osismtest.WaitFor(t, time.Minute, func() bool {
		_, err := os.Stat(ready)
		return err == nil
	}, "the child reaches the rename of hosts.yml")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-exited

	after := snapshot(t, e.out)
	require.Equal(t, before["hosts.yml"], after["hosts.yml"], "hosts.yml is the old one")
	var temps []string
	for p, f := range after {
		if strings.HasPrefix(filepath.Base(p), ".") {
			temps = append(temps, p)
			continue
		}
		if b, ok := before[p]; ok && b.data == f.data {
			continue
		}
		require.True(t, strings.HasSuffix(f.data, "\n") && strings.HasPrefix(f.data, "# Written by the osism reconciler"), "%s is whole", p)
	}
	require.NotEmpty(t, tempHostsFile(after), "the killed run left its temporary hosts.yml: %v", temps)
	require.Equal(t, old.Groups, readInventory(t, e.out).Groups, "Ansible reads the old inventory")

	rep, err := r.Reconcile(ctx, false, nil)
	require.NoError(t, err)
	require.Contains(t, rep.Written, "hosts.yml")
	for p := range snapshot(t, e.out) {
		require.False(t, strings.HasPrefix(filepath.Base(p), "."), "temporary file %s left after the next run", p)
	}
	inv := readInventory(t, e.out)
	require.Contains(t, inv.Groups["netbox_role_compute"].Hosts, "node-3")
	require.Equal(t, "ops", inv.Meta.HostVars["node-1"]["ansible_user"])
}

// tempHostsFile returns the name of a temporary hosts.yml in files.
func tempHostsFile(files map[string]fileState) string {
	for p := range files {
		if strings.HasPrefix(p, ".hosts.yml.tmp-") {
			return p
		}
	}
	return ""
}
