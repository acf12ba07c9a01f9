package batch

import (
	"context"
	"errors"
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
