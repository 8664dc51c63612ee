package faults

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// PodKill kills pods, once each, by deletion or eviction. It is a one-shot
// fault: the pod's controller replaces the pod, and the experiment measures
// how long that takes, so there is nothing for Faultline to undo.
//
// Give it a client that reads from the API server rather than a cache: a
// stale cache could show a pod that was already killed as alive, and though
// the UID precondition keeps a replacement safe, Inject would report a
// second kill.
type PodKill struct {
	client client.Client
	spec   chaosv1alpha1.PodKillFault
}

var _ Fault = (*PodKill)(nil)

// NewPodKill returns a PodKill that acts through c as spec says.
func NewPodKill(c client.Client, spec chaosv1alpha1.PodKillFault) *PodKill {
	return &PodKill{client: c, spec: spec}
}

// Prepare checks that t can be killed safely and returns empty restore data:
// a killed pod is restored by its controller. It reads nothing: the pod was
// listed from the API server when it was selected, and Inject's
// preconditions refuse any pod but that one, so a second read here would
// only cost a request per target.
func (p *PodKill) Prepare(_ context.Context, t Target) (Restore, error) {
	if err := checkPodTarget(t); err != nil {
		return nil, err
	}
	return &chaosv1alpha1.RestoreData{}, nil
}

// Inject kills the pod by the configured method. Every request carries the
// selected UID as a precondition, so a replacement that took the pod's name
// (a StatefulSet's, say) is never killed in its place.
//
// When the target carries the resourceVersion it was selected at, the first
// request is conditioned on it too: a pod unchanged since selection (the
// usual case) costs one request. A pod that changed since is read again and
// judged as below.
//
// A pod that is gone, replaced, or already terminating counts as killed and
// Inject returns nil: it cannot tell its own earlier kill from another's, and
// either way the fault holds. In particular a graceful deletion in progress is
// left alone rather than cut short by a second request. A PodDisruptionBudget
// that refuses an eviction yields an error wrapping ErrBlocked; Inject never
// falls back to deleting.
func (p *PodKill) Inject(ctx context.Context, t Target, r Restore) (Restore, error) {
	if err := checkPodTarget(t); err != nil {
		return r, err
	}
	if r == nil {
		r = &chaosv1alpha1.RestoreData{}
	}
	if t.ResourceVersion != "" {
		// The selected version: unchanged means alive and not terminating,
		// since selection never picks a terminating pod.
		err := p.kill(ctx, t, t.ResourceVersion)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return r, nil
		case !apierrors.IsConflict(err):
			return r, err
		}
		// Changed since selection: read it and judge afresh.
	}
	pod := &corev1.Pod{}
	err := p.client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, pod)
	if apierrors.IsNotFound(err) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading pod %s/%s: %w", t.Namespace, t.Name, err)
	}
	if pod.UID != t.UID || pod.DeletionTimestamp != nil {
		return r, nil
	}
	err = p.kill(ctx, t, "")
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone between the read and the kill, or replaced: the UID precondition
		// failed. Either way the selected pod is no longer running.
		return r, nil
	}
	return r, err
}

// kill deletes or evicts the pod t names, on condition that it still has t's
// UID and, when resourceVersion is set, that version. Errors from the API
// server are returned as they are (wrapped), so callers can tell a failed
// precondition (Conflict) and a missing pod (NotFound) from the rest.
func (p *PodKill) kill(ctx context.Context, t Target, resourceVersion string) error {
	uid := t.UID
	pre := &metav1.Preconditions{UID: &uid}
	if resourceVersion != "" {
		pre.ResourceVersion = &resourceVersion
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}}
	var err error
	switch p.spec.Method {
	case chaosv1alpha1.PodKillEvict:
		eviction := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name},
			DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: p.spec.GracePeriodSeconds, Preconditions: pre},
		}
		err = p.client.SubResource("eviction").Create(ctx, pod, eviction)
		if apierrors.IsTooManyRequests(err) {
			// The eviction API answers 429 when a PodDisruptionBudget allows no
			// disruption now. Forcing it would break the promise the budget makes.
			return fmt.Errorf("evicting pod %s/%s: %w: %w", t.Namespace, t.Name, ErrBlocked, err)
		}
	case chaosv1alpha1.PodKillDelete, "":
		opts := []client.DeleteOption{client.Preconditions(*pre)}
		if p.spec.GracePeriodSeconds != nil {
			opts = append(opts, client.GracePeriodSeconds(*p.spec.GracePeriodSeconds))
		}
		err = p.client.Delete(ctx, pod, opts...)
	default:
		return fmt.Errorf("pod kill: unknown method %q", p.spec.Method)
	}
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("killing pod %s/%s: %w", t.Namespace, t.Name, err)
	}
	return err
}

// Revert does nothing and returns nil: the pod's controller replaces a killed
// pod, and Faultline leaves nothing behind on it. It is idempotent and safe
// without Inject.
func (p *PodKill) Revert(context.Context, Target, Restore) error { return nil }

// checkPodTarget refuses targets PodKill cannot act on safely. A target
// without a UID cannot be told apart from a same-named replacement, so it is
// refused rather than risking killing the wrong pod.
func checkPodTarget(t Target) error {
	if t.Kind != chaosv1alpha1.TargetPod {
		return fmt.Errorf("pod kill cannot act on a %s", t.Kind)
	}
	if t.UID == "" {
		return errors.New("pod kill target " + t.Namespace + "/" + t.Name + " has no UID; refusing to kill a pod that may not be the one selected")
	}
	return nil
}
