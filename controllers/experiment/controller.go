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
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Annotations and the index this controller adds. They belong in
// api/v1alpha1 next to RunNowAnnotation once the API can take them.
const (
	// ScheduledAtAnnotation on a scheduled run holds its schedule time in
	// RFC 3339: the instant it was due, which its name only encodes.
	ScheduledAtAnnotation = "chaos.faultline.dev/scheduled-at"
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
	// Clock is read once per reconcile; every decision uses that instant.
	Clock clock.PassiveClock
	// Recorder emits Kubernetes Events on transitions.
	Recorder events.EventRecorder
	// MaxConcurrentReconciles is how many Experiments are reconciled at
	// once; zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// DefaultMaxConcurrentReconciles lets Experiments that fall due together
// (every game day at 14:00) be started in parallel: a reconcile that starts
// a run spends its time waiting on two API calls, and one worker would start
// the thousandth run seconds after the first. One Experiment is still only
// ever reconciled by one worker at a time.
const DefaultMaxConcurrentReconciles = 4

// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=chaospolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// phase is one step of a reconcile. Reconcile runs them in order and stops
// at the first error.
type phase func(ctx context.Context, s *scope) (ctrl.Result, error)

// Reconcile brings one Experiment's runs and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	exp := &chaosv1alpha1.Experiment{}
	if err := r.Client.Get(ctx, req.NamespacedName, exp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !exp.DeletionTimestamp.IsZero() {
		// Its runs go with it through their owner references.
		return ctrl.Result{}, nil
	}

	s := &scope{exp: exp, base: exp.DeepCopy(), now: r.Clock.Now()}
	// One status patch, from one place, whatever path the reconcile takes.
	defer func() {
		if err := r.patchStatus(ctx, s); err != nil && retErr == nil {
			retErr = err
		}
	}()

	for _, p := range []phase{
		r.reconcileRuns,     // status.active, lastRun, recent
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
		return nil
	}
	if s.observed {
		s.exp.Status.ObservedGeneration = s.exp.Generation
	}
	if equality.Semantic.DeepEqual(s.base.Status, s.exp.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(s.base, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, s.exp, patch); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Not a failure: the watch delivers the newer Experiment (or
			// its deletion), and that reconcile decides again.
			ctrl.LoggerFrom(ctx).V(1).Info("experiment changed while reconciling; waiting for the newer version")
			return nil
		}
		return fmt.Errorf("patching experiment status: %w", err)
	}
	for _, e := range s.events {
		r.event(s.exp, e.eventType, e.reason, e.action, e.note)
	}
	return nil
}

// SetupWithManager adds the run index and registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	// IndexField only registers the indexer with the not yet started cache;
	// the context bounds nothing there.
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &chaosv1alpha1.ExperimentRun{}, ExperimentRefIndex, indexExperimentRef); err != nil {
		return fmt.Errorf("indexing runs by %s: %w", ExperimentRefIndex, err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&chaosv1alpha1.Experiment{}).
		// Every run names its Experiment in spec.experimentRef, the runs this
		// controller owns and those made with kubectl alike, so one mapping
		// covers both; Owns would only enqueue the owned ones a second time.
		Watches(&chaosv1alpha1.ExperimentRun{},
			handler.EnqueueRequestsFromMapFunc(experimentOfRun),
			builder.WithPredicates(runSummaryChanged())).
		// The kill switch and blackouts hold scheduled runs; when they change,
		// held runs may start.
		Watches(&chaosv1alpha1.ChaosPolicy{},
			handler.EnqueueRequestsFromMapFunc(r.scheduledExperiments),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("experiment").
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles)}).
		Complete(r)
}

// indexExperimentRef is the ExperimentRefIndex function.
func indexExperimentRef(o client.Object) []string {
	run, ok := o.(*chaosv1alpha1.ExperimentRun)
	if !ok || run.Spec.ExperimentRef.Name == "" {
		return nil
	}
	return []string{run.Spec.ExperimentRef.Name}
}

// experimentOfRun maps a run to the Experiment it runs.
func experimentOfRun(_ context.Context, o client.Object) []reconcile.Request {
	run, ok := o.(*chaosv1alpha1.ExperimentRun)
	if !ok || run.Spec.ExperimentRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: run.Namespace, Name: run.Spec.ExperimentRef.Name}}}
}

// runSummaryChanged passes the run updates the Experiment's status depends
// on: phase (active or not), deletion, and the figures of its summary. The
// run controller writes status at every probe sample; the rest would wake
// every Experiment with a running run every few seconds for nothing.
func runSummaryChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*chaosv1alpha1.ExperimentRun)
		after, ok2 := e.ObjectNew.(*chaosv1alpha1.ExperimentRun)
		if !ok1 || !ok2 {
			return true
		}
		return before.Status.Phase != after.Status.Phase ||
			!before.DeletionTimestamp.Equal(after.DeletionTimestamp) ||
			!equality.Semantic.DeepEqual(summarize(before), summarize(after))
	}}
}

// scheduledExperiments lists the Experiments whose scheduled runs the
// ChaosPolicy may be holding.
func (r *Reconciler) scheduledExperiments(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &chaosv1alpha1.ExperimentList{}
	if err := r.Client.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing experiments for a ChaosPolicy change")
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if exp := &list.Items[i]; exp.Spec.Schedule != "" && !exp.Spec.Suspend {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
		}
	}
	return reqs
}

// event emits one Event about exp, if there is a recorder.
func (r *Reconciler) event(exp *chaosv1alpha1.Experiment, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(exp, nil, eventType, reason, action, "%s", note)
	}
}
