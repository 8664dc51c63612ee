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

// notifiedRun is a finished pod kill whose alert fired alertAfter the
// injection and whose notification reached the receiver notifyAfter it
// (none when zero).
func notifiedRun(alertAfter, notifyAfter, groupWait time.Duration, unobserved string) *chaosv1alpha1.ExperimentRun {
	injected := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	mt := func(d time.Duration) *metav1.MicroTime { m := metav1.NewMicroTime(injected.Add(d)); return &m }
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-pod-kill-x7k2p"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
		Status: chaosv1alpha1.ExperimentRunStatus{
			Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed,
			Experiment: &chaosv1alpha1.ExperimentSpec{
				Detection:  &chaosv1alpha1.DetectionSpec{Alerts: []string{"CheckoutAvailabilityLow"}},
				Objectives: &chaosv1alpha1.ObjectivesSpec{NotifyWithin: &metav1.Duration{Duration: time.Minute}},
			},
			Timeline: chaosv1alpha1.Timeline{StartedAt: mt(-30 * time.Second), InjectedAt: mt(0), AlertedAt: mt(alertAfter), FinishedAt: mt(time.Minute)},
			Result:   &chaosv1alpha1.RunResult{},
		},
	}
	st := &run.Status
	st.Notification = &chaosv1alpha1.NotificationStatus{Unobserved: unobserved}
	if notifyAfter > 0 {
		st.Timeline.NotifiedAt = mt(notifyAfter)
		st.Result.TimeToNotify = &metav1.Duration{Duration: notifyAfter}
		st.Notification.Alert, st.Notification.Receiver = "CheckoutAvailabilityLow", "faultline"
		if groupWait > 0 {
			st.Notification.GroupWait = &metav1.Duration{Duration: groupWait}
		}
	}
	status := chaosv1alpha1.ObjectiveMet
	if notifyAfter == 0 || notifyAfter > time.Minute {
		status = chaosv1alpha1.ObjectiveMissed
	}
	st.Result.Objectives = []chaosv1alpha1.ObjectiveResult{{Name: "notifyWithin", Target: metav1.Duration{Duration: time.Minute}, Measured: st.Result.TimeToNotify, Status: status}}
	return run
}

// Every report format says when the alert fired and when its notification
// was sent, and the group_wait only when the receiver URL declared it.
func TestEveryFormatStatesTheNotification(t *testing.T) {
	cases := map[string]struct {
		run  *chaosv1alpha1.ExperimentRun
		line string
		not  string
	}{
		"notified, group_wait declared": {
			run:  notifiedRun(4*time.Second, 34*time.Second, 30*time.Second, ""),
			line: "alert fired at +4s, notification sent at +34s, 30s later (group_wait 30s)",
		},
		"notified, group_wait unknown": {
			run:  notifiedRun(4*time.Second, 7500*time.Millisecond, 0, ""),
			line: "alert fired at +4s, notification sent at +7.5s, 3.5s later",
			not:  "group_wait",
		},
		"not notified, receiver off": {
			run:  notifiedRun(4*time.Second, 0, 0, "the operator's Alertmanager receiver is off"),
			line: "alert fired at +4s, no notification of CheckoutAvailabilityLow reached the operator's receiver (the operator's Alertmanager receiver is off)",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, f := range []Format{FormatText, FormatMarkdown, FormatJSON, FormatJUnit} {
				var buf bytes.Buffer
				if err := Render(&buf, f, tc.run); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				out := renderedText(f, buf.Bytes())
				if f == FormatJSON {
					var s Summary
					if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
						t.Fatal(err)
					}
					if s.Notification == nil {
						t.Fatalf("json: no notification in %s", out)
					}
					out = s.Notification.Text
				}
				if !strings.Contains(out, tc.line) {
					t.Errorf("%s report does not say %q:\n%s", f, tc.line, out)
				}
				if tc.not != "" && strings.Contains(out, tc.not) {
					t.Errorf("%s report mentions %q, which is not known:\n%s", f, tc.not, out)
				}
			}
		})
	}
}

// The JSON report carries the figure as notified minus alerted.
func TestJSONNotificationFigures(t *testing.T) {
	s := Summarize(notifiedRun(4*time.Second, 34*time.Second, 30*time.Second, ""))
	n := s.Notification
	if n == nil || n.AfterAlert == nil || n.AfterAlert.Seconds != 30 || n.GroupWait == nil || n.GroupWait.Seconds != 30 ||
		n.Notified == nil || n.Notified.Offset == nil || n.Notified.Offset.Seconds != 34 {
		t.Fatalf("notification = %+v, want notified at +34s, 30s after the alert, group_wait 30s", n)
	}
	if s.Result.TimeToNotify == nil || s.Result.TimeToNotify.Seconds != 34 {
		t.Errorf("timeToNotify = %+v, want 34s", s.Result.TimeToNotify)
	}
	if !s.Timeline.has("notifiedAt") {
		t.Errorf("the timeline has no notifiedAt: %+v", s.Timeline.Events)
	}
	none := notifiedRun(4*time.Second, 0, 0, "")
	none.Status.Experiment.Objectives = nil
	if got := Summarize(none).Notification; got != nil {
		t.Errorf("a run that neither was notified nor asked for it has notification %+v", got)
	}
}
