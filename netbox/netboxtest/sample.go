package netboxtest

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed sample/desired
var sampleDesired embed.FS

// sampleDesiredRoot is the directory of sampleDesired that holds the
// desired states.
const sampleDesiredRoot = "sample/desired"

// SampleDesiredStates returns the desired states of the sample fabric,
// rooted at the desired-state directory: README.md, dc1/a.yaml (every node
// in state a), dc1/node-1/b.yaml, dc1/node-2/c.yaml and dc1/leaf-1/a.yaml
// (<collection>/<state>.yaml and <collection>/<device>/<state>.yaml).
func SampleDesiredStates() fs.FS {
	// fs.Sub fails only for an invalid path, and sampleDesiredRoot is a
	// valid one.
	sub, _ := fs.Sub(sampleDesired, sampleDesiredRoot)
	return sub
}

// WriteSampleDesiredStates writes the desired states of the sample fabric
// (see [SampleDesiredStates]) under dir, files mode 0644 and directories
// 0755, so that dir can serve as a desired-state directory (collection
// dc1). dir is created if it does not exist; an existing dir must be an
// empty directory, so that no file of someone else's is overwritten.
func WriteSampleDesiredStates(dir string) error {
	if dir == "" {
		return fmt.Errorf("sample desired states: directory \"\": expected a directory path")
	}
	switch st, err := os.Stat(dir); {
	case err == nil && !st.IsDir():
		return fmt.Errorf("sample desired states: %q: expected a directory, found a file", dir)
	case err == nil:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("sample desired states: %w", err)
		}
		if len(entries) > 0 {
			return fmt.Errorf("sample desired states: %q: expected an empty directory, found %d entries (first %q)", dir, len(entries), entries[0].Name())
		}
	case os.IsNotExist(err):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sample desired states: %w", err)
		}
	default:
		return fmt.Errorf("sample desired states: %w", err)
	}
	src := SampleDesiredStates()
	return fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == "." {
			return nil
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			if err := os.Mkdir(dst, 0o755); err != nil {
				return fmt.Errorf("sample desired states: %w", err)
			}
			// The mode regardless of the umask.
			return os.Chmod(dst, 0o755)
		}
		b, err := fs.ReadFile(src, path)
		if err != nil {
			return fmt.Errorf("sample desired states: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("sample desired states: %w", err)
		}
		return os.Chmod(dst, 0o644)
	})
}
