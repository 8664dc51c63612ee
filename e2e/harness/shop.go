package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The demo shop of e2e/testbed/shop.yaml.
const (
	ShopNamespace = "shop"
	// ReadyDelayAnnotation overrides, per pod, how long the kwok stage
	// pod-ready (e2e/testbed/kwok-stages.yaml) waits before a running pod
	// becomes Ready.
	ReadyDelayAnnotation = "faultline.dev/ready-delay"
	// DefaultReadyDelay is that wait without the annotation.
	DefaultReadyDelay = 5 * time.Second
)

// shopDeployments are the demo Deployments and their replicas at rest.
var shopDeployments = map[string]int32{"checkout": 3, "cart": 3, "payments": 2, "reviews": 2, "ratings": 2}

// noisyServices fail a small share of requests at rest (trafficsim's
// --error-rate, 0.5% by default in hack/testbed-lib.sh): the judgement's
// services, whose natural noise a comparison must see through.
var noisyServices = map[string]bool{"reviews": true, "ratings": true}

// restingSuccessRatio is the least success ratio over 5s a shop service
// shows at rest. A noisy service's 5s window counts about 1,200 requests
// with 6 failed on average; 0.98 is 24 failed, which chance alone does not
// reach, where 0.99 (12) it would about once in 50 looks.
func restingSuccessRatio(service string) float64 {
	if noisyServices[service] {
		return 0.98
	}
	return 0.99
}

// ScaleDeployment sets the replicas of a shop Deployment.
func (t *Testbed) ScaleDeployment(ctx context.Context, name string, replicas int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ShopNamespace, Name: name}}
	return t.Client.Patch(ctx, d, client.RawPatch(types.MergePatchType, patch))
}

// deploymentReady reports whether a shop Deployment has rolled out with
// want replicas, all Ready, and no pod left over.
func (t *Testbed) deploymentReady(ctx context.Context, name string, want int32) (bool, error) {
	d := &appsv1.Deployment{}
	if err := t.Client.Get(ctx, client.ObjectKey{Namespace: ShopNamespace, Name: name}, d); err != nil {
		return false, err
	}
	s := d.Status
	ok := d.Spec.Replicas != nil && *d.Spec.Replicas == want && s.ObservedGeneration >= d.Generation &&
		s.Replicas == want && s.UpdatedReplicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want
	if !ok {
		return false, fmt.Errorf("deployment %s: want %d, status %d replicas, %d updated, %d ready, %d available", name, want, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
	}
	return true, nil
}

// SteadyState holds when every shop Deployment has its replicas at rest,
// all Ready, and Prometheus sees every service answer (nearly) all requests.
func (t *Testbed) SteadyState(ctx context.Context) (bool, error) {
	for name, replicas := range shopDeployments {
		if ok, err := t.deploymentReady(ctx, name, replicas); !ok {
			return false, err
		}
	}
	for name := range shopDeployments {
		r, err := t.SuccessRatio(ctx, name, "5s")
		if err != nil {
			return false, err
		}
		if !(r >= restingSuccessRatio(name)) { // NaN too: no traffic yet
			return false, fmt.Errorf("success ratio of %s over 5s is %.3f", name, r)
		}
	}
	return true, nil
}

// RequireSteadyState waits until the shop is at rest (SteadyState): call it
// first in every test, as a test before may have left it recovering.
func (t *Testbed) RequireSteadyState(tt testing.TB) {
	tt.Helper()
	WaitFor(tt, time.Minute, "the shop's steady state", t.SteadyState)
}

// RestoreShopOnCleanup registers a cleanup that, when the test ends and
// whatever it did, uncordons the kwok nodes, scales every shop Deployment
// back to its replicas at rest and waits for the steady state, so the next
// test starts from it. Register it first: cleanups run last-in first-out, so the test's own run before it.
func (t *Testbed) RestoreShopOnCleanup(tt testing.TB) {
	tt.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		nodes := &corev1.NodeList{}
		if err := t.Client.List(ctx, nodes, client.MatchingLabels{"type": "kwok"}); err != nil {
			tt.Errorf("listing nodes: %v", err)
		}
		for i := range nodes.Items {
			n := &nodes.Items[i]
			if !n.Spec.Unschedulable {
				continue
			}
			tt.Logf("uncordoning node %s, left cordoned by the test", n.Name)
			if err := t.Client.Patch(ctx, n, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"unschedulable":false}}`))); err != nil {
				tt.Errorf("uncordoning node %s: %v", n.Name, err)
			}
		}
		for name, replicas := range shopDeployments {
			if err := t.ScaleDeployment(ctx, name, replicas); err != nil {
				tt.Errorf("scaling %s back to %d: %v", name, replicas, err)
			}
		}
		if err := Poll(ctx, time.Minute, t.SteadyState); err != nil {
			tt.Errorf("the shop did not recover after the test: %v", err)
		}
	})
}

// ShopPods lists the pods of a shop app (label app=<app>).
func (t *Testbed) ShopPods(ctx context.Context, app string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := t.Client.List(ctx, pods, client.InNamespace(ShopNamespace), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// ReadyTransition returns when pod last became Ready, from its Ready
// condition (second resolution, as the API stores it).
func ReadyTransition(pod *corev1.Pod) (time.Time, bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// ReadyDelay is how long the kwok stages keep pod Running but not Ready: the
// ground truth a time-to-recover measurement is compared with.
func ReadyDelay(pod *corev1.Pod) (time.Duration, error) {
	v, ok := pod.Annotations[ReadyDelayAnnotation]
	if !ok {
		return DefaultReadyDelay, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("pod %s: annotation %s: %w", pod.Name, ReadyDelayAnnotation, err)
	}
	return d, nil
}

// VirtualServiceGVK is networking.istio.io/v1 VirtualService, patched as
// unstructured JSON so a test states the fault exactly as a user would.
var VirtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

// SetRouteFault sets the fault of the http route named route in a shop
// VirtualService (Istio's HTTPFaultInjection as JSON, e.g.
// {"abort":{"httpStatus":503,"percentage":{"value":50}}}); a nil fault removes
// it. The JSON patch tests the route's name at its index, so it cannot hit
// another route if the list changed in between.
func (t *Testbed) SetRouteFault(ctx context.Context, vsName, route string, fault map[string]any) error {
	vs := &unstructured.Unstructured{}
	vs.SetGroupVersionKind(VirtualServiceGVK)
	if err := t.Client.Get(ctx, client.ObjectKey{Namespace: ShopNamespace, Name: vsName}, vs); err != nil {
		return err
	}
	routes, _, err := unstructured.NestedSlice(vs.Object, "spec", "http")
	if err != nil {
		return err
	}
	idx, hasFault := -1, false
	for i, r := range routes {
		if m, ok := r.(map[string]any); ok && m["name"] == route {
			idx = i
			_, hasFault = m["fault"]
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("virtualservice %s has no http route %q", vsName, route)
	}
	ops := []map[string]any{{"op": "test", "path": fmt.Sprintf("/spec/http/%d/name", idx), "value": route}}
	switch {
	case fault != nil:
		ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/spec/http/%d/fault", idx), "value": fault})
	case hasFault:
		ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf("/spec/http/%d/fault", idx)})
	default:
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return t.Client.Patch(ctx, vs, client.RawPatch(types.JSONPatchType, patch))
}
