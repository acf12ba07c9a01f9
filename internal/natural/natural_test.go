package natural

import (
	"slices"
	"testing"
)

func TestLess(t *testing.T) {
	got := []string{"swp10", "Ethernet1/10", "swp2", "eth1", "swp1", "Ethernet1/2", "eth0", "swp", "swp02"}
	slices.SortFunc(got, func(a, b string) int {
		switch {
		case Less(a, b):
			return -1
		case Less(b, a):
			return 1
		}
		return 0
	})
	want := []string{"Ethernet1/2", "Ethernet1/10", "eth0", "eth1", "swp", "swp1", "swp2", "swp02", "swp10"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
