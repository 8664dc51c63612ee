package experimentrun_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/alertreceiver"
)

// notifySpec declares an alert and times its notification; no detectWithin,
// so the alert itself (which the scripted Prometheus never fires) is not
// judged.
func notifySpec() chaosv1alpha1.ExperimentSpec {
	spec := experimentSpec()
	spec.Detection = &chaosv1alpha1.DetectionSpec{Alerts: []string{"WebDown"}}
	spec.Objectives = &chaosv1alpha1.ObjectivesSpec{
		NotifyWithin:  &metav1.Duration{Duration: 10 * time.Second},
		RecoverWithin: &metav1.Duration{Duration: 20 * time.Second},
	}
	return spec
}

// A notification the receiver records after the injection reaches the
// run's status as notifiedAt, is judged, and is told as an event.
func TestNotificationRecordedByTheReceiverReachesTheRun(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	store := alertreceiver.NewStore(16)
	store.MarkStarted(t0)
	e.r.Notifications = store
	exp := e.createExperiment(notifySpec())
	key := e.createRun(exp.Name, false)

	run := e.drive(key, func(r *chaosv1alpha1.ExperimentRun) bool { return r.Status.Timeline.InjectedAt != nil })
	injected := run.Status.Timeline.InjectedAt.Time
	// Another alert, and one received before the injection, are not the run's.
	store.Add(
		alertreceiver.Notification{ReceivedAt: injected.Add(-time.Second), Alert: "WebDown", StartsAt: injected.Add(-time.Second), Receiver: "faultline"},
		alertreceiver.Notification{ReceivedAt: injected.Add(time.Second), Alert: "OtherAlert", StartsAt: injected, Receiver: "faultline"},
		alertreceiver.Notification{ReceivedAt: injected.Add(2500 * time.Millisecond), Alert: "WebDown", StartsAt: injected.Add(time.Second), Receiver: "faultline", GroupWait: time.Second},
	)
	run = e.drive(key, released)

	st := run.Status
	if st.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", st.Verdict, st.Message)
	}
	if st.Timeline.NotifiedAt == nil || !st.Timeline.NotifiedAt.Time.Equal(injected.Add(2500*time.Millisecond)) {
		t.Fatalf("notifiedAt = %v, want injection + 2.5s", st.Timeline.NotifiedAt)
	}
	if st.Result.TimeToNotify == nil || st.Result.TimeToNotify.Duration != 2500*time.Millisecond {
		t.Errorf("timeToNotify = %v, want 2.5s", st.Result.TimeToNotify)
	}
	if n := st.Notification; n == nil || n.Alert != "WebDown" || n.Receiver != "faultline" || n.GroupWait == nil || n.GroupWait.Duration != time.Second || n.Unobserved != "" {
		t.Errorf("notification = %+v, want WebDown from faultline, group_wait 1s", n)
	}
	met := false
	for _, o := range st.Result.Objectives {
		met = met || (o.Name == "notifyWithin" && o.Status == chaosv1alpha1.ObjectiveMet)
	}
	if !met {
		t.Errorf("objectives = %+v, want notifyWithin Met", st.Result.Objectives)
	}
	if !hasEvent(e.eventList(), "Normal", chaosv1alpha1.ReasonAlertNotified) {
		t.Errorf("no Normal %s event", chaosv1alpha1.ReasonAlertNotified)
	}
}

// With the receiver off, a run that times its notification fails and says
// why nothing could be seen.
func TestNotificationWithTheReceiverOffFailsSayingWhy(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(notifySpec())
	key := e.createRun(exp.Name, false)
	run := e.drive(key, released)

	st := run.Status
	if st.Verdict != chaosv1alpha1.VerdictFailed {
		t.Fatalf("verdict %s, want Failed: %s", st.Verdict, st.Message)
	}
	if st.Notification == nil || !strings.Contains(st.Notification.Unobserved, "receiver is off") {
		t.Errorf("notification = %+v, want it to say the receiver is off", st.Notification)
	}
	if !strings.Contains(st.Message, "no notification of WebDown") || !strings.Contains(st.Message, "--alert-receiver-bind-address") {
		t.Errorf("message %q does not say what was missing and how to turn the receiver on", st.Message)
	}
}
