package experimentrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/stored"
)

// policyRecheck is how often a run held in Pending looks again at the policy
// and its approval. Changes to either also wake it through watches.
const policyRecheck = 10 * time.Second

// RightsChecker says whether a requester may still do by hand everything a
// run of spec in namespace ns would make Faultline do. *access.Checker is
// the operator's; rights can be revoked between a run's creation (or its
// Experiment's) and its start, so they are asked again when it starts.
type RightsChecker interface {
	CheckExperiment(ctx context.Context, req rights.Requester, ns string, spec *chaosv1alpha1.ExperimentSpec) error
	// CheckStartRun is the right to start a run at all: create on
	// experimentruns in ns, whatever path (a schedule, run-now) asked.
	CheckStartRun(ctx context.Context, req rights.Requester, ns string) error
}

// reconcilePolicy applies the ChaosPolicy and approval. The kill switch and
// the abort annotation stop a run in any phase; the rest of the policy
// (policy.Decide) and the requester's rights only decide whether a Pending
// run starts.
func (r *Reconciler) reconcilePolicy(ctx context.Context, s *scope, now time.Time) (wait time.Duration, err error) {
	run := s.run
	p, err := chaospolicy.Get(ctx, r.experiments())
	if err != nil {
		return 0, err
	}
	er := s.engineRun()
	if p != nil && p.Spec.Paused && run.Status.Phase != chaosv1alpha1.PhasePending {
		s.emit(er.Abort(now, chaosv1alpha1.AbortKillSwitch, "the ChaosPolicy kill switch is on (spec.paused: true); reverting"))
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

	in := policy.Input{Spec: s.spec(), Policy: p, Now: now, Approval: approvalOf(run, r.checksEnabled())}
	if p != nil && p.Spec.MaxConcurrentRuns != nil {
		if in.OtherActiveRuns, err = r.activeRuns(ctx, run); err != nil {
			return 0, err
		}
	}
	d := policy.Decide(in)
	if d.Reason == chaosv1alpha1.ReasonApprovalVoided && run.Annotations[chaosv1alpha1.ApprovedAnnotation] == "true" {
		// Announced once: the removal makes the next decision plain
		// WaitingForApproval.
		if err := r.voidApproval(ctx, run); err != nil {
			return 0, err
		}
		s.patch.SyncMeta(run)
		r.Metrics.observeApproval(approvalVoided)
		s.emit([]engine.Event{{Warning: true, Reason: chaosv1alpha1.ReasonApprovalVoided, Message: d.Message}})
	}
	switch d.Outcome {
	case policy.Refuse:
		s.emit(er.Fail(now, d.Verdict, d.Reason, d.Message))
		if d.Verdict == chaosv1alpha1.VerdictError {
			setStalled(run, d.Reason, d.Message, now)
		}
		return 0, nil
	case policy.Wait:
		run.Status.Message = d.Message
		if d.RetryAt.IsZero() || d.RetryAt.Sub(now) > policyRecheck {
			return policyRecheck, nil
		}
		return max(d.RetryAt.Sub(now), time.Millisecond), nil
	}

	if ok, err := r.checkRequester(ctx, s, p, now); !ok || err != nil {
		return 0, err
	}
	if a := s.spec().Approval; a != nil && a.Required && run.Status.Approval == nil {
		by := in.Approval.ApprovedBy
		if by == "" {
			// Only without the admission webhook (checks disabled), where
			// nothing records who set the annotation.
			by = "unknown (no admission webhook recorded the approver)"
		}
		run.Status.Approval = &chaosv1alpha1.ApprovalStatus{ApprovedBy: by, ApprovedAt: micro(now)}
		s.emit([]engine.Event{{Reason: chaosv1alpha1.ReasonApproved, Message: "approved by " + by}})
	}
	if len(d.Notes) > 0 {
		// Said before the engine's start message replaces it, and kept in
		// an event: the run went ahead under a partly unreadable policy.
		s.emit([]engine.Event{{Warning: true, Reason: chaosv1alpha1.ReasonConfigError, Message: d.Message}})
	}
	return 0, nil
}

// checksEnabled reports whether runs are checked against their requester's
// rights and the ChaosPolicy's provider allow-list when they start. The
// operator always configures a checker; tests without the admission
// webhook leave it nil, and then no run carries a recorded requester.
func (r *Reconciler) checksEnabled() bool { return r.Access != nil }

// checkRequester re-checks, as the run starts, that its recorded requester
// may still do what the run would do, and that its metrics provider is on
// the ChaosPolicy's allow-list; it records the requester in status. A
// refusal ends the run with verdict Error and a Stalled condition: only a
// change by a person (rights granted, the policy or Experiment edited, a
// new run) can fix it. ok is false when the run was ended.
func (r *Reconciler) checkRequester(ctx context.Context, s *scope, p *chaosv1alpha1.ChaosPolicy, now time.Time) (ok bool, err error) {
	if !r.checksEnabled() {
		return true, nil
	}
	run := s.run
	req, err := rights.RequesterOf(run)
	if err != nil {
		r.refuse(s, chaosv1alpha1.ReasonForbidden, err.Error(), now)
		return false, nil
	}
	run.Status.RequestedBy = req.Username
	err = r.Access.CheckStartRun(ctx, req, run.Namespace)
	if err == nil {
		err = r.Access.CheckExperiment(ctx, req, run.Namespace, run.Status.Experiment)
	}
	if err != nil {
		var denied *rights.Denied
		if !errors.As(err, &denied) {
			return false, fmt.Errorf("checking the rights of %q: %w", req.Username, err)
		}
		r.refuse(s, chaosv1alpha1.ReasonForbidden, "refused at start: "+err.Error(), now)
		return false, nil
	}
	if prov := s.spec().Provider; prov != nil && prov.Prometheus != nil {
		if err := policy.ProviderAllowed(p, prov.Prometheus.Address); err != nil {
			r.refuse(s, chaosv1alpha1.ReasonProviderNotAllowed, "refused at start: "+err.Error(), now)
			return false, nil
		}
	}
	return true, nil
}

// refuse ends a run that has not started with verdict Error, Stalled.
func (r *Reconciler) refuse(s *scope, reason, message string, now time.Time) {
	s.emit(s.engineRun().Fail(now, chaosv1alpha1.VerdictError, reason, message))
	setStalled(s.run, reason, message, now)
}

// setStalled marks a run that cannot progress without a person's change.
func setStalled(run *chaosv1alpha1.ExperimentRun, reason, message string, now time.Time) {
	meta.SetStatusCondition(&run.Status.Conditions, metav1.Condition{
		Type: chaosv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
		ObservedGeneration: run.Generation, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	})
}

// activeRuns counts the runs, other than run, that have started and not finished.
func (r *Reconciler) activeRuns(ctx context.Context, run *chaosv1alpha1.ExperimentRun) (int, error) {
	runs, err := r.listStoredRuns(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range runs {
		if runs[i].GetUID() != run.UID && isActive(stored.RunPhase(&runs[i])) {
			n++
		}
	}
	return n, nil
}

// isActive reports whether a run in phase counts against the concurrency limit.
func isActive(p chaosv1alpha1.RunPhase) bool { return policy.IsActive(p) }

// runsForPolicy wakes every unfinished run when the ChaosPolicy changes, so the
// kill switch takes effect at once rather than at each run's next sample.
func (r *Reconciler) runsForPolicy(ctx context.Context, _ client.Object) []reconcile.Request {
	runs, err := r.listStoredRuns(ctx)
	if err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range runs {
		if stored.RunPhase(&runs[i]) != chaosv1alpha1.PhaseCompleted {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&runs[i])})
		}
	}
	return reqs
}

func micro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}
