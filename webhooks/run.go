package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/access"
	"github.com/faultline-dev/faultline/internal/stored"
)

// runValidator refuses ExperimentRuns that would act with rights their
// creator lacks, approvals given at creation, by the requester or without
// the approve right, and changes to the records only the webhook writes.
type runValidator struct {
	operatorUsername string
	reader           client.Reader
	access           *access.Checker
	approvals        approvalRecorder
}

// runFields is the part of an ExperimentRun the validator reads. Decoding
// only these keeps an update of a run whose status no longer decodes (one
// written by an older operator) possible.
type runFields struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		ExperimentRef struct {
			Name string `json:"name"`
		} `json:"experimentRef"`
	} `json:"spec"`
	Status struct {
		Phase chaosv1alpha1.RunPhase `json:"phase"`
	} `json:"status"`
}

// approveHint says how approval is given.
const approveHint = "another user with the approve right runs `kubectl faultline approve NAME`"

// Handle implements admission.Handler.
func (v *runValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	switch req.Operation {
	case admissionv1.Create:
		return v.create(ctx, req)
	case admissionv1.Update:
		return v.update(ctx, req)
	}
	return admission.Allowed("")
}

func (v *runValidator) create(ctx context.Context, req admission.Request) admission.Response {
	var run runFields
	if err := json.Unmarshal(req.Object.Raw, &run); err != nil {
		return badRequest(fmt.Sprintf("the ExperimentRun cannot be read (%v): fix the field named and apply it again", err))
	}
	errs := newRunErrors(req.Object.Raw, &run, req.Namespace)
	ann := run.Metadata.Annotations
	errs = append(errs, scheduledAtErrors(ann)...)

	requestedBy := annotationsPath.Key(chaosv1alpha1.RequestedByAnnotation)
	operator := isOperator(req, v.operatorUsername)
	recorded, hasRecord := ann[chaosv1alpha1.RequestedByAnnotation]
	switch {
	case operator:
		// Copied from the Experiment by the mutating webhook; absent when
		// the Experiment has no record, and the run then does not start.
		if hasRecord {
			if _, err := rights.RequesterOf(&run.Metadata); err != nil {
				errs = append(errs, field.Invalid(requestedBy, recorded, err.Error()))
			}
		}
	case recorded != rights.FromUserInfo(req.UserInfo).Annotation():
		errs = append(errs, field.Forbidden(requestedBy, "is written by Faultline's admission webhook from the API server's account of the requesting user and cannot be set by hand: remove it"))
	}
	if len(errs) > 0 || operator || v.access == nil {
		return invalid(req, errs)
	}

	// A user who creates a run makes Faultline do what its Experiment says,
	// with the user's rights: check them now, so the refusal reaches the
	// user rather than a run status they may never read.
	creator := rights.FromUserInfo(req.UserInfo)
	exp, err := getExperiment(ctx, v.reader, client.ObjectKey{Namespace: req.Namespace, Name: run.Spec.ExperimentRef.Name})
	var malformed *stored.MalformedError
	switch {
	case apierrors.IsNotFound(err), errors.As(err, &malformed):
		// The run controller ends such a run at once, saying why; refusing
		// here would only hide that message.
		return admission.Allowed("")
	case err != nil:
		return unavailable(fmt.Sprintf("could not read Experiment %q to check the rights of user %q (%v): try again", run.Spec.ExperimentRef.Name, creator.Username, err))
	}
	if msg, transient := rightsProblem(v.access.CheckExperiment(ctx, creator, req.Namespace, &exp.Spec), creator.Username, "run Experiment "+exp.Name); msg != "" {
		return rightsRefusal(req, msg, transient)
	}
	return admission.Allowed("")
}

func (v *runValidator) update(ctx context.Context, req admission.Request) admission.Response {
	var run, old runFields
	if err := json.Unmarshal(req.Object.Raw, &run); err != nil {
		return badRequest(fmt.Sprintf("the ExperimentRun cannot be read (%v): fix the field named and apply it again", err))
	}
	if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
		// The stored run cannot be compared with; let the schema decide, so
		// the operator can still remove its finalizer.
		return admission.Allowed("")
	}
	ann, oldAnn := run.Metadata.Annotations, old.Metadata.Annotations
	errs := annotationControls(oldAnn, ann, chaosv1alpha1.AbortAnnotation)
	unchanged := func(key, what string) {
		if !ptrEqual(annotationValue(oldAnn, key), annotationValue(ann, key)) {
			errs = append(errs, field.Forbidden(annotationsPath.Key(key), what+" and cannot be changed: leave it as it is"))
		}
	}
	unchanged(chaosv1alpha1.RequestedByAnnotation, "records who asked for the run")
	operator := isOperator(req, v.operatorUsername)
	if !operator {
		// The operator's own records of the run: a status written by
		// anyone else is checked against them.
		unchanged(chaosv1alpha1.SpecHashAnnotation, "is the operator's record of the spec the run took")
		unchanged(chaosv1alpha1.SpecAuthorAnnotation, "is the operator's record of who wrote the spec the run took")
	}
	oldApproved := annotationValue(oldAnn, chaosv1alpha1.ApprovedAnnotation)
	newApproved := annotationValue(ann, chaosv1alpha1.ApprovedAnnotation)
	if ptrEqual(oldApproved, newApproved) {
		unchanged(chaosv1alpha1.ApprovedByAnnotation, "records who approved the run")
		unchanged(chaosv1alpha1.ApprovedSpecAnnotation, "records the spec the approval is for")
		return invalid(req, errs)
	}

	// The approval changes.
	approved := annotationsPath.Key(chaosv1alpha1.ApprovedAnnotation)
	if phase := old.Status.Phase; phase != "" && phase != chaosv1alpha1.PhasePending {
		errs = append(errs, field.Forbidden(approved, fmt.Sprintf("run %s has started (phase %s); an approval can only be given or withdrawn while the run is Pending", req.Name, phase)))
		return invalid(req, errs)
	}
	if newApproved != nil && *newApproved != "true" {
		errs = append(errs, field.Invalid(approved, *newApproved, `write "true" to approve, or remove the annotation to withdraw an approval`))
		return invalid(req, errs)
	}
	if newApproved == nil || (oldApproved != nil && *oldApproved == "true") {
		// Withdrawn before the run started. The record of who approved
		// stays, as the mutating webhook left it, unless the operator
		// voids an approval for another spec and removes it all.
		if !operator {
			unchanged(chaosv1alpha1.ApprovedByAnnotation, "records who approved the run")
			unchanged(chaosv1alpha1.ApprovedSpecAnnotation, "records the spec the approval is for")
		}
		return invalid(req, errs)
	}

	// Newly approved. Who may approve is decided first, and refused as
	// Forbidden, as a missing right is: the operator's account never
	// carries an approved-by record to check.
	if operator {
		return forbidden(req, "Faultline's own account cannot approve runs; "+approveHint)
	}
	approver := rights.FromUserInfo(req.UserInfo)
	if approvedBy := annotationValue(ann, chaosv1alpha1.ApprovedByAnnotation); approvedBy == nil || *approvedBy != approver.Annotation() {
		errs = append(errs, field.Forbidden(annotationsPath.Key(chaosv1alpha1.ApprovedByAnnotation), "is written by Faultline's admission webhook from the API server's account of the approving user and cannot be set by hand: remove it"))
	}
	if len(errs) > 0 {
		return invalid(req, errs)
	}
	if why, err := v.mayApprove(ctx, req, &old, approver); err != nil {
		return unavailable(fmt.Sprintf("run %s cannot be approved now: %v; try again", req.Name, err))
	} else if why != "" {
		v.approvals.refused(req, approver.Username, why)
		return forbidden(req, fmt.Sprintf("run %s cannot be approved: %s; %s", req.Name, why, approveHint))
	}
	if v.access != nil {
		if msg, transient := rightsProblem(v.access.CheckApprove(ctx, approver, req.Namespace, req.Name), approver.Username, "approve run "+req.Name); msg != "" {
			v.approvals.refused(req, approver.Username, msg)
			return rightsRefusal(req, msg, transient)
		}
	}
	v.approvals.approved(req, approver.Username, annotationValue(ann, chaosv1alpha1.ApprovedSpecAnnotation))
	return admission.Allowed("")
}

// mayApprove asks policy.MayApprove about approver and the run as stored:
// its requester, the author of the spec it took (or, before it took one,
// of its Experiment's spec now), and the ChaosPolicy read live. err is a
// transient failure to read them.
func (v *runValidator) mayApprove(ctx context.Context, req admission.Request, old *runFields, approver rights.Requester) (why string, err error) {
	requester, err := rights.RequesterOf(&old.Metadata)
	if err != nil {
		return err.Error(), nil
	}
	author := old.Metadata.Annotations[chaosv1alpha1.SpecAuthorAnnotation]
	if author == "" {
		exp, err := getExperiment(ctx, v.reader, client.ObjectKey{Namespace: req.Namespace, Name: old.Spec.ExperimentRef.Name})
		switch {
		case err == nil:
			if who, err := rights.RequesterOf(exp); err == nil {
				author = who.Username
			}
		case apierrors.IsNotFound(err), errors.As(err, new(*stored.MalformedError)):
			// The run ends on its own, saying why.
		default:
			return "", fmt.Errorf("reading Experiment %q: %w", old.Spec.ExperimentRef.Name, err)
		}
	}
	pol, err := getPolicy(ctx, v.reader)
	if malformed, ok := errors.AsType[*stored.MalformedError](err); ok {
		// A policy that cannot be read may name the approvers: nobody's
		// approval can be judged against it.
		return fmt.Sprintf("the ChaosPolicy %q cannot be read, so no approver can be checked against it: ask a cluster administrator to fix it (%v)", chaosv1alpha1.DefaultPolicyName, malformed.Err), nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the ChaosPolicy: %w", err)
	}
	return policy.MayApprove(pol, policy.ApprovalParties{
		Approver:   policy.Person{Username: approver.Username, Groups: approver.Groups},
		Requester:  requester.Username,
		SpecAuthor: author,
	}), nil
}
