package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// remediatedRun is a finished pod kill whose replacement was created
// startedAfter the injection (none when zero), judged by remediateWithin 5s.
func remediatedRun(startedAfter time.Duration) *chaosv1alpha1.ExperimentRun {
	injected := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	mt := func(d time.Duration) *metav1.MicroTime { m := metav1.NewMicroTime(injected.Add(d)); return &m }
	limit := metav1.Duration{Duration: 5 * time.Second}
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-pod-kill-x7k2p"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
		Status: chaosv1alpha1.ExperimentRunStatus{
			Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed,
			Experiment: &chaosv1alpha1.ExperimentSpec{
				Fault:      chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
				Objectives: &chaosv1alpha1.ObjectivesSpec{RemediateWithin: &limit},
			},
			Timeline: chaosv1alpha1.Timeline{StartedAt: mt(-30 * time.Second), InjectedAt: mt(0), FinishedAt: mt(time.Minute)},
			Result:   &chaosv1alpha1.RunResult{},
		},
	}
	st := &run.Status
	if startedAfter == 0 {
		st.Remediation = &chaosv1alpha1.RemediationStatus{NotObserved: "no pod of Deployment shop/checkout created to replace shop/checkout-7d9-a1 (default for podKill)"}
		st.Result.Objectives = []chaosv1alpha1.ObjectiveResult{{Name: "remediateWithin", Target: limit, Status: chaosv1alpha1.ObjectiveMissed}}
		st.Verdict = chaosv1alpha1.VerdictFailed
		return run
	}
	st.Timeline.RemediationStartedAt = mt(startedAfter)
	st.Result.TimeToRemediate = &metav1.Duration{Duration: startedAfter}
	st.Remediation = &chaosv1alpha1.RemediationStatus{StartedBy: "ReplicaSet shop/checkout-7d9 created pod checkout-7d9-x2k", Rule: "default for podKill"}
	st.Result.Objectives = []chaosv1alpha1.ObjectiveResult{{Name: "remediateWithin", Target: limit, Measured: st.Result.TimeToRemediate, Status: chaosv1alpha1.ObjectiveMet}}
	return run
}

// Every report format says when remediation started and what started it,
// or what was looked for and not seen.
func TestEveryFormatStatesTheRemediation(t *testing.T) {
	cases := map[string]struct {
		run  *chaosv1alpha1.ExperimentRun
		line string
	}{
		"remediated": {run: remediatedRun(1200 * time.Millisecond),
			line: "remediation started at +1.2s: ReplicaSet shop/checkout-7d9 created pod checkout-7d9-x2k (default for podKill)"},
		"not remediated": {run: remediatedRun(0),
			line: "no remediation observed: no pod of Deployment shop/checkout created to replace shop/checkout-7d9-a1 (default for podKill)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, f := range Formats {
				var buf bytes.Buffer
				if err := Render(&buf, f, tc.run); err != nil {
					t.Fatal(err)
				}
				out := renderedText(f, buf.Bytes())
				if f == FormatJSON {
					var s Summary
					if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
						t.Fatal(err)
					}
					if s.Remediation == nil || s.Remediation.Text != tc.line {
						t.Errorf("JSON remediation = %+v, want text %q", s.Remediation, tc.line)
					}
					continue
				}
				if !strings.Contains(out, tc.line) {
					t.Errorf("the %s report does not say %q:\n%s", f, tc.line, out)
				}
				if !strings.Contains(out, "remediateWithin") {
					t.Errorf("the %s report does not judge remediateWithin:\n%s", f, out)
				}
			}
		})
	}
}
