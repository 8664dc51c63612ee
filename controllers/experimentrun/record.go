package experimentrun

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// A run's status is written through the status subresource, which most
// grants reach (any rule on resources ["*"]), and the admission webhook that
// refuses other writers can be missing. So nothing in status decides a
// security question on its own: the operator keeps its record of the spec
// snapshot in annotations that only it may write (the webhook refuses
// anyone else, and the status subresource cannot touch metadata at all),
// and checks status against that record in every reconcile.

// snapshotRecord is the operator's record of the snapshot a run took: the
// annotations written with the finalizer, in one metadata patch, before the
// snapshot itself is written to status.
func snapshotRecord(exp *chaosv1alpha1.Experiment) map[string]string {
	rec := map[string]string{chaosv1alpha1.SpecHashAnnotation: policy.SpecHash(&exp.Spec)}
	if who, err := rights.RequesterOf(exp); err == nil {
		rec[chaosv1alpha1.SpecAuthorAnnotation] = who.Username
	}
	return rec
}

// patchSnapshotRecord writes the record and the finalizer with a JSON merge
// patch of metadata alone, pinned to the resourceVersion read, so the
// record is in the API server before the snapshot and the finalizer before
// anything can be injected.
func (r *Reconciler) patchSnapshotRecord(ctx context.Context, run *chaosv1alpha1.ExperimentRun, record map[string]string) error {
	finalizers := slices.Clone(run.Finalizers)
	if !slices.Contains(finalizers, chaosv1alpha1.RunFinalizer) {
		finalizers = append(finalizers, chaosv1alpha1.RunFinalizer)
	}
	annotations := map[string]any{}
	for k, v := range record {
		annotations[k] = v
	}
	if _, ok := record[chaosv1alpha1.SpecAuthorAnnotation]; !ok {
		// A record from an earlier snapshot of the same run must not
		// name an author this one does not have.
		annotations[chaosv1alpha1.SpecAuthorAnnotation] = nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": finalizers, "annotations": annotations, "resourceVersion": run.ResourceVersion,
	}})
	if err != nil {
		return fmt.Errorf("encoding the snapshot record: %w", err)
	}
	patched := run.DeepCopy()
	if err := r.Client.Patch(ctx, patched, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("recording the snapshot: %w", err)
	}
	run.Finalizers, run.Annotations, run.ResourceVersion = patched.Finalizers, patched.Annotations, patched.ResourceVersion
	return nil
}

// tampering says how a run's status departs from the operator's record, or
// "" when it does not: the snapshot in status.experiment must hash to the
// recorded hash, and a run past Pending whose snapshot requires approval
// must carry an approval, recorded by the webhook, pinned to that hash
// (the run controller starts no such run without one; a phase written by
// hand would skip that gate).
//
// requireApprover is Reconciler.checksEnabled: only where the admission
// webhook records approvals is an approval pinned to a spec.
func tampering(run *chaosv1alpha1.ExperimentRun, requireApprover bool) string {
	if run.Status.Experiment == nil {
		return ""
	}
	recorded := run.Annotations[chaosv1alpha1.SpecHashAnnotation]
	if recorded == "" {
		return "status.experiment holds a spec snapshot but the run carries no record of the operator taking it (annotation " + chaosv1alpha1.SpecHashAnnotation + ")"
	}
	if got := policy.SpecHash(run.Status.Experiment); got != recorded {
		return fmt.Sprintf("status.experiment hashes to %s, not to the %s the operator recorded when it took the snapshot", got, recorded)
	}
	if a := run.Status.Experiment.Approval; requireApprover && a != nil && a.Required && run.Status.Phase != chaosv1alpha1.PhasePending && run.Status.Phase != chaosv1alpha1.PhaseCompleted {
		if run.Annotations[chaosv1alpha1.ApprovedAnnotation] != "true" || run.Annotations[chaosv1alpha1.ApprovedSpecAnnotation] != recorded {
			return fmt.Sprintf("the run is in phase %s, but its spec requires approval and it carries no approval of that spec", run.Status.Phase)
		}
	}
	return ""
}

// reconcileRecord checks the run's status against the operator's record.
// A Pending run whose snapshot departs from it takes its snapshot again
// from the Experiment (nothing was touched, and a forged snapshot is simply
// replaced); a run past Pending is aborted and its fault reverted. done is
// true when the run must not go on in this reconcile.
func (r *Reconciler) reconcileRecord(s *scope, now time.Time) (done bool) {
	run := s.run
	why := tampering(run, r.checksEnabled())
	if why == "" {
		return false
	}
	if run.Status.Phase == chaosv1alpha1.PhasePending || run.Status.Phase == "" {
		run.Status.Experiment = nil
		s.emit([]engine.Event{{Warning: true, Reason: chaosv1alpha1.ReasonStatusTampered,
			Message: "status was written by someone other than the operator (" + why + "); taking the snapshot again from the Experiment"}})
		return true
	}
	s.emit(s.engineRun().Abort(now, chaosv1alpha1.AbortStatusTampered,
		"status was written by someone other than the operator ("+why+"); reverting"))
	return false
}

// approvalOf reads the run's approval from the annotations the admission
// webhook writes, with the parties policy.MayApprove judges.
func approvalOf(run *chaosv1alpha1.ExperimentRun, requireApprover bool) policy.Approval {
	a := policy.Approval{
		Approved:        run.Annotations[chaosv1alpha1.ApprovedAnnotation] == "true",
		RequireApprover: requireApprover,
		ApprovedSpec:    run.Annotations[chaosv1alpha1.ApprovedSpecAnnotation],
		SnapshotHash:    run.Annotations[chaosv1alpha1.SpecHashAnnotation],
	}
	by := run.Annotations[chaosv1alpha1.ApprovedByAnnotation]
	var who rights.Requester
	if err := json.Unmarshal([]byte(by), &who); err == nil {
		by = who.Username
	}
	a.ApprovedBy = by
	a.Parties.Approver = policy.Person{Username: by, Groups: who.Groups}
	if req, err := rights.RequesterOf(run); err == nil {
		a.Parties.Requester = req.Username
	}
	a.Parties.SpecAuthor = run.Annotations[chaosv1alpha1.SpecAuthorAnnotation]
	return a
}

// voidApproval removes an approval given for another spec than the run's
// snapshot, so that an approver can approve the snapshot: the approve
// annotation already reads "true", and only a new value is a new approval.
func (r *Reconciler) voidApproval(ctx context.Context, run *chaosv1alpha1.ExperimentRun) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": run.ResourceVersion,
		"annotations": map[string]any{
			chaosv1alpha1.ApprovedAnnotation:     nil,
			chaosv1alpha1.ApprovedByAnnotation:   nil,
			chaosv1alpha1.ApprovedSpecAnnotation: nil,
		},
	}})
	if err != nil {
		return fmt.Errorf("encoding the approval removal: %w", err)
	}
	patched := run.DeepCopy()
	if err := r.Client.Patch(ctx, patched, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("voiding the approval: %w", err)
	}
	run.Annotations, run.ResourceVersion = patched.Annotations, patched.ResourceVersion
	return nil
}
