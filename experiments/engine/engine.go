// Package engine is the run state machine of Faultline, without any I/O.
//
// The controller asks Next what to do at an instant; it does it (samples the
// probes, selects targets, injects, reverts) and hands the outcome back
// through the Apply functions, which advance the run's status. Everything the
// machine remembers lives in ExperimentRunStatus, so a restarted operator
// resumes a run from status alone.
//
// Phases: Pending → Baseline → Injecting → Observing → Reverting →
// Recovering → Completed. An instant fault (pod kill) has nothing to hold: it
// is observed, with guards armed, until the steady state returns, and its
// revert is a no-op, so it skips Recovering.
package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// Action is the next thing the controller must do for a run.
type Action string

const (
	// ActionWait means nothing is due; come back after Next.After.
	ActionWait Action = "Wait"
	// ActionSample means take the checks in Next.Set now and call ApplySample.
	ActionSample Action = "Sample"
	// ActionSelectTargets means select targets, prepare their restore data, write
	// both to status (before anything is injected) and call ApplyTargets.
	ActionSelectTargets Action = "SelectTargets"
	// ActionInject means inject every target still Selected and call ApplyInjected.
	ActionInject Action = "Inject"
	// ActionRevert means revert every target that may carry the fault and call ApplyReverted.
	ActionRevert Action = "Revert"
	// ActionRefine means re-evaluate the Prometheus probes behind each of
	// Next.Crossings over its window (probes.Refine) and call
	// ApplyRefinements; the verdict waits for it.
	ActionRefine Action = "Refine"
	// ActionNone means the run is finished.
	ActionNone Action = "None"
)

// Next is the engine's answer to "what now?".
type Next struct {
	// Action to take.
	Action Action
	// Set of checks to sample, for ActionSample.
	Set probes.Set
	// After is how long to wait, for ActionWait.
	After time.Duration
	// Crossings to re-evaluate, for ActionRefine.
	Crossings []probes.Crossing
}

// Event is a transition worth telling people about.
type Event struct {
	// Warning marks events that report trouble.
	Warning bool
	// Reason is a stable CamelCase reason from api/v1alpha1/conditions.go.
	Reason string
	// Message says what happened.
	Message string
}

// Run is the engine's view of one run: the spec it uses and the status it advances.
type Run struct {
	// Spec is the Experiment spec snapshot the run uses.
	Spec *chaosv1alpha1.ExperimentSpec
	// Status is advanced in place by the Apply functions.
	Status *chaosv1alpha1.ExperimentRunStatus
	// DryRun resolves targets and probes, injecting nothing.
	DryRun bool
	// Written is the spec as the Experiment wrote it, when Spec is the
	// Effective one; nil means Spec is as written.
	Written *chaosv1alpha1.ExperimentSpec
}

// Start moves a pending run into Baseline.
func (r Run) Start(now time.Time) []Event {
	st := r.Status
	if st.Phase != "" && st.Phase != chaosv1alpha1.PhasePending {
		return nil
	}
	st.Phase = chaosv1alpha1.PhaseBaseline
	st.Timeline.StartedAt = micro(now)
	st.Message = "verifying the steady state before touching anything"
	setCondition(st, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonBaselineStarted, st.Message, now)
	return []Event{{Reason: chaosv1alpha1.ReasonBaselineStarted, Message: fmt.Sprintf("baseline of %s started", r.Spec.SteadyState.Baseline.Duration)}}
}

// Next says what the controller must do at now.
func (r Run) Next(now time.Time) Next {
	st := r.Status
	if st.Progress.RefineRequestedAt != nil && st.Phase != chaosv1alpha1.PhaseCompleted {
		// The observation is over; only the refinement stands between
		// the run and its verdict, whatever phase it ended in.
		return Next{Action: ActionRefine, Crossings: r.crossings()}
	}
	switch st.Phase {
	case chaosv1alpha1.PhaseBaseline:
		// Alerts are sampled too: one already firing would make every
		// detection figure meaningless.
		return r.sampleOrWait(now, probes.Set{Probes: true, Alerts: r.wantAlertsDeclared()}, time.Time{})
	case chaosv1alpha1.PhaseInjecting:
		if len(st.Targets) == 0 {
			return Next{Action: ActionSelectTargets}
		}
		return Next{Action: ActionInject}
	case chaosv1alpha1.PhaseObserving:
		if !r.instant() && st.Progress.HoldUntil != nil && !now.Before(st.Progress.HoldUntil.Time) {
			return Next{Action: ActionRevert}
		}
		hold := time.Time{}
		if st.Progress.HoldUntil != nil && !r.instant() {
			hold = st.Progress.HoldUntil.Time
		}
		return r.sampleOrWait(now, probes.Set{Probes: true, Guards: len(r.guards()) > 0, Alerts: r.wantAlerts(), Groups: r.groupQueries()}, hold)
	case chaosv1alpha1.PhaseReverting:
		return Next{Action: ActionRevert}
	case chaosv1alpha1.PhaseRecovering:
		return r.sampleOrWait(now, probes.Set{Probes: true, Alerts: r.wantAlerts()}, time.Time{})
	case chaosv1alpha1.PhaseCompleted:
		return Next{Action: ActionNone}
	}
	return Next{Action: ActionNone}
}

// sampleOrWait samples when the next interval is due, else waits for the
// sample or for wakeAt (such as the end of a fault's hold), whichever is first.
func (r Run) sampleOrWait(now time.Time, set probes.Set, wakeAt time.Time) Next {
	due := r.nextSampleAt()
	if !now.Before(due) {
		return Next{Action: ActionSample, Set: set}
	}
	if !wakeAt.IsZero() && wakeAt.Before(due) {
		due = wakeAt
	}
	return Next{Action: ActionWait, After: due.Sub(now)}
}

// nextSampleAt is one interval after the last sample; immediately when none was taken.
func (r Run) nextSampleAt() time.Time {
	last := r.Status.Progress.LastSampleAt
	if last == nil {
		return time.Time{}
	}
	return last.Add(r.interval())
}

// ApplySample folds one sample into the run and moves it on.
func (r Run) ApplySample(s probes.Sample) []Event {
	st := r.Status
	st.Progress.LastSampleAt = micro(s.At)
	r.recordProbeStats(s)
	switch st.Phase {
	case chaosv1alpha1.PhaseBaseline:
		r.trackSight(s)
		return r.applyBaseline(s)
	case chaosv1alpha1.PhaseObserving, chaosv1alpha1.PhaseRecovering:
		r.foldGroups(s)
		return r.applyObservation(s, r.trackSight(s))
	}
	return nil
}

func (r Run) applyBaseline(s probes.Sample) []Event {
	st := r.Status
	errs, failures := r.partition(s, chaosv1alpha1.ProbeKindSteadyState)
	if len(errs) > 0 {
		st.Progress.ProbeErrorStreak++
		if st.Progress.ProbeErrorStreak >= r.errorThreshold() {
			return r.finishInconclusive(s.At, chaosv1alpha1.ReasonProbeUnavailable,
				fmt.Sprintf("the steady state could not be measured during the baseline: %s; nothing was injected", describeErrors(errs)))
		}
		// An unanswered sample says nothing about health; the baseline must
		// still be seen whole, so it starts again.
		st.Progress.BaselineSince = nil
		r.resetBaselineMeans()
		return nil
	}
	st.Progress.ProbeErrorStreak = 0
	for _, res := range s.Results {
		if res.Kind == chaosv1alpha1.ProbeKindAlert && res.Err == nil && !res.Pass {
			return r.finishInconclusive(s.At, chaosv1alpha1.ReasonBaselineNotHeld,
				fmt.Sprintf("alert %s was already firing before injection, so detection could not be measured; nothing was injected", res.Name))
		}
	}
	if len(failures) > 0 {
		return r.finishInconclusive(s.At, chaosv1alpha1.ReasonBaselineNotHeld,
			fmt.Sprintf("the steady state did not hold before injection: %s; nothing was injected", describeFailures(failures, r.Spec)))
	}
	if st.Progress.BaselineSince == nil {
		st.Progress.BaselineSince = micro(s.At)
		r.resetBaselineMeans()
	}
	r.foldBaselineMean(s)
	for i := range st.Probes {
		if st.Probes[i].Kind == chaosv1alpha1.ProbeKindSteadyState {
			st.Probes[i].Baseline = st.Probes[i].Last
		}
	}
	if s.At.Sub(st.Progress.BaselineSince.Time) < r.Spec.SteadyState.Baseline.Duration {
		return nil
	}
	if missing := r.fixRelativeThresholds(); len(missing) > 0 {
		return r.finishInconclusive(s.At, chaosv1alpha1.ReasonBaselineNotHeld,
			fmt.Sprintf("the baseline measured no number for %s, whose condition is relative to it; nothing was injected", strings.Join(missing, ", ")))
	}
	st.Timeline.BaselineVerifiedAt = micro(s.At)
	st.Phase = chaosv1alpha1.PhaseInjecting
	st.Message = "steady state held; selecting targets"
	return []Event{{Reason: chaosv1alpha1.ReasonBaselineHeld, Message: fmt.Sprintf("steady state held for %s", r.Spec.SteadyState.Baseline.Duration)}}
}

func (r Run) applyObservation(s probes.Sample, v sight) []Event {
	st := r.Status
	var events []Event
	probeErrs, probeFailures := r.partition(s, chaosv1alpha1.ProbeKindSteadyState)
	guardErrs, _ := r.partition(s, chaosv1alpha1.ProbeKindGuard)
	alertErrs, _ := r.partition(s, chaosv1alpha1.ProbeKindAlert)
	allErrs := append(append(append([]probes.Result{}, probeErrs...), guardErrs...), alertErrs...)

	// Under onProbeError Continue an unanswered probe counts as failing;
	// under Abort it counts as neither passing nor failing until the
	// threshold trips.
	failing := len(probeFailures) > 0
	unknown := len(probeErrs) > 0
	if unknown && r.onProbeError() == chaosv1alpha1.ProbeErrorContinue {
		failing, unknown = true, false
	}

	if st.Timeline.DeviatedAt == nil && failing {
		crossers := probeFailures
		if r.onProbeError() == chaosv1alpha1.ProbeErrorContinue {
			crossers = append(slices.Clone(crossers), probeErrs...)
		}
		deviatedAt, resolution := r.placeDeviation(crossers, s, v)
		st.Timeline.DeviatedAt = micro(deviatedAt)
		setInstantResolution(st, "deviatedAt", resolution)
		if names, ok := r.refinable(crossers, resolution); ok {
			r.requestRefinement("deviatedAt", names)
		}
		setCondition(st, chaosv1alpha1.ConditionDetected, metav1.ConditionTrue, chaosv1alpha1.ReasonDeviated, "the steady state deviated", s.At)
		events = append(events, Event{Warning: true, Reason: chaosv1alpha1.ReasonDeviated,
			Message: fmt.Sprintf("steady state deviated %s after injection: %s", r.sinceInjection(deviatedAt), describeFailures(probeFailures, r.Spec))})
	}
	if st.Timeline.AlertedAt == nil {
		var firing []probes.Result
		for _, res := range s.Results {
			if res.Kind == chaosv1alpha1.ProbeKindAlert && res.Err == nil && !res.Pass {
				firing = append(firing, res)
			}
		}
		if len(firing) > 0 {
			alertedAt, name, resolution := r.placeAlert(firing, s, v)
			st.Timeline.AlertedAt = micro(alertedAt)
			setInstantResolution(st, "alertedAt", resolution)
			events = append(events, Event{Reason: chaosv1alpha1.ReasonAlertFired,
				Message: fmt.Sprintf("alert %s fired %s after injection", name, r.sinceInjection(alertedAt))})
		}
	}
	// A sample where a probe failed breaks the stable window even when
	// another probe did not answer: it was not all-passing.
	if st.Timeline.DeviatedAt != nil && st.Timeline.RecoveredAt == nil && (failing || !unknown) {
		if failing {
			st.Progress.PassStreak = 0
			st.Progress.PassStreakStart, st.Progress.PassStreakResolution, st.Progress.PassStreakProbes = nil, nil, nil
		} else {
			if st.Progress.PassStreak == 0 {
				start, res := r.placeRecovery(s, v)
				st.Progress.PassStreakStart = micro(start)
				st.Progress.PassStreakResolution = &res
				st.Progress.PassStreakProbes = nil
				if names, ok := r.refinable(r.returning(s), res); ok {
					st.Progress.PassStreakProbes = names
				}
			}
			st.Progress.PassStreak++
			if st.Progress.PassStreak >= r.Spec.SteadyState.Stabilization {
				st.Timeline.RecoveredAt = st.Progress.PassStreakStart.DeepCopy()
				if res := st.Progress.PassStreakResolution; res != nil {
					setInstantResolution(st, "recoveredAt", *res)
				}
				if names := st.Progress.PassStreakProbes; len(names) > 0 {
					r.requestRefinement("recoveredAt", names)
				}
				setCondition(st, chaosv1alpha1.ConditionRecovered, metav1.ConditionTrue, chaosv1alpha1.ReasonRecovered, "the steady state returned", s.At)
				events = append(events, Event{Reason: chaosv1alpha1.ReasonRecovered,
					Message: fmt.Sprintf("steady state returned %s after injection", roundDuration(st.Timeline.RecoveredAt.Sub(st.Timeline.InjectedAt.Time)))})
			}
		}
	}

	// The sample's deviation, alert and recovery are recorded above before
	// any abort, so a run aborted on this sample still reports them.
	if len(allErrs) > 0 {
		if st.Progress.ProbeErrorStreak == 0 {
			st.Progress.ProbeErrorSince = micro(s.At)
		}
		st.Progress.ProbeErrorStreak++
		if r.onProbeError() == chaosv1alpha1.ProbeErrorAbort && st.Progress.ProbeErrorStreak >= r.errorThreshold() {
			return append(events, r.abort(s.At, chaosv1alpha1.AbortStatus{
				Reason:       chaosv1alpha1.AbortProbeUnavailable,
				FirstErrorAt: st.Progress.ProbeErrorSince.DeepCopy(),
				Message: fmt.Sprintf("probes did not answer for %d consecutive samples (%s); Faultline stops hurting a system it cannot see",
					st.Progress.ProbeErrorStreak, describeErrors(allErrs)),
			})...)
		}
	} else {
		st.Progress.ProbeErrorStreak, st.Progress.ProbeErrorSince = 0, nil
	}

	// A guard breach reverts before the run can move on.
	if st.Phase == chaosv1alpha1.PhaseObserving {
		if ev := r.checkGuards(s); ev != nil {
			return append(events, ev...)
		}
	}

	if r.observationDone(s.At) {
		if r.instant() && st.Phase == chaosv1alpha1.PhaseObserving {
			st.Phase = chaosv1alpha1.PhaseReverting
			return events
		}
		return append(events, r.finish(s.At)...)
	}
	return events
}

// checkGuards arms each guard's breach timer and aborts when one has been
// breached for its window.
func (r Run) checkGuards(s probes.Sample) []Event {
	st := r.Status
	for _, res := range s.Results {
		if res.Kind != chaosv1alpha1.ProbeKindGuard || res.Err != nil {
			continue
		}
		ps := findProbe(st, res.Name, res.Kind)
		if res.Pass {
			ps.BreachedSince = nil
			continue
		}
		if ps.BreachedSince == nil {
			ps.BreachedSince = micro(s.At)
		}
		guard := r.guard(res.Name)
		window := time.Duration(0)
		if guard != nil && guard.For != nil {
			window = guard.For.Duration
		}
		if s.At.Sub(ps.BreachedSince.Time) < window {
			continue
		}
		cond := ""
		if guard != nil {
			cond = fmt.Sprintf(" (needs %s %s)", guard.Condition.Op, guard.Condition.Value)
		}
		return r.abort(s.At, chaosv1alpha1.AbortStatus{
			Reason:        chaosv1alpha1.AbortSLOBreached,
			Guard:         res.Name,
			Value:         probes.FormatValue(res.Value),
			FirstBreachAt: ps.BreachedSince.DeepCopy(),
			Message: fmt.Sprintf("guard %s breached: value %s%s for %s",
				res.Name, probes.FormatValue(res.Value), cond, roundDuration(s.At.Sub(ps.BreachedSince.Time))),
		})
	}
	return nil
}

// observationDone says whether the run has seen all it needs after the fault.
func (r Run) observationDone(now time.Time) bool {
	st := r.Status
	tl := st.Timeline
	if !r.instant() && st.Phase != chaosv1alpha1.PhaseRecovering {
		return false
	}
	if tl.DeviatedAt == nil {
		// Nothing deviated yet. The fault is called absorbed only after a
		// quiet period long enough for slow signals (rate windows, alerts)
		// to show it, and remediation inside its objective.
		return !now.Before(r.quietUntil()) && !r.awaitingRemediation(now)
	}
	if tl.RecoveredAt != nil {
		if r.awaitingRemediation(now) {
			// Remediation may still start inside its objective; wait for it.
			return false
		}
		if until, ok := r.signalsDueBy(); ok {
			// An alert, or its notification, may still come inside its
			// objective; wait for it.
			return !now.Before(until)
		}
		return true
	}
	return !now.Before(r.recoveryDeadline())
}

// quietUntil is when a run that never deviated counts the fault as absorbed.
func (r Run) quietUntil() time.Time {
	st := r.Status
	from := st.Timeline.InjectedAt.Time
	if st.Timeline.RevertedAt != nil {
		from = st.Timeline.RevertedAt.Time
	}
	quiet := time.Duration(r.Spec.SteadyState.Stabilization) * r.interval()
	until := from.Add(quiet)
	if o := r.Spec.Objectives; o != nil && o.DetectWithin != nil {
		if d := st.Timeline.InjectedAt.Add(o.DetectWithin.Duration); d.After(until) {
			until = d
		}
	}
	return until
}

// recoveryDeadline is when a deviated run that has not recovered gives up.
func (r Run) recoveryDeadline() time.Time {
	st := r.Status
	from := st.Timeline.InjectedAt.Time
	if st.Timeline.RevertedAt != nil && !r.instant() {
		from = st.Timeline.RevertedAt.Time
	}
	return from.Add(r.RecoveryTimeout())
}

// RecoveryTimeout is how long a run waits for recovery. It defaults like the CRD does, for specs that reached the
// engine without defaulting: a zero timeout would fail every run at once.
func (r Run) RecoveryTimeout() time.Duration {
	if d := r.Spec.SteadyState.RecoveryTimeout.Duration; d > 0 {
		return d
	}
	return 5 * time.Minute
}

// BeginRevert marks the run Reverting when a sustained fault's hold is over,
// so a revert that fails and is retried shows as such.
func (r Run) BeginRevert() {
	if r.Status.Phase == chaosv1alpha1.PhaseObserving {
		r.Status.Phase = chaosv1alpha1.PhaseReverting
		r.Status.Message = "reverting the fault"
	}
}

// Abort stops the run for reason: a run that may have a fault applied goes to
// Reverting; one that never injected finishes at once. No sample caused such
// an abort, so it records no first breach.
func (r Run) Abort(now time.Time, reason chaosv1alpha1.AbortReason, message string) []Event {
	return r.abort(now, chaosv1alpha1.AbortStatus{Reason: reason, Message: message})
}

func (r Run) abort(now time.Time, a chaosv1alpha1.AbortStatus) []Event {
	st := r.Status
	if st.Phase == chaosv1alpha1.PhaseCompleted || st.Abort != nil {
		return nil
	}
	a.DecidedAt = micro(now)
	st.Abort = &a
	// A retry pending before the abort is moot: what follows is the
	// revert, which must not wait for it, and the verdict is the abort's.
	st.Progress.ConfigErrorAttempts, st.Progress.LastConfigErrorAt, st.Progress.ConfigError = 0, nil, ""
	setCondition(st, chaosv1alpha1.ConditionAborted, metav1.ConditionTrue, string(a.Reason), a.Message, now)
	events := []Event{{Warning: true, Reason: string(a.Reason), Message: a.Message}}
	switch st.Phase {
	case chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving, chaosv1alpha1.PhaseReverting:
		st.Phase = chaosv1alpha1.PhaseReverting
		st.Message = "aborting: " + a.Message
		return events
	}
	return append(events, r.finish(now)...)
}

// Fail ends the run at once with verdict v, for runs that cannot be carried
// out (such as a missing Experiment). It never applies to a run with a fault
// active: those are aborted, which reverts first.
func (r Run) Fail(now time.Time, v chaosv1alpha1.Verdict, reason, message string) []Event {
	return r.finishWith(now, v, reason, message)
}

// Finished reports whether the run has its verdict.
func (r Run) Finished() bool { return r.Status.Phase == chaosv1alpha1.PhaseCompleted }

// instant reports whether the fault is applied once rather than held.
func (r Run) instant() bool { return r.Spec.Fault.PodKill != nil }

func (r Run) interval() time.Duration { return ProbeInterval(r.Spec) }

// ProbeInterval is how often a run of spec samples its probes: the
// resolution of every figure a sample places, unless result.resolutions
// says otherwise for it. The schema defaults steadyState.interval to 5s;
// a spec read without that default (nil, or from before it) has it too.
func ProbeInterval(spec *chaosv1alpha1.ExperimentSpec) time.Duration {
	if spec != nil && spec.SteadyState.Interval.Duration > 0 {
		return spec.SteadyState.Interval.Duration
	}
	return 5 * time.Second
}

func (r Run) errorThreshold() int32 {
	if r.Spec.Abort != nil && r.Spec.Abort.ProbeErrorThreshold > 0 {
		return r.Spec.Abort.ProbeErrorThreshold
	}
	return 3
}

func (r Run) onProbeError() chaosv1alpha1.ProbeErrorPolicy {
	if r.Spec.Abort != nil && r.Spec.Abort.OnProbeError != "" {
		return r.Spec.Abort.OnProbeError
	}
	return chaosv1alpha1.ProbeErrorAbort
}

func (r Run) guards() []chaosv1alpha1.Guard {
	if r.Spec.Abort == nil {
		return nil
	}
	return r.Spec.Abort.Guards
}

func (r Run) guard(name string) *chaosv1alpha1.Guard {
	for i, g := range r.guards() {
		if g.Name == name {
			return &r.guards()[i]
		}
	}
	return nil
}

func (r Run) wantAlertsDeclared() bool {
	return r.Spec.Detection != nil && len(r.Spec.Detection.Alerts) > 0
}

// wantAlerts: alerts are sampled only until the first one fires.
func (r Run) wantAlerts() bool {
	return r.wantAlertsDeclared() && r.Status.Timeline.AlertedAt == nil
}

func (r Run) sinceInjection(t time.Time) time.Duration {
	if r.Status.Timeline.InjectedAt == nil {
		return 0
	}
	return roundDuration(t.Sub(r.Status.Timeline.InjectedAt.Time))
}

// partition returns the results of kind that errored and those that failed.
func (r Run) partition(s probes.Sample, kind chaosv1alpha1.ProbeKind) (errs, failures []probes.Result) {
	for _, res := range s.Results {
		if res.Kind != kind {
			continue
		}
		switch {
		case res.Err != nil:
			errs = append(errs, res)
		case !res.Pass:
			failures = append(failures, res)
		}
	}
	return errs, failures
}
