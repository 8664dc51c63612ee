package engine_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

func notifyWithin(d time.Duration) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		if s.Objectives == nil {
			s.Objectives = &chaosv1alpha1.ObjectivesSpec{}
		}
		s.Objectives.NotifyWithin = &metav1.Duration{Duration: d}
	}
}

// TestNotification drives a pod kill whose alert fires 3s after the
// injection; the operator's receiver hands the engine a notification at
// notifyAfter (or none), as the run controller does at each reconcile.
func TestNotification(t *testing.T) {
	const alert = "CheckoutAvailabilityLow"
	podDown := script{
		"checkout-ready": {bad: []span{during(inj(1*sec), inj(6*sec))}},
		alert:            {bad: []span{during(inj(3*sec), inj(12*sec))}},
	}
	cases := map[string]struct {
		opts        []option
		notifyAfter time.Duration // after the injection; zero: no notification
		groupWait   time.Duration
		unobserved  string
		verdict     chaosv1alpha1.Verdict
		objective   chaosv1alpha1.ObjectiveStatus // of notifyWithin; "" when not judged
		summary     []string
	}{
		"notified inside notifyWithin, passes and says the group_wait": {
			opts: []option{notifyWithin(40 * sec)}, notifyAfter: 33 * sec, groupWait: 30 * sec,
			verdict: chaosv1alpha1.VerdictPassed, objective: chaosv1alpha1.ObjectiveMet,
			summary: []string{"notified in 33s, 30s after the alert fired (group_wait 30s)", "(objective 40s: met)"},
		},
		"notified after notifyWithin while the run still observed, fails": {
			opts: []option{notifyWithin(5 * sec)}, notifyAfter: 7 * sec,
			verdict: chaosv1alpha1.VerdictFailed, objective: chaosv1alpha1.ObjectiveMissed,
			summary: []string{"notified in 7s, 4s after the alert fired", "(objective 5s: missed)"},
		},
		"no notification, fails saying what was missing and why": {
			opts: []option{notifyWithin(20 * sec)}, unobserved: "the operator's Alertmanager receiver is off",
			verdict: chaosv1alpha1.VerdictFailed, objective: chaosv1alpha1.ObjectiveMissed,
			summary: []string{"no notification of CheckoutAvailabilityLow reached the operator's receiver (the operator's Alertmanager receiver is off) (objective 20s: missed)"},
		},
		"without notifyWithin, a notification is reported but not judged": {
			notifyAfter: 7 * sec,
			verdict:     chaosv1alpha1.VerdictPassed,
			summary:     []string{"notified in 7s, 4s after the alert fired"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := append([]option{alerts(alert), objectives(10*sec, 30*sec)}, tc.opts...)
			d := start(t, world{spec: podKill(opts...), script: podDown})
			notified := false
			for d.step() {
				st := d.run.Status
				if st.Timeline.InjectedAt == nil {
					continue
				}
				if tc.unobserved != "" {
					d.run.NoteNotificationUnobserved(tc.unobserved)
				}
				due := st.Timeline.InjectedAt.Add(tc.notifyAfter)
				if tc.notifyAfter > 0 && !notified && !d.now.Before(due) && d.run.WantsNotification() {
					ev := d.run.ApplyNotification(engine.Notification{At: due, Alert: alert, Receiver: "faultline", GroupWait: tc.groupWait})
					if len(ev) != 1 || ev[0].Reason != chaosv1alpha1.ReasonAlertNotified {
						t.Errorf("ApplyNotification events = %+v, want one %s", ev, chaosv1alpha1.ReasonAlertNotified)
					}
					notified = true
				}
			}
			st := d.finish()
			if st.Verdict != tc.verdict {
				t.Errorf("verdict = %s, want %s (%s)", st.Verdict, tc.verdict, st.Message)
			}
			if tc.notifyAfter > 0 {
				if !notified {
					t.Fatalf("the run finished before the notification %s after the injection", tc.notifyAfter)
				}
				if st.Timeline.NotifiedAt == nil || !st.Timeline.NotifiedAt.Equal(micro(st.Timeline.InjectedAt.Add(tc.notifyAfter))) {
					t.Errorf("notifiedAt = %v, want injection + %s", st.Timeline.NotifiedAt, tc.notifyAfter)
				}
				if st.Result.TimeToNotify == nil || st.Result.TimeToNotify.Duration != tc.notifyAfter {
					t.Errorf("timeToNotify = %v, want %s", st.Result.TimeToNotify, tc.notifyAfter)
				}
				if st.Notification == nil || st.Notification.Alert != alert || st.Notification.Receiver != "faultline" {
					t.Errorf("notification = %+v, want alert %s from receiver faultline", st.Notification, alert)
				}
				if !hasInstantResolution(st, "notifiedAt", chaosv1alpha1.ResolutionWebhook) {
					t.Errorf("timeline.resolutions = %+v, want notifiedAt from Webhook", st.Timeline.Resolutions)
				}
			} else if st.Timeline.NotifiedAt != nil || st.Result.TimeToNotify != nil {
				t.Errorf("notifiedAt = %v, timeToNotify = %v; want neither without a notification", st.Timeline.NotifiedAt, st.Result.TimeToNotify)
			}
			got := chaosv1alpha1.ObjectiveStatus("")
			for _, o := range st.Result.Objectives {
				if o.Name == "notifyWithin" {
					got = o.Status
				}
			}
			if got != tc.objective {
				t.Errorf("notifyWithin = %q, want %q", got, tc.objective)
			}
			for _, s := range tc.summary {
				if !strings.Contains(st.Message, s) {
					t.Errorf("message %q does not say %q", st.Message, s)
				}
			}
		})
	}
}

// A notification received before the injection, or one for a run that
// declares no alerts, is not this run's.
func TestNotificationBeforeInjectionIsIgnored(t *testing.T) {
	spec := podKill(alerts("CheckoutAvailabilityLow"))
	injected := t0.Add(5 * sec)
	st := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhaseObserving, Experiment: spec}
	st.Timeline.InjectedAt = micro(injected)
	r := engine.Run{Spec: spec, Status: st}
	if ev := r.ApplyNotification(engine.Notification{At: injected.Add(-time.Millisecond), Alert: "CheckoutAvailabilityLow"}); ev != nil || st.Timeline.NotifiedAt != nil {
		t.Errorf("a notification before the injection was recorded: %v, %+v", st.Timeline.NotifiedAt, ev)
	}
	noAlerts := podKill()
	r = engine.Run{Spec: noAlerts, Status: st}
	if r.WantsNotification() {
		t.Errorf("a run without detection.alerts wants a notification")
	}
}

func hasInstantResolution(st *chaosv1alpha1.ExperimentRunStatus, instant string, source chaosv1alpha1.ResolutionSource) bool {
	for _, r := range st.Timeline.Resolutions {
		if r.Instant == instant && r.Source == source {
			return true
		}
	}
	return false
}
