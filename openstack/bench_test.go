package openstack_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osism/go-osism/openstack"
)

// BenchmarkListNodes500 lists 500 nodes of the real Ironic (created once,
// 8 at a time, and deleted at the end) with the server's page size and
// with pages of 100, reporting requests per list.
//
//	eval "$(scripts/services env)"; go test -run '^$' -bench ListNodes500 -benchtime 20x ./openstack/
func BenchmarkListNodes500(b *testing.B) {
	bm := ironic(b)
	const count = 500
	class := uniqueName(b, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	var uuids []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, count)
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n, err := bm.CreateNode(ctx, openstack.CreateNode{Name: fmt.Sprintf("%s-%03d", class, i), Driver: "fake-hardware", ResourceClass: class})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			uuids = append(uuids, n.UUID)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, u := range uuids {
			sem <- struct{}{}
			wg.Add(1)
			go func() { defer func() { <-sem; wg.Done() }(); _ = bm.DeleteNode(context.Background(), u) }()
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	b.Logf("created %d nodes in %s", count, time.Since(start).Round(time.Millisecond))

	for _, limit := range []int{0, 100} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			before := bm.Requests()
			b.ResetTimer()
			for range b.N {
				ns, err := bm.Nodes(ctx, &openstack.ListNodesOpts{ResourceClass: class, Limit: limit})
				if err != nil {
					b.Fatal(err)
				}
				if len(ns) != count {
					b.Fatalf("listed %d nodes, want %d", len(ns), count)
				}
			}
			b.ReportMetric(float64(bm.Requests()-before)/float64(b.N), "requests/op")
		})
	}
}
