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
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/faultline-dev/faultline/experiments/rights"
)

// maxProblems bounds how many problems one refusal lists: a manifest with a
// thousand bad entries must not produce a message the API server truncates
// before the first useful line.
const maxProblems = 8

// problems collects what is wrong with an object, in the order found, so a
// refusal leads with the first problem and names the others.
type problems []string

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// response refuses the request when any problem was found.
func (p problems) response() admission.Response {
	if len(p) == 0 {
		return admission.Allowed("")
	}
	return admission.Denied(p.message())
}

func (p problems) message() string {
	shown := p
	if len(shown) > maxProblems {
		shown = shown[:maxProblems]
	}
	msg := strings.Join(shown, "; ")
	if extra := len(p) - len(shown); extra > 0 {
		msg += fmt.Sprintf("; and %d more problems", extra)
	}
	return msg
}

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

// rightsProblem turns the result of an access check into a problem: a
// denial is the user's problem and is shown as it is; anything else is the
// API server's, and the user is told to try again rather than that they
// lack a right they may well hold.
func rightsProblem(err error, user, what string) string {
	if err == nil {
		return ""
	}
	if rights.IsDenied(err) {
		return strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	if errors.Is(err, rights.ErrTooManyChecks) || errors.Is(err, rights.ErrNoRequester) {
		// Trying again cannot help: the message says what to change.
		return err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Sprintf("could not check the rights of user %q to %s in time: try again", user, what)
	}
	return fmt.Sprintf("could not check the rights of user %q to %s (%v): try again", user, what, err)
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
