package chaospolicy

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

var t0 = time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)

func run(phase chaosv1alpha1.RunPhase) chaosv1alpha1.ExperimentRun {
	return chaosv1alpha1.ExperimentRun{Status: chaosv1alpha1.ExperimentRunStatus{Phase: phase}}
}

func abortedAt(reason chaosv1alpha1.AbortReason, at time.Time) chaosv1alpha1.ExperimentRun {
	r := run(chaosv1alpha1.PhaseCompleted)
	r.Status.Abort = &chaosv1alpha1.AbortStatus{Reason: reason, DecidedAt: ptr.To(metav1.NewMicroTime(at))}
	return r
}

func TestSetStatus(t *testing.T) {
	engaged := &chaosv1alpha1.KillSwitchStatus{EngagedAt: ptr.To(metav1.NewMicroTime(t0))}
	tests := map[string]struct {
		spec        chaosv1alpha1.ChaosPolicySpec
		killSwitch  *chaosv1alpha1.KillSwitchStatus
		runs        []chaosv1alpha1.ExperimentRun
		now         time.Time
		wantActive  int32
		wantSwitch  *chaosv1alpha1.KillSwitchStatus
		wantReasons []string
		wantStalled string
	}{
		"unpaused, active runs are counted and pending and finished ones are not": {
			runs:       []chaosv1alpha1.ExperimentRun{run(chaosv1alpha1.PhaseObserving), run(chaosv1alpha1.PhaseBaseline), run(chaosv1alpha1.PhasePending), run(chaosv1alpha1.PhaseCompleted)},
			now:        t0,
			wantActive: 2,
		},
		"paused for the first time, engagedAt is now and the engagement announced": {
			spec:        chaosv1alpha1.ChaosPolicySpec{Paused: true},
			runs:        []chaosv1alpha1.ExperimentRun{run(chaosv1alpha1.PhaseObserving)},
			now:         t0,
			wantActive:  1,
			wantSwitch:  &chaosv1alpha1.KillSwitchStatus{EngagedAt: ptr.To(metav1.NewMicroTime(t0))},
			wantReasons: []string{chaosv1alpha1.ReasonKillSwitchEngaged},
		},
		"paused and runs still reverting, nothing more is confirmed": {
			spec:       chaosv1alpha1.ChaosPolicySpec{Paused: true},
			killSwitch: engaged,
			runs:       []chaosv1alpha1.ExperimentRun{run(chaosv1alpha1.PhaseReverting), abortedAt(chaosv1alpha1.AbortKillSwitch, t0.Add(time.Second))},
			now:        t0.Add(2 * time.Second),
			wantActive: 1,
			wantSwitch: &chaosv1alpha1.KillSwitchStatus{EngagedAt: engaged.EngagedAt, AbortedRuns: 1},
		},
		"paused and no run active any more, allRevertedAt confirms it once": {
			spec:       chaosv1alpha1.ChaosPolicySpec{Paused: true},
			killSwitch: engaged,
			runs: []chaosv1alpha1.ExperimentRun{
				abortedAt(chaosv1alpha1.AbortKillSwitch, t0.Add(time.Second)),
				// Aborted by the run controller a moment before this controller saw the pause.
				abortedAt(chaosv1alpha1.AbortKillSwitch, t0.Add(-time.Second)),
				// Another engagement's, and another reason's: not counted.
				abortedAt(chaosv1alpha1.AbortKillSwitch, t0.Add(-time.Hour)),
				abortedAt(chaosv1alpha1.AbortSLOBreached, t0.Add(time.Second)),
				run(chaosv1alpha1.PhasePending),
			},
			now: t0.Add(3 * time.Second),
			wantSwitch: &chaosv1alpha1.KillSwitchStatus{EngagedAt: engaged.EngagedAt, AbortedRuns: 2,
				AllRevertedAt: ptr.To(metav1.NewMicroTime(t0.Add(3 * time.Second)))},
			wantReasons: []string{chaosv1alpha1.ReasonKillSwitchReverted},
		},
		"already confirmed, nothing is announced again": {
			spec: chaosv1alpha1.ChaosPolicySpec{Paused: true},
			killSwitch: &chaosv1alpha1.KillSwitchStatus{EngagedAt: engaged.EngagedAt, AbortedRuns: 2,
				AllRevertedAt: ptr.To(metav1.NewMicroTime(t0.Add(3 * time.Second)))},
			now: t0.Add(time.Minute),
			wantSwitch: &chaosv1alpha1.KillSwitchStatus{EngagedAt: engaged.EngagedAt, AbortedRuns: 2,
				AllRevertedAt: ptr.To(metav1.NewMicroTime(t0.Add(3 * time.Second)))},
		},
		"unpaused, the confirmation is cleared for the next pause": {
			killSwitch: engaged,
			now:        t0.Add(time.Minute),
		},
		"an invalid namespaceSelector stalls the policy with what to fix": {
			spec: chaosv1alpha1.ChaosPolicySpec{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}},
			now:         t0,
			wantReasons: []string{chaosv1alpha1.ReasonConfigError},
			wantStalled: "spec.namespaceSelector",
		},
		"a bad allowed address and an unknown blackout zone are both named": {
			spec: chaosv1alpha1.ChaosPolicySpec{
				AllowedProviderAddresses: []string{"prometheus:9090"},
				BlackoutWindows: []chaosv1alpha1.BlackoutWindow{{TimeWindow: chaosv1alpha1.TimeWindow{Start: "10:00", End: "11:00"},
					TimeZone: ptr.To("Europe/Berln")}},
			},
			now:         t0,
			wantReasons: []string{chaosv1alpha1.ReasonConfigError},
			wantStalled: "spec.blackoutWindows[0].timeZone",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Generation: 3}, Spec: tc.spec}
			p.Status.KillSwitch = tc.killSwitch.DeepCopy()
			got := setStatus(p, tc.runs, tc.now)

			if p.Status.ActiveRuns != tc.wantActive {
				t.Errorf("activeRuns = %d, want %d", p.Status.ActiveRuns, tc.wantActive)
			}
			if !equalSwitch(p.Status.KillSwitch, tc.wantSwitch) {
				t.Errorf("killSwitch = %+v, want %+v", p.Status.KillSwitch, tc.wantSwitch)
			}
			var reasons []string
			for _, tr := range got {
				reasons = append(reasons, tr.reason)
			}
			if strings.Join(reasons, ",") != strings.Join(tc.wantReasons, ",") {
				t.Errorf("transitions = %v, want %v", reasons, tc.wantReasons)
			}
			stalled := meta.FindStatusCondition(p.Status.Conditions, chaosv1alpha1.ConditionStalled)
			ready := meta.FindStatusCondition(p.Status.Conditions, chaosv1alpha1.ConditionReady)
			switch {
			case tc.wantStalled == "" && stalled != nil:
				t.Errorf("Stalled = %+v, want none", stalled)
			case tc.wantStalled != "" && (stalled == nil || !strings.Contains(stalled.Message, tc.wantStalled)):
				t.Errorf("Stalled = %+v, want a message naming %s", stalled, tc.wantStalled)
			}
			if ready == nil || (ready.Status == metav1.ConditionTrue) != (tc.wantStalled == "") {
				t.Errorf("Ready = %+v, want True exactly when not stalled", ready)
			}
			if p.Status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", p.Status.ObservedGeneration)
			}
		})
	}
}

func equalSwitch(a, b *chaosv1alpha1.KillSwitchStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	eq := func(x, y *metav1.MicroTime) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.Equal(y)
	}
	return eq(a.EngagedAt, b.EngagedAt) && eq(a.AllRevertedAt, b.AllRevertedAt) && a.AbortedRuns == b.AbortedRuns
}
