// Package stored reads Faultline's objects as the API server stores them,
// and tells a well-formed object from one Faultline's types cannot decode.
//
// An object can be stored that the Go types refuse: it was written before
// the schema checked a field (spec.duration: 1y), while validation was off,
// through a loosened or older CRD, or by hand (an ExperimentRun's
// status.targets made a string). A typed informer fails its whole List on
// such an object, so one bad Experiment or run would keep every controller
// of the manager from syncing, the kill switch and the reaper included.
// Reading as unstructured and decoding object by object confines the damage
// to the one object, which is then reported on itself.
package stored

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ExperimentGVK is the group, version and kind of an Experiment, to set on an
// unstructured object before reading or watching it.
var ExperimentGVK = chaosv1alpha1.GroupVersion.WithKind("Experiment")

// experimentListGVK is the kind of a list of Experiments.
var experimentListGVK = chaosv1alpha1.GroupVersion.WithKind("ExperimentList")

// RunGVK is the group, version and kind of an ExperimentRun, to set on an
// unstructured object before reading or watching it.
var RunGVK = chaosv1alpha1.GroupVersion.WithKind("ExperimentRun")

// runListGVK is the kind of a list of ExperimentRuns.
var runListGVK = chaosv1alpha1.GroupVersion.WithKind("ExperimentRunList")

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
	return get[chaosv1alpha1.Experiment](ctx, r, ExperimentGVK, key)
}

// ListExperiments lists Experiments through r as unstructured and decodes
// each: good are those that decode, bad one MalformedError per object that
// does not. err is set only when the list itself failed.
func ListExperiments(ctx context.Context, r client.Reader, opts ...client.ListOption) (good []chaosv1alpha1.Experiment, bad []*MalformedError, err error) {
	return list(ctx, r, experimentListGVK, "experiments", opts, decodeAs[chaosv1alpha1.Experiment])
}

// DecodeExperiment converts an unstructured Experiment into the Go type; an
// object that does not convert is a *MalformedError naming the field.
func DecodeExperiment(u *unstructured.Unstructured) (*chaosv1alpha1.Experiment, error) {
	return decodeAs[chaosv1alpha1.Experiment](u)
}

// NewRun returns an empty unstructured ExperimentRun, ready to be read into.
func NewRun() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(RunGVK)
	return u
}

// NewRunList returns an empty unstructured list of ExperimentRuns, ready to
// be listed into.
func NewRunList() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(runListGVK)
	return l
}

// GetRun reads the ExperimentRun key through r as unstructured and decodes
// it. A NotFound error (and any other read error) is returned as r gave it;
// a run that cannot be decoded is a *MalformedError.
func GetRun(ctx context.Context, r client.Reader, key client.ObjectKey) (*chaosv1alpha1.ExperimentRun, error) {
	return get[chaosv1alpha1.ExperimentRun](ctx, r, RunGVK, key)
}

// ListRuns lists ExperimentRuns through r as unstructured and decodes each:
// good are those that decode, bad one MalformedError per run that does not.
// err is set only when the list itself failed.
func ListRuns(ctx context.Context, r client.Reader, opts ...client.ListOption) (good []chaosv1alpha1.ExperimentRun, bad []*MalformedError, err error) {
	return list(ctx, r, runListGVK, "runs", opts, decodeAs[chaosv1alpha1.ExperimentRun])
}

// DecodeRun converts an unstructured ExperimentRun into the Go type; a run
// that does not convert is a *MalformedError naming the field.
func DecodeRun(u *unstructured.Unstructured) (*chaosv1alpha1.ExperimentRun, error) {
	return decodeAs[chaosv1alpha1.ExperimentRun](u)
}

// ListRunFields is ListRuns decoding of each run only its metadata, its
// spec and the named fields of its status (DecodeRunFields).
func ListRunFields(ctx context.Context, r client.Reader, statusFields []string, opts ...client.ListOption) (good []chaosv1alpha1.ExperimentRun, bad []*MalformedError, err error) {
	return list(ctx, r, runListGVK, "runs", opts, func(u *unstructured.Unstructured) (*chaosv1alpha1.ExperimentRun, error) {
		return DecodeRunFields(u, statusFields...)
	})
}

// DecodeRunFields decodes a stored run's metadata and spec, and of its
// status only the named fields, leaving the others zero. It is for readers
// that need a few fields of every run (the ChaosPolicy controller counts
// phases and kill-switch aborts at each run change): the Experiment
// snapshot, the targets and the probes are most of a run and of the time
// its decoding takes. A run is malformed here only if a decoded part is.
func DecodeRunFields(u *unstructured.Unstructured, statusFields ...string) (*chaosv1alpha1.ExperimentRun, error) {
	part := make(map[string]any, 5)
	for _, k := range []string{"apiVersion", "kind", "metadata", "spec"} {
		if v, ok := u.Object[k]; ok {
			part[k] = v
		}
	}
	switch status := u.Object["status"].(type) {
	case map[string]any:
		fields := make(map[string]any, len(statusFields))
		for _, f := range statusFields {
			if v, ok := status[f]; ok {
				fields[f] = v
			}
		}
		part["status"] = fields
	case nil:
	default:
		// Not an object: decoding says so, naming status.
		part["status"] = status
	}
	return DecodeRun(&unstructured.Unstructured{Object: part})
}

// RunPhase returns a stored run's status.phase, read on its own: a run
// whose other fields do not decode still tells whether it is active. It is
// empty when the phase is unset or not a string.
func RunPhase(u *unstructured.Unstructured) chaosv1alpha1.RunPhase {
	p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return chaosv1alpha1.RunPhase(p)
}

// RunExperimentName returns a stored run's spec.experimentRef.name, read on
// its own, or "" when it is unset or not a string.
func RunExperimentName(u *unstructured.Unstructured) string {
	name, _, _ := unstructured.NestedString(u.Object, "spec", "experimentRef", "name")
	return name
}

// Conditions returns the conditions of a stored object's status, decoded on
// their own, or none when they cannot be: a report written on an object
// that does not decode keeps its other conditions, and rewrites them from
// scratch when they are part of what is broken.
func Conditions(u *unstructured.Unstructured) []metav1.Condition {
	status, ok := u.Object["status"].(map[string]any)
	if !ok {
		return nil
	}
	var out struct {
		Conditions []metav1.Condition `json:"conditions"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"conditions": status["conditions"]}, &out); err != nil {
		return nil
	}
	return out.Conditions
}

// get reads key through r as an unstructured gvk and decodes it into a T.
//
// The object is read without a deep copy (a cache hands out its own): it is
// only decoded, into a new T that shares no map or slice with it (the
// converter copies them; Faultline's types hold no interface or raw
// fields), and never returned.
func get[T any](ctx context.Context, r client.Reader, gvk schema.GroupVersionKind, key client.ObjectKey) (*T, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.Get(ctx, key, u, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return decodeAs[T](u)
}

// list lists an unstructured listGVK through r and decodes each item with
// decode, sorting out those that do not decode. what names the kind in the
// error of a failed list. The items are read without a deep copy, as get
// reads: decode must return a new value that shares nothing with them.
func list[T any](ctx context.Context, r client.Reader, listGVK schema.GroupVersionKind, what string, opts []client.ListOption,
	decode func(*unstructured.Unstructured) (*T, error)) (good []T, bad []*MalformedError, err error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(listGVK)
	if err := r.List(ctx, l, append(slices.Clip(opts), client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", what, err)
	}
	good = make([]T, 0, len(l.Items))
	for i := range l.Items {
		obj, err := decode(&l.Items[i])
		if m, ok := errors.AsType[*MalformedError](err); ok {
			bad = append(bad, m)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		good = append(good, *obj)
	}
	return good, bad, nil
}

// decodeAs converts u into a new T, or returns a *MalformedError.
func decodeAs[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := decode(u, out, func() any { return new(T) }); err != nil {
		return nil, err
	}
	return out, nil
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
