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
		// The reference decides, not the label anyone may write: this run
		// is another Experiment's, whatever its label says.
		labelled(storedRun("other-1", "other", t0, passedIn(t0, time.Second, time.Second)), "checkout-pod-kill"),
	}
	tests := map[string]struct {
		args []string
		want string
		said string
	}{
		"runs are listed newest first with a trend of the completed ones": {
			args: []string{"history", "checkout-pod-kill"},
			want: strings.Join([]string{
				"RUN      PHASE       VERDICT   DETECT   NOTIFY   REMEDIATE   RECOVER   STARTED",
				"kill-4   Observing   <none>    <none>   <none>   <none>      <none>    <none>",
				"kill-3   Completed   Failed    <none>   <none>   <none>      <none>    2026-03-03T14:00:00Z",
				"kill-2   Completed   Passed    12s      <none>   <none>      1m0s      2026-03-02T14:00:00Z",
				"kill-1   Completed   Passed    10s      <none>   <none>      40s       2026-03-01T14:00:00Z",
				"",
				"Trend: 2 of 3 completed runs passed (66%); median over passed runs: time to detect 11s, time to recover 50s",
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
			want: "Trend: 3 of 3 completed runs passed (100%); median over passed runs: time to detect 1s, time to recover 30s",
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

func TestHistoryFlagsARegression(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	day := func(i int) time.Time { return t0.Add(time.Duration(i) * 24 * time.Hour) }
	history := func(newestRecover time.Duration) []client.Object {
		return []client.Object{
			labelled(storedRun("r1", "kill", day(1), passedIn(day(1), time.Second, 40*time.Second)), "kill"),
			labelled(storedRun("r2", "kill", day(2), passedIn(day(2), time.Second, 50*time.Second)), "kill"),
			labelled(storedRun("r3", "kill", day(3), passedIn(day(3), time.Second, 60*time.Second)), "kill"),
			// A failed run between them is not a baseline.
			labelled(storedRun("r4", "kill", day(4), completed(chaosv1alpha1.VerdictFailed, "missed")), "kill"),
			labelled(storedRun("r5", "kill", day(5), passedIn(day(5), time.Second, newestRecover)), "kill"),
		}
	}
	tests := map[string]struct {
		objects  []client.Object
		args     []string
		wantCode int
		want     string
	}{
		"slower than the median by more than the margin fails the step": {
			objects: history(61 * time.Second), args: []string{"history", "kill", "--fail-on-regression"}, wantCode: exitRegression,
			want: "Regression: time to recover of r5 is 1m1s, 22% above the median 50s of the 3 passed runs before it (margin 20%)",
		},
		"within the margin is no regression": {
			objects: history(59 * time.Second), args: []string{"history", "kill", "--fail-on-regression"}, wantCode: 0,
		},
		"without --fail-on-regression it is reported, not gated": {
			objects: history(90 * time.Second), args: []string{"history", "kill"}, wantCode: 0,
			want: "Regression: time to recover of r5 is 1m30s, 80% above the median 50s",
		},
		"a wider margin tolerates it": {
			objects: history(61 * time.Second), args: []string{"history", "kill", "--fail-on-regression", "--margin", "25"}, wantCode: 0,
		},
		"the default baseline of five takes the three there are": {
			objects: history(65 * time.Second), args: []string{"history", "kill", "--fail-on-regression"}, wantCode: exitRegression,
			want: "30% above the median 50s of the 3 passed runs before it",
		},
		"a baseline of two compares with the two slower runs before": {
			objects: history(65 * time.Second), args: []string{"history", "kill", "--fail-on-regression", "--baseline", "2"}, wantCode: 0,
		},
		"a baseline below two is refused": {
			objects: history(61 * time.Second), args: []string{"history", "kill", "--baseline", "1"}, wantCode: exitUnusable,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tc.objects)
			code := h.execute(tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, h.stdout.String(), h.stderr.String())
			}
			out := h.stdout.String()
			if tc.want != "" && !strings.Contains(out, tc.want) {
				t.Errorf("history:\n%s\nwant a line containing %q", out, tc.want)
			}
			if tc.want == "" && strings.Contains(out, "Regression:") {
				t.Errorf("history reports a regression where there is none:\n%s", out)
			}
		})
	}
}
