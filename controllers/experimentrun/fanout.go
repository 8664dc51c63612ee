package experimentrun

import (
	"context"
	"sync"
)

// DefaultTargetWorkers is how many targets of one run are prepared, injected
// or reverted at once. A kill of many pods then takes about as long as the
// API server needs for that many requests, not their sum one after
// another; the bound keeps one run from queueing thousands of requests at
// once ahead of every other client of the API server.
const DefaultTargetWorkers = 32

// fanOut calls fn(ctx, i) for every i in [0, n), at most workers at a time,
// and returns when all calls have. fn must only touch what belongs to its i.
// Once ctx is done no further call starts.
func fanOut(ctx context.Context, n, workers int, fn func(ctx context.Context, i int)) {
	if workers < 1 {
		workers = DefaultTargetWorkers
	}
	if n <= 1 || workers == 1 {
		for i := range n {
			if ctx.Err() != nil {
				return
			}
			fn(ctx, i)
		}
		return
	}
	sem := make(chan struct{}, min(workers, n))
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(ctx, i)
		})
	}
	wg.Wait()
}
