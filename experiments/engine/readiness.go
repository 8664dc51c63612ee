package engine

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// SetReadiness sets the conditions that tools which know nothing of
// Faultline judge a run by, in the kstatus convention of
// sigs.k8s.io/cli-utils (what Flux and the cli-utils applier use, and what
// `kubectl wait --for=condition=Ready` reads):
//   - in progress: Reconciling True and Ready False, both with the phase as
//     reason; no Stalled;
//   - Passed (a dry run that passed included): Ready True, reason Passed;
//   - any other verdict: Ready False with the verdict as reason, and Stalled
//     True with the Completed condition's reason and message, which say why.
//
// Without them kstatus read a run as Current in every state, and `kubectl
// wait --for=condition=Completed` succeeded for a failed run, so a pipeline
// gating on either passed whatever happened. The conditions are derived from
// the phase and the verdict alone, so setting them again changes nothing; the
// controller sets them before every status write. generation is the run's
// metadata.generation, recorded in each condition's observedGeneration.
func SetReadiness(st *chaosv1alpha1.ExperimentRunStatus, generation int64, now time.Time) {
	set := func(typ string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: truncate(message, 1024),
			ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
		})
	}
	if st.Phase != chaosv1alpha1.PhaseCompleted {
		reason := string(st.Phase)
		if reason == "" {
			reason = chaosv1alpha1.ReasonPending
		}
		message := st.Message
		if message == "" {
			message = "accepted; the run has not started"
		}
		set(chaosv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
		set(chaosv1alpha1.ConditionReady, metav1.ConditionFalse, reason, "no verdict yet: "+message)
		// A Stalled condition set while the run still works (a
		// configuration error found with the fault active, being
		// reverted) would make kstatus call the run Failed before its
		// verdict, or not, depending on the order of the conditions.
		meta.RemoveStatusCondition(&st.Conditions, chaosv1alpha1.ConditionStalled)
		return
	}
	meta.RemoveStatusCondition(&st.Conditions, chaosv1alpha1.ConditionReconciling)
	verdict := st.Verdict
	if verdict == "" {
		// A finished run always has a verdict; one without is read as
		// the worst, so no tool passes on it.
		verdict = chaosv1alpha1.VerdictError
	}
	if verdict == chaosv1alpha1.VerdictPassed {
		set(chaosv1alpha1.ConditionReady, metav1.ConditionTrue, chaosv1alpha1.ReasonPassed, st.Message)
		meta.RemoveStatusCondition(&st.Conditions, chaosv1alpha1.ConditionStalled)
		return
	}
	set(chaosv1alpha1.ConditionReady, metav1.ConditionFalse, string(verdict), st.Message)
	why, message := string(verdict), st.Message
	if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionCompleted); c != nil && c.Status == metav1.ConditionTrue {
		why, message = c.Reason, c.Message
	}
	set(chaosv1alpha1.ConditionStalled, metav1.ConditionTrue, why, message)
}
