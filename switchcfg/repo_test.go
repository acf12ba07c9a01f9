package switchcfg_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/switchcfg"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// clock returns times one minute apart, starting at t0.
func clock() func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n-1) * time.Minute)
	}
}

func openRepo(t *testing.T) *switchcfg.Repo {
	t.Helper()
	r, err := switchcfg.OpenRepo(filepath.Join(t.TempDir(), "state"), switchcfg.WithClock(clock()))
	require.NoError(t, err)
	return r
}

func commit(t *testing.T, r *switchcfg.Repo, sw, content, msg string) string {
	t.Helper()
	rev, changed, err := r.Commit(sw, []byte(content), msg)
	require.NoError(t, err)
	require.True(t, changed, "commit %q of %s", msg, sw)
	require.Len(t, rev, 40)
	return rev
}

func TestRepoCommit(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	rev1 := commit(t, r, "leaf-1", "a\n", "first")

	// Unchanged: no commit, the current revision.
	rev, changed, err := r.Commit("leaf-1", []byte("a\n"), "again")
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, rev1, rev)

	rev2 := commit(t, r, "leaf-1", "b\n", "second")
	require.NotEqual(t, rev1, rev2)
	got, err := os.ReadFile(filepath.Join(r.Dir(), "leaf-1.cfg"))
	require.NoError(t, err)
	require.Equal(t, "b\n", string(got))

	// Another switch's commit leaves leaf-1 alone.
	commit(t, r, "leaf-2", "x\n", "")
	sws, err := r.Switches()
	require.NoError(t, err)
	require.Equal(t, []string{"leaf-1", "leaf-2"}, sws)

	// A work tree file edited by hand is put back even without a commit.
	require.NoError(t, os.WriteFile(filepath.Join(r.Dir(), "leaf-1.cfg"), []byte("edited\n"), 0o644))
	_, changed, err = r.Commit("leaf-1", []byte("b\n"), "")
	require.NoError(t, err)
	require.False(t, changed)
	got, err = os.ReadFile(filepath.Join(r.Dir(), "leaf-1.cfg"))
	require.NoError(t, err)
	require.Equal(t, "b\n", string(got))
}

// The same content, message and time give the same revision, in any
// directory and time zone.
func TestRepoDeterministic(t *testing.T) {
	t.Parallel()
	revs := map[string]bool{}
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("x", 3600)} {
		r, err := switchcfg.OpenRepo(t.TempDir())
		require.NoError(t, err)
		rev, _, err := r.CommitAt("leaf-1", []byte("a\n"), "first", t0.In(loc))
		require.NoError(t, err)
		revs[rev] = true
	}
	require.Len(t, revs, 1)
}

func TestRepoReopen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	r := openRepo2(t, dir)
	rev := commit(t, r, "leaf-1", "a\n", "first")
	require.NoError(t, r.MarkDeployed("leaf-1", rev))

	again := openRepo2(t, dir)
	got, err := again.Show("leaf-1", "HEAD")
	require.NoError(t, err)
	require.Equal(t, "a\n", string(got))
	dep, err := again.Deployed("leaf-1")
	require.NoError(t, err)
	require.Equal(t, rev, dep)
}

func openRepo2(t *testing.T, dir string) *switchcfg.Repo {
	t.Helper()
	r, err := switchcfg.OpenRepo(dir, switchcfg.WithClock(clock()))
	require.NoError(t, err)
	return r
}

func TestRepoHistoryShow(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	rev1 := commit(t, r, "leaf-1", "a\n", "one")
	commit(t, r, "leaf-2", "x\n", "other switch")
	rev2 := commit(t, r, "leaf-1", "b\n", "two\n\nwith a body")
	_, changed, err := r.Commit("leaf-1", []byte("b\n"), "unchanged")
	require.NoError(t, err)
	require.False(t, changed)

	h, err := r.History("leaf-1")
	require.NoError(t, err)
	require.Equal(t, []switchcfg.Revision{
		{Rev: rev2, Time: t0.Add(2 * time.Minute), Message: "two\n\nwith a body"},
		{Rev: rev1, Time: t0, Message: "one"},
	}, normalize(h))

	for rev, want := range map[string]string{rev1: "a\n", rev2: "b\n", rev1[:10]: "a\n", "HEAD": "b\n", "HEAD~2": "a\n"} {
		got, err := r.Show("leaf-1", rev)
		require.NoError(t, err, rev)
		require.Equal(t, want, string(got), rev)
	}
}

// normalize drops the time zone go-git decodes, so times compare by value.
func normalize(h []switchcfg.Revision) []switchcfg.Revision {
	for i := range h {
		h[i].Time = h[i].Time.UTC()
	}
	return h
}

func TestRepoDeployed(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	_, err := r.Deployed("leaf-1")
	require.ErrorIs(t, err, switchcfg.ErrNotDeployed)
	require.ErrorContains(t, err, `"leaf-1"`)

	rev1 := commit(t, r, "leaf-1", "a\n", "one")
	rev2 := commit(t, r, "leaf-1", "b\n", "two")
	require.NoError(t, r.MarkDeployed("leaf-1", rev1))
	got, err := r.Deployed("leaf-1")
	require.NoError(t, err)
	require.Equal(t, rev1, got)

	// The tag moves; a short hash and HEAD work as revisions.
	require.NoError(t, r.MarkDeployed("leaf-1", rev2[:8]))
	got, err = r.Deployed("leaf-1")
	require.NoError(t, err)
	require.Equal(t, rev2, got)

	// The tag is a revision too.
	cfg, err := r.Show("leaf-1", "deployed/leaf-1")
	require.NoError(t, err)
	require.Equal(t, "b\n", string(cfg))

	// A revision without the switch's file cannot be its deployed one.
	err = r.MarkDeployed("leaf-2", rev2)
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)
	require.ErrorContains(t, err, `"leaf-2"`)
}

func TestRepoDiff(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	rev1 := commit(t, r, "leaf-1", "interface swp1\n description node-1:eth0\nexit\n", "one")
	commit(t, r, "leaf-2", "x\n", "other")
	rev3 := commit(t, r, "leaf-1", "interface swp1\n description node-2:eth0\nexit\n", "two")

	d, err := r.Diff("leaf-1", rev1, rev3)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf(`--- a/leaf-1.cfg	%s
+++ b/leaf-1.cfg	%s
@@ -1,3 +1,3 @@
 interface swp1
- description node-1:eth0
+ description node-2:eth0
 exit
`, rev1, rev3), d)

	d, err = r.Diff("leaf-1", rev3, "HEAD")
	require.NoError(t, err)
	require.Empty(t, d)

	// Before leaf-2 existed its file counts as empty.
	d, err = r.Diff("leaf-2", rev1, "HEAD")
	require.NoError(t, err)
	require.Contains(t, d, "@@ -0,0 +1 @@\n+x\n")

	_, err = r.Diff("leaf-3", rev1, rev3)
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)
	require.ErrorContains(t, err, `"leaf-3"`)
}

func TestRepoRollback(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	rev1 := commit(t, r, "leaf-1", "a\n", "one")
	commit(t, r, "leaf-1", "b\n", "two")

	rev3, changed, err := r.Rollback("leaf-1", rev1[:12])
	require.NoError(t, err)
	require.True(t, changed)
	got, err := r.Show("leaf-1", rev3)
	require.NoError(t, err)
	require.Equal(t, "a\n", string(got))
	h, err := r.History("leaf-1")
	require.NoError(t, err)
	require.Len(t, h, 3)
	require.Equal(t, rev3, h[0].Rev)
	require.Equal(t, "rollback leaf-1 to "+rev1, h[0].Message)

	// Rolling back to what the file holds changes nothing.
	rev, changed, err := r.Rollback("leaf-1", rev1)
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, rev3, rev)
}

func TestRepoBadInput(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	rev := commit(t, r, "leaf-1", "a\n", "one")

	for _, name := range []string{"", "a/b", "../x", "..", ".hidden", "-x", "a..b", "x.lock", "a b", `a\b`, "a:b"} {
		t.Run("name "+name, func(t *testing.T) {
			t.Parallel()
			checks := map[string]error{}
			_, _, checks["Commit"] = r.Commit(name, []byte("x"), "")
			_, checks["Show"] = r.Show(name, rev)
			_, checks["History"] = r.History(name)
			_, checks["Diff"] = r.Diff(name, rev, rev)
			_, _, checks["Rollback"] = r.Rollback(name, rev)
			checks["MarkDeployed"] = r.MarkDeployed(name, rev)
			_, checks["Deployed"] = r.Deployed(name)
			for op, err := range checks {
				require.ErrorIs(t, err, switchcfg.ErrInvalidName, op)
				require.ErrorContains(t, err, fmt.Sprintf("%q", name), op)
			}
		})
	}
	// Nothing was written outside the repository.
	_, err := os.Stat(filepath.Join(filepath.Dir(r.Dir()), "x.cfg"))
	require.True(t, os.IsNotExist(err))

	for _, bad := range []string{"", "0000000000000000000000000000000000000000", "nope", "deployed/leaf-2"} {
		_, err := r.Show("leaf-1", bad)
		require.ErrorIs(t, err, switchcfg.ErrUnknownRevision, bad)
		if bad != "" {
			require.ErrorContains(t, err, fmt.Sprintf("%q", bad))
		}
		_, err = r.Diff("leaf-1", rev, bad)
		require.ErrorIs(t, err, switchcfg.ErrUnknownRevision, bad)
		_, _, err = r.Rollback("leaf-1", bad)
		require.ErrorIs(t, err, switchcfg.ErrUnknownRevision, bad)
		require.ErrorIs(t, r.MarkDeployed("leaf-1", bad), switchcfg.ErrUnknownRevision, bad)
	}

	_, err = r.Show("leaf-2", rev)
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)
	require.ErrorContains(t, err, `"leaf-2"`)
	_, err = r.History("leaf-2")
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)
	require.ErrorContains(t, err, `"leaf-2"`)
	_, _, err = r.Rollback("leaf-2", rev)
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)

	empty := openRepo(t)
	_, err = empty.History("leaf-1")
	require.ErrorIs(t, err, switchcfg.ErrUnknownSwitch)
	_, err = empty.Show("leaf-1", "HEAD")
	require.ErrorIs(t, err, switchcfg.ErrUnknownRevision)
	sws, err := empty.Switches()
	require.NoError(t, err)
	require.Empty(t, sws)

	_, err = switchcfg.OpenRepo("")
	require.Error(t, err)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = switchcfg.OpenRepo(file)
	require.ErrorContains(t, err, file)
}

// Goroutines of one process share a Repo: every commit lands, none is lost.
func TestRepoConcurrent(t *testing.T) {
	t.Parallel()
	r := openRepo(t)
	const switches, rounds = 4, 10
	var wg sync.WaitGroup
	for s := range switches {
		wg.Go(func() {
			sw := fmt.Sprintf("leaf-%d", s)
			for i := range rounds {
				_, _, err := r.Commit(sw, []byte(strings.Repeat(sw+"\n", i+1)), fmt.Sprintf("%s round %d", sw, i))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.History(sw); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for s := range switches {
		sw := fmt.Sprintf("leaf-%d", s)
		h, err := r.History(sw)
		require.NoError(t, err)
		require.Len(t, h, rounds, sw)
		got, err := r.Show(sw, "HEAD")
		require.NoError(t, err)
		require.Equal(t, strings.Repeat(sw+"\n", rounds), string(got))
	}
}
