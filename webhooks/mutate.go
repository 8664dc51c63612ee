package webhooks

import (
	"context"
	"encoding/json"
	"net/http"

	"gomodules.xyz/jsonpatch/v2"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/webhooks/access"
)

// The mutating webhooks run before the schema is checked, so they see
// whatever JSON the user sent. They read metadata only and never refuse
// over a spec: the schema and the validating webhooks refuse bad specs with
// better messages, and a mutator that fails on them would hide those.

// experimentMutator records who asked for an Experiment: its creator, or
// whoever last changed its spec, since scheduled runs act with that user's
// rights.
type experimentMutator struct{}

// Handle implements admission.Handler.
func (m *experimentMutator) Handle(_ context.Context, req admission.Request) admission.Response {
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return admission.Allowed("")
	}
	var want *string
	switch req.Operation {
	case admissionv1.Create:
		v := access.FromUserInfo(req.UserInfo).Annotation()
		want = &v
	case admissionv1.Update:
		if specChanged[chaosv1alpha1.ExperimentSpec](req.OldObject.Raw, req.Object.Raw) {
			v := access.FromUserInfo(req.UserInfo).Annotation()
			want = &v
		} else {
			// Annotating, labelling or removing finalizers does not change
			// whose rights the runs use; put back what was recorded.
			oldMeta, err := decodeMeta(req.OldObject.Raw)
			if err != nil {
				return admission.Allowed("")
			}
			want = annotationValue(oldMeta.Annotations, chaosv1alpha1.RequestedByAnnotation)
		}
	default:
		return admission.Allowed("")
	}
	return patched(annotationPatch(meta.Annotations, map[string]*string{chaosv1alpha1.RequestedByAnnotation: want}))
}

// runMutator records who asked for an ExperimentRun and who approved it.
type runMutator struct {
	operatorUsername string
	reader           client.Reader
}

// runRef is the part of an ExperimentRun's spec the mutator reads.
type runRef struct {
	Spec struct {
		ExperimentRef struct {
			Name string `json:"name"`
		} `json:"experimentRef"`
	} `json:"spec"`
}

// Handle implements admission.Handler.
func (m *runMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return admission.Allowed("")
	}
	want := map[string]*string{}
	switch req.Operation {
	case admissionv1.Create:
		if isOperator(req, m.operatorUsername) {
			// The scheduler creates runs on the Experiment owner's behalf;
			// the run acts with the owner's rights, never the operator's.
			recorded, err := m.experimentRequester(ctx, req)
			if err != nil {
				return admission.Errored(http.StatusServiceUnavailable, err)
			}
			want[chaosv1alpha1.RequestedByAnnotation] = recorded
		} else {
			v := access.FromUserInfo(req.UserInfo).Annotation()
			want[chaosv1alpha1.RequestedByAnnotation] = &v
		}
		// An approval at creation is refused by the validating webhook;
		// approved-by is left as written so the refusal can name it.
	case admissionv1.Update:
		oldMeta, err := decodeMeta(req.OldObject.Raw)
		if err != nil {
			return admission.Allowed("")
		}
		want[chaosv1alpha1.RequestedByAnnotation] = annotationValue(oldMeta.Annotations, chaosv1alpha1.RequestedByAnnotation)
		want[chaosv1alpha1.ApprovedByAnnotation] = annotationValue(oldMeta.Annotations, chaosv1alpha1.ApprovedByAnnotation)
		if newlyApproved(oldMeta.Annotations, meta.Annotations) {
			// approved-by holds the approver as a requester JSON (the
			// format of requested-by), so the report can name them and
			// their rights can be checked again from the run alone.
			v := access.FromUserInfo(req.UserInfo).Annotation()
			want[chaosv1alpha1.ApprovedByAnnotation] = &v
		}
	default:
		return admission.Allowed("")
	}
	return patched(annotationPatch(meta.Annotations, want))
}

// experimentRequester returns the requested-by annotation recorded on the
// run's Experiment, or nil when the Experiment or its record is missing
// (the run controller then refuses to start the run, saying why).
func (m *runMutator) experimentRequester(ctx context.Context, req admission.Request) (*string, error) {
	var ref runRef
	if err := json.Unmarshal(req.Object.Raw, &ref); err != nil || ref.Spec.ExperimentRef.Name == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	exp := &metav1.PartialObjectMetadata{}
	exp.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("Experiment"))
	err := m.reader.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: ref.Spec.ExperimentRef.Name}, exp)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := access.RequesterOf(exp); err != nil {
		return nil, nil
	}
	return annotationValue(exp.GetAnnotations(), chaosv1alpha1.RequestedByAnnotation), nil
}

// newlyApproved reports whether an update turns approval on.
func newlyApproved(oldAnn, newAnn map[string]string) bool {
	return newAnn[chaosv1alpha1.ApprovedAnnotation] == "true" && oldAnn[chaosv1alpha1.ApprovedAnnotation] != "true"
}

// isOperator reports whether the request comes from Faultline itself.
func isOperator(req admission.Request, operatorUsername string) bool {
	return operatorUsername != "" && req.UserInfo.Username == operatorUsername
}

func patched(ops []jsonpatch.JsonPatchOperation) admission.Response {
	if len(ops) == 0 {
		return admission.Allowed("")
	}
	return admission.Patched("", ops...)
}
