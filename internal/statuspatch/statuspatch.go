// Package statuspatch writes a reconciled object's status from one place,
// and announces what the write records only once it is written.
//
// Both of Faultline's status-writing controllers (Experiments and runs)
// follow the same pattern: the reconcile works on a copy of the object,
// queues an Event for every transition it records, and at the end writes
// the status with a merge patch pinned to the resourceVersion it read. A
// status computed from a cache that lags the API server fails with a
// conflict instead of overwriting newer facts, and its Events are dropped
// with it: the next reconcile computes the transition again and announces
// it then, so a transition is announced once, not once per attempt.
package statuspatch

import (
	"context"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Event is a Kubernetes Event waiting for the status write that records it.
type Event struct {
	// Type is Normal or Warning.
	Type string
	// Reason is the CamelCase reason.
	Reason string
	// Action is what the controller did, such as Run or CreateRun.
	Action string
	// Note says it in words.
	Note string
}

// Patcher writes the status of one object of one reconcile.
type Patcher[T client.Object] struct {
	client   client.Client
	recorder events.EventRecorder
	status   func(T) any
	// base is the object as last written, the origin of the next patch.
	base   T
	queued []Event
}

// New returns the patcher of obj as it was read. status returns the status
// field of an object of the kind, the part compared and written; recorder
// may be nil (no Events).
func New[T client.Object](c client.Client, recorder events.EventRecorder, obj T, status func(T) any) *Patcher[T] {
	return &Patcher[T]{client: c, recorder: recorder, status: status, base: obj.DeepCopyObject().(T)}
}

// Base is the object as last written. Its metadata follows the writes the
// reconcile made to metadata (SyncMeta).
func (p *Patcher[T]) Base() T { return p.base }

// Queue adds an Event to announce once the status is written.
func (p *Patcher[T]) Queue(e ...Event) { p.queued = append(p.queued, e...) }

// Changed reports whether obj's status differs from what was last written.
func (p *Patcher[T]) Changed(obj T) bool {
	return !equality.Semantic.DeepEqual(p.status(p.base), p.status(obj))
}

// SyncMeta records that obj's metadata was written (a finalizer or an
// annotation patched by the reconcile): the next status patch is pinned to
// that write's resourceVersion, not the one first read.
func (p *Patcher[T]) SyncMeta(obj T) {
	p.base.SetResourceVersion(obj.GetResourceVersion())
	p.base.SetFinalizers(slices.Clone(obj.GetFinalizers()))
	p.base.SetAnnotations(maps.Clone(obj.GetAnnotations()))
	p.base.SetLabels(maps.Clone(obj.GetLabels()))
}

// Patch writes obj's status if it changed since the last write, pinned to
// the resourceVersion of that write, then sends the queued Events. When
// nothing changed the Events are sent all the same: they announce what the
// reconcile did elsewhere (a run created, an annotation removed). On an
// error the Events are dropped with the write, and err is the API server's
// (a conflict is apierrors.IsConflict).
func (p *Patcher[T]) Patch(ctx context.Context, obj T) error {
	if p.Changed(obj) {
		patch := client.MergeFromWithOptions(p.base, client.MergeFromWithOptimisticLock{})
		if err := p.client.Status().Patch(ctx, obj, patch); err != nil {
			p.queued = nil
			return err
		}
		p.base = obj.DeepCopyObject().(T)
	}
	p.flush(obj)
	return nil
}

// Drop forgets the queued Events: the object is gone or was not written.
func (p *Patcher[T]) Drop() { p.queued = nil }

func (p *Patcher[T]) flush(obj T) {
	events := p.queued
	p.queued = nil
	if p.recorder == nil {
		return
	}
	for _, e := range events {
		p.recorder.Eventf(obj, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}
