package main

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// TestDryRunWaitExitsWithTheDryRunsOutcome: a pipeline's dry-run step gates
// on success. A dry run whose baseline held and whose targets resolved exits
// 0; one that found no target exits 3, like any run that tested nothing. The
// final statuses are the engine's own, so a change in how dry runs end is
// caught here.
func TestDryRunWaitExitsWithTheDryRunsOutcome(t *testing.T) {
	t0 := time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
	targets := []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "web-1", Phase: chaosv1alpha1.TargetSelected}}
	tests := map[string]struct {
		targets     []chaosv1alpha1.TargetStatus
		wantCode    int
		wantVerdict string
	}{
		"targets resolved: passed, exit 0":      {targets: targets, wantCode: exitPassed, wantVerdict: "Passed: dry run"},
		"no target found: inconclusive, exit 3": {targets: nil, wantCode: exitInconclusive, wantVerdict: "Inconclusive: no target could be selected"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []client.Object{experiment()})
			done := h.start("run", "checkout-pod-kill", "--dry-run", "--wait")
			run := h.theRun()
			h.awaitWatch()

			st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending}
			er := engine.Run{Spec: &chaosv1alpha1.ExperimentSpec{}, Status: st, DryRun: run.Spec.DryRun}
			er.Start(t0)
			st.Phase = chaosv1alpha1.PhaseInjecting
			er.ApplyTargets(tc.targets, "", nil, t0.Add(time.Minute))
			engine.SetReadiness(st, run.Generation, t0.Add(time.Minute))
			if st.Phase != chaosv1alpha1.PhaseCompleted {
				t.Fatalf("the engine left the dry run in phase %s", st.Phase)
			}
			h.operate(run.Name, *st)

			if code := h.exitCode(done); code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, tc.wantCode, h.stderr.String())
			}
			if !strings.Contains(h.stderr.String(), tc.wantVerdict) {
				t.Errorf("progress does not show %q:\n%s", tc.wantVerdict, h.stderr.String())
			}
		})
	}
}
