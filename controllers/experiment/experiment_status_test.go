package experiment

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

var t0 = time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)

// run builds a run created at t0+created; finished (non-zero) makes it
// Completed with that finish instant after t0.
func run(name string, created, finished time.Duration, verdict chaosv1alpha1.Verdict) chaosv1alpha1.ExperimentRun {
	r := chaosv1alpha1.ExperimentRun{ObjectMeta: metav1.ObjectMeta{
		Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(created)),
	}}
	if finished == 0 {
		r.Status.Phase = chaosv1alpha1.PhaseObserving
		return r
	}
	r.Status.Phase = chaosv1alpha1.PhaseCompleted
	r.Status.Verdict = verdict
	started := metav1.NewMicroTime(t0.Add(created + 1500*time.Millisecond))
	done := metav1.NewMicroTime(t0.Add(finished + 250*time.Millisecond))
	r.Status.Timeline.StartedAt, r.Status.Timeline.FinishedAt = &started, &done
	r.Status.Result = &chaosv1alpha1.RunResult{
		TimeToDetect:  &metav1.Duration{Duration: 5 * time.Second},
		TimeToRecover: &metav1.Duration{Duration: 42 * time.Second},
	}
	return r
}

func names(summaries []chaosv1alpha1.RunSummary) []string {
	var out []string
	for _, s := range summaries {
		out = append(out, s.Name)
	}
	return out
}

func TestRunStatus(t *testing.T) {
	tests := map[string]struct {
		runs       []chaosv1alpha1.ExperimentRun
		previous   []chaosv1alpha1.RunSummary
		wantActive []string
		wantRecent []string
	}{
		"no runs report nothing": {},
		"recent is newest finished first, active oldest first": {
			runs: []chaosv1alpha1.ExperimentRun{
				run("b", 2*time.Minute, 3*time.Minute, chaosv1alpha1.VerdictFailed),
				run("active-new", 9*time.Minute, 0, ""),
				run("a", time.Minute, 5*time.Minute, chaosv1alpha1.VerdictPassed), // started first, finished last
				run("active-old", 8*time.Minute, 0, ""),
			},
			wantActive: []string{"active-old", "active-new"},
			wantRecent: []string{"a", "b"},
		},
		"runs finished in the same second are ordered by name, newest name first": {
			runs: []chaosv1alpha1.ExperimentRun{
				run("x-1", time.Minute, 2*time.Minute, chaosv1alpha1.VerdictPassed),
				run("x-2", time.Minute, 2*time.Minute, chaosv1alpha1.VerdictPassed),
			},
			wantRecent: []string{"x-2", "x-1"},
		},
		"keeps at most ten summaries": {
			runs: func() []chaosv1alpha1.ExperimentRun {
				var rs []chaosv1alpha1.ExperimentRun
				for i := range 12 {
					rs = append(rs, run(fmt.Sprintf("r%02d", i), time.Duration(i)*time.Minute, time.Duration(i)*time.Minute+30*time.Second, chaosv1alpha1.VerdictPassed))
				}
				return rs
			}(),
			wantRecent: []string{"r11", "r10", "r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02"},
		},
		"summaries of pruned runs stay in the trend": {
			runs: []chaosv1alpha1.ExperimentRun{run("kept", 10*time.Minute, 11*time.Minute, chaosv1alpha1.VerdictPassed)},
			previous: []chaosv1alpha1.RunSummary{
				{Name: "pruned", Verdict: chaosv1alpha1.VerdictFailed, FinishedAt: ptr.To(metav1.NewTime(t0.Add(5 * time.Minute)))},
				{Name: "kept", Verdict: chaosv1alpha1.VerdictError}, // stale: the live run wins
			},
			wantRecent: []string{"kept", "pruned"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status := chaosv1alpha1.ExperimentStatus{Recent: tc.previous}
			setRunStatus(&status, tc.runs)
			if !slices.Equal(status.Active, tc.wantActive) {
				t.Errorf("active = %v, want %v", status.Active, tc.wantActive)
			}
			if got := names(status.Recent); !slices.Equal(got, tc.wantRecent) {
				t.Errorf("recent = %v, want %v", got, tc.wantRecent)
			}
			for _, s := range status.Recent {
				if s.Name == "kept" && s.Verdict != chaosv1alpha1.VerdictPassed {
					t.Errorf("summary of an existing run = %+v, want it read from the run (Passed)", s)
				}
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := map[string]struct {
		run  chaosv1alpha1.ExperimentRun
		want chaosv1alpha1.RunSummary
	}{
		"copies verdict and figures, truncating instants to the second the API keeps": {
			run: run("r", time.Minute, 3*time.Minute, chaosv1alpha1.VerdictPassed),
			want: chaosv1alpha1.RunSummary{
				Name: "r", Verdict: chaosv1alpha1.VerdictPassed,
				StartedAt:     ptr.To(metav1.NewTime(t0.Add(time.Minute + time.Second))),
				FinishedAt:    ptr.To(metav1.NewTime(t0.Add(3 * time.Minute))),
				TimeToDetect:  &metav1.Duration{Duration: 5 * time.Second},
				TimeToRecover: &metav1.Duration{Duration: 42 * time.Second},
			},
		},
		"a run that failed before starting has only its verdict": {
			run: chaosv1alpha1.ExperimentRun{
				ObjectMeta: metav1.ObjectMeta{Name: "r"},
				Status:     chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictError},
			},
			want: chaosv1alpha1.RunSummary{Name: "r", Verdict: chaosv1alpha1.VerdictError},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := summarize(&tc.run); !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRunsToPrune(t *testing.T) {
	finished := func(i int) chaosv1alpha1.ExperimentRun {
		return run(fmt.Sprintf("f%d", i), time.Duration(i)*time.Minute, time.Duration(i)*time.Minute+time.Second, chaosv1alpha1.VerdictPassed)
	}
	deleting := finished(0)
	deleting.Name = "deleting"
	deleting.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	tests := map[string]struct {
		runs  []chaosv1alpha1.ExperimentRun
		limit int32
		want  []string
	}{
		"keeps the newest 3 finished and every active run": {
			runs:  []chaosv1alpha1.ExperimentRun{finished(5), run("old-active", 0, 0, ""), finished(1), finished(3), finished(2), finished(4)},
			limit: 3,
			want:  []string{"f1", "f2"},
		},
		"fewer finished runs than the limit deletes nothing": {
			runs:  []chaosv1alpha1.ExperimentRun{finished(1), run("a", 0, 0, "")},
			limit: 3,
		},
		"limit zero deletes every finished run and no active one": {
			runs:  []chaosv1alpha1.ExperimentRun{finished(2), run("a", 0, 0, ""), finished(1)},
			limit: 0,
			want:  []string{"f1", "f2"},
		},
		"runs already being deleted are not deleted again nor counted": {
			runs:  []chaosv1alpha1.ExperimentRun{deleting, finished(1), finished(2)},
			limit: 1,
			want:  []string{"f1"},
		},
		"runs created in the same second go oldest name first": {
			runs: []chaosv1alpha1.ExperimentRun{
				run("b", 0, time.Minute, chaosv1alpha1.VerdictPassed), run("a", 0, 2*time.Minute, chaosv1alpha1.VerdictPassed),
			},
			limit: 1,
			want:  []string{"a"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, r := range runsToPrune(tc.runs, tc.limit) {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("runsToPrune = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPendingRunNow(t *testing.T) {
	tests := map[string]struct {
		annotations map[string]string
		wantToken   string
		wantOK      bool
	}{
		"no annotation asks for nothing":       {},
		"an empty token asks for nothing":      {annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: " "}},
		"a new token asks for a run":           {annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: "t1"}, wantToken: "t1", wantOK: true},
		"the handled token asks for nothing":   {annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: "t1", RunNowHandledAnnotation: "t1"}},
		"a token after the handled one asks":   {annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: "t2", RunNowHandledAnnotation: "t1"}, wantToken: "t2", wantOK: true},
		"surrounding space is not a new token": {annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: "t1\n", RunNowHandledAnnotation: "t1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			token, ok := pendingRunNow(tc.annotations)
			if token != tc.wantToken || ok != tc.wantOK {
				t.Errorf("pendingRunNow = (%q, %v), want (%q, %v)", token, ok, tc.wantToken, tc.wantOK)
			}
		})
	}
}

func TestRunNowName(t *testing.T) {
	long := strings.Repeat("checkout-pod-kill-", 8) // 144 characters
	tests := map[string]struct {
		experiment, token string
		wantPrefix        string
	}{
		"a short name keeps the experiment name":            {experiment: "checkout", token: "1", wantPrefix: "checkout-now-"},
		"a long name is cut and keeps a hash of all of it":  {experiment: long, token: "1", wantPrefix: "checkout-pod-kill-checkout-pod-kill-"},
		"a name cut at a dash does not leave a double dash": {experiment: strings.Repeat("a", 37) + "-bbbb", token: "1", wantPrefix: strings.Repeat("a", 37) + "-"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := RunNowName(tc.experiment, tc.token)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Errorf("RunNowName = %q, want prefix %q", got, tc.wantPrefix)
			}
			if len(got) > schedule.MaxRunNameLength {
				t.Errorf("RunNowName = %q, %d characters, over %d", got, len(got), schedule.MaxRunNameLength)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 || strings.Contains(got, "--") {
				t.Errorf("RunNowName = %q is not a clean object name: %v", got, errs)
			}
			if again := RunNowName(tc.experiment, tc.token); again != got {
				t.Errorf("RunNowName is not stable: %q then %q", got, again)
			}
			if other := RunNowName(tc.experiment, tc.token+"x"); other == got {
				t.Errorf("tokens %q and %q name the same run %q", tc.token, tc.token+"x", got)
			}
		})
	}
	if a, b := RunNowName(long, "1"), RunNowName(long+"z", "1"); a == b {
		t.Errorf("two long experiment names sharing a prefix name the same run %q", a)
	}
}

func TestConditions(t *testing.T) {
	exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
	setStalled(exp, chaosv1alpha1.ReasonInvalidSpec, "bad zone", t0)
	before := slices.Clone(exp.Status.Conditions)
	for _, typ := range []string{chaosv1alpha1.ConditionStalled, chaosv1alpha1.ConditionReady} {
		c := meta.FindStatusCondition(exp.Status.Conditions, typ)
		want := metav1.ConditionTrue
		if typ == chaosv1alpha1.ConditionReady {
			want = metav1.ConditionFalse
		}
		if c == nil || c.Status != want || c.Reason != chaosv1alpha1.ReasonInvalidSpec || c.ObservedGeneration != 4 || !c.LastTransitionTime.Time.Equal(t0) {
			t.Errorf("%s = %+v, want %s InvalidSpec at generation 4 since %s", typ, c, want, t0)
		}
	}

	setStalled(exp, chaosv1alpha1.ReasonInvalidSpec, "bad zone", t0.Add(time.Hour))
	if conditionChanged(before, exp.Status.Conditions, chaosv1alpha1.ConditionStalled) {
		t.Errorf("the same Stalled condition set again counts as a transition")
	}
	if c := meta.FindStatusCondition(exp.Status.Conditions, chaosv1alpha1.ConditionStalled); !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Stalled set again moved lastTransitionTime to %s", c.LastTransitionTime)
	}

	clearStalled(exp)
	setReady(exp, chaosv1alpha1.ReasonScheduled, "ok", t0.Add(time.Hour))
	if !conditionChanged(before, exp.Status.Conditions, chaosv1alpha1.ConditionStalled) ||
		!conditionChanged(before, exp.Status.Conditions, chaosv1alpha1.ConditionReady) {
		t.Errorf("clearing Stalled and making Ready True are not transitions: %+v", exp.Status.Conditions)
	}
	if c := meta.FindStatusCondition(exp.Status.Conditions, chaosv1alpha1.ConditionReady); !c.LastTransitionTime.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("Ready became True at %s, want lastTransitionTime from the clock, %s", c.LastTransitionTime, t0.Add(time.Hour))
	}
}

func TestEarliest(t *testing.T) {
	tests := map[string]struct{ a, b, want time.Duration }{
		"zero means none":          {a: 0, b: time.Second, want: time.Second},
		"both none is none":        {},
		"the sooner of two delays": {a: time.Minute, b: time.Second, want: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := earliest(tc.a, tc.b); got != tc.want {
				t.Errorf("earliest(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
			}
			if got := earliest(tc.b, tc.a); got != tc.want {
				t.Errorf("earliest(%s, %s) = %s, want %s", tc.b, tc.a, got, tc.want)
			}
		})
	}
}
