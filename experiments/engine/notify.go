package engine

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Notification is Alertmanager's notification of a declared alert, as the
// operator's webhook receiver recorded it.
type Notification struct {
	// At is when the webhook request reached the receiver.
	At time.Time
	// Alert is the declared alert it carried.
	Alert string
	// Receiver is the Alertmanager receiver that sent it.
	Receiver string
	// GroupWait is the route's group_wait as the receiver URL declared it;
	// zero when unknown.
	GroupWait time.Duration
}

// WantsNotification reports whether the run waits for a notification of
// its declared alerts: it declares some, its fault was injected, and no
// notification is recorded yet.
func (r Run) WantsNotification() bool {
	st := r.Status
	return r.wantAlertsDeclared() && st.Timeline.InjectedAt != nil && st.Timeline.NotifiedAt == nil &&
		st.Phase != chaosv1alpha1.PhaseCompleted
}

// ApplyNotification records the first notification of a declared alert
// received after the injection as timeline.notifiedAt.
func (r Run) ApplyNotification(n Notification) []Event {
	st := r.Status
	if !r.WantsNotification() || n.At.Before(st.Timeline.InjectedAt.Time) {
		return nil
	}
	st.Timeline.NotifiedAt = micro(n.At)
	if st.Notification == nil {
		st.Notification = &chaosv1alpha1.NotificationStatus{}
	}
	st.Notification.Alert, st.Notification.Receiver = truncate(n.Alert, 253), truncate(n.Receiver, 253)
	st.Notification.GroupWait = nil
	if n.GroupWait > 0 {
		st.Notification.GroupWait = &metav1.Duration{Duration: n.GroupWait}
	}
	setInstantResolution(st, "notifiedAt", chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionWebhook})
	return []Event{{Reason: chaosv1alpha1.ReasonAlertNotified,
		Message: fmt.Sprintf("Alertmanager notified alert %s %s after injection", n.Alert, r.sinceInjection(n.At))}}
}

// NoteNotificationUnobserved records why a notification could not be
// observed, or may have been missed; reports and the objective's message
// repeat it. The first reason is kept.
func (r Run) NoteNotificationUnobserved(reason string) {
	st := r.Status
	if !r.wantAlertsDeclared() || st.Phase == chaosv1alpha1.PhaseCompleted {
		return
	}
	if st.Notification == nil {
		st.Notification = &chaosv1alpha1.NotificationStatus{}
	}
	if st.Notification.Unobserved == "" {
		st.Notification.Unobserved = truncate(reason, 1024)
	}
}

// signalsDueBy is how long a recovered run still waits for its declared
// alert and its notification, each only until its objective's deadline.
func (r Run) signalsDueBy() (time.Time, bool) {
	tl := r.Status.Timeline
	o := r.Spec.Objectives
	if o == nil || tl.InjectedAt == nil || !r.wantAlertsDeclared() {
		return time.Time{}, false
	}
	var until time.Time
	if tl.AlertedAt == nil && o.DetectWithin != nil {
		until = tl.InjectedAt.Add(o.DetectWithin.Duration)
	}
	if tl.NotifiedAt == nil && o.NotifyWithin != nil {
		if d := tl.InjectedAt.Add(o.NotifyWithin.Duration); d.After(until) {
			until = d
		}
	}
	return until, !until.IsZero()
}

// describeNotification is the summary's sentence on the notification:
// "notified 34s after injection, 30s after the alert fired (group_wait 30s)".
func (r Run) describeNotification(res *chaosv1alpha1.RunResult) string {
	st := r.Status
	tl := st.Timeline
	if !r.wantAlertsDeclared() || tl.InjectedAt == nil {
		return ""
	}
	if res.TimeToNotify == nil {
		if r.Spec.Objectives == nil || r.Spec.Objectives.NotifyWithin == nil {
			return ""
		}
		s := fmt.Sprintf("no notification of %s reached the operator's receiver", strings.Join(r.Spec.Detection.Alerts, ", "))
		if st.Notification != nil && st.Notification.Unobserved != "" {
			s += " (" + st.Notification.Unobserved + ")"
		}
		return s + objectiveSuffix(res, objectiveNotify)
	}
	s := "notified in " + res.TimeToNotify.Duration.String()
	if tl.AlertedAt != nil {
		s += fmt.Sprintf(", %s after the alert fired", roundDuration(tl.NotifiedAt.Sub(tl.AlertedAt.Time)))
	}
	if n := st.Notification; n != nil && n.GroupWait != nil {
		s += fmt.Sprintf(" (group_wait %s)", n.GroupWait.Duration)
	}
	if n := st.Notification; n != nil && n.Unobserved != "" {
		s += " (" + n.Unobserved + ")"
	}
	return s + objectiveSuffix(res, objectiveNotify)
}
