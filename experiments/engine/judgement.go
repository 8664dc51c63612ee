package engine

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The objectives' names, as spec.objectives spells them and results list them.
const (
	objectiveDetect    = "detectWithin"
	objectiveRecover   = "recoverWithin"
	objectiveRemediate = "remediateWithin"
	objectiveNotify    = "notifyWithin"
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
	r.noteRemediationNotObserved()
	var missed bool
	res.Objectives, missed = judgeObjectives(r.objectives(res, absorbed))

	if st.Abort != nil && st.Progress.ConfigError != "" {
		// Aborted because the run could not be carried out, not because
		// the system misbehaved: the verdict says so.
		return r.finishConfigError(now)
	}
	verdict, reason := r.verdict(deviated, missed)
	r.setOutcomeConditions(deviated, absorbed, now)
	return r.finishWith(now, verdict, reason, r.summary(verdict))
}

// objective is one row of the run's objectives: a limit on one figure of
// the result, and whether a run without that figure missed it.
type objective struct {
	// name is the objective's name in spec.objectives.
	name string
	// limit is the longest acceptable figure; nil when the spec sets none.
	limit *metav1.Duration
	// measured is the figure the objective limits; nil when the run has none.
	measured *metav1.Duration
	// unmeasurable says that the run could not have measured the figure,
	// so its absence leaves the objective NotMeasured. Otherwise the run
	// could have seen it and did not: the objective is Missed, for that
	// is what it exists to catch.
	unmeasurable bool
}

// objectives is the table of the run's objectives, in the order the result
// lists them, each with its figure from res.
func (r Run) objectives(res *chaosv1alpha1.RunResult, absorbed bool) []objective {
	o := r.Spec.Objectives
	if o == nil {
		return nil
	}
	// An aborted run, or one that never injected, measured nothing.
	unmeasured := r.Status.Abort != nil || r.Status.Timeline.InjectedAt == nil
	return []objective{
		// A fault the system absorbed has nothing to detect; a deviation
		// nothing detected misses the objective.
		{name: objectiveDetect, limit: o.DetectWithin, measured: res.TimeToDetect, unmeasurable: unmeasured || absorbed},
		// An absorbed fault recovered at once (timeToRecover 0).
		{name: objectiveRecover, limit: o.RecoverWithin, measured: res.TimeToRecover, unmeasurable: unmeasured},
		// Remediation is asked for whether or not the fault was absorbed.
		{name: objectiveRemediate, limit: o.RemediateWithin, measured: res.TimeToRemediate, unmeasurable: unmeasured},
		// A fault the system absorbed has no one to tell; one that hurt
		// and of which no one was told misses the objective.
		{name: objectiveNotify, limit: o.NotifyWithin, measured: res.TimeToNotify, unmeasurable: unmeasured || absorbed},
	}
}

// judgeObjectives judges every objective the spec sets, in the table's
// order, and reports whether any was missed.
func judgeObjectives(objectives []objective) (results []chaosv1alpha1.ObjectiveResult, missed bool) {
	for _, o := range objectives {
		if o.limit == nil {
			continue
		}
		result := chaosv1alpha1.ObjectiveResult{Name: o.name, Target: *o.limit, Measured: o.measured}
		switch {
		case o.measured != nil && o.measured.Duration <= o.limit.Duration:
			result.Status = chaosv1alpha1.ObjectiveMet
		case o.measured == nil && o.unmeasurable:
			result.Status = chaosv1alpha1.ObjectiveNotMeasured
		default:
			result.Status = chaosv1alpha1.ObjectiveMissed
			missed = true
		}
		results = append(results, result)
	}
	return results, missed
}

// verdict is the run's verdict and the reason for it, from the abort, the
// recovery, the comparison and the objectives, in that order.
func (r Run) verdict(deviated, missed bool) (chaosv1alpha1.Verdict, string) {
	st := r.Status
	compared, comparedReason := r.judgeComparison()
	switch {
	case st.Abort != nil && st.Abort.Reason == chaosv1alpha1.AbortInjectionFailed && !anyInjected(st):
		return chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonInjectionFailed
	case st.Abort != nil:
		return chaosv1alpha1.VerdictAborted, chaosv1alpha1.ReasonAborted
	case deviated && st.Timeline.RecoveredAt == nil:
		return chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonNotRecovered
	case compared == chaosv1alpha1.VerdictFailed:
		return compared, comparedReason
	case missed:
		return chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonFailed
	case compared != "":
		// Too few samples to compare: the run cannot say whether the
		// fault harmed the faulted slice.
		return compared, comparedReason
	}
	return chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonPassed
}

// setOutcomeConditions says in Detected and Recovered what the run saw of
// the steady state: a deviation it never recovered from, or none at all.
func (r Run) setOutcomeConditions(deviated, absorbed bool, now time.Time) {
	st := r.Status
	if deviated && st.Timeline.RecoveredAt == nil {
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
}

func anyInjected(st *chaosv1alpha1.ExperimentRunStatus) bool {
	return st.Timeline.InjectedAt != nil
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
		st.Result = &chaosv1alpha1.RunResult{}
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
