package engine

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The fault's part of the machine: what the controller reports back after
// selecting targets, injecting and reverting.

// ApplyTargets records the selected targets (with their restore data) and,
// for a dry run, finishes. The controller writes status right after, before
// it injects anything.
func (r Run) ApplyTargets(targets []chaosv1alpha1.TargetStatus, note string, err error, now time.Time) []Event {
	st := r.Status
	if err == nil && len(targets) == 0 {
		// Next asks for targets while none are recorded: accepting an empty
		// selection would ask again forever.
		err = errors.New("the selection is empty")
	}
	if err != nil {
		return r.finishWith(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonNoTargets,
			fmt.Sprintf("no target could be selected: %v; nothing was injected", err))
	}
	if len(targets) > chaosv1alpha1.MaxRunTargets {
		// The status could not record them, and a fault it cannot record
		// it could not revert: refuse before anything is touched.
		return r.finishWith(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonTooManyTargets,
			fmt.Sprintf("the selection holds %d targets, more than the %d a run records, so all %d were left out and nothing was injected: set target.maxTargets to at most %d, or narrow target.selector",
				len(targets), chaosv1alpha1.MaxRunTargets, len(targets), chaosv1alpha1.MaxRunTargets))
	}
	st.Targets = targets
	names := targetNames(targets)
	msg := fmt.Sprintf("selected %d target(s): %s", len(targets), names)
	if note != "" {
		msg += " (" + note + ")"
	}
	st.Message = msg
	events := []Event{{Reason: chaosv1alpha1.ReasonTargetsSelected, Message: msg}}
	if r.DryRun {
		// A dry run that got this far did all it set out to do: the
		// baseline held and targets resolved. It passes, so a pipeline's
		// dry-run step can gate on success rather than on a failure code;
		// the reason DryRun keeps it apart from a run that tested anything.
		return append(events, r.finishWith(now, chaosv1alpha1.VerdictPassed, chaosv1alpha1.ReasonDryRun,
			fmt.Sprintf("dry run: nothing was injected; the steady state held and the fault would have hit %d target(s): %s", len(targets), names))...)
	}
	return events
}

// ApplyInjected records the outcome of injecting every Selected target; the
// controller has already set each target's Phase, InjectedAt and Message.
func (r Run) ApplyInjected(now time.Time) []Event {
	st := r.Status
	var first *metav1.MicroTime
	injected, failed := 0, 0
	var failures []string
	for _, t := range st.Targets {
		switch t.Phase {
		case chaosv1alpha1.TargetInjected:
			injected++
			if t.InjectedAt != nil && (first == nil || t.InjectedAt.Before(first)) {
				first = t.InjectedAt.DeepCopy()
			}
		case chaosv1alpha1.TargetFailed:
			failed++
			failures = append(failures, fmt.Sprintf("%s: %s", targetName(t), t.Message))
		}
	}
	if injected == 0 {
		// Revert anyway: a fault that failed half-way may have left something.
		st.Phase = chaosv1alpha1.PhaseReverting
		st.Abort = &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortInjectionFailed,
			Message: "the fault could not be applied to any target: " + joinLimit(failures, 3)}
		setCondition(st, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, chaosv1alpha1.ReasonInjectionFailed, st.Abort.Message, now)
		return []Event{{Warning: true, Reason: chaosv1alpha1.ReasonInjectionFailed, Message: st.Abort.Message}}
	}
	if first == nil {
		first = micro(now)
	}
	st.Timeline.InjectedAt = first
	st.Progress.LastSampleAt = first.DeepCopy()
	// What happens after the injection is seen from the injection on: a
	// first sample long after it closes a gap.
	st.Progress.LastAnsweredAt, st.Progress.UnansweredSamples = first.DeepCopy(), 0
	if !r.instant() {
		// A sustained fault always has an end: admission requires a
		// duration, and a spec that reached us without one is held for none.
		hold := time.Duration(0)
		if r.Spec.Duration != nil {
			hold = r.Spec.Duration.Duration
		}
		st.Progress.HoldUntil = micro(first.Add(hold))
	}
	st.Phase = chaosv1alpha1.PhaseObserving
	st.Message = fmt.Sprintf("fault injected into %d target(s); observing", injected)
	if failed > 0 {
		st.Message += fmt.Sprintf("; %d target(s) failed: %s", failed, joinLimit(failures, 3))
	}
	setCondition(st, chaosv1alpha1.ConditionInjected, metav1.ConditionTrue, chaosv1alpha1.ReasonFaultInjected, st.Message, now)
	return []Event{{Warning: failed > 0, Reason: chaosv1alpha1.ReasonFaultInjected, Message: st.Message}}
}

// ApplyReverted records that every target is reverted (the controller set
// each target's Phase and RevertedAt) and moves the run on.
func (r Run) ApplyReverted(now time.Time) []Event {
	st := r.Status
	st.Timeline.RevertedAt = micro(now)
	var conflicts []string
	for _, t := range st.Targets {
		if t.Phase == chaosv1alpha1.TargetConflict {
			conflicts = append(conflicts, fmt.Sprintf("%s: %s", targetName(t), t.Message))
		}
	}
	events := []Event{{Reason: chaosv1alpha1.ReasonFaultReverted, Message: "fault reverted on every target"}}
	if len(conflicts) > 0 {
		events = append(events, Event{Warning: true, Reason: chaosv1alpha1.ReasonRevertConflict,
			Message: "left another writer's change in place: " + joinLimit(conflicts, 3)})
	}
	if faultApplied(st) {
		// Injected stays True after the revert: it says the fault happened,
		// and a reader (or `kubectl wait --for=condition=Injected`) that
		// saw it turn False would conclude nothing was ever injected.
		msg := "the fault was applied and has been reverted"
		if r.instant() {
			msg = "the fault was applied; an instant fault leaves nothing applied to revert"
		}
		setCondition(st, chaosv1alpha1.ConditionInjected, metav1.ConditionTrue, chaosv1alpha1.ReasonFaultReverted, msg, now)
	}
	switch {
	case st.Abort != nil, st.Timeline.InjectedAt == nil:
		return append(events, r.finish(now)...)
	case r.instant():
		// The instant fault's observation is already over.
		return append(events, r.finish(now)...)
	}
	st.Phase = chaosv1alpha1.PhaseRecovering
	st.Message = "fault reverted; waiting for the steady state to return"
	st.Progress.PassStreak, st.Progress.PassStreakStart, st.Progress.PassStreakResolution, st.Progress.PassStreakProbes = 0, nil, nil, nil
	if st.Timeline.RecoveredAt != nil {
		return append(events, r.finish(now)...)
	}
	return events
}

// faultApplied reports whether the fault reached any target, including one
// injected by a run aborted before ApplyInjected recorded the injection.
func faultApplied(st *chaosv1alpha1.ExperimentRunStatus) bool {
	if st.Timeline.InjectedAt != nil {
		return true
	}
	for _, t := range st.Targets {
		if t.InjectedAt != nil {
			return true
		}
	}
	return false
}
