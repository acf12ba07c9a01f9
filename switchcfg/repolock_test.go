package switchcfg_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
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

// Separate processes that open one new repository at once all succeed:
// creating it and opening it happen under the repository's file lock, so
// none sees a half-made one.
func TestRepoConcurrentOpenOfANewRepository(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		base := t.TempDir()
		dir, start := filepath.Join(base, "state"), filepath.Join(base, "go")
		const n = 6
		cmds := make([]*exec.Cmd, n)
		outs := make([]strings.Builder, n)
		for i := range cmds {
			cmds[i] = exec.Command(os.Args[0])
			cmds[i].Env = append(os.Environ(), childEnv+"=open", "OSISM_REPO_DIR="+dir, "OSISM_REPO_GO="+start)
			cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
			require.NoError(t, cmds[i].Start())
		}
		require.NoError(t, os.WriteFile(start, nil, 0o600))
		for i, c := range cmds {
			require.NoError(t, c.Wait(), "round %d, process %d: %s", round, i, outs[i].String())
		}
		r, err := switchcfg.OpenRepo(dir)
		require.NoError(t, err)
		_, _, err = r.Commit("leaf-1", []byte("hostname leaf-1\n"), "render leaf-1")
		require.NoError(t, err)
		gitCmd(t, dir, "fsck", "--strict")
		require.Empty(t, repoModes(t, dir))
	}
}

// A process killed while the index was written left it truncated; the
// next commit rebuilds it from HEAD, succeeds, and keeps every switch's
// file in the tree.
func TestRepoTruncatedIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		size   int64 // the index is cut to this many bytes
		reopen bool
	}{
		{"empty, reopened", 0, true},
		{"empty, same Repo", 0, false},
		{"half a header, reopened", 6, true},
		{"cut in an entry, same Repo", 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "state")
			r, err := switchcfg.OpenRepo(dir)
			require.NoError(t, err)
			_, _, err = r.Commit("leaf-1", []byte("hostname leaf-1\n"), "render leaf-1")
			require.NoError(t, err)
			_, _, err = r.Commit("leaf-2", []byte("hostname leaf-2\n"), "render leaf-2")
			require.NoError(t, err)
			require.NoError(t, os.Truncate(filepath.Join(dir, ".git", "index"), tc.size))
			if tc.reopen {
				r, err = switchcfg.OpenRepo(dir)
				require.NoError(t, err)
			}
			_, changed, err := r.Commit("leaf-2", []byte("hostname leaf-2\n! new\n"), "render leaf-2")
			require.NoError(t, err)
			require.True(t, changed)
			require.Equal(t, "leaf-1.cfg\nleaf-2.cfg", gitCmd(t, dir, "ls-tree", "--name-only", "HEAD"))
			require.Equal(t, "hostname leaf-2\n! new", gitCmd(t, dir, "show", "HEAD:leaf-2.cfg"))
			require.Equal(t, "hostname leaf-1", gitCmd(t, dir, "show", "HEAD:leaf-1.cfg"))
			require.Empty(t, gitCmd(t, dir, "status", "--porcelain"), "the index matches HEAD again")
			gitCmd(t, dir, "fsck", "--strict")
		})
	}
}

// The index, refs and config are written to a temporary file and renamed
// into place: no write leaves a file of the repository open for writing
// under its own name, and no temporary file stays behind.
func TestRepoWritesReplaceFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := switchcfg.OpenRepo(dir)
	require.NoError(t, err)
	inode := func(name string) uint64 {
		fi, err := os.Stat(filepath.Join(dir, ".git", name))
		require.NoError(t, err)
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	rev, _, err := r.Commit("leaf-1", []byte("hostname leaf-1\n"), "render leaf-1")
	require.NoError(t, err)
	require.NoError(t, r.MarkDeployed("leaf-1", rev))
	before := map[string]uint64{}
	for _, f := range []string{"index", "refs/heads/main", "refs/tags/deployed/leaf-1"} {
		before[f] = inode(f)
	}
	rev, _, err = r.Commit("leaf-1", []byte("hostname leaf-1\n! 2\n"), "render leaf-1")
	require.NoError(t, err)
	require.NoError(t, r.MarkDeployed("leaf-1", rev))
	for f, ino := range before {
		require.NotEqual(t, ino, inode(f), "%s is replaced, not rewritten in place", f)
	}
	var tmp []string
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, ".git"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "osism-tmp-") {
			tmp = append(tmp, p)
		}
		return err
	}))
	require.Empty(t, tmp)
	require.Empty(t, repoModes(t, dir))
}

// OpenRepo waits for the repository's lock before it reads anything: a
// repository another process is still creating (here its config is half
// written, as a writer leaves it between creating the file and writing
// it) is opened only once that process is done and has let go of the
// lock.
func TestRepoOpenWaitsForTheCreator(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	_, err := switchcfg.OpenRepo(dir)
	require.NoError(t, err)
	config := filepath.Join(dir, ".git", "config")
	full := []byte("[core]\n\tbare = false\n")

	creator := flock.New(filepath.Join(dir, ".git", switchcfg.RepoLockFile))
	require.NoError(t, creator.Lock())
	require.NoError(t, os.WriteFile(config, full[:3], 0o600)) // half-made: "[co"
	fi, err := os.Stat(creator.Path())
	require.NoError(t, err)
	ino := ":" + strconv.FormatUint(fi.Sys().(*syscall.Stat_t).Ino, 10)

	done := make(chan error, 1)
	go func() {
		r, err := switchcfg.OpenRepo(dir)
		if err == nil {
			_, err = r.Switches()
		}
		done <- err
	}()
	// Wait until the opener either returned or waits for the lock
	// (/proc/locks lists a blocked request, "->", on the lock file).
	waiting := func() bool {
		b, err := os.ReadFile("/proc/locks")
		require.NoError(t, err)
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "->") {
				continue
			}
			for _, f := range strings.Fields(l) {
				if strings.HasSuffix(f, ino) {
					return true
				}
			}
		}
		return false
	}
	var got error
	returned := false
	require.Eventually(t, func() bool {
		select {
		case got = <-done:
			returned = true
			return true
		default:
			return waiting()
		}
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, os.WriteFile(config, full, 0o600))
	require.NoError(t, creator.Unlock())
	if !returned {
		got = <-done
	}
	require.NoError(t, got, "OpenRepo read the repository while its creator held the lock")
}

// A bare repository is refused, and left as it was.
func TestRepoRefusesABareRepository(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	gitCmd(t, dir, "init", "-q", "--bare")
	_, err := switchcfg.OpenRepo(dir)
	require.ErrorContains(t, err, "a bare repository; want one with a work tree")
	_, err = os.Stat(filepath.Join(dir, ".git"))
	require.ErrorIs(t, err, fs.ErrNotExist, "no .git was made in it")
}

// A process killed with SIGKILL at any point of its commits leaves a
// repository the next process commits to: no truncated index or ref, no
// temporary file after the next open, and git fsck is clean.
func TestRepoSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	r, err := switchcfg.OpenRepo(dir)
	require.NoError(t, err)
	_, _, err = r.Commit("leaf-2", []byte("hostname leaf-2\n"), "render leaf-2")
	require.NoError(t, err)
	main := filepath.Join(dir, ".git", "refs", "heads", switchcfg.Branch)
	for round := range 8 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=commit", "OSISM_REPO_DIR="+dir,
			"OSISM_REPO_SWITCH=leaf-1", "OSISM_REPO_COMMITS=1000000", fmt.Sprintf("OSISM_REPO_TAG=round %d: ", round))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		// Kill it after 1 to 15 commits, a different point each round.
		want := 1 + round*2
		seen, last := 0, ""
		require.Eventually(t, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			b, _ := os.ReadFile(main)
			if s := string(b); s != last {
				seen, last = seen+1, s
			}
			return seen > want
		}, 30*time.Second, 100*time.Microsecond, "round %d: the child commits", round)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		require.Contains(t, cmd.ProcessState.String(), "killed", "round %d: the child ended before it was killed: %s", round, out.String())

		r, err := switchcfg.OpenRepo(dir)
		require.NoError(t, err, "round %d", round)
		_, changed, err := r.Commit("leaf-2", fmt.Appendf(nil, "hostname leaf-2\n! %d\n", round), "render leaf-2")
		require.NoError(t, err, "round %d", round)
		require.True(t, changed)
		_, err = r.Show("leaf-1", "HEAD")
		require.NoError(t, err)
		require.Equal(t, "leaf-1.cfg\nleaf-2.cfg", gitCmd(t, dir, "ls-tree", "--name-only", "HEAD"))
		gitCmd(t, dir, "fsck", "--strict")
		left, err := filepath.Glob(filepath.Join(dir, ".git", "osism-tmp-*"))
		require.NoError(t, err)
		require.Empty(t, left, "round %d", round)
	}
}
