package ansible

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The line reader never holds more than MaxLineBytes of a partial line,
// whatever the writes, and cuts exactly there.
func TestLineWriterIsBounded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		writes []string
		want   []int // line lengths
	}{
		{name: "10 MB without a newline in pipe-sized writes", writes: repeatWrite(strings.Repeat("x", 32<<10), 320), want: repeatInt(MaxLineBytes, 160)},
		{name: "one huge write", writes: []string{strings.Repeat("x", 3*MaxLineBytes+5) + "\n"}, want: []int{MaxLineBytes, MaxLineBytes, MaxLineBytes, 5}},
		{name: "a line of exactly the limit", writes: []string{strings.Repeat("x", MaxLineBytes), "\nab\n"}, want: []int{MaxLineBytes, 2}},
		{name: "a partial line then a long one", writes: []string{"abc", strings.Repeat("x", MaxLineBytes) + "\nq"}, want: []int{MaxLineBytes, 3, 1}},
		{name: "short lines", writes: []string{"a\nb", "c\n\n"}, want: []int{1, 2, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []int
			var all bytes.Buffer
			w := &lineWriter{line: func(l string) { got = append(got, len(l)); all.WriteString(l) }}
			var in bytes.Buffer
			for _, p := range tc.writes {
				n, err := w.Write([]byte(p))
				require.NoError(t, err)
				require.Equal(t, len(p), n)
				require.LessOrEqual(t, len(w.buf), MaxLineBytes, "the partial line held")
				in.WriteString(p)
			}
			w.flush()
			require.Equal(t, tc.want, got)
			require.Equal(t, strings.ReplaceAll(in.String(), "\n", ""), all.String(), "no byte lost")
		})
	}
}

func repeatWrite(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func repeatInt(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}
