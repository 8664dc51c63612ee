package experimentrun

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/schedule"
)

// policyRecheck is how often a run held in Pending looks again at the policy
// and its approval. Changes to either also wake it through watches.
const policyRecheck = 10 * time.Second

// reconcilePolicy applies the ChaosPolicy and approval. The kill switch aborts
// a run in any phase; the other rules only hold a run before it starts.
func (r *Reconciler) reconcilePolicy(ctx context.Context, s *scope, now time.Time) (wait time.Duration, err error) {
	run := s.run
	policy := &chaosv1alpha1.ChaosPolicy{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, policy); err != nil {
		if client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("reading ChaosPolicy: %w", err)
		}
		policy = nil
	}
	er := s.engineRun()
	if policy != nil && policy.Spec.Paused {
		msg := "the ChaosPolicy kill switch is on (spec.paused: true)"
		if run.Status.Phase == chaosv1alpha1.PhasePending {
			s.emit(er.Fail(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonKillSwitch, msg+"; the run did not start"))
			return 0, nil
		}
		s.emit(er.Abort(now, chaosv1alpha1.AbortKillSwitch, msg+"; reverting"))
		return 0, nil
	}
	if reason, ok := run.Annotations[chaosv1alpha1.AbortAnnotation]; ok {
		r := chaosv1alpha1.AbortManual
		msg := "aborted on request (annotation " + chaosv1alpha1.AbortAnnotation + ")"
		if reason == string(chaosv1alpha1.AbortReplaced) {
			r, msg = chaosv1alpha1.AbortReplaced, "replaced by a newer run of the experiment (concurrencyPolicy Replace)"
		} else if reason != "" {
			msg += ": " + reason
		}
		if run.Status.Phase == chaosv1alpha1.PhasePending {
			s.emit(er.Fail(now, chaosv1alpha1.VerdictAborted, string(r), msg+"; the run did not start"))
			return 0, nil
		}
		s.emit(er.Abort(now, r, msg))
		return 0, nil
	}
	if run.Status.Phase != chaosv1alpha1.PhasePending {
		return 0, nil
	}
	if refused := windowRefusal(s.spec(), policy, now); refused != "" {
		s.emit(er.Fail(now, chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonPolicyRefused, refused))
		return 0, nil
	}
	if policy != nil && policy.Spec.MaxConcurrentRuns != nil {
		active, err := r.activeRuns(ctx, run)
		if err != nil {
			return 0, err
		}
		if active >= int(*policy.Spec.MaxConcurrentRuns) {
			run.Status.Message = fmt.Sprintf("waiting: %d runs are active and the ChaosPolicy allows %d at once", active, *policy.Spec.MaxConcurrentRuns)
			return policyRecheck, nil
		}
	}
	if a := s.spec().Approval; a != nil && a.Required && run.Annotations[chaosv1alpha1.ApprovedAnnotation] != "true" {
		run.Status.Message = fmt.Sprintf("waiting for approval: annotate the run with %s=true to start it", chaosv1alpha1.ApprovedAnnotation)
		return policyRecheck, nil
	}
	return 0, nil
}

// activeRuns counts the runs, other than run, that have started and not finished.
func (r *Reconciler) activeRuns(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (int, error) {
	runs := &chaosv1alpha1.ExperimentRunList{}
	if err := r.Client.List(ctx, runs); err != nil {
		return 0, fmt.Errorf("listing runs: %w", err)
	}
	n := 0
	for _, o := range runs.Items {
		if o.UID == run.UID {
			continue
		}
		if isActive(o.Status.Phase) {
			n++
		}
	}
	return n, nil
}

// isActive reports whether a run in phase counts against the concurrency limit.
func isActive(p chaosv1alpha1.RunPhase) bool {
	switch p {
	case chaosv1alpha1.PhaseBaseline, chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving,
		chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseRecovering:
		return true
	}
	return false
}

// runsForPolicy wakes every unfinished run when the ChaosPolicy changes, so the
// kill switch takes effect at once rather than at each run's next sample.
func (r *Reconciler) runsForPolicy(ctx context.Context, _ client.Object) []reconcile.Request {
	runs := &chaosv1alpha1.ExperimentRunList{}
	if err := r.Client.List(ctx, runs); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, o := range runs.Items {
		if o.Status.Phase != chaosv1alpha1.PhaseCompleted {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&o)})
		}
	}
	return reqs
}

// windowRefusal says why a run may not start now, or "" when it may: outside
// every window of its Experiment, or inside a blackout of the ChaosPolicy.
// Windows gate when a run starts; a run that started in a window finishes.
func windowRefusal(spec *chaosv1alpha1.ExperimentSpec, policy *chaosv1alpha1.ChaosPolicy, now time.Time) string {
	if policy != nil {
		if in, i := schedule.InBlackout(policy.Spec.BlackoutWindows, now); in {
			w := policy.Spec.BlackoutWindows[i]
			return fmt.Sprintf("refused: inside the ChaosPolicy blackout window %s–%s (%s); nothing was injected", w.Start, w.End, days(w.Days))
		}
	}
	if len(spec.Windows) == 0 {
		return ""
	}
	loc, err := schedule.LoadLocation(spec.TimeZone)
	if err != nil {
		return "refused: " + err.Error()
	}
	if schedule.InWindows(spec.Windows, loc, now) {
		return ""
	}
	msg := fmt.Sprintf("refused: %s is outside the experiment's windows", now.In(loc).Format("Mon 15:04 MST"))
	if next, ok := schedule.NextWindowOpen(spec.Windows, loc, now); ok {
		msg += fmt.Sprintf("; the next window opens %s", next.In(loc).Format("Mon 2006-01-02 15:04 MST"))
	}
	return msg + "; nothing was injected"
}

func days(ds []chaosv1alpha1.Weekday) string {
	if len(ds) == 0 {
		return "every day"
	}
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += ","
		}
		out += string(d)
	}
	return out
}
