package report

import (
	"fmt"
	"strings"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// objectiveNotify is the notification objective's name.
const objectiveNotify = "notifyWithin"

// Notification is what the operator's Alertmanager webhook receiver recorded
// for a run's declared alerts: when the alert fired and when Alertmanager's
// notification of it arrived, or why none could be seen.
type Notification struct {
	// Alert is the declared alert the notification carried.
	Alert string `json:"alert,omitempty"`
	// Receiver is the Alertmanager receiver that sent it.
	Receiver string `json:"receiver,omitempty"`
	// Alerted is when the alert fired (timeline.alertedAt).
	Alerted *Instant `json:"alerted,omitempty"`
	// Notified is when the notification reached the operator's receiver
	// (timeline.notifiedAt): the honest bound for when Alertmanager sent it.
	Notified *Instant `json:"notified,omitempty"`
	// AfterAlert is Notified minus Alerted: what Alertmanager's routing
	// (mostly group_wait) cost.
	AfterAlert *Duration `json:"afterAlert,omitempty"`
	// GroupWait is the route's group_wait as the receiver URL declared it;
	// absent when unknown.
	GroupWait *Duration `json:"groupWait,omitempty"`
	// Unobserved says why a notification could not be seen, or may have
	// been missed.
	Unobserved string `json:"unobserved,omitempty"`
	// Text says it in one line: "alert fired at +4s, notification sent at
	// +34s, 30s later (group_wait 30s)".
	Text string `json:"text"`
}

// notificationOf summarises the notification of a run that declares
// detection alerts; nil when it declares none, or when nothing was
// notified and nothing asked for it (no notifyWithin, nothing unobserved).
func notificationOf(st *chaosv1alpha1.ExperimentRunStatus, origin *time.Time) *Notification {
	spec := st.Experiment
	if spec == nil || spec.Detection == nil || len(spec.Detection.Alerts) == 0 || st.Timeline.InjectedAt == nil {
		return nil
	}
	tl := st.Timeline
	n := &Notification{Alerted: instant(tl.AlertedAt, origin), Notified: instant(tl.NotifiedAt, origin)}
	if ns := st.Notification; ns != nil {
		n.Alert, n.Receiver, n.Unobserved = ns.Alert, ns.Receiver, ns.Unobserved
		n.GroupWait = span(ns.GroupWait)
	}
	asked := spec.Objectives != nil && spec.Objectives.NotifyWithin != nil
	if n.Notified == nil && !asked && n.Unobserved == "" {
		return nil
	}
	var parts []string
	if n.Alerted != nil {
		parts = append(parts, "alert fired at "+offsetText(n.Alerted))
	} else {
		parts = append(parts, "no alert fired")
	}
	if n.Notified != nil {
		sent := "notification sent at " + offsetText(n.Notified)
		if tl.AlertedAt != nil {
			d := newDuration(tl.NotifiedAt.Sub(tl.AlertedAt.Time))
			n.AfterAlert = &d
			sent += ", " + d.Text + " later"
		}
		if n.GroupWait != nil {
			sent += " (group_wait " + n.GroupWait.Text + ")"
		}
		parts = append(parts, sent)
	} else {
		parts = append(parts, fmt.Sprintf("no notification of %s reached the operator's receiver", strings.Join(spec.Detection.Alerts, ", ")))
	}
	n.Text = strings.Join(parts, ", ")
	if n.Unobserved != "" {
		n.Text += " (" + n.Unobserved + ")"
	}
	return n
}

// notificationText is the report's notification line, or none.
func notificationText(s Summary) string {
	if s.Notification == nil {
		return none
	}
	return s.Notification.Text
}
