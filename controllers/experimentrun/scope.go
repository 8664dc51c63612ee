package experimentrun

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// errStale means the cached run is behind the API server; the reconcile is
// retried shortly with the fresh object.
var errStale = errors.New("cached run is stale")

// scope is what one reconcile works on.
type scope struct {
	// run is the object being reconciled; its status is advanced in place.
	run *chaosv1alpha1.ExperimentRun
	// base is the run as last written, the origin of the next status patch.
	base *chaosv1alpha1.ExperimentRun
	// reconciler gives access to the client and recorder.
	reconciler *Reconciler
	// skipPatch is set when the run is gone or released and must not be written.
	skipPatch bool
}

// spec is the spec the run samples and judges by: the Experiment snapshot
// with the SLOs and baseline-relative thresholds it has fixed put in place
// (engine.Effective).
func (s *scope) spec() *chaosv1alpha1.ExperimentSpec {
	return engine.Effective(s.run.Status.Experiment, &s.run.Status)
}

// engineRun is the engine's view of the run.
func (s *scope) engineRun() engine.Run {
	written := s.run.Status.Experiment
	if written == nil {
		// A run that never snapshotted its Experiment can only be failed.
		written = &chaosv1alpha1.ExperimentSpec{}
	}
	return engine.Run{Spec: engine.Effective(written, &s.run.Status), Written: written, Status: &s.run.Status, DryRun: s.run.Spec.DryRun}
}

// emit records engine events as Kubernetes Events on the run.
func (s *scope) emit(events []engine.Event) {
	rec := s.reconciler.Recorder
	if rec == nil {
		return
	}
	for _, e := range events {
		rec.Eventf(s.run, nil, eventType(e), e.Reason, "Run", "%s", e.Message)
	}
}

// patchStatus writes the run's status if it changed since base. It uses an
// optimistic lock: a status written from a stale copy fails instead of
// overwriting what another reconcile recorded.
func (s *scope) patchStatus(ctx context.Context) error {
	if s.skipPatch {
		return nil
	}
	// Reconciling, Ready and Stalled follow from the phase and verdict: set
	// here, on the one way status is written, they can never disagree with them.
	engine.SetReadiness(&s.run.Status, s.run.Generation, s.reconciler.Clock.Now())
	if equality.Semantic.DeepEqual(s.base.Status, s.run.Status) {
		return nil
	}
	s.run.Status.ObservedGeneration = s.run.Generation
	patch := client.MergeFromWithOptions(s.base, client.MergeFromWithOptimisticLock{})
	if err := s.reconciler.Client.Status().Patch(ctx, s.run, patch); err != nil {
		return fmt.Errorf("patching run status: %w", err)
	}
	s.base = s.run.DeepCopy()
	return nil
}

// ConfigError is a configuration error found at run time: a missing or
// unreadable Secret, malformed credentials, a provider or fault that cannot
// be built. Retrying does not fix it; a change by the user does. Err says
// what to fix. The run retries a few times, then ends with verdict Error.
type ConfigError struct {
	// Err says what is wrong and what to fix.
	Err error
}

// Error is Err's message.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ConfigError) Unwrap() error { return e.Err }

// configErrorMessage says whether err is a configuration error, and its
// message if so. Besides ConfigError, the API server refusing the operator
// (RBAC forbids a listing) counts: only a change of its rights fixes that.
func configErrorMessage(err error) (string, bool) {
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		return ce.Error(), true
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return err.Error() + "; grant the operator's service account the right, or change the Experiment", true
	}
	return "", false
}
