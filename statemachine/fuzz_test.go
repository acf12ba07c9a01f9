package statemachine_test

import (
	"testing"

	"github.com/osism/go-osism/statemachine"
)

// The stored record parser: any record that parses is written back the
// same way (Parse then Record is the identity on valid records), and what
// Record writes always parses back to the same status.
func FuzzParseRecord(f *testing.F) {
	for _, seed := range [][2]string{
		{"a", ""}, {"b", "0"}, {"", ""}, {"0", ""}, {"b-phase_1", "from_a-to_b-phase_1"},
		{"c-phase_4", "from_b-to_c-phase_4"}, {"a-phase_2", "from_b-to_a-phase_2"},
		{"b-phase_5", "from_a-to_b-phase_5"}, {"b", "from_a-to_b-phase_1"}, {"x", ""},
		{"b-phase_01", "from_a-to_b-phase_01"}, {"b-phase_1", "from_a-to_b-to_c-phase_1"},
	} {
		f.Add(seed[0], seed[1])
	}
	g := statemachine.DefaultGraph()
	f.Fuzz(func(t *testing.T, state, transition string) {
		rec := statemachine.Record{State: state, Transition: transition}
		st, err := g.Parse(rec)
		if err != nil {
			return
		}
		back := st.Record()
		settledInput := transition == "" || transition == "0"
		switch {
		case st.Transit == nil && settledInput && state == "":
			if back.State != string(statemachine.StateNew) {
				t.Fatalf("empty record parsed as %v, written as %+v", st, back)
			}
		case back != rec && !(settledInput && back.State == state && back.Transition == ""):
			t.Fatalf("record %+v parsed as %v, written back as %+v", rec, st, back)
		}
		again, err := g.Parse(back)
		if err != nil {
			t.Fatalf("written record %+v does not parse: %v", back, err)
		}
		if again.String() != st.String() {
			t.Fatalf("round trip changed %v to %v", st, again)
		}
	})
}
