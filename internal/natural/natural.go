// Package natural orders names the way people read them: swp2 before
// swp10, Ethernet1/2 before Ethernet1/10.
package natural

import "strconv"

// Less reports whether a sorts before b, comparing runs of digits by
// their value and everything else byte by byte.
func Less(a, b string) bool {
	for a != "" && b != "" {
		ai, bi := digitRun(a), digitRun(b)
		if ai > 0 && bi > 0 {
			na, _ := strconv.Atoi(a[:ai])
			nb, _ := strconv.Atoi(b[:bi])
			if na != nb {
				return na < nb
			}
			a, b = a[ai:], b[bi:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

// digitRun is the length of the run of digits s starts with, at most 9 so
// that it fits an int.
func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' && n < 9 {
		n++
	}
	return n
}
