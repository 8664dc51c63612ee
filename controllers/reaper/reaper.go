// Package reaper is Faultline's dead-man switch: it reverts injected
// artefacts whose run is gone, finished, or past its expiry, so no fault
// outlives its run even when the run was deleted while the operator was down.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/internal/stored"
)

// ReasonReaped is the event reason on an artefact the reaper reverted.
const ReasonReaped = "Reaped"

// Reaper scans for artefacts carrying Faultline's run annotation and reverts
// those no live run owns. It lists only objects labelled
// chaosv1alpha1.InjectedLabel, so a scan costs what Faultline touched, not
// the size of the cluster; the first scan after start-up lists everything
// once, for artefacts an operator that did not label them left behind.
type Reaper struct {
	// Client reads runs and nodes straight from the API server and writes.
	Client client.Client
	// Istio reads and writes VirtualServices; nil skips them.
	Istio istioclient.Interface
	// Clock decides expiry.
	Clock clock.PassiveClock
	// Recorder emits an event on every reaped artefact; nil emits none.
	Recorder events.EventRecorder
	// Period between scans; the first scan runs at start-up.
	Period time.Duration
	// Metrics counts sweeps by result and records the last success; nil
	// records nothing.
	Metrics *Metrics
}

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;patch
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices,verbs=get;list;patch
// +kubebuilder:rbac:groups=chaos.faultline.dev,resources=experimentruns,verbs=get

// Start scans at start-up and then every Period until ctx ends. It runs only
// on the leader, like the controllers.
func (r *Reaper) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("reaper")
	period := r.Period
	if period <= 0 {
		period = 30 * time.Second
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	all := true
	for {
		n, err := r.pass(ctx, all)
		if err == nil {
			all = false
		}
		if err != nil {
			log.Error(err, "reaper pass failed")
		} else if n > 0 {
			log.Info("reverted orphaned artefacts", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// NeedLeaderElection makes the reaper run only on the leader.
func (r *Reaper) NeedLeaderElection() bool { return true }

// Pass scans the labelled artefacts once and returns how many it reverted.
func (r *Reaper) Pass(ctx context.Context) (int, error) { return r.pass(ctx, false) }

// PassAll scans every node and VirtualService once, labelled or not, and
// returns how many artefacts it reverted.
func (r *Reaper) PassAll(ctx context.Context) (int, error) { return r.pass(ctx, true) }

func (r *Reaper) pass(ctx context.Context, all bool) (int, error) {
	reaped, err := r.sweep(ctx, all, r.Clock.Now())
	r.Metrics.observeSweep(reaped, err, r.Clock.Now())
	return reaped, err
}

// sweep reverts the orphaned artefacts it finds, deciding expiry at now.
func (r *Reaper) sweep(ctx context.Context, all bool, now time.Time) (int, error) {
	var errs []error
	reaped := 0

	selector := metav1.ListOptions{LabelSelector: chaosv1alpha1.InjectedLabel}
	if all {
		selector = metav1.ListOptions{}
	}
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes, &client.ListOptions{Raw: &selector}); err != nil {
		errs = append(errs, fmt.Errorf("listing nodes: %w", err))
	}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		why, err := r.orphaned(ctx, node.Annotations, now)
		if err != nil || why == "" {
			errs = appendErr(errs, err)
			continue
		}
		changed, err := faults.ReapNode(ctx, r.Client, node)
		if err != nil {
			errs = append(errs, fmt.Errorf("reaping node %s: %w", node.Name, err))
			continue
		}
		if changed {
			reaped++
			r.event(node, "reverted the drain of run "+node.Annotations[chaosv1alpha1.RunAnnotation]+": "+why)
		}
	}

	if r.Istio != nil {
		list, err := r.Istio.NetworkingV1().VirtualServices(metav1.NamespaceAll).List(ctx, selector)
		switch {
		case err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err)):
			// Istio is not installed: nothing of ours can be there.
		case err != nil:
			errs = append(errs, fmt.Errorf("listing VirtualServices: %w", err))
		default:
			for _, vs := range list.Items {
				why, err := r.orphaned(ctx, vs.Annotations, now)
				if err != nil || why == "" {
					errs = appendErr(errs, err)
					continue
				}
				changed, err := faults.ReapIstio(ctx, r.Istio, vs)
				if err != nil {
					errs = append(errs, fmt.Errorf("reaping VirtualService %s/%s: %w", vs.Namespace, vs.Name, err))
					continue
				}
				if changed {
					reaped++
					r.event(vs, "reverted the fault of run "+vs.Annotations[chaosv1alpha1.RunAnnotation]+": "+why)
				}
			}
		}
	}
	return reaped, errors.Join(errs...)
}

// orphaned says why an artefact with these annotations must be reverted, or
// "" when a live run still owns it (or it is not Faultline's).
//
// Everything it needs is on the artefact: the run annotation, the expiry,
// and (for ReapNode and ReapIstio) what to undo. The run is read only to
// learn whether it still owns the artefact, so no run, however it is
// stored, keeps a fault in place: an expired artefact is reverted before
// its run is read at all, and one whose run cannot be decoded (a status
// written through a loosened or older CRD, or by hand) is reverted at once,
// since the run controller does not drive such a run and cannot revert
// from a status it cannot read.
func (r *Reaper) orphaned(ctx context.Context, ann map[string]string, now time.Time) (string, error) {
	owner, ok := ann[chaosv1alpha1.RunAnnotation]
	if !ok {
		return "", nil
	}
	if exp, ok := ann[chaosv1alpha1.ExpiryAnnotation]; ok {
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil {
			return "its expiry annotation is unreadable (" + exp + ")", nil
		}
		if now.After(t) {
			return "it expired at " + t.UTC().Format(time.RFC3339), nil
		}
	}
	ns, name, ok := strings.Cut(owner, "/")
	if !ok {
		return "its run annotation " + owner + " names no run", nil
	}
	run, err := stored.GetRun(ctx, r.Client, client.ObjectKey{Namespace: ns, Name: name})
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		return "its run " + owner + " cannot be read, so nothing else reverts it (" + malformed.Err.Error() + ")", nil
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "its run " + owner + " no longer exists", nil
		}
		return "", fmt.Errorf("reading run %s: %w", owner, err)
	}
	if run.Status.Phase == chaosv1alpha1.PhaseCompleted && run.DeletionTimestamp.IsZero() {
		return "its run " + owner + " finished", nil
	}
	return "", nil
}

func (r *Reaper) event(obj runtime.Object, msg string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, ReasonReaped, "Reap", "%s", msg)
	}
	ctrl.Log.WithName("reaper").Info("reaped", "object", klog.KObj(obj.(client.Object)), "why", msg)
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
