package experimentrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// This file is how the run controller reads runs: unstructured, from the
// informer it watches, decoded one by one, so that one run whose stored
// object the Go type refuses is reported and set aside while every other
// run, the kill switch and the reaper go on.

// getRun reads and decodes the run key. It returns nil when there is no run
// to advance: the run is gone (nil error), cannot be read from the cache
// (the error), or cannot be decoded (handled by reconcileMalformed, whose
// error it returns).
func (r *Reconciler) getRun(ctx context.Context, key types.NamespacedName) (*chaosv1alpha1.ExperimentRun, error) {
	// The cache's own object, not a copy: it is decoded into a new run
	// that shares nothing with it, and copied before anything writes to it.
	u := stored.NewRun()
	if err := r.runs().Get(ctx, key, u, client.UnsafeDisableDeepCopy); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forgetRun(key)
			r.forgetMalformed(key)
			return nil, nil
		}
		return nil, err
	}
	run, err := stored.DecodeRun(u)
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		return nil, r.reconcileMalformed(ctx, u.DeepCopy(), malformed)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding run: %w", err)
	}
	// Fixed by an edit, or never malformed.
	r.forgetMalformed(key)
	return run, nil
}

// runs is the reader of unstructured ExperimentRuns.
func (r *Reconciler) runs() client.Reader {
	if r.Runs != nil {
		return r.Runs
	}
	return r.Client
}

// listStoredRuns lists every run as the cache stores it, undecoded. Callers
// read metadata and stored.RunPhase only, so a run whose other fields do not
// decode still counts by the phase it recorded: the operator cannot drive
// it, and whether its fault is gone is the reaper's to establish, so it
// keeps its place under maxConcurrentRuns and keeps the kill switch from
// confirming until someone fixes or deletes it. The items are the cache's
// own objects: read them, never write to them.
func (r *Reconciler) listStoredRuns(ctx context.Context) ([]unstructured.Unstructured, error) {
	list := stored.NewRunList()
	if err := r.runs().List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return list.Items, nil
}

// reconcileMalformed handles a run whose stored object the Go type cannot
// decode: a status written through a loosened or older CRD, by a downgraded
// operator, or by hand (status.targets a string). Such a run is not driven:
// nothing of it can be trusted, its restore data included.
//
// It is reported once per resourceVersion: conditions on the run itself
// (Stalled, and Ready False, reason Malformed, naming the first bad field),
// a Warning Event with the same reason when they change, the
// faultline_malformed_objects gauge, and the returned terminal error, which
// the controller logs once and does not retry; an edit of the run is a new
// resourceVersion and is looked at afresh. The conditions are for readers
// that do not decode the run either (kstatus, kubectl wait, kubectl get -o
// yaml). They are written as a merge patch of status.conditions alone: the
// API server's CRD validation ratcheting (Kubernetes 1.30 and later) lets a
// write through when the fields it leaves unchanged still fail the schema.
// Without ratcheting the schema judges the whole status and refuses the
// patch; the Event, the gauge and the log then remain, and say the same.
//
// A malformed run being deleted has its finalizer removed, so it goes: the
// finalizer exists to revert from status, and this status cannot be read.
// What the run injected is reverted by the reaper, which finds every
// artefact by its chaos.faultline.dev/run annotation and, with no readable
// run to own it, reverts it at its next pass (see reaper.orphaned). A
// malformed run not being deleted is left as it is, finalizer included,
// for a human to fix or delete: removing the finalizer of a run that may
// still be read again after a fix would lose its chance to revert.
func (r *Reconciler) reconcileMalformed(ctx context.Context, u *unstructured.Unstructured, malformed *stored.MalformedError) error {
	log := ctrl.LoggerFrom(ctx)
	key := client.ObjectKeyFromObject(u)
	if u.GetDeletionTimestamp() != nil && controllerutil.ContainsFinalizer(u, chaosv1alpha1.RunFinalizer) {
		// A metadata-only merge patch: the status that does not decode is
		// neither read nor sent back.
		if err := r.patchFinalizers(ctx, u, false); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("releasing the finalizer of a run that cannot be read: %w", err)
		}
		r.forgetMalformed(key)
		log.Info("Released the finalizer of a deleted run that cannot be read, without reverting from its status",
			"run", klog.KObj(u), "error", malformed.Err.Error())
		r.event(u, corev1.EventTypeWarning, chaosv1alpha1.ReasonMalformed, "ReleaseFinalizer",
			fmt.Sprintf("the operator cannot read this run (%v): its finalizer was released without reverting from status; the reaper reverts any fault it left by its annotations", malformed.Err))
		return nil
	}
	if r.malformed.reported(key, u.GetResourceVersion()) {
		// A ChaosPolicy change, a notification, or the write of the
		// conditions below woke it: nothing new to say.
		return nil
	}
	msg := malformedRunMessage(malformed)
	changed, err := r.markMalformed(ctx, u, msg)
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		// A newer version exists, or none: its own event decides.
		return nil
	case apierrors.IsInvalid(err):
		log.V(1).Info("The schema refused the Malformed conditions of a run that cannot be read (no CRD validation ratcheting); reporting by Event only",
			"run", klog.KObj(u), "error", err.Error())
		changed = true
	case err != nil:
		return fmt.Errorf("marking a run that cannot be read: %w", err)
	}
	// The version the conditions were written at, so their own watch event
	// is not reported again.
	r.malformed.record(key, u.GetResourceVersion())
	r.Metrics.setMalformedRuns(r.malformed.count())
	if changed {
		r.event(u, corev1.EventTypeWarning, chaosv1alpha1.ReasonMalformed, "Decode", msg)
	}
	return reconcile.TerminalError(malformed)
}

// markMalformed sets the run's Stalled and Ready conditions to say it
// cannot be read, with a JSON merge patch of status.conditions pinned to
// the resourceVersion read, and reports whether they changed. u receives
// the patched object.
func (r *Reconciler) markMalformed(ctx context.Context, u *unstructured.Unstructured, msg string) (bool, error) {
	conditions := stored.Conditions(u)
	before := slices.Clone(conditions)
	setMalformedConditions(&conditions, u.GetGeneration(), msg, r.Clock.Now())
	if equality.Semantic.DeepEqual(before, conditions) {
		return false, nil
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": u.GetResourceVersion()},
		"status":   map[string]any{"conditions": conditions},
	})
	if err != nil {
		return false, fmt.Errorf("encoding the conditions of a run that cannot be read: %w", err)
	}
	if err := r.Client.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return false, err
	}
	return true, nil
}

// setMalformedConditions says on conditions that the run cannot be read:
// Stalled, not Ready, and not Reconciling, for nothing drives it.
func setMalformedConditions(conditions *[]metav1.Condition, generation int64, msg string, now time.Time) {
	for _, c := range []metav1.Condition{
		{Type: chaosv1alpha1.ConditionStalled, Status: metav1.ConditionTrue},
		{Type: chaosv1alpha1.ConditionReady, Status: metav1.ConditionFalse},
	} {
		c.Reason, c.Message, c.ObservedGeneration = chaosv1alpha1.ReasonMalformed, msg, generation
		c.LastTransitionTime = metav1.NewTime(now.UTC().Truncate(time.Second))
		meta.SetStatusCondition(conditions, c)
	}
	meta.RemoveStatusCondition(conditions, chaosv1alpha1.ConditionReconciling)
}

// malformedRunMessage says what is wrong with a run the operator cannot
// read, what that means, and what to do.
func malformedRunMessage(m *stored.MalformedError) string {
	return fmt.Sprintf("the operator cannot read this run: %v; it is not driven, and the reaper reverts any fault it injected. "+
		"Fix the field (kubectl edit, with --subresource=status for a status field) or delete the run", m.Err)
}

// event emits one Event about obj, if there is a recorder.
func (r *Reconciler) event(obj *unstructured.Unstructured, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, "%s", note)
	}
}

// forgetMalformed drops a run that decodes again or is gone from the
// malformed runs, and from their gauge.
func (r *Reconciler) forgetMalformed(key types.NamespacedName) {
	if r.malformed.forget(key) {
		r.Metrics.setMalformedRuns(r.malformed.count())
	}
}

// malformedRuns are the runs found undecodable, by the resourceVersion last
// reported, so each version is reported once. An entry goes when its run
// decodes again, is gone, or is released; the map never holds more than
// the malformed runs stored.
type malformedRuns struct {
	mu      sync.Mutex
	version map[types.NamespacedName]string
}

// reported says whether key was reported at resourceVersion already.
func (m *malformedRuns) reported(key types.NamespacedName, resourceVersion string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.version[key]
	return ok && v == resourceVersion
}

// record notes that key was reported at resourceVersion.
func (m *malformedRuns) record(key types.NamespacedName, resourceVersion string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == nil {
		m.version = map[types.NamespacedName]string{}
	}
	m.version[key] = resourceVersion
}

// forget drops key, a run that decodes again or is gone, and says whether
// it was recorded.
func (m *malformedRuns) forget(key types.NamespacedName) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.version[key]
	delete(m.version, key)
	return ok
}

// retain drops the runs not in stored, every run the cache holds: a run
// deleted while its delete event was missed does not stay counted.
func (m *malformedRuns) retain(stored map[types.NamespacedName]struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.version {
		if _, ok := stored[key]; !ok {
			delete(m.version, key)
		}
	}
}

// count is how many runs are recorded malformed.
func (m *malformedRuns) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.version)
}
