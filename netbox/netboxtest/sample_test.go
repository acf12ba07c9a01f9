package netboxtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleDesiredFiles are the files of the sample fabric's desired states.
var sampleDesiredFiles = []string{"README.md", "dc1/a.yaml", "dc1/leaf-1/a.yaml", "dc1/node-1/b.yaml", "dc1/node-2/c.yaml"}

func TestSampleDesiredStates(t *testing.T) {
	t.Parallel()
	var got []string
	require.NoError(t, fs.WalkDir(SampleDesiredStates(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, path)
		}
		return err
	}))
	require.ElementsMatch(t, sampleDesiredFiles, got)
	b, err := fs.ReadFile(SampleDesiredStates(), "dc1/node-1/b.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, b)
}

func TestWriteSampleDesiredStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		wantErr string
	}{
		{"empty directory", func(t *testing.T) string { return t.TempDir() }, ""},
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "a", "desired") }, ""},
		{"non-empty directory", func(t *testing.T) string {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte("x: 1\n"), 0o600))
			return dir
		}, `expected an empty directory, found 1 entries (first "mine.yaml")`},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			require.NoError(t, os.WriteFile(p, nil, 0o600))
			return p
		}, "expected a directory, found a file"},
		{"no path", func(*testing.T) string { return "" }, `directory "": expected a directory path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.prepare(t)
			err := WriteSampleDesiredStates(dir)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, dir)
				if dir != "" {
					if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
						_, serr := os.Stat(filepath.Join(dir, "dc1"))
						require.True(t, os.IsNotExist(serr), "nothing written into a refused directory")
					}
				}
				return
			}
			require.NoError(t, err)
			for _, f := range sampleDesiredFiles {
				want, err := fs.ReadFile(SampleDesiredStates(), f)
				require.NoError(t, err)
				p := filepath.Join(dir, filepath.FromSlash(f))
				got, err := os.ReadFile(p)
				require.NoError(t, err)
				require.Equal(t, string(want), string(got), f)
				st, err := os.Stat(p)
				require.NoError(t, err)
				require.Equal(t, fs.FileMode(0o644), st.Mode().Perm(), f)
			}
			for _, d := range []string{"dc1", "dc1/leaf-1", "dc1/node-1", "dc1/node-2"} {
				st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(d)))
				require.NoError(t, err)
				require.True(t, st.IsDir(), d)
				require.Equal(t, fs.FileMode(0o755), st.Mode().Perm(), d)
			}
			// Once written, the directory is no longer empty.
			require.ErrorContains(t, WriteSampleDesiredStates(dir), "expected an empty directory")
		})
	}
}
