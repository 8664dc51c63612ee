package webhooks

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Approval outcomes, the result label of faultline_approvals_total.
const (
	ApprovalApproved = "approved"
	ApprovalRefused  = "refused"
	ApprovalVoided   = "voided"
)

// approvalRecorder announces every approval the webhook lets through and
// every one it refuses: an Event on the run (reason Approved or
// ApprovalRefused, naming the user) and a count by outcome. The refused
// request leaves no other trace, so the Event is what an auditor reads.
type approvalRecorder struct {
	recorder events.EventRecorder
	observe  func(result string)
}

func (a approvalRecorder) approved(req admission.Request, user string, spec *string) {
	msg := "approval by " + quote(user) + " accepted at admission"
	if spec != nil {
		msg += ", for spec " + *spec
	}
	a.record(req, corev1.EventTypeNormal, chaosv1alpha1.ReasonApproved, msg, ApprovalApproved)
}

func (a approvalRecorder) refused(req admission.Request, user, why string) {
	a.record(req, corev1.EventTypeWarning, chaosv1alpha1.ReasonApprovalRefused, "approval by "+quote(user)+" refused: "+why, ApprovalRefused)
}

func (a approvalRecorder) record(req admission.Request, eventType, reason, msg, result string) {
	if a.observe != nil {
		a.observe(result)
	}
	if a.recorder == nil {
		return
	}
	meta, err := decodeMeta(req.OldObject.Raw)
	if err != nil {
		return
	}
	ref := &corev1.ObjectReference{
		APIVersion: chaosv1alpha1.GroupVersion.String(), Kind: "ExperimentRun",
		Namespace: req.Namespace, Name: req.Name, UID: meta.UID, ResourceVersion: meta.ResourceVersion,
	}
	a.recorder.Eventf(ref, nil, eventType, reason, "Approve", "%s", msg)
}
