package engine

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestJudgeObjectives(t *testing.T) {
	minute := &metav1.Duration{Duration: time.Minute}
	all := &chaosv1alpha1.ObjectivesSpec{DetectWithin: minute, RecoverWithin: minute, RemediateWithin: minute, NotifyWithin: minute}
	injected := micro(time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC))
	within, over := duration(30*time.Second), duration(2*time.Minute)
	const (
		met         = chaosv1alpha1.ObjectiveMet
		missed      = chaosv1alpha1.ObjectiveMissed
		notMeasured = chaosv1alpha1.ObjectiveNotMeasured
	)
	tests := map[string]struct {
		objectives *chaosv1alpha1.ObjectivesSpec
		injected   *metav1.MicroTime
		abort      *chaosv1alpha1.AbortStatus
		absorbed   bool
		result     chaosv1alpha1.RunResult
		want       []chaosv1alpha1.ObjectiveStatus // detect, recover, remediate, notify
		wantNames  []string
		wantMissed bool
	}{
		"every figure within its limit, all met": {
			objectives: all, injected: injected,
			result: chaosv1alpha1.RunResult{TimeToDetect: within, TimeToRecover: within, TimeToRemediate: within, TimeToNotify: within},
			want:   []chaosv1alpha1.ObjectiveStatus{met, met, met, met},
		},
		"a figure at its limit meets it": {
			objectives: &chaosv1alpha1.ObjectivesSpec{RecoverWithin: minute}, injected: injected,
			result:    chaosv1alpha1.RunResult{TimeToRecover: duration(time.Minute)},
			want:      []chaosv1alpha1.ObjectiveStatus{met},
			wantNames: []string{objectiveRecover},
		},
		"a figure over its limit misses it": {
			objectives: all, injected: injected,
			result:     chaosv1alpha1.RunResult{TimeToDetect: within, TimeToRecover: over, TimeToRemediate: within, TimeToNotify: within},
			want:       []chaosv1alpha1.ObjectiveStatus{met, missed, met, met},
			wantMissed: true,
		},
		"a deviation nothing detected, no one was told of, not remediated nor recovered from misses all": {
			objectives: all, injected: injected,
			want:       []chaosv1alpha1.ObjectiveStatus{missed, missed, missed, missed},
			wantMissed: true,
		},
		"an absorbed fault has nothing to detect or tell, yet remediation is still asked for": {
			objectives: all, injected: injected, absorbed: true,
			result:     chaosv1alpha1.RunResult{TimeToRecover: duration(0)},
			want:       []chaosv1alpha1.ObjectiveStatus{notMeasured, met, missed, notMeasured},
			wantMissed: true,
		},
		"an aborted run measured nothing": {
			objectives: all, injected: injected, abort: &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortSLOBreached},
			want: []chaosv1alpha1.ObjectiveStatus{notMeasured, notMeasured, notMeasured, notMeasured},
		},
		"an aborted run is still judged on what it measured": {
			objectives: all, injected: injected, abort: &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortSLOBreached},
			result:     chaosv1alpha1.RunResult{TimeToDetect: over},
			want:       []chaosv1alpha1.ObjectiveStatus{missed, notMeasured, notMeasured, notMeasured},
			wantMissed: true,
		},
		"a run that never injected measured nothing": {
			objectives: all,
			want:       []chaosv1alpha1.ObjectiveStatus{notMeasured, notMeasured, notMeasured, notMeasured},
		},
		"only the objectives the spec sets are judged": {
			objectives: &chaosv1alpha1.ObjectivesSpec{NotifyWithin: minute, DetectWithin: minute}, injected: injected,
			result:     chaosv1alpha1.RunResult{TimeToDetect: within},
			want:       []chaosv1alpha1.ObjectiveStatus{met, missed},
			wantNames:  []string{objectiveDetect, objectiveNotify},
			wantMissed: true,
		},
		"a spec without objectives has no results": {
			injected: injected,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := Run{
				Spec: &chaosv1alpha1.ExperimentSpec{Objectives: tc.objectives},
				Status: &chaosv1alpha1.ExperimentRunStatus{
					Timeline: chaosv1alpha1.Timeline{InjectedAt: tc.injected},
					Abort:    tc.abort,
				},
			}
			results, gotMissed := judgeObjectives(r.objectives(&tc.result, tc.absorbed))
			wantNames := tc.wantNames
			if wantNames == nil && tc.want != nil {
				wantNames = []string{objectiveDetect, objectiveRecover, objectiveRemediate, objectiveNotify}
			}
			var names []string
			var statuses []chaosv1alpha1.ObjectiveStatus
			for _, o := range results {
				names = append(names, o.Name)
				statuses = append(statuses, o.Status)
				if o.Target != *minute {
					t.Errorf("%s: target %s, want the spec's %s", o.Name, o.Target.Duration, minute.Duration)
				}
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("judged %v, want %v", names, wantNames)
			}
			if !slices.Equal(statuses, tc.want) {
				t.Errorf("statuses %v, want %v", statuses, tc.want)
			}
			if gotMissed != tc.wantMissed {
				t.Errorf("missed = %v, want %v", gotMissed, tc.wantMissed)
			}
			if tc.want == nil && results != nil {
				t.Errorf("results = %#v, want none (nil), as status had before", results)
			}
		})
	}
}
