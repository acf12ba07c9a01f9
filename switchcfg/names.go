package switchcfg

import (
	"fmt"
	"strings"

	"github.com/osism/go-osism/internal/natural"
)

// CheckName reports whether name can name a switch's file (<name>.cfg) and
// its tag (deployed/<name>) in the state repository: letters, digits, '.',
// '-' and '_', not starting with '.' or '-', without "..", not ending in
// ".lock". Every error wraps ErrInvalidName and quotes the name.
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 200:
		return bad("longer than 200 characters")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	case name[0] == '.' || name[0] == '-':
		return bad("starts with '.' or '-'")
	case strings.HasSuffix(name, ".lock"):
		return bad(`ends in ".lock"`)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return bad(fmt.Sprintf("contains %q; want letters, digits, '.', '-' and '_'", r))
		}
	}
	return nil
}

// naturalCompare is naturalLess as a three-way comparison, with plain
// string order breaking ties ("swp01" and "swp1").
func naturalCompare(a, b string) int {
	switch {
	case natural.Less(a, b):
		return -1
	case natural.Less(b, a):
		return 1
	}
	return strings.Compare(a, b)
}
