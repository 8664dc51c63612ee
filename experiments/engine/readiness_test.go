package engine_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// TestReadinessIsWhatKstatusReads computes the kstatus of a run in every
// phase and with every verdict, as Flux and the cli-utils applier do, after
// SetReadiness: in progress until the verdict, Current only when it Passed,
// Failed otherwise.
func TestReadinessIsWhatKstatusReads(t *testing.T) {
	const generation = 3
	inPhase := func(p chaosv1alpha1.RunPhase, message string) func() *chaosv1alpha1.ExperimentRunStatus {
		return func() *chaosv1alpha1.ExperimentRunStatus {
			return &chaosv1alpha1.ExperimentRunStatus{Phase: p, Message: message}
		}
	}
	finished := func(v chaosv1alpha1.Verdict, reason, message string) func() *chaosv1alpha1.ExperimentRunStatus {
		return func() *chaosv1alpha1.ExperimentRunStatus {
			st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseRecovering}
			engine.Run{Spec: podKill(), Status: st}.Fail(t0, v, reason, message)
			return st
		}
	}
	tests := map[string]struct {
		status            func() *chaosv1alpha1.ExperimentRunStatus
		wantKstatus       kstatus.Status
		wantReady         metav1.ConditionStatus
		wantReadyReason   string
		wantStalledReason string // empty: no Stalled condition
	}{
		"accepted, nothing written yet but the phase": {
			status:      func() *chaosv1alpha1.ExperimentRunStatus { return &chaosv1alpha1.ExperimentRunStatus{} },
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: chaosv1alpha1.ReasonPending,
		},
		"pending, waiting for approval": {
			status:      inPhase(chaosv1alpha1.PhasePending, "waiting for approval"),
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhasePending),
		},
		"verifying the baseline": {
			status:      inPhase(chaosv1alpha1.PhaseBaseline, "verifying the steady state"),
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhaseBaseline),
		},
		"injecting": {
			status:      inPhase(chaosv1alpha1.PhaseInjecting, "selected 1 target(s)"),
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhaseInjecting),
		},
		"observing with the fault active": {
			status:      inPhase(chaosv1alpha1.PhaseObserving, "fault injected into 1 target(s); observing"),
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhaseObserving),
		},
		"reverting after a configuration error found with the fault active": {
			status: func() *chaosv1alpha1.ExperimentRunStatus {
				st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving,
					Targets: []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "web-1", Phase: chaosv1alpha1.TargetInjected}}}
				st.Timeline.InjectedAt = micro(t0)
				engine.Run{Spec: podKill(), Status: st}.ApplyConfigError(t0, `secret "prometheus-token" not found`)
				if !meta.IsStatusConditionTrue(st.Conditions, chaosv1alpha1.ConditionStalled) {
					t.Fatalf("the engine no longer marks a configuration error Stalled: this case tests nothing")
				}
				return st
			},
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhaseReverting),
		},
		"recovering": {
			status:      inPhase(chaosv1alpha1.PhaseRecovering, "fault reverted; waiting for the steady state to return"),
			wantKstatus: kstatus.InProgressStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.PhaseRecovering),
		},
		"passed": {
			status:      finished(chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonPassed, "detected by probes in 2s; recovered in 5s"),
			wantKstatus: kstatus.CurrentStatus, wantReady: metav1.ConditionTrue, wantReadyReason: chaosv1alpha1.ReasonPassed,
		},
		"a dry run that passed": {
			status:      finished(chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonDryRun, "dry run: nothing was injected"),
			wantKstatus: kstatus.CurrentStatus, wantReady: metav1.ConditionTrue, wantReadyReason: chaosv1alpha1.ReasonPassed,
		},
		"failed, not recovered": {
			status:      finished(chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonNotRecovered, "did not recover"),
			wantKstatus: kstatus.FailedStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.VerdictFailed),
			wantStalledReason: chaosv1alpha1.ReasonNotRecovered,
		},
		"aborted by a guard": {
			status:      finished(chaosv1alpha1.VerdictAborted, chaosv1alpha1.ReasonAborted, "aborted: guard breached"),
			wantKstatus: kstatus.FailedStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.VerdictAborted),
			wantStalledReason: chaosv1alpha1.ReasonAborted,
		},
		"inconclusive, the baseline did not hold": {
			status:      finished(chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonBaselineNotHeld, "the baseline did not hold"),
			wantKstatus: kstatus.FailedStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.VerdictInconclusive),
			wantStalledReason: chaosv1alpha1.ReasonBaselineNotHeld,
		},
		"error, a configuration error": {
			status:      finished(chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonConfigError, "configuration error: create the Secret"),
			wantKstatus: kstatus.FailedStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.VerdictError),
			wantStalledReason: chaosv1alpha1.ReasonConfigError,
		},
		"completed without a verdict, which no tool may pass on": {
			status: func() *chaosv1alpha1.ExperimentRunStatus {
				return &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseCompleted, Message: "?"}
			},
			wantKstatus: kstatus.FailedStatus, wantReady: metav1.ConditionFalse, wantReadyReason: string(chaosv1alpha1.VerdictError),
			wantStalledReason: string(chaosv1alpha1.VerdictError),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := tc.status()
			engine.SetReadiness(st, generation, t0)

			ready := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionReady)
			if ready == nil || ready.Status != tc.wantReady || ready.Reason != tc.wantReadyReason || ready.ObservedGeneration != generation {
				t.Errorf("Ready = %+v, want %s, reason %s, observedGeneration %d", ready, tc.wantReady, tc.wantReadyReason, generation)
			}
			reconciling := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionReconciling)
			if inProgress := tc.wantKstatus == kstatus.InProgressStatus; (reconciling != nil) != inProgress ||
				(inProgress && (reconciling.Status != metav1.ConditionTrue || reconciling.Reason != tc.wantReadyReason)) {
				t.Errorf("Reconciling = %+v, want it True with reason %s exactly while the run is in progress", reconciling, tc.wantReadyReason)
			}
			stalled := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionStalled)
			switch {
			case tc.wantStalledReason == "" && stalled != nil:
				t.Errorf("Stalled = %+v, want none", stalled)
			case tc.wantStalledReason != "" && (stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != tc.wantStalledReason || stalled.Message == ""):
				t.Errorf("Stalled = %+v, want True with reason %s and a message", stalled, tc.wantStalledReason)
			}

			if got := computeKstatus(t, st, generation); got.Status != tc.wantKstatus {
				t.Errorf("kstatus = %s (%s), want %s", got.Status, got.Message, tc.wantKstatus)
			}

			// Set again an hour later with nothing changed: nothing moves,
			// transition times included, so the controller writes nothing.
			before := st.DeepCopy()
			engine.SetReadiness(st, generation, t0.Add(time.Hour))
			if !equality.Semantic.DeepEqual(before, st) {
				t.Errorf("setting the conditions again changed them:\n%+v\nthen\n%+v", before.Conditions, st.Conditions)
			}
		})
	}
}

// TestReadinessMovesWithTheRun follows one status from acceptance to its
// verdict: the conditions of the earlier phase never linger.
func TestReadinessMovesWithTheRun(t *testing.T) {
	st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending, Message: "accepted"}
	engine.SetReadiness(st, 1, t0)
	st.Phase = chaosv1alpha1.PhaseObserving
	engine.SetReadiness(st, 1, t0.Add(time.Minute))
	if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionReconciling); c == nil || c.Reason != string(chaosv1alpha1.PhaseObserving) || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Reconciling = %+v, want reason Observing, True since %s", c, t0)
	}
	engine.Run{Spec: podKill(), Status: st}.Fail(t0.Add(2*time.Minute), chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonNotRecovered, "did not recover")
	engine.SetReadiness(st, 1, t0.Add(2*time.Minute))
	if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionReconciling); c != nil {
		t.Errorf("Reconciling = %+v on a finished run, want none", c)
	}
	if got := computeKstatus(t, st, 1); got.Status != kstatus.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", got.Status)
	}
}

// computeKstatus is what kstatus makes of a run with status st, read as the
// API server serves it.
func computeKstatus(t *testing.T, st *chaosv1alpha1.ExperimentRunStatus, generation int64) *kstatus.Result {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: chaosv1alpha1.GroupVersion.String(), Kind: "ExperimentRun"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-pod-kill-x1", Generation: generation},
		Status:     *st,
	}
	run.Status.ObservedGeneration = generation
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	return res
}
