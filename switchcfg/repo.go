package switchcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/gofrs/flock"
	"github.com/pmezard/go-difflib/difflib"
)

// The state repository's fixed names.
const (
	AuthorName  = "osism"
	AuthorEmail = "osism@localhost"
	// Branch is the branch every revision is committed to.
	Branch = "main"
	// DeployedTagPrefix starts the tag that marks what a switch runs:
	// deployed/<switch>.
	DeployedTagPrefix = "deployed/"
	// FileSuffix ends a switch's file: <switch>.cfg.
	FileSuffix = ".cfg"
)

// Repo is the git state repository of rendered switch configurations: one
// file <switch>.cfg per switch in a work tree, one commit per change, and
// a tag deployed/<switch> on the revision each switch last received. It is
// plain git (github.com/go-git/go-git, no git binary), so operators can
// read it with git log, git show and git diff.
//
// A Repo is safe for concurrent use by the goroutines of one process and
// by several processes: every write (commit, rollback, tag) holds the file
// lock .git/osism.lock (github.com/gofrs/flock) and reads HEAD anew under
// it. The directory is 0700 and its files 0600, since rendered
// configurations hold secrets; OpenRepo fixes the modes of an existing
// repository.
type Repo struct {
	mu   sync.Mutex
	lock *flock.Flock
	dir  string
	git  *git.Repository
	wt   *git.Worktree
	now  func() time.Time
}

// RepoOption configures a Repo.
type RepoOption func(*Repo)

// WithClock sets where Commit and Rollback take their time from (time.Now
// by default).
func WithClock(now func() time.Time) RepoOption { return func(r *Repo) { r.now = now } }

// Revision is one commit that changed a switch's file.
type Revision struct {
	Rev     string // the commit hash, 40 hex digits
	Time    time.Time
	Message string
}

// RepoLockFile is the file, inside the repository's .git directory, that
// every write of the state repository locks.
const RepoLockFile = "osism.lock"

// OpenRepo opens the state repository in dir, creating the directory and an
// empty repository (branch main) when there is none. It makes the
// directory 0700 and every file in it 0600.
func OpenRepo(dir string, opts ...RepoOption) (*Repo, error) {
	if dir == "" {
		return nil, errors.New("open state repository: empty directory name")
	}
	if err := os.MkdirAll(dir, repoDirMode); err != nil {
		return nil, fmt.Errorf("open state repository %s: %w", dir, err)
	}
	if isBare(dir) {
		return nil, fmt.Errorf("open state repository %s: a bare repository; want one with a work tree", dir)
	}
	lock := flock.New(filepath.Join(dir, git.GitDirName, RepoLockFile), flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(repoFileMode))
	// Open, create and repair under the lock: a process that opens the
	// repository while another creates it would otherwise see a
	// half-made one (a HEAD without config, a config without HEAD).
	var repo *git.Repository
	err := withFlock(lock, dir, func() error {
		if err := fixModes(dir); err != nil {
			return err
		}
		if err := removeTempFiles(dir); err != nil {
			return err
		}
		var err error
		if repo, err = openRepo(dir); errors.Is(err, git.ErrRepositoryNotExists) {
			repo, err = initRepo(dir)
		}
		if err != nil {
			return err
		}
		return repairIndex(repo)
	})
	if errors.Is(err, git.ErrIsBareRepository) {
		return nil, fmt.Errorf("open state repository %s: a bare repository; want one with a work tree", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open state repository %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		if errors.Is(err, git.ErrIsBareRepository) {
			return nil, fmt.Errorf("open state repository %s: a bare repository; want one with a work tree", dir)
		}
		return nil, fmt.Errorf("open state repository %s: %w", dir, err)
	}
	r := &Repo{dir: dir, lock: lock, git: repo, wt: wt, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// isBare reports whether dir is a bare repository: HEAD and objects in
// dir itself, and no .git. It looks only at what no process opening the
// state repository creates, so another one creating .git meanwhile does
// not fool it.
func isBare(dir string) bool {
	if _, err := os.Lstat(filepath.Join(dir, git.GitDirName)); err == nil {
		return false
	}
	head, err := os.Stat(filepath.Join(dir, "HEAD"))
	if err != nil || !head.Mode().IsRegular() {
		return false
	}
	objects, err := os.Stat(filepath.Join(dir, "objects"))
	return err == nil && objects.IsDir()
}

// storage is the repository in dir as go-git reads and writes it, through
// a file system that keeps files private.
func storage(dir string) (*filesystem.Storage, privateFS) {
	wt := privateFS{Filesystem: osfs.New(dir)}
	gitDir := privateFS{Filesystem: osfs.New(filepath.Join(dir, git.GitDirName)), atomic: true}
	return filesystem.NewStorage(gitDir, cache.NewObjectLRUDefault()), wt
}

func openRepo(dir string) (*git.Repository, error) {
	fi, err := os.Stat(filepath.Join(dir, git.GitDirName))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := git.PlainOpen(dir); err != nil { // a bare repository, or none
			return nil, err
		}
		return nil, git.ErrIsBareRepository
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", filepath.Join(dir, git.GitDirName))
	}
	s, wt := storage(dir)
	return git.Open(s, wt)
}

func initRepo(dir string) (*git.Repository, error) {
	s, wt := storage(dir)
	return git.InitWithOptions(s, wt, git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(Branch)})
}

// repairIndex rebuilds an index that cannot be read (a process killed
// while an older build wrote it in place leaves it truncated, and every
// commit after fails with "add: EOF") from HEAD's tree. The index only
// stages what the next commit holds, and every commit stages all of
// HEAD's files, so HEAD's tree is the whole truth. Run it under the lock.
func repairIndex(repo *git.Repository) error {
	if _, err := repo.Storer.Index(); err == nil {
		return nil
	}
	s, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return errors.New("the index cannot be read and the storage is not a file system")
	}
	if err := s.Filesystem().Remove("index"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the unreadable index: %w", err)
	}
	ref, err := repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil // no commit yet: an empty index is right
	}
	if err != nil {
		return fmt.Errorf("rebuild the index: read HEAD: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return fmt.Errorf("rebuild the index: %w", err)
	}
	if err := wt.Reset(&git.ResetOptions{Mode: git.MixedReset, Commit: ref.Hash()}); err != nil {
		return fmt.Errorf("rebuild the index from HEAD %s: %w", ref.Hash(), err)
	}
	return nil
}

// withFlock runs f holding the repository's file lock.
func withFlock(lock *flock.Flock, dir string, f func() error) error {
	if err := os.MkdirAll(filepath.Dir(lock.Path()), repoDirMode); err != nil {
		return fmt.Errorf("lock state repository %s: %w", dir, err)
	}
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock state repository %s: %w", dir, err)
	}
	defer func() { _ = lock.Unlock() }()
	return f()
}

// read takes the Repo's mutex and the file lock shared, so that a read
// never sees a ref another process is writing; unlock frees both.
func (r *Repo) read() (unlock func(), err error) {
	r.mu.Lock()
	if err := r.lock.RLock(); err != nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("lock state repository %s: %w", r.dir, err)
	}
	return func() { _ = r.lock.Unlock(); r.mu.Unlock() }, nil
}

// write runs f holding the Repo's mutex and its file lock, so that no
// other goroutine or process writes at the same time; f reads HEAD anew.
func (r *Repo) write(f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return withFlock(r.lock, r.dir, f)
}

// Dir is the repository's directory.
func (r *Repo) Dir() string { return r.dir }

// Commit writes rendered to <switch>.cfg and commits it with message at the
// repository's clock's time. When the file already holds rendered nothing
// is committed: it returns the current revision and changed false.
func (r *Repo) Commit(sw string, rendered []byte, message string) (rev string, changed bool, err error) {
	return r.CommitAt(sw, rendered, message, r.now())
}

// CommitAt is Commit at a given time. The author and committer are always
// "osism <osism@localhost>" and the time is recorded in UTC, so the same
// content, message and time give the same revision.
func (r *Repo) CommitAt(sw string, rendered []byte, message string, when time.Time) (rev string, changed bool, err error) {
	if err := CheckName(sw); err != nil {
		return "", false, fmt.Errorf("commit: %w", err)
	}
	err = r.write(func() (err error) {
		rev, changed, err = r.commit(sw, rendered, message, when)
		return err
	})
	return rev, changed, err
}

func (r *Repo) commit(sw string, content []byte, message string, when time.Time) (string, bool, error) {
	file := sw + FileSuffix
	if message == "" {
		message = "update " + sw
	}
	head, err := r.head()
	if err != nil {
		return "", false, fmt.Errorf("commit %s: %w", file, err)
	}
	if err := repairIndex(r.git); err != nil {
		return "", false, fmt.Errorf("commit %s: %w", file, err)
	}
	if head != nil {
		if f, err := head.File(file); err == nil && f.Hash == plumbing.ComputeHash(plumbing.BlobObject, content) {
			// Unchanged; put back a work tree file someone edited.
			if err := r.writeFile(file, content); err != nil {
				return "", false, fmt.Errorf("commit %s: %w", file, err)
			}
			return head.Hash.String(), false, nil
		}
	}
	if err := r.writeFile(file, content); err != nil {
		return "", false, fmt.Errorf("commit %s: %w", file, err)
	}
	if err := r.wt.AddWithOptions(&git.AddOptions{Path: file, SkipStatus: true}); err != nil {
		return "", false, fmt.Errorf("commit %s: add: %w", file, err)
	}
	sig := &object.Signature{Name: AuthorName, Email: AuthorEmail, When: when.UTC().Truncate(time.Second)}
	h, err := r.wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", false, fmt.Errorf("commit %s: %w", file, err)
	}
	return h.String(), true, nil
}

// writeFile writes the work tree's copy unless it already has content.
func (r *Repo) writeFile(file string, content []byte) error {
	p := filepath.Join(r.dir, file)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, content) {
		return nil
	}
	return os.WriteFile(p, content, repoFileMode)
}

// head is the commit HEAD points to, nil in a repository without commits.
func (r *Repo) head() (*object.Commit, error) {
	ref, err := r.git.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read HEAD: %w", err)
	}
	return r.git.CommitObject(ref.Hash())
}

// resolve turns a revision (a hash or a unique prefix of one, HEAD, HEAD~2,
// a tag such as deployed/leaf-1) into its commit.
func (r *Repo) resolve(rev string) (*object.Commit, error) {
	if strings.TrimSpace(rev) == "" {
		return nil, fmt.Errorf("%w: empty revision", ErrUnknownRevision)
	}
	h, err := r.git.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: %v", ErrUnknownRevision, rev, r.dir, err)
	}
	c, err := r.git.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: not a commit: %v", ErrUnknownRevision, rev, r.dir, err)
	}
	return c, nil
}

// content is the switch's file at commit c.
func (r *Repo) content(sw string, c *object.Commit, rev string) ([]byte, error) {
	f, err := c.File(sw + FileSuffix)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, fmt.Errorf("%w %q: no %s%s at revision %s", ErrUnknownSwitch, sw, sw, FileSuffix, rev)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s%s at %s: %w", sw, FileSuffix, rev, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s%s at %s: %w", sw, FileSuffix, rev, err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// Show returns the switch's configuration at rev.
func (r *Repo) Show(sw, rev string) ([]byte, error) {
	if err := CheckName(sw); err != nil {
		return nil, fmt.Errorf("show: %w", err)
	}
	unlock, err := r.read()
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := r.resolve(rev)
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", sw, err)
	}
	return r.content(sw, c, rev)
}

// Switches lists the switches with a file at the current revision, sorted.
func (r *Repo) Switches() ([]string, error) {
	unlock, err := r.read()
	if err != nil {
		return nil, err
	}
	defer unlock()
	head, err := r.head()
	if err != nil || head == nil {
		return nil, err
	}
	tree, err := head.Tree()
	if err != nil {
		return nil, fmt.Errorf("list switches: %w", err)
	}
	var out []string
	for _, e := range tree.Entries {
		if name, ok := strings.CutSuffix(e.Name, FileSuffix); ok && e.Mode.IsFile() && CheckName(name) == nil {
			out = append(out, name)
		}
	}
	slices.SortFunc(out, naturalCompare)
	return out, nil
}

// History lists the revisions that changed the switch's file, newest
// first.
func (r *Repo) History(sw string) ([]Revision, error) {
	if err := CheckName(sw); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	unlock, err := r.read()
	if err != nil {
		return nil, err
	}
	defer unlock()
	head, err := r.head()
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", sw, err)
	}
	if head == nil {
		return nil, fmt.Errorf("history: %w %q: the repository %s has no revisions", ErrUnknownSwitch, sw, r.dir)
	}
	file := sw + FileSuffix
	iter, err := r.git.Log(&git.LogOptions{From: head.Hash, FileName: &file})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", sw, err)
	}
	var out []Revision
	err = iter.ForEach(func(c *object.Commit) error {
		out = append(out, Revision{Rev: c.Hash.String(), Time: c.Committer.When, Message: strings.TrimSuffix(c.Message, "\n")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", sw, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("history: %w %q: no revision of %s in %s", ErrUnknownSwitch, sw, file, r.dir)
	}
	return out, nil
}

// Diff is a unified diff of the switch's file from revA to revB; "" when
// they hold the same. A revision without the file counts as an empty file;
// neither having it is an error.
func (r *Repo) Diff(sw, revA, revB string) (string, error) {
	if err := CheckName(sw); err != nil {
		return "", fmt.Errorf("diff: %w", err)
	}
	unlock, err := r.read()
	if err != nil {
		return "", err
	}
	defer unlock()
	a, ha, errA := r.contentOrEmpty(sw, revA)
	b, hb, errB := r.contentOrEmpty(sw, revB)
	switch {
	case errA != nil && !errors.Is(errA, ErrUnknownSwitch):
		return "", fmt.Errorf("diff %s: %w", sw, errA)
	case errB != nil && !errors.Is(errB, ErrUnknownSwitch):
		return "", fmt.Errorf("diff %s: %w", sw, errB)
	case errA != nil && errB != nil:
		return "", fmt.Errorf("diff %s %s..%s: %w", sw, revA, revB, errA)
	}
	if bytes.Equal(a, b) {
		return "", nil
	}
	file := sw + FileSuffix
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: lines(a), B: lines(b),
		FromFile: "a/" + file, FromDate: ha,
		ToFile: "b/" + file, ToDate: hb,
		Context: 3,
	})
}

// contentOrEmpty is the switch's file at rev and the commit's hash; an
// error wrapping ErrUnknownSwitch (with nil content) when rev lacks it.
func (r *Repo) contentOrEmpty(sw, rev string) ([]byte, string, error) {
	c, err := r.resolve(rev)
	if err != nil {
		return nil, "", err
	}
	b, err := r.content(sw, c, rev)
	return b, c.Hash.String(), err
}

// lines splits text into lines that each end in a newline, as a unified
// diff wants them.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(b), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	} else {
		out[len(out)-1] += "\n"
	}
	return out
}

// Rollback commits the switch's file as it was at rev as a new revision,
// with the message "rollback <switch> to <rev's hash>". When the file
// already holds that content nothing is committed and the current revision
// is returned with changed false.
func (r *Repo) Rollback(sw, rev string) (newRev string, changed bool, err error) {
	if err := CheckName(sw); err != nil {
		return "", false, fmt.Errorf("rollback: %w", err)
	}
	err = r.write(func() error {
		c, err := r.resolve(rev)
		if err != nil {
			return fmt.Errorf("rollback %s: %w", sw, err)
		}
		content, err := r.content(sw, c, rev)
		if err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		newRev, changed, err = r.commit(sw, content, fmt.Sprintf("rollback %s to %s", sw, c.Hash), r.now())
		return err
	})
	return newRev, changed, err
}

func deployedTag(sw string) plumbing.ReferenceName {
	return plumbing.NewTagReferenceName(DeployedTagPrefix + sw)
}

// MarkDeployed moves the switch's tag deployed/<switch> to rev, which must
// hold the switch's file.
func (r *Repo) MarkDeployed(sw, rev string) error {
	if err := CheckName(sw); err != nil {
		return fmt.Errorf("mark deployed: %w", err)
	}
	return r.write(func() error {
		c, err := r.resolve(rev)
		if err != nil {
			return fmt.Errorf("mark %s deployed: %w", sw, err)
		}
		if _, err := r.content(sw, c, rev); err != nil {
			return fmt.Errorf("mark deployed: %w", err)
		}
		if err := r.git.Storer.SetReference(plumbing.NewHashReference(deployedTag(sw), c.Hash)); err != nil {
			return fmt.Errorf("mark %s deployed at %s: %w", sw, c.Hash, err)
		}
		return nil
	})
}

// Latest returns the switch's file at HEAD, as HEAD is now on disk (another
// process may have committed since), and the revision that last changed
// it: the oldest commit on HEAD's first-parent line back to which the file
// holds the same content. An error wrapping ErrUnknownSwitch when HEAD has
// no such file.
func (r *Repo) Latest(sw string) (rev string, content []byte, err error) {
	if err := CheckName(sw); err != nil {
		return "", nil, fmt.Errorf("latest: %w", err)
	}
	unlock, err := r.read()
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	head, err := r.head()
	if err != nil {
		return "", nil, fmt.Errorf("latest %s: %w", sw, err)
	}
	if head == nil {
		return "", nil, fmt.Errorf("%w %q: the repository %s has no revisions", ErrUnknownSwitch, sw, r.dir)
	}
	file := sw + FileSuffix
	f, err := head.File(file)
	if errors.Is(err, object.ErrFileNotFound) {
		return "", nil, fmt.Errorf("%w %q: no %s at HEAD of %s", ErrUnknownSwitch, sw, file, r.dir)
	}
	if err != nil {
		return "", nil, fmt.Errorf("latest %s: %w", sw, err)
	}
	if content, err = r.content(sw, head, "HEAD"); err != nil {
		return "", nil, err
	}
	c := head
	for c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return "", nil, fmt.Errorf("latest %s: %w", sw, err)
		}
		pf, err := p.File(file)
		if err != nil || pf.Hash != f.Hash {
			break
		}
		c = p
	}
	return c.Hash.String(), content, nil
}

// Deployed returns the revision last marked deployed for the switch; an
// error wrapping ErrNotDeployed if there is none.
func (r *Repo) Deployed(sw string) (string, error) {
	if err := CheckName(sw); err != nil {
		return "", fmt.Errorf("deployed: %w", err)
	}
	unlock, err := r.read()
	if err != nil {
		return "", err
	}
	defer unlock()
	ref, err := r.git.Reference(deployedTag(sw), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", fmt.Errorf("switch %q: %w (no tag %s%s in %s)", sw, ErrNotDeployed, DeployedTagPrefix, sw, r.dir)
	}
	if err != nil {
		return "", fmt.Errorf("deployed revision of %s: %w", sw, err)
	}
	return ref.Hash().String(), nil
}
