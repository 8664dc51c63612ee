package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// maxProblems bounds how many problems one refusal lists: a manifest with a
// thousand bad entries must not produce a message the API server truncates
// before the first useful line.
const maxProblems = 8

// maxValueBytes bounds the value a field error quotes, so a 1 MiB field
// does not become a 1 MiB refusal.
const maxValueBytes = 80

// invalid refuses req over errs, the problems found in its object, the way
// the API server's own validation refuses: a 422 Invalid status whose
// causes name each field, which kubectl prints as
//
//	The Experiment "checkout" is invalid: spec.schedule: Invalid value: "0 14 * * TUES": ...
//
// and clients tell apart with apierrors.IsInvalid. No problems allows the
// request. At most maxProblems are listed; the last one listed says how
// many more there are.
func invalid(req admission.Request, errs field.ErrorList) admission.Response {
	if len(errs) == 0 {
		return admission.Allowed("")
	}
	shown := shortValues(errs[:min(len(errs), maxProblems)])
	if extra := len(errs) - len(shown); extra > 0 {
		last := shown[len(shown)-1]
		if last.Detail != "" {
			last.Detail += "; "
		}
		last.Detail += fmt.Sprintf("and %d more problems", extra)
	}
	kind := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	if kind.Group == "" {
		kind.Group = chaosv1alpha1.GroupVersion.Group
	}
	return refusal(apierrors.NewInvalid(kind, objectName(req), shown))
}

// forbidden refuses req over who makes it rather than over what it holds
// (a right the user lacks, an approval they may not give): a 403 Forbidden
// status, as RBAC's own refusals are, which kubectl prints as
//
//	Error from server (Forbidden): ... experiments.chaos.faultline.dev "checkout" is forbidden: user "alice" may not ...
func forbidden(req admission.Request, msg string) admission.Response {
	resource := schema.GroupResource{Group: req.Resource.Group, Resource: req.Resource.Resource}
	if resource.Group == "" {
		resource.Group = chaosv1alpha1.GroupVersion.Group
	}
	return refusal(apierrors.NewForbidden(resource, objectName(req), errors.New(msg)))
}

// unavailable refuses a request a check could not be made for (the API
// server did not answer in time): a 503 whose message says to try again.
func unavailable(msg string) admission.Response {
	return refusal(apierrors.NewServiceUnavailable(msg))
}

// badRequest refuses an object that cannot be read at all, so no field of
// it can be named.
func badRequest(msg string) admission.Response {
	return refusal(apierrors.NewBadRequest(msg))
}

// refusal is the admission response that hands err's status to the API
// server, which passes it on to the client with its code, reason and
// causes (admission.Denied would send a bare message, and kubectl would
// print no field).
func refusal(err *apierrors.StatusError) admission.Response {
	status := err.Status()
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
}

// objectName is the name of the object req is about: the request's, or on
// a create the object's own (its generateName when it has no name yet).
func objectName(req admission.Request) string {
	if req.Name != "" {
		return req.Name
	}
	meta, err := decodeMeta(req.Object.Raw)
	if err != nil {
		return ""
	}
	if meta.Name != "" {
		return meta.Name
	}
	return meta.GenerateName
}

// shortValues returns copies of errs whose string values are cut to
// maxValueBytes, with the length they had: the error quotes its value
// (escaped, so control characters cannot rewrite the user's terminal), and
// a refusal must stay readable whatever was sent.
func shortValues(errs field.ErrorList) field.ErrorList {
	out := make(field.ErrorList, len(errs))
	for i, e := range errs {
		c := *e
		if s, ok := c.BadValue.(string); ok && len(s) > maxValueBytes {
			cut := maxValueBytes
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			c.BadValue = fmt.Sprintf("%s...(%d bytes)", s[:cut], len(s))
		}
		out[i] = &c
	}
	return out
}

// invalidNoValue is an Invalid field error that does not quote the value:
// the value is a whole object, or the problem is in how it combines with
// another field.
func invalidNoValue(path *field.Path, detail string) *field.Error {
	return field.Invalid(path, field.OmitValueType{}, detail)
}

// notSupported is a NotSupported field error with our own detail, which
// says what to write; field.NotSupported would replace it by a bare list.
func notSupported(path *field.Path, value, detail string) *field.Error {
	return &field.Error{Type: field.ErrorTypeNotSupported, Field: path.String(), BadValue: value, Detail: detail}
}

// annotationsPath is where every annotation Faultline reads lives.
var annotationsPath = field.NewPath("metadata", "annotations")

// quote renders a user-supplied value for a message: escaped, so control
// characters cannot rewrite the user's terminal, and cut short, so a 1 MiB
// field does not become a 1 MiB refusal.
func quote(s string) string {
	const limit = 80
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...(%d bytes)", s[:cut], len(s))
}

// objectMeta is the part of an admission object every webhook reads. It is
// decoded on its own so that a spec the schema will refuse, or a stored
// object written before the schema was tightened, never stops the webhook
// from reading annotations.
type objectMeta struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

func decodeMeta(raw []byte) (metav1.ObjectMeta, error) {
	var o objectMeta
	if err := json.Unmarshal(raw, &o); err != nil {
		return metav1.ObjectMeta{}, err
	}
	return o.Metadata, nil
}

// rawSpec returns the spec of a raw object as JSON, nil when absent.
func rawSpec(raw []byte) (json.RawMessage, error) {
	var o struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return o.Spec, nil
}

// specChanged reports whether an update changes the spec. It compares the
// specs as T when both decode, so a default written out ("suspend: false")
// or a duration written differently ("60s" and "1m") is no change, and as
// generic JSON otherwise, so an object stored with a spec that no longer
// decodes can still be annotated, have its finalizers removed, or be
// deleted.
func specChanged[T any](oldRaw, newRaw []byte) bool {
	oldSpec, errOld := rawSpec(oldRaw)
	newSpec, errNew := rawSpec(newRaw)
	if errOld != nil || errNew != nil {
		return true
	}
	var oldTyped, newTyped T
	if json.Unmarshal(nullIfEmpty(oldSpec), &oldTyped) == nil && json.Unmarshal(nullIfEmpty(newSpec), &newTyped) == nil {
		return !equality.Semantic.DeepEqual(oldTyped, newTyped)
	}
	return !jsonEqual(oldSpec, newSpec)
}

func nullIfEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// jsonEqual compares two JSON documents by value, numbers by their text.
func jsonEqual(a, b []byte) bool {
	va, errA := decodeGeneric(nullIfEmpty(a))
	vb, errB := decodeGeneric(nullIfEmpty(b))
	if errA != nil || errB != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func decodeGeneric(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// annotationPatch returns the JSON patch that makes the annotations of an
// object whose current annotations are current hold want: a key mapped to
// nil is removed. Patches are built by hand rather than by re-encoding the
// whole object, so nothing but these annotations can change (re-encoding
// would turn large integers into floats and reorder the object).
func annotationPatch(current map[string]string, want map[string]*string) []jsonpatch.JsonPatchOperation {
	var ops []jsonpatch.JsonPatchOperation
	if current == nil {
		// No annotations member at all: a path below it would not resolve.
		whole := map[string]string{}
		for k, v := range want {
			if v != nil {
				whole[k] = *v
			}
		}
		if len(whole) == 0 {
			return nil
		}
		return []jsonpatch.JsonPatchOperation{{Operation: "add", Path: "/metadata/annotations", Value: whole}}
	}
	for _, k := range sortedKeys(want) {
		v := want[k]
		cur, has := current[k]
		path := "/metadata/annotations/" + escapePointer(k)
		switch {
		case v == nil && has:
			ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "remove", Path: path})
		case v != nil && (!has || cur != *v):
			// "add" replaces an existing member (RFC 6902 4.1).
			ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: path, Value: *v})
		}
	}
	return ops
}

func sortedKeys(m map[string]*string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Two keys at most; insertion sort keeps patches deterministic.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// escapePointer escapes a JSON pointer reference token (RFC 6901): every
// Faultline annotation key contains a slash.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// annotationValue returns a pointer to the value of key in annotations, nil
// when absent, for use in annotationPatch.
func annotationValue(annotations map[string]string, key string) *string {
	v, ok := annotations[key]
	if !ok {
		return nil
	}
	return &v
}

func ptrEqual(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// rightsProblem turns the result of an access check into the message of a
// refusal: a denial is the user's and is shown as it is; anything else is
// the API server's (transient), and the user is told to try again rather
// than that they lack a right they may well hold. "" means no refusal.
func rightsProblem(err error, user, what string) (msg string, transient bool) {
	if err == nil {
		return "", false
	}
	if rights.IsDenied(err) {
		return strings.ReplaceAll(err.Error(), "\n", "; "), false
	}
	if errors.Is(err, rights.ErrTooManyChecks) || errors.Is(err, rights.ErrNoRequester) {
		// Trying again cannot help: the message says what to change.
		return err.Error(), false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Sprintf("could not check the rights of user %q to %s in time: try again", user, what), true
	}
	return fmt.Sprintf("could not check the rights of user %q to %s (%v): try again", user, what, err), true
}

// rightsRefusal refuses req with the message of rightsProblem: Forbidden
// when the user is refused, unavailable when the check could not be made.
// Every refusal over rights takes this one form.
func rightsRefusal(req admission.Request, msg string, transient bool) admission.Response {
	if transient {
		return unavailable(msg)
	}
	return forbidden(req, msg)
}

// dnsLabel returns why s is not a DNS-1123 label (a namespace name), or "".
func dnsLabel(s string) string {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return errs[0]
	}
	return ""
}

// dnsSubdomain returns why s is not a DNS-1123 subdomain (most object
// names), or "".
func dnsSubdomain(s string) string {
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		return errs[0]
	}
	return ""
}
