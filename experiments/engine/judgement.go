package engine

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// finish computes the figures and the verdict of a run whose observation is over.
func (r Run) finish(now time.Time) []Event {
	st := r.Status
	if len(st.Progress.Refine) > 0 {
		// Crossings wait for their range query: the figures and the
		// verdict are computed once, from the sharpest instants.
		if st.Progress.RefineRequestedAt == nil {
			st.Progress.RefineRequestedAt = micro(now)
		}
		return nil
	}
	r.closeOpenGap(now)
	tl := st.Timeline
	deviated := tl.DeviatedAt != nil && tl.InjectedAt != nil
	absorbed := tl.InjectedAt != nil && tl.DeviatedAt == nil && st.Abort == nil
	res := r.measure(deviated, absorbed)

	// Objectives.
	missed := false
	if o := r.Spec.Objectives; o != nil {
		if o.DetectWithin != nil {
			obj := chaosv1alpha1.ObjectiveResult{Name: "detectWithin", Target: *o.DetectWithin, Measured: res.TimeToDetect}
			switch {
			case res.TimeToDetect != nil:
				obj.Status = metOrMissed(res.TimeToDetect.Duration <= o.DetectWithin.Duration)
			case absorbed || st.Abort != nil || tl.InjectedAt == nil:
				obj.Status = chaosv1alpha1.ObjectiveNotMeasured
			default:
				// The system deviated and nothing detected it: the
				// detection objective is what this run exists to catch.
				obj.Status = chaosv1alpha1.ObjectiveMissed
			}
			missed = missed || obj.Status == chaosv1alpha1.ObjectiveMissed
			res.Objectives = append(res.Objectives, obj)
		}
		if o.RecoverWithin != nil {
			obj := chaosv1alpha1.ObjectiveResult{Name: "recoverWithin", Target: *o.RecoverWithin, Measured: res.TimeToRecover}
			switch {
			case res.TimeToRecover != nil:
				obj.Status = metOrMissed(res.TimeToRecover.Duration <= o.RecoverWithin.Duration)
			case st.Abort != nil || tl.InjectedAt == nil:
				obj.Status = chaosv1alpha1.ObjectiveNotMeasured
			default:
				obj.Status = chaosv1alpha1.ObjectiveMissed
			}
			missed = missed || obj.Status == chaosv1alpha1.ObjectiveMissed
			res.Objectives = append(res.Objectives, obj)
		}
	}

	missed = r.judgeRemediation(res) || missed
	missed = r.judgeNotify(res, absorbed) || missed

	if st.Abort != nil && st.Progress.ConfigError != "" {
		// Aborted because the run could not be carried out, not because
		// the system misbehaved: the verdict says so.
		return r.finishConfigError(now)
	}
	compared, comparedReason := r.judgeComparison()
	verdict, reason := chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonPassed
	switch {
	case st.Abort != nil && st.Abort.Reason == chaosv1alpha1.AbortInjectionFailed && !anyInjected(st):
		verdict, reason = chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonInjectionFailed
	case st.Abort != nil:
		verdict, reason = chaosv1alpha1.VerdictAborted, chaosv1alpha1.ReasonAborted
	case deviated && tl.RecoveredAt == nil:
		verdict, reason = chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonNotRecovered
	case compared == chaosv1alpha1.VerdictFailed:
		verdict, reason = compared, comparedReason
	case missed:
		verdict, reason = chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonFailed
	case compared != "":
		// Too few samples to compare: the run cannot say whether the
		// fault harmed the faulted slice.
		verdict, reason = compared, comparedReason
	}
	if deviated && tl.RecoveredAt == nil {
		setCondition(st, chaosv1alpha1.ConditionRecovered, metav1.ConditionFalse, chaosv1alpha1.ReasonNotRecovered, "the steady state did not return", now)
	}
	switch {
	case absorbed && r.harmFound():
		// The thresholds held, yet the faulted slice fared worse than
		// control: nothing absorbed the fault, the thresholds missed it.
		setCondition(st, chaosv1alpha1.ConditionDetected, metav1.ConditionFalse, chaosv1alpha1.ReasonHarmFound,
			"the steady state's thresholds never broke, but the comparison found the faulted slice harmed", now)
		setCondition(st, chaosv1alpha1.ConditionRecovered, metav1.ConditionTrue, chaosv1alpha1.ReasonHarmFound, "the steady state's thresholds never broke", now)
	case absorbed:
		setCondition(st, chaosv1alpha1.ConditionDetected, metav1.ConditionFalse, chaosv1alpha1.ReasonAbsorbed, "the steady state never deviated: the system absorbed the fault", now)
		setCondition(st, chaosv1alpha1.ConditionRecovered, metav1.ConditionTrue, chaosv1alpha1.ReasonAbsorbed, "the steady state never deviated", now)
	}
	return r.finishWith(now, verdict, reason, r.summary(verdict))
}

func anyInjected(st *chaosv1alpha1.ExperimentRunStatus) bool {
	return st.Timeline.InjectedAt != nil
}

func metOrMissed(ok bool) chaosv1alpha1.ObjectiveStatus {
	if ok {
		return chaosv1alpha1.ObjectiveMet
	}
	return chaosv1alpha1.ObjectiveMissed
}

func (r Run) finishInconclusive(now time.Time, reason, message string) []Event {
	return r.finishWith(now, chaosv1alpha1.VerdictInconclusive, reason, message)
}

// finishWith closes the run with a verdict.
func (r Run) finishWith(now time.Time, v chaosv1alpha1.Verdict, reason, message string) []Event {
	st := r.Status
	if !strings.HasPrefix(message, string(v)+":") {
		message = string(v) + ": " + message
	}
	st.Phase = chaosv1alpha1.PhaseCompleted
	st.Verdict = v
	st.Message = message
	st.Timeline.FinishedAt = micro(now)
	if st.Result == nil {
		st.Result = &chaosv1alpha1.RunResult{Resolution: &metav1.Duration{Duration: r.interval()}}
	}
	setCondition(st, chaosv1alpha1.ConditionCompleted, metav1.ConditionTrue, reason, message, now)
	if meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionInjected) == nil {
		// The run ends without ever injecting (dry run, baseline not held,
		// no target, refused or aborted first): Injected says so outright,
		// so a reader need not guess from an absent condition.
		notReason := chaosv1alpha1.ReasonNotInjected
		if r.DryRun {
			notReason = chaosv1alpha1.ReasonDryRun
		}
		setCondition(st, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, notReason, "nothing was injected", now)
	}
	return []Event{{Warning: v != chaosv1alpha1.VerdictPassed, Reason: reason, Message: message}}
}

// setCondition sets a condition with the transition time from the run's clock.
func setCondition(st *chaosv1alpha1.ExperimentRunStatus, typ string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(message, 1024),
		LastTransitionTime: metav1.NewTime(now),
	})
}
