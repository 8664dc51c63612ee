package experimentrun_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// kstatusOf is what kstatus (Flux, the cli-utils applier) makes of the run
// as the API server serves it, CRD defaults included.
func (e *env) kstatusOf(key client.ObjectKey) *kstatus.Result {
	e.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentRun"))
	if err := e.c.Get(e.t.Context(), key, u); err != nil {
		e.t.Fatalf("reading run %s: %v", key, err)
	}
	res, err := kstatus.Compute(u)
	if err != nil {
		e.t.Fatalf("kstatus of run %s: %v", key, err)
	}
	return res
}

// TestKstatusFollowsARealRun drives runs through the reconciler on a real API
// server and asks kstatus at each stage: in progress from creation (before
// the operator saw the run) to the verdict, then Current only for a run that
// passed.
func TestKstatusFollowsARealRun(t *testing.T) {
	tests := map[string]struct {
		dryRun bool
		// unhealthyFrom, when set, makes the success rate fall to 0.5 from
		// t0 + unhealthyFrom, before any fault.
		unhealthyFrom time.Duration
		wantVerdict   chaosv1alpha1.Verdict
		wantKstatus   kstatus.Status
		// wantInjected is the Injected condition at the end.
		wantInjected       metav1.ConditionStatus
		wantInjectedReason string
	}{
		"a pod kill that passes": {
			wantVerdict: chaosv1alpha1.VerdictPassed, wantKstatus: kstatus.CurrentStatus,
			wantInjected: metav1.ConditionTrue, wantInjectedReason: chaosv1alpha1.ReasonFaultReverted,
		},
		"a dry run that passes": {
			dryRun:      true,
			wantVerdict: chaosv1alpha1.VerdictPassed, wantKstatus: kstatus.CurrentStatus,
			wantInjected: metav1.ConditionFalse, wantInjectedReason: chaosv1alpha1.ReasonDryRun,
		},
		"a run whose baseline does not hold": {
			unhealthyFrom: 2 * time.Second,
			wantVerdict:   chaosv1alpha1.VerdictInconclusive, wantKstatus: kstatus.FailedStatus,
			wantInjected: metav1.ConditionFalse, wantInjectedReason: chaosv1alpha1.ReasonNotInjected,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.createWeb()
			if tc.unhealthyFrom > 0 {
				e.metric = func(query string, at, killedAt time.Time) (float64, error) {
					if query == successRateQuery && !at.Before(t0.Add(tc.unhealthyFrom)) {
						return 0.5, nil
					}
					return defaultMetric(query, at, killedAt)
				}
			}
			exp := e.createExperiment(experimentSpec())
			key := e.createRun(exp.Name, tc.dryRun)

			if got := e.kstatusOf(key); got.Status != kstatus.InProgressStatus {
				t.Errorf("before the operator saw the run, kstatus = %s (%s), want InProgress", got.Status, got.Message)
			}
			e.drive(key, inPhase(chaosv1alpha1.PhaseBaseline))
			if got := e.kstatusOf(key); got.Status != kstatus.InProgressStatus {
				t.Errorf("in the baseline, kstatus = %s (%s), want InProgress", got.Status, got.Message)
			}
			run := e.drive(key, released)

			if run.Status.Verdict != tc.wantVerdict {
				t.Fatalf("verdict = %q (%s), want %s", run.Status.Verdict, run.Status.Message, tc.wantVerdict)
			}
			if got := e.kstatusOf(key); got.Status != tc.wantKstatus {
				t.Errorf("at the end, kstatus = %s (%s), want %s", got.Status, got.Message, tc.wantKstatus)
			}
			if run.Status.ObservedGeneration != run.Generation {
				t.Errorf("observedGeneration = %d, want the run's generation %d", run.Status.ObservedGeneration, run.Generation)
			}
			if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionReconciling); c != nil {
				t.Errorf("Reconciling = %+v on a finished run, want none", c)
			}
			ready := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionReady)
			if want := tc.wantVerdict == chaosv1alpha1.VerdictPassed; ready == nil || (ready.Status == metav1.ConditionTrue) != want {
				t.Errorf("Ready = %+v, want True exactly when the run passed", ready)
			}
			injected := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionInjected)
			if injected == nil || injected.Status != tc.wantInjected || injected.Reason != tc.wantInjectedReason {
				t.Errorf("Injected = %+v, want %s with reason %s", injected, tc.wantInjected, tc.wantInjectedReason)
			}
		})
	}
}
