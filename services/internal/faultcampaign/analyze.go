package main

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// transitRE is a recorded device_transition: from_<a>-to_<b>-phase_<n>.
var transitRE = regexp.MustCompile(`^from_([^-]+)-to_([^-]+)-phase_([1-9][0-9]*)$`)

// transit is a parsed device_transition value.
type transit struct {
	From, To string
	Phase    int
}

// parseTransit reads a device_transition value; ok is false for "", "0"
// and anything that names no phase.
func parseTransit(v string) (transit, bool) {
	m := transitRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return transit{}, false
	}
	n, err := strconv.Atoi(m[3])
	if err != nil {
		return transit{}, false
	}
	return transit{From: m[1], To: m[2], Phase: n}, true
}

// transitLabel is the device_transition of phase p of from -> to.
func transitLabel(from, to string, p int) string {
	return fmt.Sprintf("from_%s-to_%s-phase_%d", from, to, p)
}

// attemptRE is the line the runner writes when it hands a task over again.
var attemptRE = regexp.MustCompile(`^osism: attempt ([0-9]+) of task `)

// doneRE is the line of statemachine.LineObserver after phase 4.
var doneRE = regexp.MustCompile(`^(\S+): now in state (\S+)`)

// failedRE is a failed phase in the LineObserver's words.
var failedRE = regexp.MustCompile(`^(\S+): phase ([1-9]) failed: (.*)$`)

// startedRE is a started phase.
var startedRE = regexp.MustCompile(`^(\S+): (\S+) -> (\S+): phase ([1-9]) started( \(resumed\))?`)

// outputFacts is what the campaign reads from a task's output, over all
// its deliveries.
type outputFacts struct {
	// Deliveries counts the deliveries that wrote output: 1 plus the
	// "osism: attempt N" lines.
	Deliveries int
	// Completions counts "now in state" lines: the transition ran to its
	// end that often.
	Completions int
	// RanAfterCompletion is set when a delivery that began after one had
	// completed the transition started a phase again (rather than finding
	// the device already in its state).
	RanAfterCompletion bool
	// Failed are the "phase N failed" lines, by phase.
	Failed map[int][]string
	// FirstPhase is, per delivery (0-based), the first phase it started;
	// 0 for a delivery that started none.
	FirstPhase []int
}

// DoubleRun reports whether the output shows one task running its
// transition again after it had run to its end: two "now in state" lines,
// or a delivery after the completing one that started a phase.
func (f outputFacts) DoubleRun() bool { return f.Completions > 1 || f.RanAfterCompletion }

// analyzeOutput reads the lines of a netbox.connect task's output.
func analyzeOutput(out string) outputFacts {
	f := outputFacts{Deliveries: 1, Failed: map[int][]string{}, FirstPhase: []int{0}}
	completed := false
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case attemptRE.MatchString(line):
			f.Deliveries++
			f.FirstPhase = append(f.FirstPhase, 0)
		case doneRE.MatchString(line):
			f.Completions++
			completed = true
		default:
			if m := failedRE.FindStringSubmatch(line); m != nil {
				p, _ := strconv.Atoi(m[2])
				f.Failed[p] = append(f.Failed[p], m[3])
			} else if m := startedRE.FindStringSubmatch(line); m != nil {
				p, _ := strconv.Atoi(m[4])
				if completed {
					f.RanAfterCompletion = true
				}
				if i := len(f.FirstPhase) - 1; f.FirstPhase[i] == 0 {
					f.FirstPhase[i] = p
				}
			}
		}
	}
	return f
}

// fault is what the NetBox proxy does with one request.
type fault int

const (
	faultNone       fault = iota
	fault5xx              // answer 5xx without forwarding
	faultHangBefore       // hang without forwarding, until the client gives up
	faultHangAfter        // forward, then withhold the answer until the client gives up
)

// faultPicker draws the fault of each request.
type faultPicker struct {
	rng *rand.Rand
	// Rate5xx and RateTimeout are shares of requests (0..1); AfterShare is
	// the share of timeouts whose request reaches NetBox first.
	Rate5xx, RateTimeout, AfterShare float64
}

func (p *faultPicker) pick() fault {
	x := p.rng.Float64()
	switch {
	case x < p.Rate5xx:
		return fault5xx
	case x < p.Rate5xx+p.RateTimeout:
		if p.rng.Float64() < p.AfterShare {
			return faultHangAfter
		}
		return faultHangBefore
	}
	return faultNone
}

// statuses5xx are the server errors the proxy answers, in turn.
var statuses5xx = []int{500, 502, 503, 504}

// oneLine puts a multi-line text on one line, shortened.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
