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
type privateFS struct{ billy.Filesystem }

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
	return p.Filesystem.OpenFile(name, flag, perm&repoFileMode)
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
	return privateFS{fsys}, nil
}

func (p privateFS) Capabilities() billy.Capability { return billy.Capabilities(p.Filesystem) }

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
