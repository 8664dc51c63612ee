package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// passedIn is a passed run's status with the given times to detect and recover.
func passedIn(started time.Time, detect, recoverIn time.Duration) chaosv1alpha1.ExperimentRunStatus {
	st := completed(chaosv1alpha1.VerdictPassed, "ok")
	st.Timeline.StartedAt = micro(started)
	st.Result.TimeToDetect = &metav1.Duration{Duration: detect}
	st.Result.TimeToRecover = &metav1.Duration{Duration: recoverIn}
	return st
}

func labelled(r *chaosv1alpha1.ExperimentRun, experiment string) *chaosv1alpha1.ExperimentRun {
	r.Labels = map[string]string{chaosv1alpha1.ExperimentLabel: experiment}
	return r
}

func TestHistory(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	failed := completed(chaosv1alpha1.VerdictFailed, "missed")
	failed.Timeline.StartedAt = micro(t0.Add(48 * time.Hour))
	objects := []client.Object{
		labelled(storedRun("kill-1", "checkout-pod-kill", t0, passedIn(t0, 10*time.Second, 40*time.Second)), "checkout-pod-kill"),
		// Unlabelled: found by spec.experimentRef.name.
		storedRun("kill-2", "checkout-pod-kill", t0.Add(24*time.Hour), passedIn(t0.Add(24*time.Hour), 12*time.Second, 60*time.Second)),
		labelled(storedRun("kill-3", "checkout-pod-kill", t0.Add(48*time.Hour), failed), "checkout-pod-kill"),
		storedRun("kill-4", "checkout-pod-kill", t0.Add(72*time.Hour), chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving}),
		// The label wins over the reference: this run is another Experiment's.
		labelled(storedRun("other-1", "checkout-pod-kill", t0, passedIn(t0, time.Second, time.Second)), "other"),
	}
	tests := map[string]struct {
		args []string
		want string
		said string
	}{
		"runs are listed newest first with a trend of the completed ones": {
			args: []string{"history", "checkout-pod-kill"},
			want: strings.Join([]string{
				"RUN      PHASE       VERDICT   DETECT   RECOVER   STARTED",
				"kill-4   Observing   <none>    <none>   <none>    <none>",
				"kill-3   Completed   Failed    <none>   <none>    2026-03-03T14:00:00Z",
				"kill-2   Completed   Passed    12s      1m0s      2026-03-02T14:00:00Z",
				"kill-1   Completed   Passed    10s      40s       2026-03-01T14:00:00Z",
				"",
				"Trend: 2 of 3 completed runs passed (66%); median time to recover of passed runs 50s",
				"",
			}, "\n"),
		},
		"an experiment without runs says so": {
			args: []string{"history", "nothing"},
			said: "no runs of experiment nothing in namespace shop",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, objects)
			if code := h.execute(tc.args...); code != 0 {
				t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
			}
			if got := h.stdout.String(); got != tc.want {
				t.Errorf("history:\n%s\nwant:\n%s", got, tc.want)
			}
			if !strings.Contains(h.stderr.String(), tc.said) {
				t.Errorf("stderr %q does not say %q", h.stderr.String(), tc.said)
			}
		})
	}
}

func TestTrend(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	run := func(st chaosv1alpha1.ExperimentRunStatus) chaosv1alpha1.ExperimentRun {
		return *storedRun("r", "e", t0, st)
	}
	tests := map[string]struct {
		runs []chaosv1alpha1.ExperimentRun
		want string
	}{
		"only runs in progress have no trend": {
			runs: []chaosv1alpha1.ExperimentRun{run(chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseBaseline})},
			want: "Trend: no completed run yet (1 in progress)",
		},
		"no passed run has no median": {
			runs: []chaosv1alpha1.ExperimentRun{run(completed(chaosv1alpha1.VerdictAborted, "x"))},
			want: "Trend: 0 of 1 completed runs passed (0%)",
		},
		"an odd count takes the middle time to recover": {
			runs: []chaosv1alpha1.ExperimentRun{
				run(passedIn(t0, time.Second, 90*time.Second)), run(passedIn(t0, time.Second, 10*time.Second)), run(passedIn(t0, time.Second, 30*time.Second)),
			},
			want: "Trend: 3 of 3 completed runs passed (100%); median time to recover of passed runs 30s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := trend(tc.runs); got != tc.want {
				t.Errorf("trend = %q, want %q", got, tc.want)
			}
		})
	}
}
