package main

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTransit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want transit
		ok   bool
	}{
		{name: "phase 3", in: "from_a-to_b-phase_3", want: transit{From: "a", To: "b", Phase: 3}, ok: true},
		{name: "round trip of the label", in: transitLabel("b", "a", 4), want: transit{From: "b", To: "a", Phase: 4}, ok: true},
		{name: "empty", in: ""},
		{name: "the default 0", in: "0"},
		{name: "no phase", in: "from_a-to_b"},
		{name: "phase 0", in: "from_a-to_b-phase_0"},
		{name: "trailing text", in: "from_a-to_b-phase_2x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseTransit(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAnalyzeOutput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		out         string
		deliveries  int
		completions int
		double      bool
		firstPhase  []int
		failed      map[int]int
	}{
		{
			name: "one delivery to the end",
			out: "node-1: a -> b: phase 1 started\nnode-1: phase 1 finished in 5ms\nnode-1: a -> b: phase 2 started\n" +
				"node-1: a -> b: phase 3 started\nnode-1: a -> b: phase 4 started\nnode-1: now in state b (1.2s)\n",
			deliveries: 1, completions: 1, firstPhase: []int{1},
		},
		{
			name: "killed in phase 3, resumed there",
			out: "node-1: a -> b: phase 1 started\nnode-1: a -> b: phase 2 started\nnode-1: a -> b: phase 3 started\n" +
				"osism: attempt 2 of task 01abc, on worker campaign-002\n" +
				"node-1: a -> b: phase 3 started (resumed)\nnode-1: a -> b: phase 4 started\nnode-1: now in state b (900ms)\n",
			deliveries: 2, completions: 1, firstPhase: []int{1, 3},
		},
		{
			name: "delivered again after it completed, a no-op",
			out: "node-1: a -> b: phase 1 started\nnode-1: now in state b (1s)\n" +
				"osism: attempt 2 of task 01abc, on worker campaign-002\nnode-1: already in state b\n",
			deliveries: 2, completions: 1, firstPhase: []int{1, 0},
		},
		{
			name: "delivered again after it completed, and ran again",
			out: "node-1: a -> b: phase 4 started\nnode-1: now in state b (1s)\n" +
				"osism: attempt 2 of task 01abc, on worker campaign-002\nnode-1: a -> b: phase 4 started (resumed)\n",
			deliveries: 2, completions: 1, double: true, firstPhase: []int{4, 4},
		},
		{
			name:       "completed twice",
			out:        "node-1: a -> b: phase 4 started\nnode-1: now in state b (1s)\nnode-1: now in state b (1s)\n",
			deliveries: 1, completions: 2, double: true, firstPhase: []int{4},
		},
		{
			name: "phase 3 failed with a report",
			out: "node-1: a -> b: phase 3 started\nnode-1: phase 3 failed: switch leaf-1: configure: errConnectionError\n" +
				"switch leaf-2: configure: errConnectionError\n",
			deliveries: 1, firstPhase: []int{3}, failed: map[int]int{3: 1},
		},
		{
			name:       "redelivery refused by the lock",
			out:        "node-1: a -> b: phase 1 started\nosism: attempt 2 of task 01abc, on worker campaign-002\n",
			deliveries: 2, firstPhase: []int{1, 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := analyzeOutput(tc.out)
			require.Equal(t, tc.deliveries, f.Deliveries)
			require.Equal(t, tc.completions, f.Completions)
			require.Equal(t, tc.double, f.DoubleRun())
			require.Equal(t, tc.firstPhase, f.FirstPhase)
			for p := 1; p <= 4; p++ {
				require.Len(t, f.Failed[p], tc.failed[p], "failed lines of phase %d", p)
			}
		})
	}
}

func TestFaultPickerShares(t *testing.T) {
	t.Parallel()
	p := faultPicker{rng: rand.New(rand.NewPCG(1, 2)), Rate5xx: 0.10, RateTimeout: 0.05, AfterShare: 0.5}
	const n = 200_000
	count := map[fault]int{}
	for range n {
		count[p.pick()]++
	}
	share := func(f fault) float64 { return float64(count[f]) / n }
	require.InDelta(t, 0.10, share(fault5xx), 0.005)
	require.InDelta(t, 0.025, share(faultHangBefore), 0.003)
	require.InDelta(t, 0.025, share(faultHangAfter), 0.003)
	require.InDelta(t, 0.85, share(faultNone), 0.005)

	off := faultPicker{rng: rand.New(rand.NewPCG(1, 2))}
	for range 1000 {
		require.Equal(t, faultNone, off.pick(), "no rates, no faults")
	}
}

func TestHostMatches(t *testing.T) {
	t.Parallel()
	require.True(t, hostMatches("[127.0.0.1]:2221", "[127.0.0.1]:2221"))
	require.True(t, hostMatches("[localhost]:2221,[127.0.0.1]:2221", "[127.0.0.1]:2221"))
	require.False(t, hostMatches("[127.0.0.1]:22210", "[127.0.0.1]:2221"))
	require.False(t, hostMatches("[127.0.0.1]:2222", "[127.0.0.1]:2221"))
}

func TestOptionsCheck(t *testing.T) {
	t.Parallel()
	good := options{perPhase: 1, parts: "kill,netbox,ssh", ackWait: 2e9, netboxTimeout: 1e9, taskTimeout: 60e9, rate5xx: 0.1, rateTimeout: 0.05, afterShare: 0.5}
	require.NoError(t, good.check())
	cases := []struct {
		name string
		mod  func(*options)
		want string
	}{
		{"unknown part", func(o *options) { o.parts = "kill,dns" }, `unknown part "dns"`},
		{"negative count", func(o *options) { o.netboxRuns = -1 }, "must not be negative"},
		{"rate above 1", func(o *options) { o.rate5xx = 1.5 }, "-rate-5xx 1.5"},
		{"rates above 1 together", func(o *options) { o.rate5xx, o.rateTimeout = 0.6, 0.6 }, "must not exceed 1"},
		{"ack wait too short", func(o *options) { o.ackWait = 1e6 }, "-ack-wait 1ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := good
			tc.mod(&o)
			require.ErrorContains(t, o.check(), tc.want)
		})
	}
}
