package yamljson

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	in := map[string]any{
		"a": map[any]any{1: "one", "b": []any{int64(2), uint64(3), float32(0.5), map[any]any{true: int(4)}}},
		"s": "x",
	}
	want := map[string]any{
		"a": map[string]any{"1": "one", "b": []any{float64(2), float64(3), float64(0.5), map[string]any{"true": float64(4)}}},
		"s": "x",
	}
	require.Equal(t, want, Normalize(in))
	require.Equal(t, map[any]any{1: "one", "b": []any{int64(2), uint64(3), float32(0.5), map[any]any{true: int(4)}}}, in["a"], "the input is not changed")
	require.Nil(t, Normalize(nil))
}
