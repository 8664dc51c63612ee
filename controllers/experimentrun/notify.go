package experimentrun

import (
	"context"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/internal/alertreceiver"
	"github.com/faultline-dev/faultline/internal/stored"
)

// NotificationRecord is what the operator's Alertmanager receiver recorded:
// alertreceiver.Store.
type NotificationRecord interface {
	// FirstIn is the earliest notification of one of alerts at or after
	// notBefore, for an alert of one of namespaces or of none.
	FirstIn(alerts, namespaces []string, notBefore time.Time) (alertreceiver.Notification, bool)
	// Started is when the receiver began to accept notifications; zero
	// until it does.
	Started() time.Time
}

// observeNotification hands the run the first notification of its declared
// alerts the receiver recorded after the injection, and says when none can
// be observed: the receiver is off, or it started after the injection (a
// restart loses what it had received, which is kept in memory).
func (r *Reconciler) observeNotification(s *scope, er engine.Run) {
	if !er.WantsNotification() {
		return
	}
	spec := s.spec()
	injected := s.run.Status.Timeline.InjectedAt.Time
	if r.Notifications == nil {
		if spec.Objectives != nil && spec.Objectives.NotifyWithin != nil {
			er.NoteNotificationUnobserved("the operator's Alertmanager receiver is off: start it with --alert-receiver-bind-address")
		}
		return
	}
	if started := r.Notifications.Started(); started.After(injected) {
		er.NoteNotificationUnobserved(fmt.Sprintf(
			"the operator began receiving notifications %s after the injection (a restart or a new leader): one sent before then was not seen",
			started.Sub(injected).Round(time.Millisecond)))
	}
	// An alert labelled with a namespace counts only for a run there or
	// with a target there.
	namespaces := []string{s.run.Namespace}
	for _, t := range s.run.Status.Targets {
		if t.Namespace != "" && !slices.Contains(namespaces, t.Namespace) {
			namespaces = append(namespaces, t.Namespace)
		}
	}
	n, ok := r.Notifications.FirstIn(spec.Detection.Alerts, namespaces, injected)
	if !ok {
		return
	}
	s.emit(er.ApplyNotification(engine.Notification{At: n.ReceivedAt, Alert: n.Alert, Receiver: n.Receiver, GroupWait: n.GroupWait}))
}

// notificationSource wakes the runs waiting for a notification of an alert
// the moment the receiver records one, so notifiedAt reaches their status
// without waiting for their next sample. Without wake-ups it never fires.
func (r *Reconciler) notificationSource() source.TypedSource[reconcile.Request] {
	ch := r.NotificationWakeups
	if ch == nil {
		ch = make(chan event.TypedGenericEvent[string])
	}
	return source.Channel(ch, handler.TypedEnqueueRequestsFromMapFunc(r.runsForNotification))
}

// runsForNotification lists the runs, from the cache, that wait for a
// notification of alert.
func (r *Reconciler) runsForNotification(ctx context.Context, alert string) []reconcile.Request {
	runs, err := r.listStoredRuns(ctx)
	if err != nil {
		// The runs read the record at their next reconcile anyway.
		return nil
	}
	var reqs []reconcile.Request
	for i := range runs {
		if stored.RunPhase(&runs[i]) == chaosv1alpha1.PhaseCompleted {
			// Most runs: not worth decoding.
			continue
		}
		run, err := stored.DecodeRun(&runs[i])
		if err != nil {
			// Not driven, so not waiting; reported by its reconcile.
			continue
		}
		st := run.Status
		if st.Phase == chaosv1alpha1.PhaseCompleted || st.Experiment == nil || st.Experiment.Detection == nil ||
			st.Timeline.InjectedAt == nil || st.Timeline.NotifiedAt != nil || !slices.Contains(st.Experiment.Detection.Alerts, alert) {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(run)})
	}
	return reqs
}

// NotificationWakeups returns the channel the receiver's Notified callback
// feeds and that callback: it never blocks the receiver, dropping a wake-up
// when the channel is full (the runs read the record at their next
// reconcile anyway).
func NotificationWakeups() (<-chan event.TypedGenericEvent[string], func(alerts []string)) {
	ch := make(chan event.TypedGenericEvent[string], 256)
	return ch, func(alerts []string) {
		for _, a := range alerts {
			select {
			case ch <- event.TypedGenericEvent[string]{Object: a}:
			default:
			}
		}
	}
}
