// Package faults holds the failures Faultline injects. Each Fault acts on one
// target at a time; selecting targets, retrying and recording what was done
// belong to the caller, which writes every target and its restore data to the
// run's status before calling Inject.
package faults

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Target is one object a fault acts on.
type Target struct {
	// Kind of the object.
	Kind chaosv1alpha1.TargetKind
	// Namespace of the object; empty for cluster-scoped kinds.
	Namespace string
	// Name of the object.
	Name string
	// UID of the object when it was selected. A fault refuses to act on an
	// object with the same name but another UID: it is not the one selected.
	UID types.UID
	// ResourceVersion of the object when it was selected, if known. A fault
	// may act on exactly that version in one request and read the object
	// again only when it changed since.
	ResourceVersion string
	// Run identifies the run, as namespace/name, for the artefacts it marks.
	Run string
	// Expires is when any artefact the fault leaves must be reverted by the
	// reaper even if the run still exists.
	Expires time.Time
}

// Restore is what a fault needs to revert itself; the caller stores it in the
// run's status, so a restarted operator can revert from status alone.
type Restore = *chaosv1alpha1.RestoreData

// Fault injects and reverts one kind of failure on one target.
//
// The run writes what Prepare returns to status before it calls Inject, so a
// crash between the two, or in the middle of Inject, still leaves what revert
// needs. That is why recording the undo data is a step of its own: a fault
// that learned it only from Inject's result would lose it in such a crash.
type Fault interface {
	// Prepare reads t and returns what Revert will need (for example a route's
	// original fault, or whether a node was already cordoned). It changes nothing.
	Prepare(ctx context.Context, t Target) (Restore, error)
	// Inject applies the fault to t. It is a no-op when the fault is already
	// applied. It returns r, completed with what it learned (such as the pods a
	// drain evicted).
	Inject(ctx context.Context, t Target, r Restore) (Restore, error)
	// Revert undoes the fault on t from r alone. It is idempotent, and safe
	// when Inject never ran or failed half-way.
	Revert(ctx context.Context, t Target, r Restore) error
}

// ErrTargetGone means the target no longer exists (or is another object with
// the same name): there is nothing to inject into.
var ErrTargetGone = errors.New("target no longer exists")

// ErrBlocked means the fault was refused by a guard of the cluster itself, such
// as a PodDisruptionBudget; it is reported, never forced.
var ErrBlocked = errors.New("blocked by the cluster")

// ConflictError means another writer changed what Faultline set; revert left
// their change in place.
type ConflictError struct {
	// Message says what was changed, by whom if known.
	Message string
}

func (e *ConflictError) Error() string { return "conflict: " + e.Message }
