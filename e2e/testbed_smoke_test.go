//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/faultline-dev/faultline/e2e/harness"
)

// These tests prove the testbed itself: that what the fault tests will
// measure (pod readiness, the success ratio Prometheus sees) follows the
// cluster as the design says. If one of them fails, fix the testbed before
// trusting any other e2e result.

// A killed pod's replacement becomes Ready after the configured ready delay:
// the ground truth time-to-recover measurements are compared with.
func TestTestbedReplacementPodReadyAfterDelay(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	ctx := t.Context()

	pods, err := tb.ShopPods(ctx, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	old := map[types.UID]bool{}
	for _, p := range pods {
		old[p.UID] = true
	}
	victim := pods[0]

	deletedAt := time.Now()
	if err := tb.Client.Delete(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	// kwok finalizes a deleted pod at once instead of after its grace period.
	gone := harness.WaitFor(t, 3*time.Second, "the deleted pod to be gone", func(ctx context.Context) (bool, error) {
		err := tb.Client.Get(ctx, client.ObjectKeyFromObject(&victim), &corev1.Pod{})
		return harness.IsNotFound(err), client.IgnoreNotFound(err)
	})

	var replacement corev1.Pod
	harness.WaitFor(t, 20*time.Second, "a Ready replacement pod", func(ctx context.Context) (bool, error) {
		pods, err := tb.ShopPods(ctx, "checkout")
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			if _, ready := harness.ReadyTransition(&p); !old[p.UID] && ready && p.DeletionTimestamp == nil {
				replacement = p
				return true, nil
			}
		}
		return false, nil
	})

	seenReady := time.Since(deletedAt)

	want, err := harness.ReadyDelay(&replacement)
	if err != nil {
		t.Fatal(err)
	}
	readyAt, _ := harness.ReadyTransition(&replacement)
	// Both timestamps have second resolution, hence the ±1s.
	got := readyAt.Sub(replacement.CreationTimestamp.Time)
	t.Logf("deleted %s, gone after %s; replacement %s created %s, Ready at %s: %s after creation (want %s ±1s); seen Ready %s after the delete",
		victim.Name, gone.Round(time.Millisecond), replacement.Name, replacement.CreationTimestamp.Format(time.TimeOnly),
		readyAt.Format(time.TimeOnly), got, want, seenReady.Round(time.Millisecond))
	if math.Abs((got - want).Seconds()) > 1 {
		t.Errorf("replacement became Ready %s after creation, want %s ±1s", got, want)
	}
}

// With checkout scaled to zero, the success ratio Prometheus computes falls to
// 0 within 5s and the team's alert fires.
func TestTestbedScaleToZeroFailsAllRequests(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	ctx := t.Context()

	// A 3s window: with a 1s scrape interval it empties of successes ~3s
	// after the last one, where a 5s window would take longer than the 5s
	// this test allows end to end.
	query := harness.SuccessRatioQuery("checkout", "3s")
	scaledAt := time.Now()
	if err := tb.ScaleDeployment(ctx, "checkout", 0); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 15*time.Second, "the checkout success ratio to reach 0", func(ctx context.Context) (bool, error) {
		r, err := tb.Query(ctx, query)
		if err != nil {
			return false, err
		}
		return r == 0, fmt.Errorf("success ratio %.3f", r)
	})
	toZero := time.Since(scaledAt)
	t.Logf("success ratio (3s window) reached 0 %s after the scale-down", toZero.Round(time.Millisecond))
	if toZero > 5*time.Second {
		t.Errorf("success ratio reached 0 after %s, want within 5s", toZero.Round(time.Millisecond))
	}

	harness.WaitFor(t, 15*time.Second, "CheckoutAvailabilityLow to fire", func(ctx context.Context) (bool, error) {
		return tb.AlertFiring(ctx, "CheckoutAvailabilityLow")
	})
	t.Logf("CheckoutAvailabilityLow firing %s after the scale-down", time.Since(scaledAt).Round(time.Millisecond))

	if err := tb.ScaleDeployment(ctx, "checkout", 3); err != nil {
		t.Fatal(err)
	}
	recovered := harness.WaitFor(t, 30*time.Second, "the checkout success ratio to recover", func(ctx context.Context) (bool, error) {
		r, err := tb.SuccessRatio(ctx, "checkout", "5s")
		if err != nil {
			return false, err
		}
		return r == 1, fmt.Errorf("success ratio %.3f", r)
	})
	t.Logf("success ratio (5s window) back to 1 %s after the scale-up (ready delay %s)", recovered.Round(time.Millisecond), harness.DefaultReadyDelay)
}

// A 50% abort on cart's primary route shows as an error ratio near 0.5, and
// removing it brings the ratio back to 0.
func TestTestbedRouteAbortShowsInErrorRatio(t *testing.T) {
	tb.RequireSteadyState(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tb.SetRouteFault(ctx, "cart", "primary", nil); err != nil {
			t.Errorf("removing the fault: %v", err)
		}
	})
	ctx := t.Context()
	errorRatio := func(ctx context.Context, window string) (float64, error) {
		r, err := tb.SuccessRatio(ctx, "cart", window)
		return 1 - r, err
	}

	abort := map[string]any{"abort": map[string]any{"httpStatus": 503, "percentage": map[string]any{"value": 50}}}
	injectedAt := time.Now()
	if err := tb.SetRouteFault(ctx, "cart", "primary", abort); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 10*time.Second, "the cart error ratio to approach 0.5", func(ctx context.Context) (bool, error) {
		r, err := errorRatio(ctx, "5s")
		if err != nil {
			return false, err
		}
		return harness.Within(r, 0.5, 0.1), fmt.Errorf("error ratio %.3f", r)
	})
	t.Logf("error ratio (5s window) within 0.5±0.1 %s after the patch", time.Since(injectedAt).Round(time.Millisecond))

	// Settled: once a 10s window (~200 requests at 20 rps) lies wholly after
	// the patch, the ratio must be near 0.5, not just have passed by it.
	time.Sleep(time.Until(injectedAt.Add(12 * time.Second)))
	settled, err := errorRatio(ctx, "10s")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("error ratio over the 10s after the patch: %.3f", settled)
	if !harness.Within(settled, 0.5, 0.1) {
		t.Errorf("error ratio over 10s under a 50%% abort is %.3f, want 0.5±0.1", settled)
	}

	if err := tb.SetRouteFault(ctx, "cart", "primary", nil); err != nil {
		t.Fatal(err)
	}
	cleared := harness.WaitFor(t, 15*time.Second, "the cart error ratio to return to 0", func(ctx context.Context) (bool, error) {
		r, err := errorRatio(ctx, "5s")
		if err != nil {
			return false, err
		}
		return r == 0, fmt.Errorf("error ratio %.3f", r)
	})
	t.Logf("error ratio (5s window) back to 0 %s after removing the fault", cleared.Round(time.Millisecond))
}
