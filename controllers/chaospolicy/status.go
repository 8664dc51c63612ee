package chaospolicy

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/policy"
)

// This file is the pure part of the controller: what the policy's status
// says given the runs and the instant. status_test.go tables it.

// abortSkew is how long before engagedAt a kill-switch abort still counts
// as this engagement's. The run controller and this controller see the same
// pause independently; the run controller may abort a run a moment before
// this one records engagedAt, and such a run was stopped by this switch.
const abortSkew = 30 * time.Second

// transition is an Event to emit once the status that records it is written.
type transition struct {
	eventType, reason, note string
}

// setStatus computes p's status from the runs at now and returns the
// transitions it recorded. It never reads the API server.
func setStatus(p *chaosv1alpha1.ChaosPolicy, runs []chaosv1alpha1.ExperimentRun, now time.Time) []transition {
	var out []transition
	active := 0
	for i := range runs {
		if policy.IsActive(runs[i].Status.Phase) {
			active++
		}
	}
	p.Status.ActiveRuns = int32(active)
	out = append(out, setKillSwitch(p, runs, active, now)...)

	problems := policy.Validate(p)
	wasStalled := meta.IsStatusConditionTrue(p.Status.Conditions, chaosv1alpha1.ConditionStalled)
	if len(problems) > 0 {
		msg := "fix the ChaosPolicy: " + strings.Join(problems, "; ")
		before := meta.FindStatusCondition(p.Status.Conditions, chaosv1alpha1.ConditionStalled)
		setCondition(p, chaosv1alpha1.ConditionStalled, metav1.ConditionTrue, chaosv1alpha1.ReasonConfigError, msg, now)
		setCondition(p, chaosv1alpha1.ConditionReady, metav1.ConditionFalse, chaosv1alpha1.ReasonConfigError, msg, now)
		if !wasStalled || before.Message != msg {
			out = append(out, transition{corev1.EventTypeWarning, chaosv1alpha1.ReasonConfigError, msg})
		}
	} else {
		meta.RemoveStatusCondition(&p.Status.Conditions, chaosv1alpha1.ConditionStalled)
		reason, msg := chaosv1alpha1.ReasonReconciled, "the policy is in force"
		if p.Spec.Paused {
			reason, msg = chaosv1alpha1.ReasonPaused, "the kill switch is on: no run starts and every active run is aborted and reverted"
		}
		setCondition(p, chaosv1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg, now)
	}
	p.Status.ObservedGeneration = p.Generation
	return out
}

// setKillSwitch records the effect of spec.paused: when it was first seen,
// how many runs it aborted, and when no run had a fault active any more.
// It is cleared when the switch is off, so a later pause is confirmed anew.
func setKillSwitch(p *chaosv1alpha1.ChaosPolicy, runs []chaosv1alpha1.ExperimentRun, active int, now time.Time) []transition {
	if !p.Spec.Paused {
		p.Status.KillSwitch = nil
		return nil
	}
	var out []transition
	ks := p.Status.KillSwitch
	if ks == nil || ks.EngagedAt == nil {
		ks = &chaosv1alpha1.KillSwitchStatus{EngagedAt: micro(now)}
		p.Status.KillSwitch = ks
		out = append(out, transition{corev1.EventTypeWarning, chaosv1alpha1.ReasonKillSwitchEngaged,
			fmt.Sprintf("kill switch engaged: aborting %d active run(s) and starting none", active)})
	}
	since := ks.EngagedAt.Add(-abortSkew)
	aborted := int32(0)
	for i := range runs {
		st := &runs[i].Status
		if st.Abort == nil || st.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			continue
		}
		if decided := engine.AbortDecidedAt(st); decided != nil && !decided.Time.Before(since) {
			aborted++
		}
	}
	// Runs are pruned by history limits: the count never goes down within
	// one engagement.
	ks.AbortedRuns = max(ks.AbortedRuns, aborted)
	if active == 0 && ks.AllRevertedAt == nil {
		ks.AllRevertedAt = micro(now)
		out = append(out, transition{corev1.EventTypeNormal, chaosv1alpha1.ReasonKillSwitchReverted,
			fmt.Sprintf("kill switch took effect: no run has a fault active; %d run(s) aborted; %s after it was engaged",
				ks.AbortedRuns, now.Sub(ks.EngagedAt.Time).Round(time.Millisecond))})
	}
	return out
}

func setCondition(p *chaosv1alpha1.ChaosPolicy, typ string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		ObservedGeneration: p.Generation,
		Reason:             reason,
		Message:            message,
		LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	})
}

func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}
