// Package stored reads Faultline's objects as the API server stores them,
// and tells a well-formed object from one Faultline's types cannot decode.
//
// An object can be stored that the Go types refuse: it was written before
// the schema checked a field (spec.duration: 1y), or while validation was
// off. A typed informer fails its whole List on such an object, so one bad
// Experiment would keep every controller of the manager from syncing, the
// kill switch and the reaper included. Reading as unstructured and decoding
// object by object confines the damage to the one object, which is then
// reported on itself.
package stored

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ExperimentGVK is the group, version and kind of an Experiment, to set on an
// unstructured object before reading or watching it.
var ExperimentGVK = chaosv1alpha1.GroupVersion.WithKind("Experiment")

// experimentListGVK is the kind of a list of Experiments.
var experimentListGVK = chaosv1alpha1.GroupVersion.WithKind("ExperimentList")

// maxReasonBytes caps the decoding error kept in a MalformedError: it names
// the field and quotes the offending value, and a stored value may be large.
const maxReasonBytes = 512

// MalformedError is a stored object that cannot be decoded into Faultline's
// types. Err says why, naming the field and the problem.
type MalformedError struct {
	// Kind of the object, such as Experiment.
	Kind string
	// Namespace of the object; empty for a cluster-scoped kind.
	Namespace string
	// Name of the object.
	Name string
	// Err is the decoding error, prefixed with the path of the field.
	Err error
}

// Error says which object is malformed and why.
func (e *MalformedError) Error() string {
	name := e.Name
	if e.Namespace != "" {
		name = e.Namespace + "/" + name
	}
	return fmt.Sprintf("%s %s cannot be read: %v; fix the field (kubectl edit) or delete and recreate the object", e.Kind, name, e.Err)
}

// Unwrap returns the decoding error.
func (e *MalformedError) Unwrap() error { return e.Err }

// NewExperiment returns an empty unstructured Experiment, ready to be read into.
func NewExperiment() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ExperimentGVK)
	return u
}

// GetExperiment reads the Experiment key through r as unstructured and
// decodes it. A NotFound error (and any other read error) is returned as r
// gave it; an object that cannot be decoded is a *MalformedError.
func GetExperiment(ctx context.Context, r client.Reader, key client.ObjectKey) (*chaosv1alpha1.Experiment, error) {
	u := NewExperiment()
	if err := r.Get(ctx, key, u); err != nil {
		return nil, err
	}
	return DecodeExperiment(u)
}

// ListExperiments lists Experiments through r as unstructured and decodes
// each: good are those that decode, bad one MalformedError per object that
// does not. err is set only when the list itself failed.
func ListExperiments(ctx context.Context, r client.Reader, opts ...client.ListOption) (good []chaosv1alpha1.Experiment, bad []*MalformedError, err error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(experimentListGVK)
	if err := r.List(ctx, list, opts...); err != nil {
		return nil, nil, fmt.Errorf("listing experiments: %w", err)
	}
	for i := range list.Items {
		exp, err := DecodeExperiment(&list.Items[i])
		var m *MalformedError
		if errors.As(err, &m) {
			bad = append(bad, m)
			continue
		}
		good = append(good, *exp)
	}
	return good, bad, nil
}

// DecodeExperiment converts an unstructured Experiment into the Go type; an
// object that does not convert is a *MalformedError naming the field.
func DecodeExperiment(u *unstructured.Unstructured) (*chaosv1alpha1.Experiment, error) {
	exp := &chaosv1alpha1.Experiment{}
	if err := decode(u, exp, func() any { return &chaosv1alpha1.Experiment{} }); err != nil {
		return nil, err
	}
	return exp, nil
}

// decode converts u into out, or returns a MalformedError. empty makes
// fresh objects of out's type, to decode parts of u into while looking for
// the bad field.
func decode(u *unstructured.Unstructured, out any, empty func() any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return &MalformedError{
			Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
			Err: errors.New(bound(explain(u.Object, err, empty))),
		}
	}
	return nil
}

// explain names the field that fails to decode. The converter's errors do
// not say where ("unrecognized type: int32", or a duration parse error), so
// the object is decoded again one subtree at a time, descending into the
// first subtree that fails, until a single value is left.
func explain(obj map[string]any, whole error, empty func() any) string {
	try := func(part map[string]any) error {
		return runtime.DefaultUnstructuredConverter.FromUnstructured(part, empty())
	}
	path, err := firstBad("", obj, func(v any) map[string]any { m, _ := v.(map[string]any); return m }, try)
	if path == "" || err == nil {
		return whole.Error()
	}
	return path + ": " + err.Error()
}

// firstBad returns the path and error of the first value under v that fails
// to decode on its own. wrap places a replacement for v into an otherwise
// empty object, at v's position.
func firstBad(path string, v any, wrap func(any) map[string]any, try func(map[string]any) error) (string, error) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			childWrap := func(c any) map[string]any { return wrap(map[string]any{k: c}) }
			if try(childWrap(x[k])) != nil {
				return firstBad(joinPath(path, k), x[k], childWrap, try)
			}
		}
	case []any:
		for i, el := range x {
			childWrap := func(c any) map[string]any { return wrap([]any{c}) }
			if try(childWrap(el)) != nil {
				return firstBad(fmt.Sprintf("%s[%d]", path, i), el, childWrap, try)
			}
		}
	}
	return path, try(wrap(v))
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// bound strips control characters from a message and caps its length: it
// quotes stored values, which may be large or hold terminal escapes.
func bound(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
	if len(s) <= maxReasonBytes {
		return s
	}
	cut := maxReasonBytes
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// utf8Start reports whether b begins a UTF-8 sequence.
func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
