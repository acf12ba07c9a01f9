package switchcfg_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

// gitCmd runs the git binary in dir.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("git")
	require.NoError(t, err, "the git binary checks the repository")
	out, err := exec.Command(bin, append([]string{"-C", dir}, args...)...).CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func TestRepoTwoProcesses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	const n = 100
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i, sw := range []string{"leaf-1", "leaf-2"} {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"=commit", "OSISM_REPO_DIR="+dir,
				"OSISM_REPO_SWITCH="+sw, "OSISM_REPO_COMMITS="+strconv.Itoa(n))
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i], "child %d: %s", i, outs[i])
	}

	require.Equal(t, strconv.Itoa(2*n), gitCmd(t, dir, "rev-list", "--count", switchcfg.Branch), "every commit of both processes is on main")
	gitCmd(t, dir, "fsck", "--strict", "--no-dangling")
	r, err := switchcfg.OpenRepo(dir)
	require.NoError(t, err)
	for _, sw := range []string{"leaf-1", "leaf-2"} {
		hist, err := r.History(sw)
		require.NoError(t, err)
		require.Len(t, hist, n, sw)
		got, err := r.Show(sw, switchcfg.DeployedTagPrefix+sw)
		require.NoError(t, err)
		require.Equal(t, "hostname "+sw+"\n! "+strconv.Itoa(n-1)+"\n", string(got), "the tag of %s is on its last commit", sw)
	}
}

// repoModes returns the paths under dir whose mode is not 0700 (a
// directory) or 0600 (a file).
func repoModes(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			bad = append(bad, p+" "+fi.Mode().Perm().String())
		}
		return nil
	}))
	return bad
}

func TestRepoModes(t *testing.T) {
	t.Parallel()
	t.Run("new", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "state")
		r, err := switchcfg.OpenRepo(dir)
		require.NoError(t, err)
		rev, _, err := r.Commit("leaf-1", []byte("password secret\n"), "render leaf-1")
		require.NoError(t, err)
		require.NoError(t, r.MarkDeployed("leaf-1", rev))
		_, _, err = r.Commit("leaf-1", []byte("password other\n"), "render leaf-1")
		require.NoError(t, err)
		_, _, err = r.Rollback("leaf-1", rev)
		require.NoError(t, err)
		require.Empty(t, repoModes(t, dir))
	})
	t.Run("existing", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "state")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		gitCmd(t, dir, "init", "-q", "-b", switchcfg.Branch)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "leaf-1.cfg"), []byte("password secret\n"), 0o644))
		gitCmd(t, dir, "add", "leaf-1.cfg")
		gitCmd(t, dir, "-c", "user.name=x", "-c", "user.email=x@localhost", "commit", "-q", "-m", "by hand")
		require.NotEmpty(t, repoModes(t, dir))
		r, err := switchcfg.OpenRepo(dir)
		require.NoError(t, err)
		require.Empty(t, repoModes(t, dir), "OpenRepo fixes the modes")
		_, _, err = r.Commit("leaf-1", []byte("password other\n"), "render leaf-1")
		require.NoError(t, err)
		require.Empty(t, repoModes(t, dir))
		gitCmd(t, dir, "fsck", "--strict")
	})
}
