package harness

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often WaitFor looks again: well below the
// second-scale effects the tests measure.
const pollInterval = 100 * time.Millisecond

// ErrGiveUp ends a poll at once when a condition's error wraps it: waiting
// longer cannot help (the process being waited for has exited).
var ErrGiveUp = errors.New("giving up")

// Poll calls cond every pollInterval until it returns true, and returns an
// error naming cond's last error when timeout or ctx ends first, or at once
// when that error wraps ErrGiveUp. The error of a false says why (a failed
// request or the value seen); with true it is ignored.
func Poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if errors.Is(err, ErrGiveUp) {
			return err
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("timed out after %s; last error: %w", timeout, lastErr)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-time.After(pollInterval):
		}
	}
}

// WaitFor polls cond until it holds and returns how long that took; the test
// fails if it does not hold within timeout. what completes "waiting for ...".
// An error from cond is not fatal (the next poll may succeed) but the last
// one is reported if the wait times out, so return one that says why not.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) time.Duration {
	t.Helper()
	start := time.Now()
	// Not t.Context(): that is cancelled before cleanups run, and tests
	// wait in cleanups too. The timeout bounds the wait.
	if err := Poll(context.Background(), timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return time.Since(start)
}
