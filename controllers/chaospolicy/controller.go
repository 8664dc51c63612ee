// Package chaospolicy reports the effect of the ChaosPolicy on the policy
// itself: how many runs are active, whether the policy can be read (Ready,
// Stalled), and when the kill switch was engaged and had reverted every
// run, so `kubectl get chaospolicy default -o yaml` confirms the switch took
// effect. Enforcing the policy is the run and experiment controllers' job;
// they read it through Get.
package chaospolicy

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/statuspatch"
	"github.com/faultline-dev/faultline/internal/stored"
)

// Reconciler writes the ChaosPolicy's status.
type Reconciler struct {
	// Client patches status.
	Client client.Client
	// Runs reads the ChaosPolicy and ExperimentRuns as unstructured
	// objects (stored.GetPolicy), decoded one by
	// one: a typed informer would stop at the first run whose stored
	// status no longer decodes, and the kill switch's confirmation with
	// it. Nil means the manager's cache once SetupWithManager ran, else
	// Client.
	Runs client.Reader
	// Clock is read once per reconcile.
	Clock clock.PassiveClock
	// Recorder emits Kubernetes Events on transitions; nil disables them.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=chaospolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=chaospolicies/status,verbs=patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile writes the status of the ChaosPolicy named default.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	if req.Name != chaosv1alpha1.DefaultPolicyName {
		// The CRD admits only default; another name is never obeyed.
		return ctrl.Result{}, nil
	}
	// Read as every other reader reads it: a policy that cannot be decoded
	// is reported by the log and holds every run (stored.PolicyOrHold);
	// its status is not written.
	reader := r.Runs
	if reader == nil {
		reader = r.Client
	}
	p, err := stored.GetPolicy(ctx, reader)
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		ctrl.LoggerFrom(ctx).Error(malformed, "the ChaosPolicy cannot be decoded; every run is held until it is fixed")
		return ctrl.Result{}, nil
	}
	if err != nil || p == nil {
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	status := statuspatch.New(r.Client, r.Recorder, p, func(p *chaosv1alpha1.ChaosPolicy) any { return &p.Status })
	// One status patch, from one place; events only once it is written, so
	// a conflict retried does not announce a transition twice.
	defer func() {
		if retErr != nil {
			return
		}
		err := status.Patch(ctx, p)
		switch {
		case apierrors.IsConflict(err):
			// The cache lags our own last write or the user's edit: the
			// watch brings the newer policy.
			res = ctrl.Result{RequeueAfter: requeueOnConflict}
		case err != nil:
			retErr = fmt.Errorf("patching ChaosPolicy status: %w", err)
		}
	}()

	runs, err := r.listRuns(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, t := range setStatus(p, runs, now) {
		status.Queue(statuspatch.Event{Type: t.eventType, Reason: t.reason, Action: "Reconcile", Note: t.note})
	}
	return ctrl.Result{}, nil
}

// statusFields are the fields of a run's status that setStatus reads. Only
// they are decoded: this controller lists every run at every run change,
// and the rest of a run (its Experiment snapshot, targets and probes) is
// most of what decoding one costs.
var statusFields = []string{"phase", "abort", "timeline"}

// listRuns returns every stored run with what setStatus reads of it. A run
// whose phase, abort or timeline does not decode counts by its phase alone,
// as the run controller counts it against maxConcurrentRuns: the operator
// cannot drive it, so its fault is not known to be gone.
func (r *Reconciler) listRuns(ctx context.Context) ([]chaosv1alpha1.ExperimentRun, error) {
	reader := r.Runs
	if reader == nil {
		reader = r.Client
	}
	list := stored.NewRunList()
	// Read, never written: no copy of every run.
	if err := reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs := make([]chaosv1alpha1.ExperimentRun, 0, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		run, err := stored.DecodeRunFields(u, statusFields...)
		if err != nil {
			run = &chaosv1alpha1.ExperimentRun{}
			run.Namespace, run.Name, run.UID = u.GetNamespace(), u.GetName(), u.GetUID()
			run.Status.Phase = stored.RunPhase(u)
		}
		runs = append(runs, *run)
	}
	return runs, nil
}

// requeueOnConflict is how soon a reconcile that lost a write race tries again.
const requeueOnConflict = 100 * time.Millisecond

// SetupWithManager registers the controller. Every run change wakes the
// policy: active runs and the kill switch's confirmation are counted from
// them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Runs == nil {
		r.Runs = mgr.GetCache()
	}
	toPolicy := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		// Watched as unstructured, as it is read (stored.GetPolicy).
		For(stored.NewPolicy()).
		// Watched as unstructured: see Runs.
		Watches(stored.NewRun(), toPolicy).
		Named("chaospolicy").
		Complete(r)
}
