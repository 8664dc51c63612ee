// Package experimentrun drives ExperimentRuns: it snapshots the Experiment,
// applies the ChaosPolicy, and carries out what the run engine decides —
// sampling probes, writing targets to status before injecting, injecting,
// reverting — until the run has a verdict.
package experimentrun

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/schedule"
	"github.com/faultline-dev/faultline/internal/stored"
)

// maxStepsPerReconcile bounds how many engine steps one reconcile takes, so
// a run that keeps deciding (sample → abort → revert → finish) completes
// promptly, yet a bug can never spin a worker forever.
const maxStepsPerReconcile = 16

// Reconciler drives ExperimentRuns.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// Experiments reads Experiments as unstructured objects, to snapshot
	// them: the manager's cache (mgr.GetCache()). Nil means Client. They
	// are never read into the Go type through a cache, whose informer one
	// undecodable Experiment would keep from ever syncing.
	Experiments client.Reader
	// Runs reads ExperimentRuns as unstructured objects, decoded one by one
	// (internal/stored), for the same reason: one run whose stored status
	// no longer decodes would keep a typed informer from listing, and every
	// other run, the kill switch included, would stop. Nil means the
	// manager's cache once SetupWithManager ran (the informer the
	// controller watches), else Client.
	Runs client.Reader
	// APIReader reads straight from the API server. Before it selects targets
	// or injects, the reconciler checks the cached run is not stale, so a
	// restarted operator never acts twice on an old status.
	APIReader client.Reader
	// Clock is the one clock every instant of a run comes from.
	Clock clock.PassiveClock
	// Recorder emits Kubernetes Events on transitions.
	Recorder events.EventRecorder
	// Faults builds the Fault for a run's spec.
	Faults FaultFactory
	// Samplers builds the probe sampler for a run's spec.
	Samplers SamplerFactory
	// Targets lists and selects the targets of a run.
	Targets TargetSelector
	// Metrics records the operator's own metrics; nil disables them.
	Metrics *Metrics
	// Access re-checks, when a run starts, that its recorded requester may
	// still do what the run would do; nil disables the check (tests without
	// the admission webhook).
	Access RightsChecker
	// MaxConcurrentReconciles is how many runs are driven at once; zero
	// means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// TargetWorkers is how many targets of one run are injected or
	// reverted at once; zero means DefaultTargetWorkers.
	TargetWorkers int
	// Remediation gathers what runs' remediation rules look for; nil lists
	// through APIReader.
	Remediation RemediationObserver
	// Notifications is the record of Alertmanager notifications the
	// operator's webhook receiver keeps; nil means the receiver is off.
	Notifications NotificationRecord
	// NotificationWakeups carries the alert name of each notification as
	// it arrives, to wake the runs waiting for it; nil means none.
	NotificationWakeups <-chan event.TypedGenericEvent[string]
	// RefineStep is the step at which a run's Prometheus probes are
	// re-evaluated to place their crossings; zero means
	// probes.DefaultRefineStep.
	RefineStep time.Duration

	// malformed are the runs found undecodable, so each version of one is
	// reported once.
	malformed malformedRuns
}

// DefaultMaxConcurrentReconciles lets the kill switch reach every run while
// some are held up: a reconcile may wait on a slow provider or API call up
// to its deadline, and with one worker every other run, and its abort,
// would wait behind it. It also sets how fast runs that fall due together
// start: each start waits on a status write, and with 1,000 runs due at
// once 32 workers started them with a p99 of 9.1 s where 8 took 21.9 s
// (BenchmarkScheduling1000Experiments). One run is still driven by one
// worker at a time.
const DefaultMaxConcurrentReconciles = 32

// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns/status,verbs=patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments,verbs=get;list;watch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=chaospolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;delete
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;patch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices,verbs=get;list;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=sloth.slok.dev,resources=prometheusservicelevels,verbs=get
// +kubebuilder:rbac:groups=pyrra.dev,resources=servicelevelobjectives,verbs=get

// Reconcile advances one run.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)
	run, readErr := r.getRun(ctx, req.NamespacedName)
	if run == nil {
		// Gone, undecodable (reported by getRun), or not read.
		return ctrl.Result{}, readErr
	}
	now := r.Clock.Now()

	s := newScope(r, run)
	// One status patch, from one place, whatever path the reconcile takes.
	defer func() {
		err := s.patchStatus(ctx)
		// The fault gauge follows what was last written: s.base, not the
		// run this reconcile may have advanced without saving.
		r.Metrics.observeFault(s.base())
		if apierrors.IsConflict(err) || apierrors.IsConflict(retErr) {
			// The cache had not caught up with our own last write: not a
			// failure, and not worth a backoff that would delay an abort.
			res, retErr = ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
			return
		}
		if err != nil && retErr == nil {
			retErr = err
		}
	}()

	if !run.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s, now)
	}
	if run.Status.Phase == chaosv1alpha1.PhaseCompleted {
		return r.reconcileCompleted(ctx, s)
	}
	if at, wait := schedule.StagedUntil(run.Annotations, now); wait && run.Status.Experiment == nil {
		// Staged ahead of its schedule time: nothing is read or decided
		// before it, so edits of the Experiment until then still count.
		// Nothing is held either, so no finalizer is needed yet.
		run.Status.Message = "staged: starts at its schedule time " + at.UTC().Format(time.RFC3339)
		return ctrl.Result{RequeueAfter: at.Sub(now)}, nil
	}
	if r.reconcileRecord(s, now) {
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	if done, err := r.reconcileSnapshot(ctx, s, now); done || err != nil {
		return ctrl.Result{}, err
	}
	// The finalizer goes on with the snapshot's record, before anything
	// can be injected, so a deleted run always gets the chance to revert;
	// a run snapshotted without it (by an older operator) gets it here.
	if !controllerutil.ContainsFinalizer(run, chaosv1alpha1.RunFinalizer) {
		if err := r.patchFinalizers(ctx, run, true); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		s.patch.SyncMeta(run)
	}
	if wait, err := r.reconcilePolicy(ctx, s, now); wait > 0 || err != nil {
		return ctrl.Result{RequeueAfter: wait}, err
	}
	res, err := r.reconcileEngine(ctx, s, now)
	if err == nil && run.Status.Phase == chaosv1alpha1.PhaseCompleted {
		// Release the finalizer in the same reconcile that reached the
		// verdict: whoever reads a completed run sees it whole.
		return r.reconcileCompleted(ctx, s)
	}
	if errors.Is(err, errStale) {
		// Not a failure: the watch will deliver the newer run; come back soon.
		s.skipPatch = true
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if err != nil && !apierrors.IsConflict(err) {
		// The controller logs the returned error; this adds where the run
		// stood, without logging the failure twice at error level. A
		// conflict is the cache lagging our own write, retried at once by
		// the deferred patch handling, and no failure.
		log.V(1).Info("run step failed; retrying with backoff", "run", klog.KObj(run), "phase", run.Status.Phase, "error", err.Error())
	}
	return res, err
}

// reconcileDelete reverts whatever the run may have injected, then lets the run go.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope, now time.Time) (ctrl.Result, error) {
	run := s.run
	r.releaseSamplers(run)
	if !controllerutil.ContainsFinalizer(run, chaosv1alpha1.RunFinalizer) {
		return ctrl.Result{}, nil
	}
	if run.Status.Phase != chaosv1alpha1.PhaseCompleted && run.Status.Experiment != nil {
		er := s.engineRun()
		s.emit(er.Abort(now, chaosv1alpha1.AbortDeleted, "the run was deleted; reverting its fault"))
		if err := r.revertAll(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		s.emit(er.ApplyReverted(r.Clock.Now()))
		if err := s.patchStatus(ctx); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.patchFinalizers(ctx, run, false); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	s.skipPatch = true
	return ctrl.Result{}, nil
}

// reconcileCompleted releases the finalizer of a finished run: its fault is
// reverted by construction (Completed is only reached after revert).
func (r *Reconciler) reconcileCompleted(ctx context.Context, s *scope) (ctrl.Result, error) {
	r.releaseSamplers(s.run)
	if !controllerutil.ContainsFinalizer(s.run, chaosv1alpha1.RunFinalizer) {
		return ctrl.Result{}, nil
	}
	if err := s.patchStatus(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.patchFinalizers(ctx, s.run, false); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	s.skipPatch = true
	return ctrl.Result{}, nil
}

// reconcileSnapshot copies the Experiment's spec into the run once, so later
// edits of the Experiment never change a run in flight.
func (r *Reconciler) reconcileSnapshot(ctx context.Context, s *scope, now time.Time) (done bool, err error) {
	run := s.run
	if run.Status.Experiment != nil {
		return false, nil
	}
	key := client.ObjectKey{Namespace: run.Namespace, Name: run.Spec.ExperimentRef.Name}
	exp, err := stored.GetExperiment(ctx, r.experiments(), key)
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		// Nothing was touched; the run ends saying which field to fix.
		s.emit(s.engineRun().Fail(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonMalformed,
			fmt.Sprintf("experiment %q cannot be read: %v; fix that field of the Experiment and start a new run", key.Name, malformed.Err)))
		return true, nil
	}
	if apierrors.IsNotFound(err) {
		// Nothing was touched; the run ends with a verdict that says what to fix.
		s.emit(s.engineRun().Fail(now, chaosv1alpha1.VerdictError, chaosv1alpha1.ReasonExperimentNotFound,
			fmt.Sprintf("experiment %q not found in namespace %s; create it or fix spec.experimentRef.name", key.Name, key.Namespace)))
		return true, nil
	}
	if err != nil {
		return true, fmt.Errorf("getting experiment %s: %w", key, err)
	}
	// The record first: a snapshot in status without it is refused as
	// written by someone else, and taken again.
	if err := r.patchSnapshotRecord(ctx, run, snapshotRecord(exp)); err != nil {
		return true, err
	}
	s.patch.SyncMeta(run)
	run.Status.Experiment = exp.Spec.DeepCopy()
	run.Status.ExperimentGeneration = exp.Generation
	run.Status.Phase = chaosv1alpha1.PhasePending
	run.Status.Message = "accepted"
	return false, nil
}

// reconcileEngine performs what the engine asks until it says to wait.
func (r *Reconciler) reconcileEngine(ctx context.Context, s *scope, now time.Time) (ctrl.Result, error) {
	if s.run.Status.Phase == chaosv1alpha1.PhasePending {
		if done, err := r.prepare(ctx, s, now); done || err != nil {
			if done {
				r.Metrics.observeFinished(s.run)
			}
			return ctrl.Result{}, err
		}
		s.emit(s.engineRun().Start(now))
	}
	er := s.engineRun()
	r.observeNotification(s, er)
	if wait := er.ConfigErrorRetryWait(now); wait > 0 {
		// A retry after a configuration error is not due yet: this
		// reconcile was woken by something else (our own status write).
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	sampled := false
	for range maxStepsPerReconcile {
		next := er.Next(now)
		if next.Action == engine.ActionSample && sampled {
			// One sample per reconcile: a sample can take a provider's
			// whole timeout, and the next is due at once when it did.
			// Sampling again here would keep the status unwritten and the
			// kill switch, checked at the start of each reconcile, unread.
			return ctrl.Result{RequeueAfter: time.Millisecond}, nil
		}
		switch next.Action {
		case engine.ActionNone:
			return ctrl.Result{}, nil
		case engine.ActionWait:
			return ctrl.Result{RequeueAfter: next.After}, nil
		case engine.ActionSample:
			sampler, err := r.samplerFor(ctx, s.run)
			if err != nil {
				return r.stepFailed(s, er, fmt.Errorf("building probes: %w", err))
			}
			// Remediation first: a sample that ends the run judges it.
			r.observeRemediation(ctx, s, er)
			sample := sampler.Sample(ctx, s.run.Namespace, s.spec(), now, next.Set)
			r.Metrics.observeSample(sample)
			s.emit(er.ApplySample(sample))
			// The baseline's end may have fixed relative thresholds: the
			// next steps judge by them.
			er = s.engineRun()
			sampled = true
		case engine.ActionSelectTargets:
			if err := r.ensureFresh(ctx, s); err != nil {
				return ctrl.Result{}, err
			}
			targets, note, err := r.Targets.Select(ctx, s.run, r.Faults)
			if err != nil && !isNoTargets(err) {
				return r.stepFailed(s, er, fmt.Errorf("selecting targets: %w", err))
			}
			s.emit(er.ApplyTargets(targets, note, err, now))
			// Write-ahead: the targets and what revert needs are in the API
			// server before any fault is applied.
			if err := s.patchStatus(ctx); err != nil {
				return ctrl.Result{}, err
			}
		case engine.ActionInject:
			if err := r.ensureFresh(ctx, s); err != nil {
				return ctrl.Result{}, err
			}
			pending, err := r.injectAll(ctx, s)
			if err != nil {
				// Progress made before the error is written by the deferred patch.
				return r.stepFailed(s, er, err)
			}
			if pending {
				// Never wait inside a reconcile: come back for the next pass.
				return ctrl.Result{RequeueAfter: s.spec().SteadyState.Interval.Duration}, s.patchStatus(ctx)
			}
			s.emit(er.ApplyInjected(r.Clock.Now()))
			if err := s.patchStatus(ctx); err != nil {
				return ctrl.Result{}, err
			}
		case engine.ActionRefine:
			s.emit(er.ApplyRefinements(r.refine(ctx, s, next.Crossings)))
		case engine.ActionRevert:
			er.BeginRevert()
			if err := r.revertAll(ctx, s); err != nil {
				return r.stepFailed(s, er, err)
			}
			s.emit(er.ApplyReverted(r.Clock.Now()))
		}
		er.ClearStepErrors()
		if er.Finished() {
			r.Metrics.observeFinished(s.run)
			return ctrl.Result{}, nil
		}
		// Instants after I/O come from the clock again, so a slow sample
		// does not make the next decision late.
		now = r.Clock.Now()
	}
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// stepFailed records a failed engine step and says when to try again. A
// configuration error is retried a bounded number of times, spaced, and then
// ends the run with verdict Error; a transient error is returned for the
// controller's backoff. While a fault may be active neither keeps it on: the
// engine aborts the run, and its revert is driven at once.
func (r *Reconciler) stepFailed(s *scope, er engine.Run, err error) (ctrl.Result, error) {
	now := r.Clock.Now()
	if msg, ok := configErrorMessage(err); ok {
		s.emit(er.ApplyConfigError(now, msg))
		switch {
		case er.Finished():
			r.Metrics.observeFinished(s.run)
			return ctrl.Result{}, nil
		case s.run.Status.Phase == chaosv1alpha1.PhaseReverting && s.run.Status.Progress.ConfigErrorAttempts == 0:
			// Aborted just now: revert without waiting.
			return ctrl.Result{RequeueAfter: time.Millisecond}, nil
		}
		return ctrl.Result{RequeueAfter: er.ConfigErrorRetryWait(now)}, nil
	}
	aborted := s.run.Status.Abort != nil
	s.emit(er.ApplyStepError(now, err))
	if !aborted && s.run.Status.Abort != nil {
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	return ctrl.Result{}, err
}

// ensureFresh refuses to act on a cached run older than the API server's: a
// restarted or newly elected operator must not select or inject twice. Only
// the metadata is read: the resourceVersion is all it compares, and the
// rest would be decoded for nothing.
func (r *Reconciler) ensureFresh(ctx context.Context, s *scope) error {
	live := &metav1.PartialObjectMetadata{}
	live.SetGroupVersionKind(stored.RunGVK)
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.run), live); err != nil {
		return fmt.Errorf("reading run from the API server: %w", err)
	}
	if live.ResourceVersion != s.base().ResourceVersion {
		return errStale
	}
	return nil
}

// SetupWithManager registers the controller, and the gauge of active runs.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Runs == nil {
		// Reads and the watch go to one informer, so a reconcile sees at
		// least the version whose event woke it.
		r.Runs = mgr.GetCache()
	}
	if r.Metrics != nil {
		if err := mgr.Add(manager.RunnableFunc(r.countActive)); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Watched as unstructured: see Runs.
		For(stored.NewRun()).
		Watches(stored.NewPolicy(), handler.EnqueueRequestsFromMapFunc(r.runsForPolicy)).
		WatchesRawSource(r.notificationSource()).
		Named("experimentrun").
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles)}).
		Complete(r)
}

// experiments is the reader of unstructured Experiments.
func (r *Reconciler) experiments() client.Reader {
	if r.Experiments != nil {
		return r.Experiments
	}
	return r.Client
}

// patchFinalizers adds or removes the run finalizer with a JSON merge patch
// of metadata.finalizers alone. An Update would send the whole object back,
// and the spec the Go type re-encodes can differ from the stored one (a
// stored "dryRun: false" is dropped as empty), which the spec immutability
// rule refuses, in a loop. The patch carries the resourceVersion read: the
// list is replaced whole, so another writer's finalizer added meanwhile must
// make it fail (a conflict, retried) rather than be dropped.
func (r *Reconciler) patchFinalizers(ctx context.Context, run client.Object, add bool) error {
	finalizers := slices.Clone(run.GetFinalizers())
	if add {
		if slices.Contains(finalizers, chaosv1alpha1.RunFinalizer) {
			return nil
		}
		finalizers = append(finalizers, chaosv1alpha1.RunFinalizer)
	} else {
		if !slices.Contains(finalizers, chaosv1alpha1.RunFinalizer) {
			return nil
		}
		finalizers = slices.DeleteFunc(finalizers, func(f string) bool { return f == chaosv1alpha1.RunFinalizer })
	}
	if finalizers == nil {
		finalizers = []string{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": finalizers, "resourceVersion": run.GetResourceVersion(),
	}})
	if err != nil {
		return fmt.Errorf("encoding the finalizer patch: %w", err)
	}
	// A copy receives the answer: on failure the caller's run is unchanged.
	patched := run.DeepCopyObject().(client.Object)
	if err := r.Client.Patch(ctx, patched, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return err
	}
	run.SetFinalizers(patched.GetFinalizers())
	run.SetResourceVersion(patched.GetResourceVersion())
	return nil
}

// countActive keeps the active-runs gauge current from the cache, and
// deletes the series of Experiments and runs that are gone.
func (r *Reconciler) countActive(ctx context.Context) error {
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			runs, err := r.listStoredRuns(ctx)
			if err != nil {
				continue
			}
			n := 0
			// Only what prune reads: names and UIDs.
			known := make([]chaosv1alpha1.ExperimentRun, len(runs))
			names := make(map[types.NamespacedName]struct{}, len(runs))
			for i := range runs {
				o := &runs[i]
				if isActive(stored.RunPhase(o)) {
					n++
				}
				known[i].Namespace, known[i].Name, known[i].UID = o.GetNamespace(), o.GetName(), o.GetUID()
				names[types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}] = struct{}{}
			}
			r.Metrics.SetActive(n)
			r.malformed.retain(names)
			r.Metrics.setMalformedRuns(r.malformed.count())
			if experiments, malformed, err := r.experimentNames(ctx); err == nil {
				r.Metrics.prune(known, experiments)
				r.Metrics.setMalformedExperiments(malformed)
			}
		}
	}
}

// experimentNames lists the stored Experiments' names, and counts those the
// experiment controller reported undecodable (Stalled, reason Malformed).
// They are listed unstructured, as they are cached, so one that does not
// decode still counts; and not decoded here, which for every Experiment
// every few seconds would cost what the experiment controller already paid.
func (r *Reconciler) experimentNames(ctx context.Context) (names map[types.NamespacedName]struct{}, malformed int, err error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentList"))
	// Names and conditions are only read: no copy of every Experiment.
	if err := r.experiments().List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, 0, err
	}
	names = make(map[types.NamespacedName]struct{}, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		names[types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()}] = struct{}{}
		if reportedMalformed(u) {
			malformed++
		}
	}
	return names, malformed, nil
}

// reportedMalformed says whether a stored Experiment's status holds the
// experiment controller's report that it cannot be decoded.
func reportedMalformed(u *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "conditions")
	list, _ := conditions.([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["type"] == chaosv1alpha1.ConditionStalled && m["status"] == string(metav1.ConditionTrue) && m["reason"] == chaosv1alpha1.ReasonMalformed {
			return true
		}
	}
	return false
}

// eventType maps an engine event to a Kubernetes event type.
func eventType(e engine.Event) string {
	if e.Warning {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}
