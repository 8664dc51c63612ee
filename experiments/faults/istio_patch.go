package faults

// The patch editor: every write of the Istio fault is one JSON patch of
// exactly the paths it edits, pinned to the resourceVersion it was computed
// from.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	istionetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// istioFieldManager names Faultline in the VirtualService's managedFields, so
// `kubectl get -o yaml --show-managed-fields` shows who set the fault.
const istioFieldManager = "faultline"

// vsEditor edits a VirtualService in memory and records each edit as a JSON
// patch operation on the same path, so the write changes exactly what was
// edited and nothing another writer set. Indices stay valid because each
// operation is recorded against the list as the previous ones left it, which
// is also how the API server applies them.
type vsEditor struct {
	vs   *networkingv1.VirtualService
	http []*istionetworking.HTTPRoute
	ops  []jsonPatchOp
}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

func newVSEditor(vs *networkingv1.VirtualService) *vsEditor {
	return &vsEditor{vs: vs, http: slices.Clone(vs.Spec.GetHttp())}
}

// index is the position of the http route named name, or -1.
func (e *vsEditor) index(name string) int {
	return slices.IndexFunc(e.http, func(r *istionetworking.HTTPRoute) bool { return r.GetName() == name })
}

func (e *vsEditor) routePath(i int) string { return "/spec/http/" + strconv.Itoa(i) }

// setFault sets route i's fault; nil removes it.
func (e *vsEditor) setFault(i int, fault *istionetworking.HTTPFaultInjection) {
	route := proto.Clone(e.http[i]).(*istionetworking.HTTPRoute)
	if isNoFault(fault) {
		if route.Fault == nil {
			return
		}
		route.Fault = nil
		e.ops = append(e.ops, jsonPatchOp{Op: "remove", Path: e.routePath(i) + "/fault"})
	} else {
		route.Fault = proto.Clone(fault).(*istionetworking.HTTPFaultInjection)
		e.ops = append(e.ops, jsonPatchOp{Op: "add", Path: e.routePath(i) + "/fault", Value: route.Fault})
	}
	e.http[i] = route
}

func (e *vsEditor) insertRoute(i int, route *istionetworking.HTTPRoute) {
	e.http = slices.Insert(e.http, i, route)
	e.ops = append(e.ops, jsonPatchOp{Op: "add", Path: e.routePath(i), Value: route})
}

func (e *vsEditor) removeRoute(i int) {
	e.http = slices.Delete(e.http, i, i+1)
	e.ops = append(e.ops, jsonPatchOp{Op: "remove", Path: e.routePath(i)})
}

// metaMap is one of the VirtualService's string maps in metadata: its
// labels or its annotations, with the JSON pointer to it.
type metaMap struct {
	path string
	get  func() map[string]string
	set  func(map[string]string)
}

func (e *vsEditor) annotations() metaMap {
	return metaMap{path: "/metadata/annotations", get: e.vs.GetAnnotations, set: e.vs.SetAnnotations}
}

func (e *vsEditor) labels() metaMap {
	return metaMap{path: "/metadata/labels", get: e.vs.GetLabels, set: e.vs.SetLabels}
}

// setIn sets key to value in m, adding the map itself first when the
// VirtualService has none.
func (e *vsEditor) setIn(m metaMap, key, value string) {
	current := m.get()
	if v, ok := current[key]; ok && v == value {
		return
	}
	if current == nil {
		current = map[string]string{}
		e.ops = append(e.ops, jsonPatchOp{Op: "add", Path: m.path, Value: map[string]string{}})
	} else {
		current = maps.Clone(current)
	}
	current[key] = value
	m.set(current)
	e.ops = append(e.ops, jsonPatchOp{Op: "add", Path: m.path + "/" + escapePointer(key), Value: value})
}

// removeFrom removes key from m, if it is there.
func (e *vsEditor) removeFrom(m metaMap, key string) {
	current := m.get()
	if _, ok := current[key]; !ok {
		return
	}
	current = maps.Clone(current)
	delete(current, key)
	m.set(current)
	e.ops = append(e.ops, jsonPatchOp{Op: "remove", Path: m.path + "/" + escapePointer(key)})
}

func (e *vsEditor) setAnnotation(key, value string) { e.setIn(e.annotations(), key, value) }

func (e *vsEditor) removeAnnotation(key string) { e.removeFrom(e.annotations(), key) }

func (e *vsEditor) setLabel(key, value string) { e.setIn(e.labels(), key, value) }

// removeMarks removes the run's annotations and label.
func (e *vsEditor) removeMarks() {
	for _, key := range []string{chaosv1alpha1.RunAnnotation, chaosv1alpha1.ExpiryAnnotation, IstioRestoreAnnotation} {
		e.removeAnnotation(key)
	}
	e.removeFrom(e.labels(), chaosv1alpha1.InjectedLabel)
}

// apply adds the edits that inject restore, inserting the routes it names
// narrowed to match, and returns the routes that another writer changed since
// Prepare (in which case e must not be written).
func (e *vsEditor) apply(restore *chaosv1alpha1.IstioRestore, match *chaosv1alpha1.IstioMatch) ([]string, error) {
	var conflicts []string
	for _, rr := range restore.Routes {
		injected, err := parseFault(rr.InjectedFault)
		if err != nil {
			return nil, fmt.Errorf("route %q: injected fault: %w", rr.Name, err)
		}
		if rr.InsertedRoute != "" {
			if e.index(rr.InsertedRoute) >= 0 {
				continue
			}
			i := e.index(rr.Name)
			if i < 0 {
				conflicts = append(conflicts, fmt.Sprintf("route %s is gone", rr.Name))
				continue
			}
			if match == nil {
				return nil, fmt.Errorf("route %q: restore data names an inserted route but the fault has no match", rr.Name)
			}
			scoped, err := scopedRoute(e.http[i], match, rr.InsertedRoute, injected)
			if err != nil {
				return nil, err
			}
			// Ahead of the original: Istio uses the first route that matches,
			// so the narrowed copy takes the slice and the rest falls through.
			e.insertRoute(i, scoped)
			continue
		}
		i := e.index(rr.Name)
		if i < 0 {
			conflicts = append(conflicts, fmt.Sprintf("route %s is gone", rr.Name))
			continue
		}
		original, err := parseFault(rr.OriginalFault)
		if err != nil {
			return nil, fmt.Errorf("route %q: original fault: %w", rr.Name, err)
		}
		switch current := e.http[i].GetFault(); {
		case sameFault(current, injected):
		case sameFault(current, original):
			e.setFault(i, injected)
		default:
			conflicts = append(conflicts, fmt.Sprintf("route %s's fault was changed by another writer", rr.Name))
		}
	}
	return conflicts, nil
}

// undo adds the edits that revert restore and returns, for each route
// another writer changed, why it was left alone.
func (e *vsEditor) undo(restore *chaosv1alpha1.IstioRestore) ([]string, error) {
	var conflicts []string
	for _, rr := range restore.Routes {
		if rr.InsertedRoute != "" {
			for i := e.index(rr.InsertedRoute); i >= 0; i = e.index(rr.InsertedRoute) {
				e.removeRoute(i)
			}
			continue
		}
		i := e.index(rr.Name)
		if i < 0 {
			conflicts = append(conflicts, fmt.Sprintf("route %s was removed by another writer; nothing to restore", rr.Name))
			continue
		}
		original, err := parseFault(rr.OriginalFault)
		if err != nil {
			return nil, fmt.Errorf("route %q: original fault: %w", rr.Name, err)
		}
		injected, err := parseFault(rr.InjectedFault)
		if err != nil {
			return nil, fmt.Errorf("route %q: injected fault: %w", rr.Name, err)
		}
		switch current := e.http[i].GetFault(); {
		case sameFault(current, original):
		case sameFault(current, injected):
			e.setFault(i, original)
		default:
			conflicts = append(conflicts, fmt.Sprintf("route %s's fault was changed by another writer; left as they wrote it", rr.Name))
		}
	}
	return conflicts, nil
}

// write sends the recorded edits as one JSON patch. Its first operation sets
// metadata.resourceVersion to the one the edits were computed from: the API
// server then refuses the patch with a Conflict if the object changed since,
// and the caller re-reads and recomputes instead of writing a stale view.
func (e *vsEditor) write(ctx context.Context, c versioned.Interface) error {
	if len(e.ops) == 0 {
		return nil
	}
	ops := append([]jsonPatchOp{{Op: "replace", Path: "/metadata/resourceVersion", Value: e.vs.ResourceVersion}}, e.ops...)
	patch, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("encoding patch: %w", err)
	}
	_, err = c.NetworkingV1().VirtualServices(e.vs.Namespace).Patch(ctx, e.vs.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: istioFieldManager})
	if err != nil {
		return fmt.Errorf("patching VirtualService %s: %w", klog.KObj(e.vs), err)
	}
	return nil
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}

// faultJSON encodes fault as Istio's JSON; "" for no fault.
func faultJSON(fault *istionetworking.HTTPFaultInjection) (string, error) {
	if isNoFault(fault) {
		return "", nil
	}
	b, err := json.Marshal(fault)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// parseFault decodes faultJSON's output; nil for "".
func parseFault(s string) (*istionetworking.HTTPFaultInjection, error) {
	if s == "" {
		return nil, nil
	}
	fault := &istionetworking.HTTPFaultInjection{}
	if err := json.Unmarshal([]byte(s), fault); err != nil {
		return nil, fmt.Errorf("decoding fault %s: %w", s, err)
	}
	return fault, nil
}

// sameFault compares faults as protobuf messages, so neither key order nor
// spelling (a duration as "2s" or "2.000s") makes a fault another writer
// never touched look changed. An empty fault is no fault.
func sameFault(a, b *istionetworking.HTTPFaultInjection) bool {
	if isNoFault(a) || isNoFault(b) {
		return isNoFault(a) && isNoFault(b)
	}
	return proto.Equal(a, b)
}

func isNoFault(f *istionetworking.HTTPFaultInjection) bool {
	return f == nil || proto.Size(f) == 0
}
