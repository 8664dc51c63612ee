//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
	"github.com/faultline-dev/faultline/experiments/report"
)

// TestAlertmanagerNotificationIsTimed aborts half of cart's requests, which
// fires CartAvailabilityLow; Prometheus sends it to the testbed's
// Alertmanager, which holds the new group for group_wait and then notifies
// the operator's webhook receiver. The run records when that notification
// arrived, judges notifyWithin on it, and every report says what the
// notification cost after the alert.
func TestAlertmanagerNotificationIsTimed(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RequireOperator(t)
	harness.RequireAlertmanager(t)
	// A group Alertmanager still holds for the alert (from an earlier test)
	// would be notified at its next group_interval instead of after
	// group_wait: wait until the alert is gone and its group with it.
	harness.WaitAlertGone(t, "CartAvailabilityLow")
	time.Sleep(harness.AlertmanagerGroupInterval)

	exp := tb.IstioExperiment("e2e-notify", harness.AbortFault(50), 15*time.Second)
	exp.Spec.Detection = &chaosv1alpha1.DetectionSpec{Alerts: []string{"CartAvailabilityLow"}}
	exp.Spec.Objectives.NotifyWithin = &metav1.Duration{Duration: 30 * time.Second}
	run := tb.RunExperiment(t, exp, 3*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	st := run.Status
	if st.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", st.Verdict, st.Message)
	}
	tl := st.Timeline
	if tl.InjectedAt == nil || tl.AlertedAt == nil || tl.NotifiedAt == nil {
		t.Fatalf("timeline lacks injectedAt, alertedAt or notifiedAt: %+v (notification %+v)", tl, st.Notification)
	}
	afterAlert := tl.NotifiedAt.Sub(tl.AlertedAt.Time)
	t.Logf("alert fired %s after injection; notification received %s after injection, %s after the alert (group_wait %s)",
		tl.AlertedAt.Sub(tl.InjectedAt.Time), tl.NotifiedAt.Sub(tl.InjectedAt.Time), afterAlert, harness.AlertmanagerGroupWait)
	// Alertmanager holds a new group's first notification for group_wait
	// from when the alert reached it, right after the rule evaluation that
	// fired it (alertedAt).
	// When Prometheus' alert state could not date the alert, a sample did,
	// up to one interval late, and the span looks that much shorter.
	early := 250 * time.Millisecond
	for _, r := range tl.Resolutions {
		if r.Instant == "alertedAt" && r.Source != chaosv1alpha1.ResolutionAlert {
			early += r.Within.Duration
		}
	}
	if afterAlert < harness.AlertmanagerGroupWait-early || afterAlert > harness.AlertmanagerGroupWait+time.Second {
		t.Errorf("the notification came %s after the alert fired, want about group_wait %s (-%s/+1s)", afterAlert, harness.AlertmanagerGroupWait, early)
	}
	res := st.Result
	if res == nil || res.TimeToNotify == nil || res.TimeToNotify.Duration != tl.NotifiedAt.Sub(tl.InjectedAt.Time).Round(time.Millisecond) {
		t.Errorf("timeToNotify = %v, want notifiedAt − injectedAt", res.TimeToNotify)
	}
	met := false
	for _, o := range res.Objectives {
		met = met || (o.Name == "notifyWithin" && o.Status == chaosv1alpha1.ObjectiveMet)
	}
	if !met {
		t.Errorf("objectives %+v, want notifyWithin Met", res.Objectives)
	}
	if n := st.Notification; n == nil || n.Alert != "CartAvailabilityLow" || n.Receiver != "faultline" ||
		n.GroupWait == nil || n.GroupWait.Duration != harness.AlertmanagerGroupWait || n.Unobserved != "" {
		t.Errorf("notification = %+v, want CartAvailabilityLow from receiver faultline, group_wait %s, nothing unobserved", n, harness.AlertmanagerGroupWait)
	}

	for _, f := range report.Formats {
		var buf bytes.Buffer
		if err := report.Render(&buf, f, run); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("(group_wait %s)", harness.AlertmanagerGroupWait)
		// The HTML report escapes "+" and quotes, the Markdown report
		// backslash-escapes punctuation; read each as its reader would.
		if out := html.UnescapeString(markdownEscape.ReplaceAllString(buf.String(), "$1")); !strings.Contains(out, "alert fired at +") || !strings.Contains(out, want) {
			t.Errorf("the %s report does not state the notification with %s:\n%s", f, want, out)
		}
	}
}

// markdownEscape is a CommonMark backslash escape of ASCII punctuation.
var markdownEscape = regexp.MustCompile(`\\([!-/:-@\[-` + "`" + `{-~])`)
