package engine

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/remediation"
)

// remediationInstant names timeline.remediationStartedAt in resolutions.
const remediationInstant = "remediationStartedAt"

// RemediationRules are the rules the controller gathers observations for
// before a sample (ApplyRemediation): none before the injection, once
// remediation was seen, or when the fault has none.
func (r Run) RemediationRules() []remediation.Rule {
	st := r.Status
	if st.Timeline.InjectedAt == nil || st.Timeline.RemediationStartedAt != nil || r.DryRun {
		return nil
	}
	switch st.Phase {
	case chaosv1alpha1.PhaseObserving, chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseRecovering:
	default:
		return nil
	}
	rules, _ := remediation.Rules(r.Spec, st.Targets)
	return rules
}

// ApplyRemediation records the first observation that started remediation,
// if obs holds one.
func (r Run) ApplyRemediation(obs remediation.Observations) []Event {
	st := r.Status
	rules := r.RemediationRules()
	if len(rules) == 0 {
		return nil
	}
	start, ok := remediation.First(rules, st.Timeline.InjectedAt.Time, obs)
	if !ok {
		return nil
	}
	st.Timeline.RemediationStartedAt = micro(start.At)
	setInstantResolution(st, remediationInstant, chaosv1alpha1.Resolution{
		Source: chaosv1alpha1.ResolutionEvent, Within: metav1.Duration{Duration: start.Within},
	})
	st.Remediation = &chaosv1alpha1.RemediationStatus{StartedBy: truncate(start.StartedBy, 512), Rule: start.Rule}
	return []Event{{Reason: chaosv1alpha1.ReasonRemediationStarted,
		Message: fmt.Sprintf("remediation started %s after injection: %s (%s)", r.sinceInjection(start.At), start.StartedBy, start.Rule)}}
}

// awaitingRemediation says whether the run must keep observing for
// remediation inside its objective: remediateWithin is set, the fault has
// rules, and nothing was seen yet.
func (r Run) awaitingRemediation(now time.Time) bool {
	o := r.Spec.Objectives
	if o == nil || o.RemediateWithin == nil || r.Status.Timeline.RemediationStartedAt != nil || r.Status.Timeline.InjectedAt == nil {
		return false
	}
	if rules, _ := remediation.Rules(r.Spec, r.Status.Targets); len(rules) == 0 {
		return false
	}
	return now.Before(r.Status.Timeline.InjectedAt.Add(o.RemediateWithin.Duration))
}

// noteRemediationNotObserved says in status, when the run saw no
// remediation start after the injection, what it looked for, or why it
// looked for nothing.
func (r Run) noteRemediationNotObserved() {
	st := r.Status
	tl := st.Timeline
	if tl.RemediationStartedAt == nil && tl.InjectedAt != nil {
		rules, why := remediation.Rules(r.Spec, st.Targets)
		if len(rules) > 0 {
			why = remediation.NotObserved(rules)
		}
		st.Remediation = &chaosv1alpha1.RemediationStatus{NotObserved: truncate(why, 1024)}
	}
}

// describeRemediation is the summary's part on remediation: when it
// started and what started it, or, under an objective, what was not seen.
func (r Run) describeRemediation(res *chaosv1alpha1.RunResult) string {
	st := r.Status
	switch {
	case res.TimeToRemediate != nil && st.Remediation != nil:
		return fmt.Sprintf("remediation started in %s: %s (%s)%s", res.TimeToRemediate.Duration, st.Remediation.StartedBy, st.Remediation.Rule,
			objectiveSuffix(res, objectiveRemediate))
	case st.Remediation != nil && st.Remediation.NotObserved != "" && r.Spec.Objectives != nil && r.Spec.Objectives.RemediateWithin != nil:
		return "no remediation seen: " + st.Remediation.NotObserved + objectiveSuffix(res, objectiveRemediate)
	}
	return ""
}
