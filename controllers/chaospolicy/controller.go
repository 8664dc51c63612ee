// Package chaospolicy reports the effect of the ChaosPolicy on the policy
// itself: how many runs are active, whether the policy can be read (Ready,
// Stalled), and when the kill switch was engaged and had reverted every
// run, so `kubectl get chaospolicy default -o yaml` confirms the switch took
// effect. Enforcing the policy is the run and experiment controllers' job;
// they read it through Get.
package chaospolicy

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Reconciler writes the ChaosPolicy's status.
type Reconciler struct {
	// Client reads the policy and the runs (from the cache) and patches status.
	Client client.Client
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
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	base := p.DeepCopy()
	var transitions []transition
	// One status patch, from one place; events only once it is written, so
	// a conflict retried does not announce a transition twice.
	defer func() {
		if retErr != nil || equality.Semantic.DeepEqual(base.Status, p.Status) {
			return
		}
		err := r.Client.Status().Patch(ctx, p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(err):
			// The cache lags our own last write or the user's edit: the
			// watch brings the newer policy.
			res = ctrl.Result{RequeueAfter: requeueOnConflict}
			return
		case err != nil:
			retErr = fmt.Errorf("patching ChaosPolicy status: %w", err)
			return
		}
		r.emit(p, transitions)
	}()

	runs := &chaosv1alpha1.ExperimentRunList{}
	if err := r.Client.List(ctx, runs); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing runs: %w", err)
	}
	transitions = setStatus(p, runs.Items, now)
	return ctrl.Result{}, nil
}

// requeueOnConflict is how soon a reconcile that lost a write race tries again.
const requeueOnConflict = 100 * time.Millisecond

func (r *Reconciler) emit(p *chaosv1alpha1.ChaosPolicy, ts []transition) {
	if r.Recorder == nil {
		return
	}
	for _, t := range ts {
		r.Recorder.Eventf(p, nil, t.eventType, t.reason, "Reconcile", "%s", t.note)
	}
}

// SetupWithManager registers the controller. Every run change wakes the
// policy: active runs and the kill switch's confirmation are counted from
// them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	toPolicy := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&chaosv1alpha1.ChaosPolicy{}).
		Watches(&chaosv1alpha1.ExperimentRun{}, toPolicy).
		Named("chaospolicy").
		Complete(r)
}
