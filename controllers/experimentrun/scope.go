package experimentrun

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/internal/statuspatch"
)

// errStale means the cached run is behind the API server; the reconcile is
// retried shortly with the fresh object.
var errStale = errors.New("cached run is stale")

// scope is what one reconcile works on: the run, and the writer of its
// status, which holds the run as last written and the Events waiting for
// that write.
type scope struct {
	// run is the object being reconciled; its status is advanced in place.
	run *chaosv1alpha1.ExperimentRun
	// patch writes run's status and then announces the transitions it
	// records; its Base is the run as last written.
	patch *statuspatch.Patcher[*chaosv1alpha1.ExperimentRun]
	// clock dates the readiness conditions set on each write.
	clock clock.PassiveClock
	// skipPatch is set when the run is gone or released and must not be written.
	skipPatch bool
}

// newScope is the scope of a reconcile of run, as read.
func newScope(r *Reconciler, run *chaosv1alpha1.ExperimentRun) *scope {
	return &scope{
		run:   run,
		patch: statuspatch.New(r.Client, r.Recorder, run, func(run *chaosv1alpha1.ExperimentRun) any { return &run.Status }),
		clock: r.Clock,
	}
}

// base is the run as last written.
func (s *scope) base() *chaosv1alpha1.ExperimentRun { return s.patch.Base() }

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

// emit queues engine events as Kubernetes Events on the run, sent once
// the status that records them is written.
func (s *scope) emit(events []engine.Event) {
	for _, e := range events {
		s.patch.Queue(statuspatch.Event{Type: eventType(e), Reason: e.Reason, Action: "Run", Note: e.Message})
	}
}

// patchStatus writes the run's status if it changed since the last write,
// pinned to that write's resourceVersion (a status written from a stale
// copy fails instead of overwriting what another reconcile recorded), and
// then sends the queued Events.
func (s *scope) patchStatus(ctx context.Context) error {
	if s.skipPatch {
		s.patch.Drop()
		return nil
	}
	// Reconciling, Ready and Stalled follow from the phase and verdict: set
	// here, on the one way status is written, they can never disagree with them.
	engine.SetReadiness(&s.run.Status, s.run.Generation, s.clock.Now())
	if s.patch.Changed(s.run) {
		s.run.Status.ObservedGeneration = s.run.Generation
	}
	if err := s.patch.Patch(ctx, s.run); err != nil {
		return fmt.Errorf("patching run status: %w", err)
	}
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
