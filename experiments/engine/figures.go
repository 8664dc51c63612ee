package engine

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// measure computes the figures of a run whose observation is over, the
// time from the injection to each instant the timeline recorded, and how
// precisely each is known. It sets st.Result and returns it; judging the
// figures is the objectives' part.
func (r Run) measure(deviated, absorbed bool) *chaosv1alpha1.RunResult {
	st := r.Status
	tl := st.Timeline
	res := &chaosv1alpha1.RunResult{}
	st.Result = res

	// Time to detect: the team's alert when they declared one, else the probes.
	var detectAt *metav1.MicroTime
	detectInstant := ""
	switch {
	case r.wantAlertsDeclared():
		if tl.AlertedAt != nil {
			detectAt, res.DetectedBy, detectInstant = tl.AlertedAt, chaosv1alpha1.DetectedByAlert, "alertedAt"
		}
	case deviated:
		detectAt, res.DetectedBy, detectInstant = tl.DeviatedAt, chaosv1alpha1.DetectedByProbe, "deviatedAt"
	}
	res.TimeToDetect = elapsed(tl.InjectedAt, detectAt)
	switch {
	case absorbed:
		res.TimeToRecover = duration(0)
	case deviated:
		res.TimeToRecover = elapsed(tl.InjectedAt, tl.RecoveredAt)
	}
	if a := st.Abort; a != nil {
		decided := AbortDecidedAt(st)
		// Only a revert the abort caused has an abort latency: a run
		// aborted after its fault was already reverted would report a
		// negative one.
		if decided != nil && tl.RevertedAt != nil && tl.InjectedAt != nil && !tl.RevertedAt.Before(decided) {
			res.AbortLatency = duration(tl.RevertedAt.Sub(decided.Time))
		}
		if first := firstBadSample(a); first != nil && decided != nil {
			res.BreachToDecision = duration(decided.Sub(first.Time))
		}
	}

	res.Resolutions = r.figureResolutions(detectInstant, absorbed)
	res.TimeToRemediate = elapsed(tl.InjectedAt, tl.RemediationStartedAt)
	res.TimeToNotify = elapsed(tl.InjectedAt, tl.NotifiedAt)
	return res
}

// AbortDecidedAt is when the run decided to abort, abort.decidedAt; nil
// for a run that was not aborted. A run aborted before decidedAt was
// recorded kept the decision in timeline.abortedAt, a field since removed
// from the API: the API server prunes it from such a run when it reads it
// from etcd, so no reader sees it again. The run's Aborted condition turned
// True at the same decision and dates it to the second.
func AbortDecidedAt(st *chaosv1alpha1.ExperimentRunStatus) *metav1.MicroTime {
	if st.Abort == nil {
		return nil
	}
	if st.Abort.DecidedAt != nil {
		return st.Abort.DecidedAt
	}
	if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionAborted); c != nil && c.Status == metav1.ConditionTrue && !c.LastTransitionTime.IsZero() {
		return micro(c.LastTransitionTime.Time)
	}
	return nil
}

// elapsed is the figure from one recorded instant to another; nil unless
// the run recorded both.
func elapsed(from, to *metav1.MicroTime) *metav1.Duration {
	if from == nil || to == nil {
		return nil
	}
	return duration(to.Sub(from.Time))
}

// firstBadSample is the first sample behind an abort: a guard's first
// breaching sample, or the first unanswered one; nil when no sample caused it.
func firstBadSample(a *chaosv1alpha1.AbortStatus) *metav1.MicroTime {
	if a.FirstBreachAt != nil {
		return a.FirstBreachAt
	}
	return a.FirstErrorAt
}

func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}

// roundDuration keeps figures readable: milliseconds are far below any
// probe interval, the figures' real resolution.
func roundDuration(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func duration(d time.Duration) *metav1.Duration {
	return &metav1.Duration{Duration: roundDuration(d)}
}
