package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/faults"
)

// FaultFactory builds the Fault a spec declares.
type FaultFactory interface {
	For(spec *chaosv1alpha1.ExperimentSpec) (faults.Fault, error)
}

// expiryGrace is added to a run's longest possible life for the expiry
// stamped on its artefacts: the reaper must never race a healthy run.
const expiryGrace = 5 * time.Minute

// faultTarget is the fault's view of a recorded target.
func faultTarget(run *chaosv1alpha1.ExperimentRun, t chaosv1alpha1.TargetStatus) faults.Target {
	return faults.Target{
		Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, UID: t.UID,
		Run:     run.Namespace + "/" + run.Name,
		Expires: expiry(run),
	}
}

// expiry is when artefacts of run are overdue: injection plus the longest the
// run may hold and recover, plus grace.
func expiry(run *chaosv1alpha1.ExperimentRun) time.Time {
	spec := run.Status.Experiment
	start := time.Time{}
	if run.Status.Timeline.BaselineVerifiedAt != nil {
		start = run.Status.Timeline.BaselineVerifiedAt.Time
	} else if run.Status.Timeline.StartedAt != nil {
		start = run.Status.Timeline.StartedAt.Time
	}
	life := engine.Run{Spec: spec, Status: &run.Status}.RecoveryTimeout() + expiryGrace
	if spec.Duration != nil {
		life += spec.Duration.Duration
	}
	return start.Add(life)
}

// injectAll injects every target still Selected, recording each outcome on the target.
func (r *Reconciler) injectAll(ctx context.Context, s *scope) error {
	fault, err := r.Faults.For(s.spec())
	if err != nil {
		return fmt.Errorf("building fault: %w", err)
	}
	for i := range s.run.Status.Targets {
		t := &s.run.Status.Targets[i]
		if t.Phase != chaosv1alpha1.TargetSelected {
			continue
		}
		restore, err := fault.Inject(ctx, faultTarget(s.run, *t), t.Restore)
		now := metav1.NewMicroTime(r.Clock.Now())
		switch {
		case err == nil:
			t.Phase, t.InjectedAt = chaosv1alpha1.TargetInjected, &now
			if restore != nil {
				t.Restore = restore
			}
		case errors.Is(err, faults.ErrTargetGone), errors.Is(err, faults.ErrBlocked):
			// Refused by the cluster or gone: reported, never forced.
			t.Phase, t.Message = chaosv1alpha1.TargetFailed, err.Error()
		default:
			// Anything else may be transient; record it and let the next
			// reconcile retry the still-Selected target... unless the API
			// keeps failing, the run's guards and deadlines still apply.
			return fmt.Errorf("injecting %s/%s: %w", t.Namespace, t.Name, err)
		}
	}
	return nil
}

// revertAll reverts every target that may carry the fault. Revert works from
// status alone and is idempotent, so it runs on Selected and Failed targets
// too: a fault that failed half-way may have left something.
func (r *Reconciler) revertAll(ctx context.Context, s *scope) error {
	if len(s.run.Status.Targets) == 0 {
		return nil
	}
	fault, err := r.Faults.For(s.spec())
	if err != nil {
		return fmt.Errorf("building fault: %w", err)
	}
	var errs []error
	for i := range s.run.Status.Targets {
		t := &s.run.Status.Targets[i]
		if t.Phase == chaosv1alpha1.TargetReverted || t.Phase == chaosv1alpha1.TargetConflict {
			continue
		}
		err := fault.Revert(ctx, faultTarget(s.run, *t), t.Restore)
		now := metav1.NewMicroTime(r.Clock.Now())
		var conflict *faults.ConflictError
		switch {
		case err == nil:
			if t.Phase == chaosv1alpha1.TargetInjected || t.Phase == chaosv1alpha1.TargetSelected {
				t.Phase, t.RevertedAt = chaosv1alpha1.TargetReverted, &now
			} else {
				t.RevertedAt = &now
			}
		case errors.As(err, &conflict):
			t.Phase, t.RevertedAt, t.Message = chaosv1alpha1.TargetConflict, &now, conflict.Message
		default:
			errs = append(errs, fmt.Errorf("reverting %s/%s: %w", t.Namespace, t.Name, err))
		}
	}
	// Every target is attempted before giving up, so one stubborn target
	// never keeps the fault on the others.
	return errors.Join(errs...)
}
