package engine_test

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

func TestConfigAndStepErrors(t *testing.T) {
	t0 := time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)
	injected := []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "web-1", Phase: chaosv1alpha1.TargetInjected}}
	tests := map[string]struct {
		phase   chaosv1alpha1.RunPhase
		targets []chaosv1alpha1.TargetStatus
		// apply fails steps the way the test needs, at t0 + i*step.
		apply func(r engine.Run, at func(int) time.Time)
		// wantPhase and wantVerdict after apply.
		wantPhase   chaosv1alpha1.RunPhase
		wantVerdict chaosv1alpha1.Verdict
		wantStalled bool
	}{
		"a config error in the baseline is retried before the limit": {
			phase: chaosv1alpha1.PhaseBaseline,
			apply: func(r engine.Run, at func(int) time.Time) {
				for i := range engine.MaxConfigErrorAttempts - 1 {
					r.ApplyConfigError(at(i), "Secret shop/token does not exist")
				}
			},
			wantPhase: chaosv1alpha1.PhaseBaseline,
		},
		"a config error in the baseline ends in Error at the limit": {
			phase: chaosv1alpha1.PhaseBaseline,
			apply: func(r engine.Run, at func(int) time.Time) {
				for i := range engine.MaxConfigErrorAttempts {
					r.ApplyConfigError(at(i), "Secret shop/token does not exist")
				}
			},
			wantPhase: chaosv1alpha1.PhaseCompleted, wantVerdict: chaosv1alpha1.VerdictError, wantStalled: true,
		},
		"a config error with a fault active aborts at once and ends in Error once reverted": {
			phase: chaosv1alpha1.PhaseObserving, targets: injected,
			apply: func(r engine.Run, at func(int) time.Time) {
				r.ApplyConfigError(at(0), "Secret shop/token does not exist")
				if r.Status.Phase != chaosv1alpha1.PhaseReverting {
					t.Fatalf("phase after a config error with a fault active = %s, want Reverting", r.Status.Phase)
				}
				r.Status.Targets[0].Phase = chaosv1alpha1.TargetReverted
				r.ApplyReverted(at(1))
			},
			wantPhase: chaosv1alpha1.PhaseCompleted, wantVerdict: chaosv1alpha1.VerdictError, wantStalled: true,
		},
		"a kill switch after a pending config retry is an abort, not an Error": {
			phase: chaosv1alpha1.PhaseBaseline,
			apply: func(r engine.Run, at func(int) time.Time) {
				r.ApplyConfigError(at(0), "Secret shop/token does not exist")
				r.Abort(at(1), chaosv1alpha1.AbortKillSwitch, "paused")
			},
			wantPhase: chaosv1alpha1.PhaseCompleted, wantVerdict: chaosv1alpha1.VerdictAborted,
		},
		"transient errors with a fault active abort after the bound": {
			phase: chaosv1alpha1.PhaseObserving, targets: injected,
			apply: func(r engine.Run, at func(int) time.Time) {
				r.ApplyStepError(at(0), errors.New("etcdserver: request timed out"))
				r.ApplyStepError(at(0).Add(engine.MaxStepErrorWhileActive), errors.New("etcdserver: request timed out"))
			},
			wantPhase: chaosv1alpha1.PhaseReverting,
		},
		"transient errors with no fault active keep retrying": {
			phase: chaosv1alpha1.PhaseBaseline,
			apply: func(r engine.Run, at func(int) time.Time) {
				r.ApplyStepError(at(0), errors.New("etcdserver: request timed out"))
				r.ApplyStepError(at(0).Add(time.Hour), errors.New("etcdserver: request timed out"))
			},
			wantPhase: chaosv1alpha1.PhaseBaseline,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := &chaosv1alpha1.ExperimentRunStatus{Phase: tc.phase, Targets: tc.targets}
			if tc.targets != nil {
				st.Timeline.InjectedAt = micro(t0)
			}
			r := engine.Run{Spec: podKill(), Status: st}
			tc.apply(r, func(i int) time.Time { return t0.Add(time.Duration(i) * engine.ConfigErrorRetryInterval) })
			if st.Phase != tc.wantPhase || st.Verdict != tc.wantVerdict {
				t.Errorf("phase %s, verdict %q; want %s, %q (%s)", st.Phase, st.Verdict, tc.wantPhase, tc.wantVerdict, st.Message)
			}
			if got := meta.IsStatusConditionTrue(st.Conditions, chaosv1alpha1.ConditionStalled); got != tc.wantStalled {
				t.Errorf("Stalled = %v, want %v", got, tc.wantStalled)
			}
			if tc.wantVerdict == chaosv1alpha1.VerdictError {
				if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonConfigError {
					t.Errorf("Completed condition = %+v, want reason ConfigError", c)
				}
			}
		})
	}
}

func TestConfigErrorRetryWaitSpacesAttempts(t *testing.T) {
	t0 := time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)
	st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline}
	r := engine.Run{Spec: podKill(), Status: st}
	r.ApplyConfigError(t0, "bad")
	if got := r.ConfigErrorRetryWait(t0.Add(4 * time.Second)); got != engine.ConfigErrorRetryInterval-4*time.Second {
		t.Errorf("wait 4s after an attempt = %s, want %s", got, engine.ConfigErrorRetryInterval-4*time.Second)
	}
	if got := r.ConfigErrorRetryWait(t0.Add(engine.ConfigErrorRetryInterval)); got != 0 {
		t.Errorf("wait once due = %s, want 0", got)
	}
	r.ClearStepErrors()
	if st.Progress.ConfigErrorAttempts != 0 || st.Progress.ConfigError != "" || r.ConfigErrorRetryWait(t0) != 0 {
		t.Errorf("after a successful step progress = %+v, want the attempts forgotten", st.Progress)
	}
}
