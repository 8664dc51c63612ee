//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// These tests run the Istio and node-drain faults end to end and check that
// each reverts exactly what it changed, and nothing another writer changed.

// virtualService reads a shop VirtualService as unstructured JSON.
func virtualService(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	vs := &unstructured.Unstructured{}
	vs.SetGroupVersionKind(harness.VirtualServiceGVK)
	if err := tb.Client.Get(t.Context(), client.ObjectKey{Namespace: harness.ShopNamespace, Name: name}, vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func vsSpec(vs *unstructured.Unstructured) map[string]any {
	spec, _, _ := unstructured.NestedMap(vs.Object, "spec")
	return spec
}

func TestIstioAbortIsMeasuredAndRevertedExactly(t *testing.T) {
	tb.RequireSteadyState(t)
	before := virtualService(t, "cart")

	run := tb.RunExperiment(t, tb.IstioExperiment("e2e-istio-abort", harness.AbortFault(50), 15*time.Second), 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}
	res := run.Status.Result
	if res == nil || res.TimeToDetect == nil || res.TimeToRecover == nil || run.Status.Timeline.DeviatedAt == nil {
		t.Fatalf("figures missing: %+v", res)
	}
	held := run.Status.Timeline.RevertedAt.Sub(run.Status.Timeline.InjectedAt.Time)
	if held < 15*time.Second || held > 18*time.Second {
		t.Errorf("the fault was held %s, want its duration of 15s (+ at most a few seconds)", held)
	}
	after := virtualService(t, "cart")
	if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(after)) {
		t.Fatalf("the VirtualService differs after the run:\nbefore %v\nafter  %v", vsSpec(before), vsSpec(after))
	}
	for k := range after.GetAnnotations() {
		if strings.HasPrefix(k, "chaos.faultline.dev/") {
			t.Errorf("annotation %s left behind", k)
		}
	}
}

func TestIstioAbortBreachingAGuardIsRevertedAtOnce(t *testing.T) {
	tb.RequireSteadyState(t)
	before := virtualService(t, "cart")
	exp := tb.IstioExperiment("e2e-istio-guard", harness.AbortFault(100), 2*time.Minute)
	exp.Spec.Abort = &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
		Name:       "cart-90",
		Prometheus: chaosv1alpha1.PrometheusQuery{Query: harness.SuccessRatioQuery("cart", "5s")},
		Condition:  chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.9"},
	}}}

	run := tb.RunExperiment(t, exp, 2*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictAborted || run.Status.Abort == nil || run.Status.Abort.Reason != chaosv1alpha1.AbortSLOBreached {
		t.Fatalf("verdict %s abort %+v, want Aborted by the guard", run.Status.Verdict, run.Status.Abort)
	}
	if run.Status.Result.AbortLatency == nil {
		t.Fatal("abort latency not recorded")
	}
	held := run.Status.Timeline.RevertedAt.Sub(run.Status.Timeline.InjectedAt.Time)
	if held > 30*time.Second {
		t.Errorf("the 2m fault was held %s: the guard did not cut it short", held)
	}
	t.Logf("abort latency %s, fault held %s of 2m", run.Status.Result.AbortLatency.Duration, held)
	if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(virtualService(t, "cart"))) {
		t.Fatal("the route was not restored after the abort")
	}
}

func TestAnotherWritersRouteChangeSurvivesRevert(t *testing.T) {
	tb.RequireSteadyState(t)
	exp := tb.IstioExperiment("e2e-istio-other-writer", harness.AbortFault(50), 20*time.Second)
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	waitPhase(t, run, chaosv1alpha1.PhaseObserving)

	// Another writer (a person, Flagger) sets a timeout on the hurt route.
	vs := virtualService(t, "cart")
	patch := []byte(`[{"op":"test","path":"/spec/http/0/name","value":"primary"},{"op":"add","path":"/spec/http/0/timeout","value":"3s"}]`)
	if err := tb.Client.Patch(t.Context(), vs, client.RawPatch("application/json-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled in a cleanup.
		ctx := context.Background()
		vs := &unstructured.Unstructured{}
		vs.SetGroupVersionKind(harness.VirtualServiceGVK)
		if err := tb.Client.Get(ctx, client.ObjectKey{Namespace: harness.ShopNamespace, Name: "cart"}, vs); err != nil {
			t.Errorf("reading cart to undo the timeout: %v", err)
			return
		}
		undo := []byte(`[{"op":"remove","path":"/spec/http/0/timeout"}]`)
		if err := tb.Client.Patch(ctx, vs, client.RawPatch("application/json-patch+json", undo)); err != nil {
			t.Errorf("undoing the other writer's timeout: %v", err)
		}
	})

	got := tb.WaitRunCompleted(t, run, 2*time.Minute)
	t.Logf("report: %s", got.Status.Message)
	after := virtualService(t, "cart")
	routes, _, _ := unstructured.NestedSlice(after.Object, "spec", "http")
	route := routes[0].(map[string]any)
	if route["timeout"] != "3s" {
		t.Errorf("the other writer's timeout was lost: route %v", route)
	}
	if _, ok := route["fault"]; ok {
		t.Errorf("the fault was left on the route: %v", route)
	}
}

func TestHeaderScopedFaultHurtsOnlyItsSlice(t *testing.T) {
	tb.RequireSteadyState(t)
	before := virtualService(t, "cart")
	fault := harness.AbortFault(100)
	fault.Match = &chaosv1alpha1.IstioMatch{Headers: map[string]string{"x-faultline-canary": "true"}}
	exp := tb.IstioExperiment("e2e-istio-scoped", fault, 20*time.Second)
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	waitPhase(t, run, chaosv1alpha1.PhaseObserving)

	// trafficsim sends 20% of requests with the canary header: only those fail.
	var ratio float64
	harness.WaitFor(t, 15*time.Second, "cart's success ratio to settle near 0.8", func(ctx context.Context) (bool, error) {
		r, err := tb.SuccessRatio(ctx, "cart", "5s")
		if err != nil {
			return false, err
		}
		ratio = r
		if !harness.Within(r, 0.8, 0.08) {
			return false, fmt.Errorf("success ratio %.3f", r)
		}
		return true, nil
	})
	t.Logf("cart success ratio with the canary slice aborted: %.3f", ratio)

	got := tb.WaitRunCompleted(t, run, 2*time.Minute)
	t.Logf("report: %s", got.Status.Message)
	if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(virtualService(t, "cart"))) {
		t.Fatal("the inserted route was not removed")
	}
}

// nodeOf returns a node running a pod of app, and one running none of it.
// Of the nodes without app, it returns the one running the most shop pods:
// an earlier drain leaves its node empty (nothing moves pods back), and a
// drain of an empty node would have nothing to evict.
func nodeOf(t *testing.T, app string) (with, without string) {
	t.Helper()
	all := &corev1.PodList{}
	if err := tb.Client.List(t.Context(), all, client.InNamespace(harness.ShopNamespace)); err != nil {
		t.Fatal(err)
	}
	used, load := map[string]bool{}, map[string]int{}
	for _, p := range all.Items {
		load[p.Spec.NodeName]++
		if p.Labels["app"] == app {
			used[p.Spec.NodeName] = true
			with = p.Spec.NodeName
		}
	}
	for _, n := range []string{"kwok-a-1", "kwok-a-2", "kwok-b-1", "kwok-b-2"} {
		if !used[n] && (without == "" || load[n] > load[without]) {
			without = n
		}
	}
	return with, without
}

func node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n := &corev1.Node{}
	if err := tb.Client.Get(t.Context(), client.ObjectKey{Name: name}, n); err != nil {
		t.Fatal(err)
	}
	return n
}

// setUnschedulable cordons or uncordons a node as a person would. It takes
// its own ctx, as it also runs in cleanups, where t.Context() is cancelled.
func setUnschedulable(ctx context.Context, t *testing.T, name string, v bool) {
	t.Helper()
	n := &corev1.Node{}
	if err := tb.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
		t.Error(err)
		return
	}
	patch := client.MergeFrom(n.DeepCopy())
	n.Spec.Unschedulable = v
	if err := tb.Client.Patch(ctx, n, patch); err != nil {
		t.Error(err)
	}
}

func TestNodeDrainReschedulesAndUncordons(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	_, target := nodeOf(t, "payments") // a node without payments: its PDB does not block
	if target == "" {
		t.Skip("every node runs a payments pod; the PDB would block any drain")
	}
	run := tb.RunExperiment(t, tb.DrainExperiment("e2e-drain", target, 20*time.Second, 30*time.Second), 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}
	if n := node(t, target); n.Spec.Unschedulable {
		t.Fatalf("node %s left cordoned", target)
	}
	restore := run.Status.Targets[0].Restore
	if restore == nil || restore.Node == nil || len(restore.Node.EvictedPods) == 0 {
		t.Fatalf("no evicted pods recorded: %+v", restore)
	}
	pods := &corev1.PodList{}
	if err := tb.Client.List(t.Context(), pods, client.InNamespace(harness.ShopNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == target && p.DeletionTimestamp == nil && p.CreationTimestamp.Time.Before(run.Status.Timeline.InjectedAt.Time) {
			t.Errorf("pod %s survived the drain of %s", p.Name, target)
		}
	}
	if run.Status.Result.TimeToRecover == nil {
		t.Fatal("time to recover not measured")
	}
	t.Logf("drained %s: %d pods evicted, time to recover %s", target, len(restore.Node.EvictedPods), run.Status.Result.TimeToRecover.Duration)
}

func TestDrainBlockedByAPodDisruptionBudgetTimesOutAndSaysWhy(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	target, _ := nodeOf(t, "payments")
	run := tb.RunExperiment(t, tb.DrainExperiment("e2e-drain-pdb", target, 5*time.Second, 8*time.Second), 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if n := node(t, target); n.Spec.Unschedulable {
		t.Fatalf("node %s left cordoned after a blocked drain", target)
	}
	tgt := run.Status.Targets[0]
	if tgt.Restore == nil || tgt.Restore.Node == nil || len(tgt.Restore.Node.BlockedPods) == 0 {
		t.Fatalf("the run does not say what blocked the drain: target %+v", tgt)
	}
	if !strings.Contains(tgt.Message, "PodDisruptionBudget") {
		t.Errorf("target message %q does not name the PodDisruptionBudget", tgt.Message)
	}
	t.Logf("blocked pods: %v", tgt.Restore.Node.BlockedPods)
}

func TestNodeCordonedBySomeoneElseStaysCordoned(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	_, target := nodeOf(t, "payments")
	if target == "" {
		t.Skip("every node runs a payments pod")
	}
	setUnschedulable(t.Context(), t, target, true)
	t.Cleanup(func() { setUnschedulable(context.Background(), t, target, false) })

	run := tb.RunExperiment(t, tb.DrainExperiment("e2e-drain-theirs", target, 5*time.Second, 20*time.Second), 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)
	if !node(t, target).Spec.Unschedulable {
		t.Fatalf("node %s, cordoned by someone else before the run, was uncordoned by it", target)
	}
}

func TestReaperRevertsAFaultWhoseRunWasDeletedWhileTheOperatorWasDown(t *testing.T) {
	reaperRevertsOrphanedFault(t, "e2e-reaper")
}

// reaperRevertsOrphanedFault holds an Istio fault on cart, kills the
// operator, strips the run's finalizer and deletes the run (as a namespace
// cleanup script might), then starts the operator and waits for the reaper
// to restore the VirtualService.
func reaperRevertsOrphanedFault(t *testing.T, name string) {
	t.Helper()
	tb.RequireSteadyState(t)
	before := virtualService(t, "cart")
	exp := tb.IstioExperiment(name, harness.AbortFault(50), 2*time.Minute)
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	waitPhase(t, run, chaosv1alpha1.PhaseObserving)

	tb.KillOperator(t)
	got := &chaosv1alpha1.ExperimentRun{}
	if err := tb.Client.Get(t.Context(), client.ObjectKeyFromObject(run), got); err != nil {
		t.Fatal(err)
	}
	// A finalizer-only change is never sent to the admission webhooks
	// (their matchConditions), so it works while the operator is down.
	patch := []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`)
	if err := tb.Client.Patch(t.Context(), got, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		t.Fatalf("stripping the finalizer while the operator is down: %v", err)
	}
	if err := tb.Client.Delete(t.Context(), got); err != nil && !harness.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, ok := virtualService(t, "cart").GetAnnotations()[chaosv1alpha1.RunAnnotation]; !ok {
		t.Fatal("the fault is not on the VirtualService; the test proves nothing")
	}

	tb.StartOperator(t, "--reap-period=2s")
	harness.WaitFor(t, 30*time.Second, "the reaper to remove the orphaned fault", func(ctx context.Context) (bool, error) {
		vs := &unstructured.Unstructured{}
		vs.SetGroupVersionKind(harness.VirtualServiceGVK)
		if err := tb.Client.Get(ctx, client.ObjectKey{Namespace: harness.ShopNamespace, Name: "cart"}, vs); err != nil {
			return false, err
		}
		if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(vs)) {
			return false, fmt.Errorf("spec still %v", vsSpec(vs))
		}
		return true, nil
	})
	// The next test starts from a healthy shop, not from the tail of this
	// fault in the success-rate windows: the steady state must hold for
	// longer than those windows (5s) plus a scrape.
	settled := time.Time{}
	harness.WaitFor(t, time.Minute, "the shop to hold its steady state for 7s", func(ctx context.Context) (bool, error) {
		ok, err := tb.SteadyState(ctx)
		if !ok {
			settled = time.Time{}
			return false, err
		}
		if settled.IsZero() {
			settled = time.Now()
		}
		if held := time.Since(settled); held < 7*time.Second {
			return false, fmt.Errorf("steady for %s", held.Round(100*time.Millisecond))
		}
		return true, nil
	})
}

// TestOperatorKilledDuringSustainedFaultsResumesAndReverts SIGKILLs the
// operator while an Istio fault and while a drain are held, restarts it, and
// checks that each run finishes with its figures and that nothing it changed
// is left behind.
func TestOperatorKilledDuringSustainedFaultsResumesAndReverts(t *testing.T) {
	t.Run("istio fault", func(t *testing.T) {
		tb.RequireSteadyState(t)
		before := virtualService(t, "cart")
		exp := tb.IstioExperiment("e2e-istio-crash", harness.AbortFault(50), 15*time.Second)
		tb.Create(t, exp)
		run := tb.StartRun(t, exp)
		waitPhase(t, run, chaosv1alpha1.PhaseObserving)

		tb.KillOperator(t)
		time.Sleep(3 * time.Second)
		tb.StartOperator(t)

		got := tb.WaitRunCompleted(t, run, 2*time.Minute)
		t.Logf("report: %s", got.Status.Message)
		if got.Status.Result == nil || got.Status.Result.TimeToRecover == nil {
			t.Fatalf("no time to recover after resuming: %+v", got.Status.Result)
		}
		if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(virtualService(t, "cart"))) {
			t.Fatal("the VirtualService differs after the resumed run")
		}
	})
	t.Run("node drain", func(t *testing.T) {
		tb.RequireSteadyState(t)
		tb.RestoreShopOnCleanup(t)
		_, target := nodeOf(t, "payments")
		if target == "" {
			t.Skip("every node runs a payments pod; the PDB would block any drain")
		}
		exp := tb.DrainExperiment("e2e-drain-crash", target, 15*time.Second, 30*time.Second)
		tb.Create(t, exp)
		run := tb.StartRun(t, exp)
		waitPhase(t, run, chaosv1alpha1.PhaseObserving)
		if !node(t, target).Spec.Unschedulable {
			t.Fatal("the node is not cordoned while the drain is held; the test proves nothing")
		}

		tb.KillOperator(t)
		time.Sleep(3 * time.Second)
		tb.StartOperator(t)

		got := tb.WaitRunCompleted(t, run, 2*time.Minute)
		t.Logf("report: %s", got.Status.Message)
		if got.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("verdict %s after resuming, want Passed: %s", got.Status.Verdict, got.Status.Message)
		}
		if node(t, target).Spec.Unschedulable {
			t.Fatalf("node %s left cordoned after the resumed drain", target)
		}
	})
}
