// Package yamljson turns values decoded from YAML into the shapes
// encoding/json produces, so that data from YAML files and data from a
// JSON API compare, merge and validate alike.
package yamljson

import "fmt"

// Normalize returns v with every map keyed by strings (a YAML key that
// is not a string is printed) and every integer or float32 a float64, at
// any depth. Maps and slices are copied; v is not changed.
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	}
	return v
}
