package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// SetPaused flips the kill switch.
func (t *Testbed) SetPaused(tt testing.TB, paused bool) {
	tt.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	patch := fmt.Sprintf(`{"spec":{"paused":%t}}`, paused)
	policy := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}}
	if err := t.Client.Patch(ctx, policy, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		tt.Fatalf("setting ChaosPolicy spec.paused=%t: %v", paused, err)
	}
}

// RelaxPolicyForBench lifts, for the benchmark, the ChaosPolicy limits
// that would refuse or hold its runs (a workload share cap, a lower
// maximum of concurrent runs) and puts them back when b ends. A paused
// policy is an error: the testbed was left with the kill switch on.
func (t *Testbed) RelaxPolicyForBench(b testing.TB, concurrentRuns int32) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := t.Client.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
		b.Fatalf("reading the ChaosPolicy: %v", err)
	}
	if p.Spec.Paused {
		b.Fatal("the ChaosPolicy is paused (kill switch on): no run would start")
	}
	oldPercent, oldRuns := p.Spec.MaxWorkloadPercent, p.Spec.MaxConcurrentRuns
	if oldPercent == nil && (oldRuns == nil || *oldRuns >= concurrentRuns) {
		return
	}
	patch := fmt.Appendf(nil, `{"spec":{"maxWorkloadPercent":null,"maxConcurrentRuns":%d}}`, max(concurrentRuns, ptr.Deref(oldRuns, 0)))
	if oldRuns == nil {
		patch = []byte(`{"spec":{"maxWorkloadPercent":null}}`)
	}
	if err := t.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch)); err != nil {
		b.Fatalf("relaxing the ChaosPolicy for the benchmark: %v", err)
	}
	b.Logf("ChaosPolicy relaxed for the benchmark: %s", patch)
	restore, err := json.Marshal(map[string]any{"spec": map[string]any{"maxWorkloadPercent": oldPercent, "maxConcurrentRuns": oldRuns}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := t.Client.Patch(ctx, &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}}, client.RawPatch(types.MergePatchType, restore)); err != nil {
			b.Errorf("restoring the ChaosPolicy: %v", err)
		}
	})
}
