package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
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
	res := &chaosv1alpha1.RunResult{Resolution: &metav1.Duration{Duration: r.interval()}}
	st.Result = res

	deviated := tl.DeviatedAt != nil && tl.InjectedAt != nil
	absorbed := tl.InjectedAt != nil && tl.DeviatedAt == nil && st.Abort == nil

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
	if detectAt != nil && tl.InjectedAt != nil {
		res.TimeToDetect = duration(detectAt.Sub(tl.InjectedAt.Time))
	}
	switch {
	case absorbed:
		res.TimeToRecover = duration(0)
	case deviated && tl.RecoveredAt != nil:
		res.TimeToRecover = duration(tl.RecoveredAt.Sub(tl.InjectedAt.Time))
	}
	if a := st.Abort; a != nil {
		decided := a.DecidedAt
		if decided == nil {
			decided = tl.AbortedAt // recorded before decidedAt existed
		}
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

// firstBadSample is the first sample behind an abort: a guard's first
// breaching sample, or the first unanswered one; nil when no sample caused it.
func firstBadSample(a *chaosv1alpha1.AbortStatus) *metav1.MicroTime {
	if a.FirstBreachAt != nil {
		return a.FirstBreachAt
	}
	return a.FirstErrorAt
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
				parts = append(parts, "recovered in "+res.TimeToRecover.Duration.String()+r.resolutionSuffix("timeToRecover")+objectiveSuffix(res, "recoverWithin"))
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
		parts = append(parts, fmt.Sprintf("resolution %s", res.Resolution.Duration))
	}
	return string(v) + ": " + strings.Join(parts, "; ")
}

// abortTiming says how long the abort took, naming what each span is
// measured from: the revert from the decision (after the kill switch was
// seen, say), and the decision from the first bad sample when one caused it.
func abortTiming(a *chaosv1alpha1.AbortStatus, res *chaosv1alpha1.RunResult) string {
	s := ""
	if res.AbortLatency != nil {
		s += fmt.Sprintf("; fault reverted %s after %s", res.AbortLatency.Duration, a.Reason.Trigger())
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
		return []string{"detected by alert in " + res.TimeToDetect.Duration.String() + r.resolutionSuffix("timeToDetect") + objectiveSuffix(res, "detectWithin")}
	case chaosv1alpha1.DetectedByProbe:
		return []string{"detected by probes in " + res.TimeToDetect.Duration.String() + r.resolutionSuffix("timeToDetect") + objectiveSuffix(res, "detectWithin")}
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
			return " (" + fr.Describe(st.Timeline.InjectedAt.Time) + ")"
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

// recordProbeStats folds a sample into the per-probe summaries.
func (r Run) recordProbeStats(s probes.Sample) {
	st := r.Status
	for _, res := range s.Results {
		ps := findProbe(st, res.Name, res.Kind)
		ps.Samples++
		if res.Err != nil {
			ps.Errors++
			ps.LastError = res.Err.Error()
			continue
		}
		if !res.Pass {
			ps.Failures++
		}
		ps.Last = probes.FormatValue(res.Value)
		if h, ok := r.hypothesis(res); ok {
			if ps.Worst == "" || probes.Worse(res.Value, parseValue(ps.Worst), h) {
				ps.Worst = ps.Last
			}
		}
	}
}

// hypothesis is what a result is judged by, for the "worst" figure.
func (r Run) hypothesis(res probes.Result) (chaosv1alpha1.Hypothesis, bool) {
	switch res.Kind {
	case chaosv1alpha1.ProbeKindGuard:
		if g := r.guard(res.Name); g != nil {
			return g.Condition, true
		}
	case chaosv1alpha1.ProbeKindSteadyState:
		for _, p := range r.Spec.SteadyState.Probes {
			if p.Name != res.Name {
				continue
			}
			if p.Condition != nil {
				return *p.Condition, true
			}
			if p.Workload != nil {
				return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: strconv.Itoa(int(p.Workload.MinReadyPercent))}, true
			}
		}
	}
	return chaosv1alpha1.Hypothesis{}, false
}

func findProbe(st *chaosv1alpha1.ExperimentRunStatus, name string, kind chaosv1alpha1.ProbeKind) *chaosv1alpha1.ProbeStatus {
	for i := range st.Probes {
		if st.Probes[i].Name == name && st.Probes[i].Kind == kind {
			return &st.Probes[i]
		}
	}
	st.Probes = append(st.Probes, chaosv1alpha1.ProbeStatus{Name: name, Kind: kind})
	return &st.Probes[len(st.Probes)-1]
}

// setCondition sets a condition with the transition time from the run's clock.
func setCondition(st *chaosv1alpha1.ExperimentRunStatus, typ string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(message, 1024),
		LastTransitionTime: metav1.NewTime(now),
	})
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

// parseValue reads back a figure written by probes.FormatValue.
func parseValue(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
