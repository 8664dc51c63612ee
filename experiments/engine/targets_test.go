package engine_test

import (
	"fmt"
	"strings"
	"testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

func TestASelectionBeyondWhatARunRecordsEndsTheRunUntouched(t *testing.T) {
	targets := func(n int) []chaosv1alpha1.TargetStatus {
		out := make([]chaosv1alpha1.TargetStatus, n)
		for i := range out {
			out[i] = chaosv1alpha1.TargetStatus{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Phase: chaosv1alpha1.TargetSelected}
		}
		return out
	}
	tests := map[string]struct {
		n           int
		wantVerdict chaosv1alpha1.Verdict
	}{
		"as many as a run records, they are recorded":      {n: chaosv1alpha1.MaxRunTargets},
		"one more, the run ends Error with TooManyTargets": {n: chaosv1alpha1.MaxRunTargets + 1, wantVerdict: chaosv1alpha1.VerdictError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline}
			engine.Run{Spec: podKill(), Status: st}.ApplyTargets(targets(tc.n), "", nil, t0)
			if st.Verdict != tc.wantVerdict {
				t.Fatalf("verdict %q, want %q; message %q", st.Verdict, tc.wantVerdict, st.Message)
			}
			if tc.wantVerdict == "" {
				if len(st.Targets) != tc.n {
					t.Fatalf("%d targets recorded, want %d", len(st.Targets), tc.n)
				}
				return
			}
			if len(st.Targets) != 0 {
				t.Errorf("%d targets recorded, want none", len(st.Targets))
			}
			for _, want := range []string{fmt.Sprint(tc.n), "target.maxTargets", "nothing was injected"} {
				if !strings.Contains(st.Message, want) {
					t.Errorf("message %q does not say %q", st.Message, want)
				}
			}
			if !hasCondition(st, chaosv1alpha1.ReasonTooManyTargets) {
				t.Errorf("conditions %+v carry no reason %s", st.Conditions, chaosv1alpha1.ReasonTooManyTargets)
			}
		})
	}
}

func hasCondition(st *chaosv1alpha1.ExperimentRunStatus, reason string) bool {
	for _, c := range st.Conditions {
		if c.Reason == reason {
			return true
		}
	}
	return false
}
