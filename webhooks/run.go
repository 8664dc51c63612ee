package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
	"github.com/faultline-dev/faultline/webhooks/access"
)

// runValidator refuses ExperimentRuns that would act with rights their
// creator lacks, approvals given at creation, by the requester or without
// the approve right, and changes to the records only the webhook writes.
type runValidator struct {
	operatorUsername string
	reader           client.Reader
	access           *access.Checker
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
		return admission.Denied(fmt.Sprintf("the ExperimentRun cannot be read (%v): fix the field named and apply it again", err))
	}
	p := newRunProblems(req.Object.Raw, &run, req.Namespace)
	ann := run.Metadata.Annotations
	scheduledAtProblems(&p, ann)

	operator := isOperator(req, v.operatorUsername)
	recorded, hasRecord := ann[chaosv1alpha1.RequestedByAnnotation]
	switch {
	case operator:
		// Copied from the Experiment by the mutating webhook; absent when
		// the Experiment has no record, and the run then does not start.
		if hasRecord {
			if _, err := access.RequesterOf(&run.Metadata); err != nil {
				p.addf("metadata.annotations[%s]: %v", chaosv1alpha1.RequestedByAnnotation, err)
			}
		}
	case recorded != access.FromUserInfo(req.UserInfo).Annotation():
		p.addf("metadata.annotations[%s] is written by Faultline's admission webhook from the API server's account of the requesting user and cannot be set by hand: remove it", chaosv1alpha1.RequestedByAnnotation)
	}
	if len(p) > 0 || operator || v.access == nil {
		return p.response()
	}

	// A user who creates a run makes Faultline do what its Experiment says,
	// with the user's rights: check them now, so the refusal reaches the
	// user rather than a run status they may never read.
	creator := access.FromUserInfo(req.UserInfo)
	exp, err := getExperiment(ctx, v.reader, client.ObjectKey{Namespace: req.Namespace, Name: run.Spec.ExperimentRef.Name})
	var malformed *stored.MalformedError
	switch {
	case apierrors.IsNotFound(err), errors.As(err, &malformed):
		// The run controller ends such a run at once, saying why; refusing
		// here would only hide that message.
		return admission.Allowed("")
	case err != nil:
		p.addf("could not read Experiment %q to check the rights of user %q (%v): try again", run.Spec.ExperimentRef.Name, creator.Username, err)
		return p.response()
	}
	if msg := rightsProblem(v.access.CheckExperiment(ctx, creator, req.Namespace, &exp.Spec), creator.Username, "run Experiment "+exp.Name); msg != "" {
		p.addf("%s", msg)
	}
	return p.response()
}

func (v *runValidator) update(ctx context.Context, req admission.Request) admission.Response {
	var run, old runFields
	if err := json.Unmarshal(req.Object.Raw, &run); err != nil {
		return admission.Denied(fmt.Sprintf("the ExperimentRun cannot be read (%v): fix the field named and apply it again", err))
	}
	if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
		// The stored run cannot be compared with; let the schema decide, so
		// the operator can still remove its finalizer.
		return admission.Allowed("")
	}
	var p problems
	ann, oldAnn := run.Metadata.Annotations, old.Metadata.Annotations
	annotationControls(&p, oldAnn, ann, chaosv1alpha1.AbortAnnotation)
	if !ptrEqual(annotationValue(oldAnn, chaosv1alpha1.RequestedByAnnotation), annotationValue(ann, chaosv1alpha1.RequestedByAnnotation)) {
		p.addf("metadata.annotations[%s] records who asked for the run and cannot be changed: leave it as it is", chaosv1alpha1.RequestedByAnnotation)
	}
	oldApproved := annotationValue(oldAnn, chaosv1alpha1.ApprovedAnnotation)
	newApproved := annotationValue(ann, chaosv1alpha1.ApprovedAnnotation)
	approvedBy := annotationValue(ann, chaosv1alpha1.ApprovedByAnnotation)
	if ptrEqual(oldApproved, newApproved) {
		if !ptrEqual(annotationValue(oldAnn, chaosv1alpha1.ApprovedByAnnotation), approvedBy) {
			p.addf("metadata.annotations[%s] records who approved the run and cannot be changed: leave it as it is", chaosv1alpha1.ApprovedByAnnotation)
		}
		return p.response()
	}

	// The approval changes.
	if phase := old.Status.Phase; phase != "" && phase != chaosv1alpha1.PhasePending {
		p.addf("metadata.annotations[%s]: run %s has started (phase %s); an approval can only be given or withdrawn while the run is Pending", chaosv1alpha1.ApprovedAnnotation, req.Name, phase)
		return p.response()
	}
	if newApproved != nil && *newApproved != "true" {
		p.addf("metadata.annotations[%s] %s: write \"true\" to approve, or remove the annotation to withdraw an approval", chaosv1alpha1.ApprovedAnnotation, quote(*newApproved))
		return p.response()
	}
	if newApproved == nil || (oldApproved != nil && *oldApproved == "true") {
		// Withdrawn before the run started; the record of who approved
		// stays, as the mutating webhook left it.
		if !ptrEqual(annotationValue(oldAnn, chaosv1alpha1.ApprovedByAnnotation), approvedBy) {
			p.addf("metadata.annotations[%s] records who approved the run and cannot be changed: leave it as it is", chaosv1alpha1.ApprovedByAnnotation)
		}
		return p.response()
	}

	// Newly approved.
	approver := access.FromUserInfo(req.UserInfo)
	if approvedBy == nil || *approvedBy != approver.Annotation() {
		p.addf("metadata.annotations[%s] is written by Faultline's admission webhook from the API server's account of the approving user and cannot be set by hand: remove it", chaosv1alpha1.ApprovedByAnnotation)
	}
	if isOperator(req, v.operatorUsername) {
		p.addf("metadata.annotations[%s]: Faultline's own account cannot approve runs; %s", chaosv1alpha1.ApprovedAnnotation, approveHint)
		return p.response()
	}
	requester, err := access.RequesterOf(&old.Metadata)
	if err != nil {
		p.addf("run %s cannot be approved: %v", req.Name, err)
		return p.response()
	}
	if requester.Username == approver.Username {
		p.addf("user %q requested run %s; approval must come from another user: %s", approver.Username, req.Name, approveHint)
		return p.response()
	}
	if len(p) == 0 && v.access != nil {
		if msg := rightsProblem(v.access.CheckApprove(ctx, approver, req.Namespace, req.Name), approver.Username, "approve run "+req.Name); msg != "" {
			p.addf("%s", msg)
		}
	}
	return p.response()
}
