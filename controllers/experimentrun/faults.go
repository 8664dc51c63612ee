package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
		Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, UID: t.UID, ResourceVersion: t.ResourceVersion,
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

// injectAll injects every target still Selected, recording each outcome on
// the target. pending is true while a target's injection is still under way
// (a drain waiting on PodDisruptionBudgets); the caller comes back for it.
//
// Targets are injected in parallel, at most TargetWorkers at a time: their
// restore data is already in the API server (written ahead), and each
// outcome is recorded on its own target. A transient error on one target
// leaves it Selected for the next reconcile and does not stop the others.
func (r *Reconciler) injectAll(ctx context.Context, s *scope) (pending bool, err error) {
	fault, err := r.Faults.For(s.spec())
	if err != nil {
		return false, fmt.Errorf("building fault: %w", err)
	}
	todo := selectedTargets(s.run.Status.Targets, chaosv1alpha1.TargetSelected)
	outcomes := make([]injectOutcome, len(todo))
	fanOut(ctx, len(todo), r.TargetWorkers, func(ctx context.Context, k int) {
		t := &s.run.Status.Targets[todo[k]]
		restore, err := fault.Inject(ctx, faultTarget(s.run, *t), t.Restore)
		outcomes[k] = injectOutcome{restore: restore, err: err, at: metav1.NewMicroTime(r.Clock.Now())}
	})
	var errs []error
	for k, i := range todo {
		t, o := &s.run.Status.Targets[i], outcomes[k]
		if o.at.IsZero() {
			// Never started: the context ended first.
			errs = append(errs, fmt.Errorf("injecting %s: %w", describeTarget(*t), context.Cause(ctx)))
			continue
		}
		if o.restore != nil {
			// Inject reports progress even when it fails (a drain's evicted
			// pods): keep it, or the next pass could not know them.
			t.Restore = o.restore
		}
		switch {
		case o.err == nil:
			t.Phase = chaosv1alpha1.TargetInjected
			if t.InjectedAt == nil {
				t.InjectedAt = &o.at
			}
			t.Message = injectedMessage(t)
		case errors.Is(o.err, faults.ErrInProgress):
			// The failure began with the first pass (the cordon and the
			// first evictions): that is the onset the figures count from.
			if t.InjectedAt == nil {
				t.InjectedAt = &o.at
			}
			t.Message = o.err.Error()
			pending = true
		case errors.Is(o.err, faults.ErrTargetGone), errors.Is(o.err, faults.ErrBlocked):
			// Refused by the cluster or gone: reported, never forced.
			t.Phase, t.Message = chaosv1alpha1.TargetFailed, o.err.Error()
		default:
			// Possibly transient: the target stays Selected and the next
			// reconcile retries it, after the status (with any progress)
			// is written.
			errs = append(errs, fmt.Errorf("injecting %s: %w", describeTarget(*t), o.err))
		}
	}
	if len(errs) > 0 {
		return false, errors.Join(errs...)
	}
	return pending, nil
}

// injectOutcome is what one target's Inject returned, and when.
type injectOutcome struct {
	restore faults.Restore
	err     error
	at      metav1.MicroTime
}

// selectedTargets returns the indexes of targets in one of phases.
func selectedTargets(targets []chaosv1alpha1.TargetStatus, phases ...chaosv1alpha1.TargetPhase) []int {
	var out []int
	for i := range targets {
		if slices.Contains(phases, targets[i].Phase) {
			out = append(out, i)
		}
	}
	return out
}

// injectedMessage says what is left of an injection worth reading, such as
// pods a drain could not evict before its timeout.
func injectedMessage(t *chaosv1alpha1.TargetStatus) string {
	if t.Restore == nil || t.Restore.Node == nil {
		return ""
	}
	n := t.Restore.Node
	var parts []string
	if len(n.BlockedPods) > 0 {
		parts = append(parts, fmt.Sprintf("drained except %d pod(s) a PodDisruptionBudget kept refusing until the timeout: %s",
			len(n.BlockedPods)+int(n.BlockedPodsOmitted), strings.Join(n.BlockedPods, ", ")+andMore(n.BlockedPodsOmitted)))
	}
	if len(n.SparedPods) > 0 {
		parts = append(parts, fmt.Sprintf("%d pod(s) of namespaces that may not be targeted were left on the cordoned node (ChaosPolicy spec.drainScope): %s",
			len(n.SparedPods)+int(n.SparedPodsOmitted), strings.Join(n.SparedPods, ", ")+andMore(n.SparedPodsOmitted)))
	}
	return strings.Join(parts, "; ")
}

// andMore says how many names a capped list left out, or "".
func andMore(omitted int32) string {
	if omitted == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", omitted)
}

// describeTarget names a target for messages.
func describeTarget(t chaosv1alpha1.TargetStatus) string {
	if t.Namespace == "" {
		return fmt.Sprintf("%s %s", t.Kind, t.Name)
	}
	return fmt.Sprintf("%s %s/%s", t.Kind, t.Namespace, t.Name)
}

// revertAll reverts every target that may carry the fault. Revert works from
// status alone and is idempotent, so it runs on Selected and Failed targets
// too: a fault that failed half-way may have left something. Targets are
// reverted in parallel, at most TargetWorkers at a time.
func (r *Reconciler) revertAll(ctx context.Context, s *scope) error {
	if len(s.run.Status.Targets) == 0 {
		return nil
	}
	fault, err := r.Faults.For(s.spec())
	if err != nil {
		return fmt.Errorf("building fault: %w", err)
	}
	todo := selectedTargets(s.run.Status.Targets, chaosv1alpha1.TargetSelected, chaosv1alpha1.TargetInjected, chaosv1alpha1.TargetFailed)
	errs := make([]error, len(todo))
	fanOut(ctx, len(todo), r.TargetWorkers, func(ctx context.Context, k int) {
		t := &s.run.Status.Targets[todo[k]]
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
			errs[k] = fmt.Errorf("reverting %s: %w", describeTarget(*t), err)
		}
	})
	if len(todo) > 0 && ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("reverting: %w", context.Cause(ctx)))
	}
	// Every target is attempted before giving up, so one stubborn target
	// never keeps the fault on the others.
	return errors.Join(errs...)
}
