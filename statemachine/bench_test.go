package statemachine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osism/go-osism/statemachine"
)

// BenchmarkTransitionParallel moves 10,000 devices back and forth between a
// and b, all at once (one goroutine per device), through all four phases with
// a no-op hook per phase and the in-memory store and locker. One op is one
// complete transition.
//
//	go test ./statemachine -run '^$' -bench TransitionParallel -benchmem
func BenchmarkTransitionParallel(b *testing.B) {
	const devices = 10_000
	store := statemachine.NewMemoryStore()
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("node-%05d", i)
		_ = store.Save(context.Background(), names[i], statemachine.Record{State: "a"})
	}
	noop := statemachine.PhaseHookFunc(func(context.Context, statemachine.Step) error { return nil })
	m, err := statemachine.New(statemachine.Config{Store: store, Hooks: allPhases(noop)})
	if err != nil {
		b.Fatal(err)
	}
	// RunParallel starts parallelism*GOMAXPROCS goroutines: enough for one
	// per device, so each goroutine owns its device and never meets a lock
	// held by another.
	b.SetParallelism((devices + gomaxprocs() - 1) / gomaxprocs())
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		id := int(next.Add(1)-1) % devices
		dev := names[id]
		target := statemachine.StateB
		for pb.Next() {
			if _, err := m.Transition(context.Background(), dev, target, nil); err != nil {
				failed.Add(1)
				continue
			}
			if target == statemachine.StateB {
				target = statemachine.StateA
			} else {
				target = statemachine.StateB
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d transitions failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transitions/s")
}
