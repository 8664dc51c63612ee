package engine

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// summary is the run's result in one paragraph a person reads in kubectl.
func (r Run) summary(v chaosv1alpha1.Verdict) string {
	st := r.Status
	res := st.Result
	var parts []string
	if st.Abort != nil {
		parts = append(parts, "aborted: "+st.Abort.Message+abortTiming(st.Abort, res))
	}
	if st.Timeline.InjectedAt != nil && st.Abort == nil {
		if st.Timeline.DeviatedAt == nil {
			absorbed := "the steady state never deviated: the system absorbed the fault"
			if r.harmFound() {
				absorbed = "the steady state's thresholds never broke"
			}
			if rs := r.resolutionSuffix("timeToRecover"); rs != "" {
				absorbed += rs + ", and a deviation then would have gone unseen"
			}
			parts = append(parts, absorbed)
		} else {
			parts = append(parts, describeDetection(r, res)...)
			if n := r.describeNotification(res); n != "" {
				parts = append(parts, n)
			}
			if res.TimeToRecover != nil {
				parts = append(parts, "recovered in "+res.TimeToRecover.Duration.String()+r.resolutionSuffix("timeToRecover")+objectiveSuffix(res, objectiveRecover))
			} else {
				parts = append(parts, fmt.Sprintf("did not recover within %s of the fault's end", r.RecoveryTimeout()))
			}
		}
		if rem := r.describeRemediation(res); rem != "" {
			parts = append(parts, rem)
		}
		if c := st.Comparison; c != nil && c.Message != "" {
			parts = append(parts, "comparison: "+c.Message)
		}
		parts = append(parts, fmt.Sprintf("resolution %s", r.interval()))
	}
	return string(v) + ": " + strings.Join(parts, "; ")
}

// abortTiming says how long the abort took, naming what each span is
// measured from: the revert from the decision (after the kill switch was
// seen, say), and the decision from the first bad sample when one caused it.
func abortTiming(a *chaosv1alpha1.AbortStatus, res *chaosv1alpha1.RunResult) string {
	s := ""
	if res.AbortLatency != nil {
		s += fmt.Sprintf("; fault reverted %s after %s", res.AbortLatency.Duration, AbortTrigger(a.Reason))
	}
	if res.BreachToDecision != nil {
		what := "the first unanswered sample"
		if a.FirstBreachAt != nil {
			what = "the guard's first breaching sample"
		}
		s += fmt.Sprintf("; the decision came %s after %s", res.BreachToDecision.Duration, what)
	}
	return s
}

func describeDetection(r Run, res *chaosv1alpha1.RunResult) []string {
	switch res.DetectedBy {
	case chaosv1alpha1.DetectedByAlert:
		return []string{"detected by alert in " + res.TimeToDetect.Duration.String() + r.resolutionSuffix("timeToDetect") + objectiveSuffix(res, objectiveDetect)}
	case chaosv1alpha1.DetectedByProbe:
		return []string{"detected by probes in " + res.TimeToDetect.Duration.String() + r.resolutionSuffix("timeToDetect") + objectiveSuffix(res, objectiveDetect)}
	}
	if r.wantAlertsDeclared() {
		return []string{fmt.Sprintf("the steady state deviated %s after injection but no alert (%s) fired",
			roundDuration(r.Status.Timeline.DeviatedAt.Sub(r.Status.Timeline.InjectedAt.Time)), strings.Join(r.Spec.Detection.Alerts, ", "))}
	}
	return nil
}

// resolutionSuffix says how precisely figure is known when that is not the
// probe interval (the summary states the interval once for all figures):
// " (±15.2s: the operator was not sampling from +3.1s to +18.3s)".
func (r Run) resolutionSuffix(figure string) string {
	st := r.Status
	if st.Result == nil || st.Timeline.InjectedAt == nil {
		return ""
	}
	for _, fr := range st.Result.Resolutions {
		if fr.Figure == figure && fr.Source != chaosv1alpha1.ResolutionProbeInterval {
			return " (" + DescribeResolution(fr.Resolution, st.Timeline.InjectedAt.Time) + ")"
		}
	}
	return ""
}

func objectiveSuffix(res *chaosv1alpha1.RunResult, name string) string {
	for _, o := range res.Objectives {
		if o.Name == name {
			return fmt.Sprintf(" (objective %s: %s)", o.Target.Duration, strings.ToLower(string(o.Status)))
		}
	}
	return ""
}

func describeErrors(rs []probes.Result) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s: %v", strings.ToLower(string(r.Kind)), r.Name, r.Err))
	}
	return joinLimit(parts, 3)
}

func describeFailures(rs []probes.Result, spec *chaosv1alpha1.ExperimentSpec) string {
	var parts []string
	for _, r := range rs {
		want := ""
		for _, p := range spec.SteadyState.Probes {
			if p.Name != r.Name {
				continue
			}
			switch {
			case p.Condition != nil:
				want = fmt.Sprintf(", needs %s %s", p.Condition.Op, p.Condition.Value)
			case p.Workload != nil:
				want = fmt.Sprintf("%% ready, needs %d%%", p.Workload.MinReadyPercent)
			}
		}
		parts = append(parts, fmt.Sprintf("%s = %s%s", r.Name, probes.FormatValue(r.Value), want))
	}
	return joinLimit(parts, 3)
}

func targetName(t chaosv1alpha1.TargetStatus) string {
	if t.Namespace == "" {
		return fmt.Sprintf("%s/%s", strings.ToLower(string(t.Kind)), t.Name)
	}
	return fmt.Sprintf("%s/%s/%s", strings.ToLower(string(t.Kind)), t.Namespace, t.Name)
}

func targetNames(ts []chaosv1alpha1.TargetStatus) string {
	var names []string
	for _, t := range ts {
		names = append(names, targetName(t))
	}
	return joinLimit(names, 5)
}

// joinLimit joins at most n items and says how many more there were, so a
// message stays readable when a run has many targets.
func joinLimit(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// AbortTrigger says in words what made a run abort for reason, for the
// run's message and the reports that say how long after it the fault was
// reverted: "reverted 16ms after the kill switch was seen". Only a guard's
// abort followed a bad sample, so only its trigger mentions one.
func AbortTrigger(reason chaosv1alpha1.AbortReason) string {
	switch reason {
	case chaosv1alpha1.AbortSLOBreached:
		return "the guard's breach outlasted its window"
	case chaosv1alpha1.AbortProbeUnavailable:
		return "the run gave up on probes that did not answer"
	case chaosv1alpha1.AbortKillSwitch:
		return "the kill switch was seen"
	case chaosv1alpha1.AbortDeleted:
		return "the run's deletion was seen"
	case chaosv1alpha1.AbortReplaced:
		return "a newer run replaced this one"
	case chaosv1alpha1.AbortManual:
		return "the abort was requested"
	case chaosv1alpha1.AbortInjectionFailed:
		return "the injection failed"
	case chaosv1alpha1.AbortStatusTampered:
		return "a status written by someone else was seen"
	}
	return "the decision to abort"
}

// DescribeResolution says how precisely a figure or instant is known, for
// the run's message and the reports, with instants as offsets from origin
// (the injection): "±1s: probe interval", "event-driven: the API server's
// watch event dated it", or "±15.2s: the operator was not sampling from
// +3.1s to +18.3s".
func DescribeResolution(r chaosv1alpha1.Resolution, origin time.Time) string {
	within := r.Within.Round(time.Millisecond)
	switch r.Source {
	case chaosv1alpha1.ResolutionEvent:
		if within > 0 {
			// An object's timestamps (creationTimestamp, a condition's
			// lastTransitionTime) keep whole seconds.
			return fmt.Sprintf("±%s: the API server's timestamp dated it, in whole seconds", within)
		}
		return "event-driven: the API server's watch event dated it"
	case chaosv1alpha1.ResolutionAlert:
		if within <= 0 {
			return "Prometheus' alert state dated it; the rule evaluation interval is unknown"
		}
		return fmt.Sprintf("±%s: Prometheus' alert state dated it (rule evaluation interval)", within)
	case chaosv1alpha1.ResolutionRangeQuery:
		return fmt.Sprintf("±%s: a range query re-evaluated the probes at that step", within)
	case chaosv1alpha1.ResolutionWebhook:
		return "when Alertmanager's webhook request reached the operator"
	case chaosv1alpha1.ResolutionGap:
		if r.Gap == nil {
			return fmt.Sprintf("±%s: the operator saw nothing for that long", within)
		}
		what := "the operator was not sampling"
		if r.Gap.Cause == chaosv1alpha1.GapProbeErrors {
			what = "the probes did not answer"
		}
		offset := func(t metav1.MicroTime) string {
			d := t.Sub(origin).Round(time.Millisecond)
			if d < 0 {
				return d.String()
			}
			return "+" + d.String()
		}
		return fmt.Sprintf("±%s: %s from %s to %s", within, what, offset(r.Gap.From), offset(r.Gap.To))
	}
	return fmt.Sprintf("±%s: probe interval", within)
}
