package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundsGatherWaitingCallers(t *testing.T) {
	var rounds atomic.Int32
	release := make(chan struct{})
	var sizes []int
	var mu sync.Mutex
	r := New(time.Second, func(ctx context.Context, keys []string) (map[string]int, error) {
		if rounds.Add(1) == 1 {
			<-release // the first round runs while the others arrive
		}
		mu.Lock()
		sizes = append(sizes, len(keys))
		mu.Unlock()
		out := map[string]int{}
		for _, k := range keys {
			out[k] = len(k)
		}
		return out, nil
	})
	ctx := context.Background()
	first := make(chan []int)
	go func() { res, _ := r.Do(ctx, "a"); first <- res }()
	for rounds.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for _, k := range []string{"bb", "ccc", "bb", "dddd"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Do(ctx, k)
			if err != nil || res[0] != len(k) {
				t.Errorf("Do(%q) = %v, %v", k, res, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // they queue behind the first round
	close(release)
	wg.Wait()
	if got := <-first; got[0] != 1 {
		t.Fatalf("first = %v", got)
	}
	if rounds.Load() != 2 {
		t.Fatalf("%d rounds, want 2 (one for a, one for everything that waited)", rounds.Load())
	}
	if sizes[1] != 3 {
		t.Fatalf("second round had %d keys, want 3 (bb once)", sizes[1])
	}
}

func TestRoundsErrorAndCancel(t *testing.T) {
	boom := errors.New("boom")
	r := New(time.Second, func(ctx context.Context, keys []int) (map[int]int, error) { return nil, boom })
	if _, err := r.Do(context.Background(), 1); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	slow := New(time.Second, func(ctx context.Context, keys []int) (map[int]int, error) {
		time.Sleep(100 * time.Millisecond)
		return map[int]int{}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := slow.Do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRoundsPanicBecomesErrorOfItsCallers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	var calls atomic.Int32
	r := New(5*time.Second, func(ctx context.Context, keys []string) (map[string]int, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			var m map[string]int
			m["boom"] = 1 // a nil map write: a runtime panic
		}
		out := map[string]int{}
		for _, k := range keys {
			out[k] = len(k)
		}
		return out, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { _, err := r.Do(ctx, "a"); errs <- err }()
	<-started
	close(release)
	err := <-errs
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PanicError", err)
	}
	if !strings.Contains(err.Error(), "assignment to entry in nil map") || !strings.Contains(err.Error(), "batch_test.go") {
		t.Fatalf("err = %q, want the panic value and where it happened", err)
	}
	if !strings.Contains(string(pe.Stack), "TestRoundsPanicBecomesErrorOfItsCallers") {
		t.Fatalf("stack does not name the panicking function:\n%s", pe.Stack)
	}
	res, err := r.Do(ctx, "bb", "ccc")
	if err != nil || res[0] != 2 || res[1] != 3 {
		t.Fatalf("the round after the panic: %v, %v", res, err)
	}
}

func TestRoundsPanicReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	first := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	r := New(5*time.Second, func(ctx context.Context, keys []int) (map[int]int, error) {
		switch calls.Add(1) {
		case 1:
			close(first)
			<-release
			return map[int]int{}, nil
		case 2:
			panic(fmt.Sprintf("round of %d keys", len(keys)))
		}
		return map[int]int{}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _, _ = r.Do(ctx, 0) }()
	<-first
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = r.Do(ctx, i+1) }()
	}
	// The three wait for the second round; let them all queue.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.waiting)
		r.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want 3", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		var pe *PanicError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "round of 3 keys") {
			t.Fatalf("caller %d: err = %v, want the panic of its round", i, err)
		}
	}
	if _, err := r.Do(ctx, 9); err != nil {
		t.Fatalf("the round after the panic: %v", err)
	}
}
