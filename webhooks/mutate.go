package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"gomodules.xyz/jsonpatch/v2"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/stored"
)

// The mutating webhooks run before the schema is checked, so they see
// whatever JSON the user sent. They read metadata only and never refuse
// over a spec: the schema and the validating webhooks refuse bad specs with
// better messages, and a mutator that fails on them would hide those.

// experimentMutator records who asked for an Experiment: its creator, or
// whoever last changed its spec, since scheduled runs act with that user's
// rights; and who set its run-now annotation, since the run it starts acts
// with theirs. A record written by hand is refused, saying so, rather than
// silently replaced.
type experimentMutator struct{}

// RunNowRecord is the value of chaos.faultline.dev/run-now-by: who asked,
// with which run-now value, for a run.
type RunNowRecord struct {
	// Token is the run-now value the requester set.
	Token string `json:"token"`
	// Requester is who set it.
	Requester rights.Requester `json:"requester"`
}

// Handle implements admission.Handler.
func (m *experimentMutator) Handle(_ context.Context, req admission.Request) admission.Response {
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return admission.Allowed("")
	}
	user := rights.FromUserInfo(req.UserInfo).Annotation()
	var oldAnn map[string]string
	var want *string
	switch req.Operation {
	case admissionv1.Create:
		want = &user
	case admissionv1.Update:
		oldMeta, err := decodeMeta(req.OldObject.Raw)
		if err != nil {
			return admission.Allowed("")
		}
		oldAnn = oldMeta.Annotations
		if specChanged[chaosv1alpha1.ExperimentSpec](req.OldObject.Raw, req.Object.Raw) {
			want = &user
		} else {
			// Annotating, labelling or removing finalizers does not change
			// whose rights the runs use: what was recorded stays.
			want = annotationValue(oldAnn, chaosv1alpha1.RequestedByAnnotation)
		}
	default:
		return admission.Allowed("")
	}
	errs := refuseHandWritten(oldAnn, meta.Annotations, chaosv1alpha1.RequestedByAnnotation, want,
		"records who last changed the spec")
	wantRunNowBy := annotationValue(oldAnn, chaosv1alpha1.RunNowByAnnotation)
	if token, ok := meta.Annotations[chaosv1alpha1.RunNowAnnotation]; ok && token != "" && token != oldAnn[chaosv1alpha1.RunNowAnnotation] {
		v := runNowRecord(token, rights.FromUserInfo(req.UserInfo))
		wantRunNowBy = &v
	}
	errs = append(errs, refuseHandWritten(oldAnn, meta.Annotations, chaosv1alpha1.RunNowByAnnotation, wantRunNowBy,
		"records who asked for a run with "+chaosv1alpha1.RunNowAnnotation)...)
	if len(errs) > 0 {
		return invalid(req, errs)
	}
	return patched(annotationPatch(meta.Annotations, map[string]*string{
		chaosv1alpha1.RequestedByAnnotation: want,
		chaosv1alpha1.RunNowByAnnotation:    wantRunNowBy,
	}))
}

// runNowRecord is the run-now-by value for token set by req.
func runNowRecord(token string, req rights.Requester) string {
	b, err := json.Marshal(RunNowRecord{Token: token, Requester: req})
	if err != nil {
		// Strings only: always marshals.
		panic(err)
	}
	return string(b)
}

// RunNowRequester reads an Experiment's run-now-by record for token: the
// user who set the run-now annotation to that value. ok is false when no
// record of that token is there.
func RunNowRequester(annotations map[string]string, token string) (rights.Requester, bool) {
	var rec RunNowRecord
	if err := json.Unmarshal([]byte(annotations[chaosv1alpha1.RunNowByAnnotation]), &rec); err != nil {
		return rights.Requester{}, false
	}
	if rec.Token == "" || rec.Token != token || rec.Requester.Username == "" {
		return rights.Requester{}, false
	}
	return rec.Requester, true
}

// refuseHandWritten returns a problem when the request changed a
// webhook-only annotation to something other than what the webhook writes.
// A request that leaves the stored value as it is (kubectl apply of an
// exported manifest), or that already carries the webhook's own value (a
// reinvocation), is not refused.
func refuseHandWritten(oldAnn, newAnn map[string]string, key string, want *string, what string) field.ErrorList {
	got := annotationValue(newAnn, key)
	if got == nil || ptrEqual(got, want) || ptrEqual(got, annotationValue(oldAnn, key)) {
		return nil
	}
	return field.ErrorList{field.Forbidden(annotationsPath.Key(key),
		what+" and is written only by Faultline's admission webhook, from the API server's account of the requesting user: remove it from the object you send")}
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
			// The scheduler creates runs on the Experiment owner's behalf,
			// and run-now runs on behalf of who set run-now; the run acts
			// with their rights, never the operator's.
			recorded, err := m.experimentRequester(ctx, req, meta.Annotations[chaosv1alpha1.RunNowAnnotation])
			if err != nil {
				return admission.Errored(http.StatusServiceUnavailable, err)
			}
			want[chaosv1alpha1.RequestedByAnnotation] = recorded
		} else {
			v := rights.FromUserInfo(req.UserInfo).Annotation()
			want[chaosv1alpha1.RequestedByAnnotation] = &v
			if errs := refuseHandWritten(nil, meta.Annotations, chaosv1alpha1.RequestedByAnnotation, &v, "records who asked for the run"); len(errs) > 0 {
				return invalid(req, errs)
			}
		}
		// An approval at creation is refused by the validating webhook;
		// approved-by is left as written so the refusal can name it.
	case admissionv1.Update:
		oldMeta, err := decodeMeta(req.OldObject.Raw)
		if err != nil {
			return admission.Allowed("")
		}
		want[chaosv1alpha1.RequestedByAnnotation] = annotationValue(oldMeta.Annotations, chaosv1alpha1.RequestedByAnnotation)
		if errs := refuseHandWritten(oldMeta.Annotations, meta.Annotations, chaosv1alpha1.RequestedByAnnotation, want[chaosv1alpha1.RequestedByAnnotation], "records who asked for the run"); len(errs) > 0 {
			return invalid(req, errs)
		}
		if isOperator(req, m.operatorUsername) {
			// The operator voids an approval for another spec by removing
			// the records; it never writes one (the validator refuses its
			// approvals).
			break
		}
		want[chaosv1alpha1.ApprovedByAnnotation] = annotationValue(oldMeta.Annotations, chaosv1alpha1.ApprovedByAnnotation)
		want[chaosv1alpha1.ApprovedSpecAnnotation] = annotationValue(oldMeta.Annotations, chaosv1alpha1.ApprovedSpecAnnotation)
		if newlyApproved(oldMeta.Annotations, meta.Annotations) {
			// approved-by holds the approver as a requester JSON (the
			// format of requested-by), so the report can name them and
			// their rights can be checked again from the run alone.
			v := rights.FromUserInfo(req.UserInfo).Annotation()
			want[chaosv1alpha1.ApprovedByAnnotation] = &v
			// The approval is pinned to the spec the approver saw: the
			// run's snapshot once it has one, else the Experiment now.
			pinned, err := m.approvedSpec(ctx, req, oldMeta.Annotations)
			if err != nil {
				return admission.Errored(http.StatusServiceUnavailable, err)
			}
			want[chaosv1alpha1.ApprovedSpecAnnotation] = pinned
		}
	default:
		return admission.Allowed("")
	}
	return patched(annotationPatch(meta.Annotations, want))
}

// experimentRequester returns the requester of a run the operator creates:
// for a run-now run (runNowToken set), who set run-now to that value, as
// the Experiment's run-now-by records; otherwise the requested-by recorded
// on the run's Experiment (the schedule's owner). It is nil when the
// Experiment or its record is missing (the run controller then refuses to
// start the run, saying why).
func (m *runMutator) experimentRequester(ctx context.Context, req admission.Request, runNowToken string) (*string, error) {
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
	if runNowToken != "" {
		who, ok := RunNowRequester(exp.GetAnnotations(), runNowToken)
		if !ok {
			return nil, nil
		}
		v := who.Annotation()
		return &v, nil
	}
	if _, err := rights.RequesterOf(exp); err != nil {
		return nil, nil
	}
	return annotationValue(exp.GetAnnotations(), chaosv1alpha1.RequestedByAnnotation), nil
}

// approvedSpec is the SpecHash an approval given now is pinned to: the
// run's recorded snapshot hash (written by the operator alone), or, before
// the run has taken its snapshot (a staged run), the hash of its
// Experiment's spec as stored now. Nil when neither can be read: the run
// then waits for an approval of the spec it takes.
func (m *runMutator) approvedSpec(ctx context.Context, req admission.Request, oldAnn map[string]string) (*string, error) {
	if h := oldAnn[chaosv1alpha1.SpecHashAnnotation]; h != "" {
		return &h, nil
	}
	var ref runRef
	if err := json.Unmarshal(req.OldObject.Raw, &ref); err != nil || ref.Spec.ExperimentRef.Name == "" {
		return nil, nil
	}
	exp, err := getExperiment(ctx, m.reader, client.ObjectKey{Namespace: req.Namespace, Name: ref.Spec.ExperimentRef.Name})
	if err != nil {
		if apierrors.IsNotFound(err) || errors.As(err, new(*stored.MalformedError)) {
			return nil, nil
		}
		return nil, err
	}
	h := policy.SpecHash(&exp.Spec)
	return &h, nil
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
