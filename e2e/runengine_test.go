//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// These tests run pod-kill experiments end to end: the real operator, a real
// control plane whose ReplicaSets replace the killed pod, kwok nodes that make
// the replacement Ready after a known delay, trafficsim and Prometheus. The
// replacement pod's Ready transition is the ground truth the measured figures
// are compared with.

// readyEndpointsQuery counts checkout's ready endpoints as trafficsim sees
// them in EndpointSlices: a guard that one pod kill breaches.
const readyEndpointsQuery = `sum(trafficsim_ready_endpoints{destination_service_name="checkout",destination_service_namespace="shop"})`

// podUIDs returns the UIDs of checkout's pods.
func podUIDs(t *testing.T) map[types.UID]corev1.Pod {
	t.Helper()
	pods, err := tb.ShopPods(t.Context(), "checkout")
	if err != nil {
		t.Fatal(err)
	}
	out := map[types.UID]corev1.Pod{}
	for _, p := range pods {
		out[p.UID] = p
	}
	return out
}

// killedAndReplacement compares checkout's pods before and after a run: it
// returns how many of the original pods are gone, and the replacement that
// became Ready first.
func killedAndReplacement(t *testing.T, before map[types.UID]corev1.Pod) (killed int, replacement *corev1.Pod) {
	t.Helper()
	after := podUIDs(t)
	for uid := range before {
		if _, ok := after[uid]; !ok {
			killed++
		}
	}
	for uid, p := range after {
		if _, ok := before[uid]; ok {
			continue
		}
		p := p
		if _, ready := harness.ReadyTransition(&p); ready && (replacement == nil || p.CreationTimestamp.Before(&replacement.CreationTimestamp)) {
			replacement = &p
		}
	}
	return killed, replacement
}

// waitPhase waits until run reaches phase (or any later one) and returns it.
func waitPhase(t *testing.T, run *chaosv1alpha1.ExperimentRun, phases ...chaosv1alpha1.RunPhase) *chaosv1alpha1.ExperimentRun {
	t.Helper()
	got := &chaosv1alpha1.ExperimentRun{}
	harness.WaitFor(t, 90*time.Second, fmt.Sprintf("run %s to reach %v", run.Name, phases), func(ctx context.Context) (bool, error) {
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		for _, p := range phases {
			if got.Status.Phase == p {
				return true, nil
			}
		}
		return false, fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
	})
	return got
}

func TestPodKillMeasuresDetectionAndRecovery(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	before := podUIDs(t)

	run := tb.RunExperiment(t, tb.PodKillExperiment("e2e-pod-kill"), 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}
	killed, replacement := killedAndReplacement(t, before)
	if killed != 1 {
		t.Fatalf("%d checkout pods were killed, want exactly 1", killed)
	}
	if replacement == nil {
		t.Fatal("no replacement pod became Ready")
	}
	tl, res := run.Status.Timeline, run.Status.Result
	if tl.InjectedAt == nil || res == nil || res.TimeToRecover == nil || res.TimeToDetect == nil {
		t.Fatalf("figures missing: timeline %+v result %+v", tl, res)
	}
	// Ground truth: the replacement's Ready transition (second resolution in
	// the API) minus the kill.
	readyAt, _ := harness.ReadyTransition(replacement)
	truth := readyAt.Sub(tl.InjectedAt.Time)
	measured := res.TimeToRecover.Duration
	t.Logf("time to recover: measured %s, ground truth %s (replacement %s Ready at %s); time to detect %s",
		measured, truth.Round(time.Millisecond), replacement.Name, readyAt.Format(time.RFC3339), res.TimeToDetect.Duration)
	if diff := measured - truth; diff < -2*time.Second || diff > 2*time.Second {
		t.Errorf("time to recover %s is not within ±2s of the ground truth %s", measured, truth)
	}
	if res.TimeToDetect.Duration > 2*harness.ProbeInterval {
		t.Errorf("time to detect %s, want within 2 intervals (%s)", res.TimeToDetect.Duration, 2*harness.ProbeInterval)
	}
	if res.DetectedBy != chaosv1alpha1.DetectedByProbe {
		t.Errorf("detected by %q, want Probe", res.DetectedBy)
	}
}

func TestPodKillBreachingAGuardAborts(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	exp := tb.PodKillExperiment("e2e-pod-kill-guard")
	exp.Spec.Abort.Guards = []chaosv1alpha1.Guard{{
		Name:       "checkout-endpoints",
		Prometheus: chaosv1alpha1.PrometheusQuery{Query: readyEndpointsQuery},
		Condition:  chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "3"},
	}}

	run := tb.RunExperiment(t, exp, 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	if run.Status.Verdict != chaosv1alpha1.VerdictAborted {
		t.Fatalf("verdict %s, want Aborted: %s", run.Status.Verdict, run.Status.Message)
	}
	a := run.Status.Abort
	if a == nil || a.Reason != chaosv1alpha1.AbortSLOBreached || a.Guard != "checkout-endpoints" {
		t.Fatalf("abort %+v, want SLOBreached by checkout-endpoints", a)
	}
	if a.Value != "2" {
		t.Errorf("breaching value %q, want 2 ready endpoints", a.Value)
	}
	if run.Status.Result == nil || run.Status.Result.AbortLatency == nil {
		t.Fatalf("abort latency not recorded: %+v", run.Status.Result)
	}
	t.Logf("abort latency %s", run.Status.Result.AbortLatency.Duration)
	if run.Status.Timeline.RevertedAt == nil {
		t.Error("revertedAt not recorded")
	}
}

func TestBaselineThatDoesNotHoldInjectsNothing(t *testing.T) {
	tb.RequireSteadyState(t)
	before := podUIDs(t)
	exp := tb.PodKillExperiment("e2e-baseline-not-held")
	// Four ready endpoints is more than checkout has: the hypothesis is false.
	exp.Spec.SteadyState.Probes = append(exp.Spec.SteadyState.Probes, chaosv1alpha1.Probe{
		Name: "four-endpoints", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: readyEndpointsQuery},
		Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "4"},
	})

	run := tb.RunExperiment(t, exp, time.Minute)

	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive {
		t.Fatalf("verdict %s, want Inconclusive: %s", run.Status.Verdict, run.Status.Message)
	}
	if len(run.Status.Targets) != 0 || run.Status.Timeline.InjectedAt != nil {
		t.Fatalf("targets %v injectedAt %v: nothing should have been touched", run.Status.Targets, run.Status.Timeline.InjectedAt)
	}
	if killed, _ := killedAndReplacement(t, before); killed != 0 {
		t.Fatalf("%d pods were killed by a run whose baseline did not hold", killed)
	}
}

func TestPrometheusStoppedMidRunAbortsWithProbeUnavailable(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	exp := tb.PodKillExperiment("e2e-prometheus-gone")
	// A long stabilization keeps the run observing while Prometheus is away.
	exp.Spec.SteadyState.Stabilization = 30
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	waitPhase(t, run, chaosv1alpha1.PhaseObserving)
	tb.StopPrometheus(t)
	t.Cleanup(func() { tb.StartPrometheus(t) })

	got := tb.WaitRunCompleted(t, run, 2*time.Minute)
	t.Logf("report: %s", got.Status.Message)
	if got.Status.Verdict != chaosv1alpha1.VerdictAborted || got.Status.Abort == nil ||
		got.Status.Abort.Reason != chaosv1alpha1.AbortProbeUnavailable {
		t.Fatalf("verdict %s abort %+v, want Aborted with ProbeUnavailable", got.Status.Verdict, got.Status.Abort)
	}
}

func TestRunDeletedMidObservationReleasesItsFinalizer(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	exp := tb.PodKillExperiment("e2e-run-deleted")
	exp.Spec.SteadyState.Stabilization = 30
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	observing := waitPhase(t, run, chaosv1alpha1.PhaseObserving)
	if len(observing.Finalizers) == 0 {
		t.Fatal("an observing run carries no finalizer: a deletion could not revert it")
	}
	if err := tb.Client.Delete(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 30*time.Second, "the deleted run to be gone", func(ctx context.Context) (bool, error) {
		err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), &chaosv1alpha1.ExperimentRun{})
		if harness.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func TestOperatorKilledMidRunResumesWithoutInjectingTwice(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	before := podUIDs(t)
	exp := tb.PodKillExperiment("e2e-operator-killed")
	// Recovery is slower than the restart, so the restarted operator must
	// pick the run up mid-observation.
	exp.Spec.SteadyState.Stabilization = 8
	tb.Create(t, exp)
	run := tb.StartRun(t, exp)
	waitPhase(t, run, chaosv1alpha1.PhaseObserving)

	tb.KillOperator(t) // SIGKILL: no cleanup, no lease release
	time.Sleep(2 * time.Second)
	tb.StartOperator(t)

	got := tb.WaitRunCompleted(t, run, 3*time.Minute)
	t.Logf("report: %s", got.Status.Message)
	if got.Status.Verdict != chaosv1alpha1.VerdictPassed && got.Status.Verdict != chaosv1alpha1.VerdictFailed {
		t.Fatalf("verdict %s, want a measured verdict after resuming: %s", got.Status.Verdict, got.Status.Message)
	}
	if got.Status.Result == nil || got.Status.Result.TimeToRecover == nil {
		t.Fatalf("no time to recover after resuming: %+v", got.Status.Result)
	}
	if killed, _ := killedAndReplacement(t, before); killed != 1 {
		t.Fatalf("%d checkout pods were killed across the restart, want exactly 1", killed)
	}
	harness.WaitFor(t, 10*time.Second, "the completed run's finalizer to be released", func(ctx context.Context) (bool, error) {
		r := &chaosv1alpha1.ExperimentRun{}
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), r); err != nil {
			return false, err
		}
		if len(r.Finalizers) != 0 {
			return false, fmt.Errorf("finalizers %v", r.Finalizers)
		}
		return true, nil
	})
}
