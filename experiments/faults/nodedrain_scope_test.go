package faults

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// namespaceScope lets a drain evict the pods of the listed namespaces only.
type namespaceScope struct {
	allowed sets.Set[string]
	err     error
}

func (s namespaceScope) Evictable(context.Context) (func(*corev1.Pod) bool, error) {
	if s.err != nil {
		return nil, s.err
	}
	return func(p *corev1.Pod) bool { return s.allowed.Has(p.Namespace) }, nil
}

func TestNodeDrainEvictionScope(t *testing.T) {
	c := apiServer(t)
	t.Run("pods outside the scope stay on the cordoned node and are recorded as spared, inject twice and revert twice", func(t *testing.T) {
		t.Parallel()
		enabled, other := newNamespace(t, c), newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, enabled, "web-1", node.Name)
		podOn(t, c, other, "billing-1", node.Name)
		podOn(t, c, "kube-system", "coredns-"+node.Name, node.Name)
		// A DaemonSet pod stays whatever the scope: it is not "spared".
		podOn(t, c, other, "log-agent", node.Name, controlledBy("DaemonSet", "log-agent"))
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{}).WithEvictionScope(namespaceScope{allowed: sets.New(enabled)})
		target := nodeTarget(node)

		r := prepareAndInject(t, fault, target)
		wantSpared := []string{"kube-system/coredns-" + node.Name, other + "/billing-1"}
		slices.Sort(wantSpared)
		if !slices.Equal(r.Node.SparedPods, wantSpared) {
			t.Errorf("sparedPods = %v, want %v", r.Node.SparedPods, wantSpared)
		}
		if got := podNames(r.Node.EvictedPods); !slices.Equal(got, []string{enabled + "/web-1"}) {
			t.Errorf("evictedPods = %v, want only %s/web-1", got, enabled)
		}
		for _, p := range [][2]string{{other, "billing-1"}, {"kube-system", "coredns-" + node.Name}} {
			if pod := getPod(t, c, p[0], p[1]); pod == nil || pod.DeletionTimestamp != nil {
				t.Errorf("pod %s/%s = %v, want it left running", p[0], p[1], pod)
			}
		}
		if !readNode(t, c, node.Name).Spec.Unschedulable {
			t.Error("node is schedulable, want it cordoned")
		}

		again, err := fault.Inject(t.Context(), target, r)
		if err != nil {
			t.Fatalf("second Inject: %v", err)
		}
		if !slices.Equal(again.Node.SparedPods, wantSpared) || !slices.Equal(again.Node.EvictedPods, r.Node.EvictedPods) {
			t.Errorf("second Inject changed the restore data: %+v, want %+v", again.Node, r.Node)
		}
		for range 2 {
			if err := fault.Revert(t.Context(), target, again); err != nil {
				t.Fatalf("Revert: %v", err)
			}
		}
		got := readNode(t, c, node.Name)
		if got.Spec.Unschedulable {
			t.Error("node still cordoned after revert")
		}
		assertUnmarked(t, got)
	})

	t.Run("a scope that cannot be resolved evicts nothing", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, ns, "web-1", node.Name)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{}).WithEvictionScope(namespaceScope{err: errors.New("policy unreadable")})
		target := nodeTarget(node)
		r, err := fault.Prepare(t.Context(), target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fault.Inject(t.Context(), target, r); err == nil {
			t.Fatal("Inject succeeded, want the scope's error")
		}
		if pod := getPod(t, c, ns, "web-1"); pod == nil || pod.DeletionTimestamp != nil {
			t.Errorf("pod web-1 = %v, want it left running", pod)
		}
	})
}
