// Package experiment schedules an Experiment's runs and keeps its history. It
// starts runs on the cron schedule (applying suspend, the starting deadline,
// the concurrency policy, the Experiment's windows and the ChaosPolicy) and
// on demand (the run-now annotation), prunes finished runs beyond
// runHistoryLimit, and reports the active runs and recent results in status.
// Driving a run is the experimentrun controller's job.
package experiment

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/statuspatch"
	"github.com/faultline-dev/faultline/internal/stored"
)

// Annotations and the index this controller adds. They belong in
// api/v1alpha1 next to RunNowAnnotation once the API can take them.
const (
	// ScheduledAtAnnotation is chaosv1alpha1.ScheduledAtAnnotation.
	ScheduledAtAnnotation = chaosv1alpha1.ScheduledAtAnnotation
	// RunNowHandledAnnotation on an Experiment holds the run-now token last
	// acted on, so each new token starts exactly one run.
	RunNowHandledAnnotation = "chaos.faultline.dev/run-now-handled"
	// ExperimentRefIndex is the cache index of ExperimentRuns by
	// spec.experimentRef.name. Runs are found by it rather than by label so
	// that a run made with a plain `kubectl create`, which carries no label,
	// counts too.
	ExperimentRefIndex = "spec.experimentRef.name"
)

// errNewerVersion stops a reconcile that learnt its Experiment is stale: the
// watch delivers the newer version, which is reconciled afresh.
var errNewerVersion = errors.New("a newer version of the experiment exists")

// Reconciler schedules Experiments' runs and keeps their status.
type Reconciler struct {
	// Client reads from the manager's cache, which must have the
	// ExperimentRefIndex (SetupWithManager adds it), and writes to the API
	// server.
	Client client.Client
	// Experiments reads Experiments as unstructured objects: the manager's
	// cache (mgr.GetCache()), whose unstructured informer lists them without
	// decoding them. Nil means Client, which reads unstructured objects live
	// unless its cache options say otherwise. Experiments are never read
	// into the Go type through a cache: one stored Experiment the type
	// cannot decode would fail the informer's whole List and keep the
	// manager from ever syncing.
	Experiments client.Reader
	// Runs reads ExperimentRuns as unstructured objects, from a cache with
	// the ExperimentRefIndex (IndexRuns), for the same reason: one run
	// whose stored status no longer decodes would stop a typed informer,
	// and with it every Experiment's history and the run controller. Nil
	// means the manager's cache once SetupWithManager ran, else
	// Experiments.
	Runs client.Reader
	// Clock is read once per reconcile; every decision uses that instant.
	Clock clock.PassiveClock
	// Recorder emits Kubernetes Events on transitions.
	Recorder events.EventRecorder
	// MaxConcurrentReconciles is how many Experiments are reconciled at
	// once; zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// DefaultMaxConcurrentReconciles lets Experiments that fall due together
// (every game day at 14:00) stage their runs in parallel: a reconcile that
// creates a run spends its time waiting on the API server, and with few
// workers the thousandth run would be created long after the first. One
// Experiment is still only ever reconciled by one worker at a time.
const DefaultMaxConcurrentReconciles = 16

// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments/status,verbs=patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=chaospolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// phase is one step of a reconcile. Reconcile runs them in order and stops
// at the first error.
type phase func(ctx context.Context, s *scope) (ctrl.Result, error)

// Reconcile brings one Experiment's runs and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	u := stored.NewExperiment()
	if err := r.experiments().Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if u.GetDeletionTimestamp() != nil {
		// Its runs go with it through their owner references.
		return ctrl.Result{}, nil
	}
	exp, err := stored.DecodeExperiment(u)
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		return ctrl.Result{}, r.reconcileMalformed(ctx, u, malformed)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("decoding experiment: %w", err)
	}

	s := &scope{
		exp:   exp,
		patch: statuspatch.New(r.Client, r.Recorder, exp, func(e *chaosv1alpha1.Experiment) any { return &e.Status }),
		now:   r.Clock.Now(),
	}
	// One status patch, from one place, whatever path the reconcile takes.
	defer func() {
		if err := r.patchStatus(ctx, s); err != nil && retErr == nil {
			retErr = err
		}
	}()

	for _, p := range []phase{
		r.reconcileRuns,     // status.active, recent
		r.reconcileHistory,  // prune beyond runHistoryLimit
		r.reconcileRunNow,   // on demand, whatever the schedule says
		r.reconcileSpec,     // an invalid schedule stalls what follows
		r.reconcileSchedule, // the cron schedule
	} {
		result, err := p(ctx, s)
		if errors.Is(err, errNewerVersion) {
			s.skipPatch = true
			return ctrl.Result{}, nil
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		res.RequeueAfter = earliest(res.RequeueAfter, result.RequeueAfter)
	}
	s.observed = true
	return res, nil
}

// patchStatus writes the status if it changed, then emits the events of the
// transitions it records. The patch carries the resourceVersion read: a
// status computed from a cache that lags the API server (as it does right
// after this controller's own writes) fails instead of overwriting newer
// facts, and its events are dropped, so a transition is announced once.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope) error {
	if s.skipPatch {
		s.patch.Drop()
		return nil
	}
	if s.observed {
		s.exp.Status.ObservedGeneration = s.exp.Generation
	}
	if err := s.patch.Patch(ctx, s.exp); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Not a failure: the watch delivers the newer Experiment (or
			// its deletion), and that reconcile decides again.
			ctrl.LoggerFrom(ctx).V(1).Info("experiment changed while reconciling; waiting for the newer version")
			return nil
		}
		return fmt.Errorf("patching experiment status: %w", err)
	}
	return nil
}

// SetupWithManager adds the run index and registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Runs == nil {
		r.Runs = mgr.GetCache()
	}
	// IndexField only registers the indexer with the not yet started cache;
	// the context bounds nothing there.
	if err := IndexRuns(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Watched as unstructured: see Experiments.
		For(stored.NewExperiment()).
		// Every run names its Experiment in spec.experimentRef, the runs this
		// controller owns and those made with kubectl alike, so one mapping
		// covers both; Owns would only enqueue the owned ones a second time.
		// Runs are watched as unstructured: see Runs.
		Watches(stored.NewRun(),
			lowPriority(experimentOfRun),
			builder.WithPredicates(runSummaryChanged())).
		// The kill switch and blackouts hold scheduled runs; when they change,
		// held runs may start.
		Watches(stored.NewPolicy(),
			handler.EnqueueRequestsFromMapFunc(r.scheduledExperiments),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("experiment").
		// A priority queue, so that schedules falling due go ahead of the
		// bookkeeping their runs' changes ask for (see lowPriority).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: cmp.Or(r.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles),
			UsePriorityQueue:        ptr.To(true),
		}).
		Complete(r)
}

// IndexRuns registers the ExperimentRefIndex on the unstructured
// ExperimentRuns of indexer (a cache), which Reconciler.Runs lists by it.
func IndexRuns(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, stored.NewRun(), ExperimentRefIndex, indexExperimentRef); err != nil {
		return fmt.Errorf("indexing runs by %s: %w", ExperimentRefIndex, err)
	}
	return nil
}

// indexExperimentRef is the ExperimentRefIndex function. The name is read
// on its own, so a run whose status does not decode is still found.
func indexExperimentRef(o client.Object) []string {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	if name := stored.RunExperimentName(u); name != "" {
		return []string{name}
	}
	return nil
}

// experimentOfRun maps a run to the Experiment it runs.
func experimentOfRun(_ context.Context, o client.Object) []reconcile.Request {
	names := indexExperimentRef(o)
	if len(names) == 0 {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: names[0]}}}
}

// summaryFields are the stored fields of a run that the Experiment's status
// reads: the phase (active or not) and what summarize copies.
var summaryFields = [][]string{
	{"status", "phase"},
	{"status", "verdict"},
	{"status", "timeline", "startedAt"},
	{"status", "timeline", "finishedAt"},
	{"status", "result", "timeToDetect"},
	{"status", "result", "timeToRecover"},
}

// runSummaryChanged passes the run updates the Experiment's status depends
// on: phase (active or not), deletion, and the figures of its summary. The
// run controller writes status at every probe sample; the rest would wake
// every Experiment with a running run every few seconds for nothing. The
// fields are compared as stored, undecoded: this runs on every run update,
// and a run that does not decode changes as much as one that does.
func runSummaryChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*unstructured.Unstructured)
		after, ok2 := e.ObjectNew.(*unstructured.Unstructured)
		if !ok1 || !ok2 {
			return true
		}
		if !before.GetDeletionTimestamp().Equal(after.GetDeletionTimestamp()) {
			return true
		}
		for _, path := range summaryFields {
			was, _, _ := unstructured.NestedFieldNoCopy(before.Object, path...)
			is, _, _ := unstructured.NestedFieldNoCopy(after.Object, path...)
			if !equality.Semantic.DeepEqual(was, is) {
				return true
			}
		}
		return false
	}}
}

// scheduledExperiments lists the Experiments whose scheduled runs the
// ChaosPolicy may be holding.
func (r *Reconciler) scheduledExperiments(ctx context.Context, _ client.Object) []reconcile.Request {
	// Malformed Experiments are left out: they start nothing, whatever
	// the policy says, and are reported on themselves.
	good, _, err := stored.ListExperiments(ctx, r.experiments())
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing experiments for a ChaosPolicy change")
		return nil
	}
	var reqs []reconcile.Request
	for i := range good {
		if exp := &good[i]; exp.Spec.Schedule != "" && !exp.Spec.Suspend {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
		}
	}
	return reqs
}

// experiments is the reader of unstructured Experiments.
func (r *Reconciler) experiments() client.Reader {
	if r.Experiments != nil {
		return r.Experiments
	}
	return r.Client
}

// runs is the reader of unstructured ExperimentRuns.
func (r *Reconciler) runs() client.Reader {
	if r.Runs != nil {
		return r.Runs
	}
	return r.experiments()
}

// event emits one Event about obj, if there is a recorder.
func (r *Reconciler) event(obj runtime.Object, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, eventType, reason, action, "%s", note)
	}
}

// reconcileMalformed reports an Experiment that cannot be decoded on the
// Experiment itself: Stalled and not Ready, reason Malformed, with the field
// and the problem, and a Warning event when that first becomes so. Nothing
// else is done for it, and nothing waits on it: other Experiments, their
// runs and the kill switch carry on.
//
// The status is written as a JSON merge patch of the unstructured object,
// never through the Go type, which cannot hold the spec. The patch carries
// the resourceVersion read, so a report computed from a lagging cache fails
// instead of overwriting a newer one, and its event is not sent twice.
func (r *Reconciler) reconcileMalformed(ctx context.Context, u *unstructured.Unstructured, malformed *stored.MalformedError) error {
	now := r.Clock.Now()
	shell := &chaosv1alpha1.Experiment{}
	shell.Generation = u.GetGeneration()
	shell.Status.Conditions = stored.Conditions(u)
	before := slices.Clone(shell.Status.Conditions)
	msg := malformedMessage(malformed)
	setStalled(shell, chaosv1alpha1.ReasonMalformed, msg, now)
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	_, scheduled, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "nextScheduleTime")
	if equality.Semantic.DeepEqual(before, shell.Status.Conditions) && observed == u.GetGeneration() && !scheduled {
		return reconcile.TerminalError(malformed)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": u.GetResourceVersion()},
		"status": map[string]any{
			"conditions":         shell.Status.Conditions,
			"observedGeneration": u.GetGeneration(),
			// Nothing is scheduled while the spec cannot be read.
			"nextScheduleTime": nil,
		},
	})
	if err != nil {
		return fmt.Errorf("encoding the status of a malformed experiment: %w", err)
	}
	if err := r.Client.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			ctrl.LoggerFrom(ctx).V(1).Info("experiment changed while reconciling; waiting for the newer version")
			return nil
		}
		return fmt.Errorf("patching the status of a malformed experiment: %w", err)
	}
	if conditionChanged(before, shell.Status.Conditions, chaosv1alpha1.ConditionStalled) {
		r.event(u, corev1.EventTypeWarning, chaosv1alpha1.ReasonMalformed, "Decode", msg)
	}
	// Only an edit of the Experiment fixes it, and the edit is watched.
	return reconcile.TerminalError(malformed)
}

// malformedMessage says what is wrong with a malformed Experiment and what to do.
func malformedMessage(m *stored.MalformedError) string {
	return fmt.Sprintf("the operator cannot read this Experiment: %v; fix the field with kubectl edit (or delete and recreate the Experiment): no run starts until then", m.Err)
}
