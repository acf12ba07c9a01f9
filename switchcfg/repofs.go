package switchcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5"
)

// Rendered configurations hold secrets: the state repository's directories
// are 0700 and its files 0600, whatever the process's umask.
const (
	repoDirMode  os.FileMode = 0o700
	repoFileMode os.FileMode = 0o600
)

// privateFS is a billy file system that creates files 0600 and
// directories 0700; go-git writes refs, the index and the config with
// 0666 and directories with 0755.
//
// With atomic set (the .git directory's file system), a file that is
// created whole (Create, or OpenFile with O_TRUNC) is written to a
// temporary file beside it and renamed into place when it is closed: a
// process killed while go-git writes the index, a ref or the config
// leaves the old file, never a truncated one. Such a file system does not
// claim billy's ReadAndWriteCapability, so go-git writes refs with Create
// too (it checks the old value first; the repository's file lock keeps
// other writers out meanwhile).
type privateFS struct {
	billy.Filesystem
	atomic bool
}

func (p privateFS) Create(name string) (billy.File, error) {
	return p.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, repoFileMode)
}

// OpenFile creates a missing parent directory itself, 0700: the file
// system underneath would make it 0755.
func (p privateFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if flag&os.O_CREATE != 0 {
		if dir := filepath.Dir(name); dir != "." && dir != "/" {
			if err := p.MkdirAll(dir, repoDirMode); err != nil {
				return nil, err
			}
		}
	}
	if p.atomic && flag&os.O_CREATE != 0 && flag&os.O_TRUNC != 0 {
		return p.createAtomic(name)
	}
	return p.Filesystem.OpenFile(name, flag, perm&repoFileMode)
}

// atomicTempPrefix starts the temporary files of atomic writes, in the
// .git directory itself: a file left in refs/ by a process killed
// meanwhile would be taken for a ref. OpenRepo removes leftovers.
const atomicTempPrefix = "osism-tmp-"

// createAtomic returns a file that is written to a temporary file and
// renamed to name on Close; a write that failed leaves name as it was.
func (p privateFS) createAtomic(name string) (billy.File, error) {
	tmp, err := p.Filesystem.TempFile("", atomicTempPrefix)
	if err != nil {
		return nil, err
	}
	return &atomicFile{File: tmp, fs: p.Filesystem, name: name}, nil
}

// atomicFile is a temporary file that becomes name when closed.
type atomicFile struct {
	billy.File
	fs     billy.Filesystem
	name   string
	failed bool
	closed bool
}

func (f *atomicFile) Name() string { return f.name }

func (f *atomicFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	if err != nil {
		f.failed = true
	}
	return n, err
}

// Close closes the temporary file and renames it to the file's name;
// after a failed write it removes it instead.
func (f *atomicFile) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	tmp := f.File.Name()
	err := f.File.Close()
	if err == nil && f.failed {
		err = fmt.Errorf("write %s: an earlier write failed; the file is left as it was", f.name)
	}
	if err == nil {
		if err = f.fs.Rename(tmp, f.name); err == nil {
			return nil
		}
	}
	_ = f.fs.Remove(tmp)
	return err
}

func (p privateFS) Rename(from, to string) error {
	if dir := filepath.Dir(to); dir != "." && dir != "/" {
		if err := p.MkdirAll(dir, repoDirMode); err != nil {
			return err
		}
	}
	return p.Filesystem.Rename(from, to)
}

func (p privateFS) TempFile(dir, prefix string) (billy.File, error) {
	if dir != "" && dir != "." {
		if err := p.MkdirAll(dir, repoDirMode); err != nil {
			return nil, err
		}
	}
	return p.Filesystem.TempFile(dir, prefix)
}

// MkdirAll makes directories 0700 itself: billy's osfs ignores perm.
func (p privateFS) MkdirAll(name string, _ os.FileMode) error {
	return os.MkdirAll(filepath.Join(p.Root(), filepath.Clean("/"+name)), repoDirMode)
}

func (p privateFS) Chroot(path string) (billy.Filesystem, error) {
	fsys, err := p.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return privateFS{fsys, p.atomic}, nil
}

func (p privateFS) Capabilities() billy.Capability {
	c := billy.Capabilities(p.Filesystem)
	if p.atomic {
		c &^= billy.ReadAndWriteCapability
	}
	return c
}

// fixModes makes every directory under dir 0700 and every file 0600: a
// repository written before, or by git, gets the modes it must have.
func fixModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		want := repoFileMode
		switch {
		case d.IsDir():
			want = repoDirMode
		case !d.Type().IsRegular():
			return nil // symlinks and the like: their target's mode counts
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if fi.Mode().Perm() != want {
			if err := os.Chmod(p, want); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("fix mode of %s: %w", p, err)
			}
		}
		return nil
	})
}

// removeTempFiles removes the temporary files that processes killed while
// writing left in the .git directory of dir. Run it under the lock.
func removeTempFiles(dir string) error {
	left, err := filepath.Glob(filepath.Join(dir, ".git", atomicTempPrefix+"*"))
	if err != nil {
		return err
	}
	for _, f := range left {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
	}
	return nil
}
