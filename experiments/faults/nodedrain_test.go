package faults

import (
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// envtest runs no kubelet, scheduler or node controllers: nodes are plain
// objects, pods are bound by setting spec.nodeName and marked running by the
// test, and evicted pods with a grace period stay terminating forever. Each
// test drains a node of its own, so they run in parallel.

// drainStart is the fake clock's time when a drain starts.
var drainStart = time.Date(2030, 3, 4, 14, 0, 0, 0, time.UTC)

// drainExpires is the expiry runs stamp in these tests.
var drainExpires = drainStart.Add(time.Hour)

// newNode creates a node of the test's own, cordoned or not.
func newNode(t *testing.T, c client.Client, unschedulable bool) *corev1.Node {
	t.Helper()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "drain-"},
		Spec:       corev1.NodeSpec{Unschedulable: unschedulable},
	}
	if err := c.Create(t.Context(), node); err != nil {
		t.Fatalf("creating node: %v", err)
	}
	return node
}

// nodeTarget is the target a run "shop/run-1" would record for node.
func nodeTarget(node *corev1.Node) Target {
	return Target{Kind: chaosv1alpha1.TargetNode, Name: node.Name, UID: node.UID, Run: "shop/run-1", Expires: drainExpires}
}

// readNode reads the node by name.
func readNode(t *testing.T, c client.Client, name string) *corev1.Node {
	t.Helper()
	node := &corev1.Node{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, node); err != nil {
		t.Fatalf("reading node %s: %v", name, err)
	}
	return node
}

// setUnschedulable cordons or uncordons the node as a person with kubectl would.
func setUnschedulable(t *testing.T, c client.Client, name string, unschedulable bool) {
	t.Helper()
	node := readNode(t, c, name)
	node.Spec.Unschedulable = unschedulable
	if err := c.Update(t.Context(), node); err != nil {
		t.Fatalf("setting node %s unschedulable=%v: %v", name, unschedulable, err)
	}
}

// podOption shapes a pod podOn creates.
type podOption func(*corev1.Pod)

// controlledBy makes kind/name the pod's controller.
func controlledBy(kind, name string) podOption {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(name + "-uid"), Controller: ptr.To(true),
		}}
	}
}

// uncontrolled removes the pod's controller: nothing would recreate it.
func uncontrolled(p *corev1.Pod) { p.OwnerReferences = nil }

// mirrored makes the pod a kubelet's mirror of a static pod, controlled by
// its Node as the kubelet sets it, so only the mirror annotation tells it
// apart from an evictable pod.
func mirrored(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: p.Spec.NodeName, UID: "node-uid", Controller: ptr.To(true),
	}}
	p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "d41d8cd98f00b204e9800998ecf8427e"}
}

// withEmptyDir gives the pod an emptyDir volume.
func withEmptyDir(p *corev1.Pod) {
	p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
}

// labelled sets the pod's app label, which guardWithBudget selects on
// ("checkout").
func labelled(app string) podOption {
	return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
}

// succeeded marks the pod finished.
func succeeded(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }

// podOn creates a pod bound to node, controlled by a ReplicaSet unless opts
// say otherwise, and marks it Running and Ready as a kubelet would.
func podOn(t *testing.T, c client.Client, ns, name, node string, opts ...podOption) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1"}},
		},
	}
	controlledBy("ReplicaSet", "web-5d8f")(pod)
	for _, opt := range opts {
		opt(pod)
	}
	phase := pod.Status.Phase
	if err := c.Create(t.Context(), pod); err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	pod.Status.Phase = corev1.PodRunning
	if phase != "" {
		pod.Status.Phase = phase
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatalf("marking pod %s/%s %s: %v", ns, name, pod.Status.Phase, err)
	}
	return pod
}

// assertDrainMarks checks the node carries the run's annotations, with the
// cordon mark only when cordonedByUs.
func assertDrainMarks(t *testing.T, node *corev1.Node, cordonedByUs bool) {
	t.Helper()
	want := map[string]string{
		chaosv1alpha1.RunAnnotation:    "shop/run-1",
		chaosv1alpha1.ExpiryAnnotation: drainExpires.Format(time.RFC3339),
		DrainStartedAnnotation:         drainStart.Format(time.RFC3339Nano),
	}
	for key, value := range want {
		if got := node.Annotations[key]; got != value {
			t.Errorf("node annotation %s = %q, want %q", key, got, value)
		}
	}
	if got := node.Labels[chaosv1alpha1.InjectedLabel]; got != "true" {
		t.Errorf("node label %s = %q, want \"true\"", chaosv1alpha1.InjectedLabel, got)
	}
	got, marked := node.Annotations[CordonedAnnotation]
	switch {
	case cordonedByUs && got != "true":
		t.Errorf("node annotation %s = %q, want \"true\"", CordonedAnnotation, got)
	case !cordonedByUs && marked:
		t.Errorf("node is marked %s=%q though Faultline did not cordon it", CordonedAnnotation, got)
	}
}

// assertUnmarked checks the node carries none of the drain's annotations.
func assertUnmarked(t *testing.T, node *corev1.Node) {
	t.Helper()
	for _, key := range nodeAnnotations {
		if value, ok := node.Annotations[key]; ok {
			t.Errorf("node still carries %s=%q", key, value)
		}
	}
	if value, ok := node.Labels[chaosv1alpha1.InjectedLabel]; ok {
		t.Errorf("node still labelled %s=%q", chaosv1alpha1.InjectedLabel, value)
	}
}

// podNames are the namespace/name of the evicted pods, in order.
func podNames(evicted []chaosv1alpha1.EvictedPod) []string {
	names := make([]string, 0, len(evicted))
	for _, e := range evicted {
		names = append(names, e.Namespace+"/"+e.Name)
	}
	return names
}

// prepareAndInject runs Prepare then one Inject, failing the test on any error.
func prepareAndInject(t *testing.T, fault *NodeDrain, target Target) Restore {
	t.Helper()
	r, err := fault.Prepare(t.Context(), target)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if r, err = fault.Inject(t.Context(), target, r); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return r
}

// newDrain is a drain with a fake clock at drainStart and grace period 0, so
// evicted pods are removed at once.
func newDrain(c client.Client, spec chaosv1alpha1.NodeDrainFault) *NodeDrain {
	if spec.GracePeriodSeconds == nil {
		spec.GracePeriodSeconds = ptr.To[int64](0)
	}
	return NewNodeDrain(c, clocktesting.NewFakePassiveClock(drainStart), spec)
}

func TestNodeDrainPrepare(t *testing.T) {
	c := apiServer(t)
	tests := map[string]struct {
		target               func(t *testing.T) Target
		wantErr              error
		wantWasUnschedulable bool
	}{
		"a schedulable node was not cordoned": {
			target: func(t *testing.T) Target { return nodeTarget(newNode(t, c, false)) },
		},
		"a node cordoned by someone else was": {
			target:               func(t *testing.T) Target { return nodeTarget(newNode(t, c, true)) },
			wantWasUnschedulable: true,
		},
		"a node this run already cordoned was not: Prepare after Inject must not adopt our own cordon": {
			target: func(t *testing.T) Target {
				target := nodeTarget(newNode(t, c, false))
				prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), target)
				return target
			},
		},
		"a deleted node is gone": {
			target: func(t *testing.T) Target {
				node := newNode(t, c, false)
				if err := c.Delete(t.Context(), node); err != nil {
					t.Fatal(err)
				}
				return nodeTarget(node)
			},
			wantErr: ErrTargetGone,
		},
		"a same-named node with another UID is gone": {
			target: func(t *testing.T) Target {
				target := nodeTarget(newNode(t, c, false))
				target.UID = "some-other-node"
				return target
			},
			wantErr: ErrTargetGone,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			target := tc.target(t)
			var before *corev1.Node
			if tc.wantErr == nil {
				before = readNode(t, c, target.Name)
			}
			r, err := newDrain(c, chaosv1alpha1.NodeDrainFault{}).Prepare(t.Context(), target)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Prepare error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if r == nil || r.Node == nil {
				t.Fatalf("Prepare = %+v, want node restore data", r)
			}
			if r.Node.WasUnschedulable != tc.wantWasUnschedulable {
				t.Errorf("wasUnschedulable = %v, want %v", r.Node.WasUnschedulable, tc.wantWasUnschedulable)
			}
			if after := readNode(t, c, target.Name); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("Prepare wrote the node (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

func TestNodeDrainRefusesTargetsItCannotTellApart(t *testing.T) {
	fault := NewNodeDrain(nil, clocktesting.NewFakePassiveClock(drainStart), chaosv1alpha1.NodeDrainFault{})
	tests := map[string]Target{
		"a target without a UID is refused": {Kind: chaosv1alpha1.TargetNode, Name: "node-1", Run: "shop/run-1"},
		"a target without a run is refused": {Kind: chaosv1alpha1.TargetNode, Name: "node-1", UID: "u"},
		"a pod target is refused":           {Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "p", UID: "u", Run: "shop/run-1"},
	}
	for name, target := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := fault.Prepare(t.Context(), target); err == nil || errors.Is(err, ErrTargetGone) {
				t.Errorf("Prepare error = %v, want a refusal", err)
			}
			if _, err := fault.Inject(t.Context(), target, nil); err == nil {
				t.Error("Inject succeeded, want a refusal")
			}
		})
	}
}

func TestNodeDrainInject(t *testing.T) {
	c := apiServer(t)
	t.Run("drain cordons the node, evicts its pods, skips DaemonSet and mirror pods", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		other := newNode(t, c, false)
		podOn(t, c, ns, "web-1", node.Name)
		podOn(t, c, ns, "db-0", node.Name, controlledBy("StatefulSet", "db"))
		kept := []*corev1.Pod{
			podOn(t, c, ns, "log-agent", node.Name, controlledBy("DaemonSet", "log-agent")),
			podOn(t, c, ns, "etcd-static", node.Name, mirrored),
			podOn(t, c, ns, "batch-done", node.Name, controlledBy("Job", "batch"), succeeded),
			podOn(t, c, ns, "bare", node.Name, uncontrolled),
			podOn(t, c, ns, "web-elsewhere", other.Name),
		}
		leaving := podOn(t, c, ns, "web-leaving", node.Name)
		if err := c.Delete(t.Context(), leaving, client.GracePeriodSeconds(60)); err != nil {
			t.Fatal(err)
		}

		r := prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))

		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("node is schedulable, want it cordoned")
		}
		assertDrainMarks(t, got, true)
		wantEvicted := []chaosv1alpha1.EvictedPod{
			{Namespace: ns, Name: "db-0", OwnerKind: "StatefulSet", OwnerName: "db"},
			{Namespace: ns, Name: "web-1", OwnerKind: "ReplicaSet", OwnerName: "web-5d8f"},
		}
		if !slices.Equal(r.Node.EvictedPods, wantEvicted) {
			t.Errorf("evictedPods = %+v, want %+v", r.Node.EvictedPods, wantEvicted)
		}
		if len(r.Node.BlockedPods) != 0 {
			t.Errorf("blockedPods = %v, want none", r.Node.BlockedPods)
		}
		for _, name := range []string{"web-1", "db-0"} {
			if pod := getPod(t, c, ns, name); pod != nil {
				t.Errorf("pod %s still exists (deletionTimestamp %v), want it evicted", name, pod.DeletionTimestamp)
			}
		}
		for _, pod := range kept {
			got := getPod(t, c, ns, pod.Name)
			if got == nil || got.DeletionTimestamp != nil {
				t.Errorf("pod %s was evicted, want it left alone", pod.Name)
			}
		}
		if got := getPod(t, c, ns, leaving.Name); got == nil || ptr.Deref(got.DeletionGracePeriodSeconds, -1) != 60 {
			t.Errorf("terminating pod = %v, want it left to finish its 60s shutdown", got)
		}
		if got := readNode(t, c, other.Name); got.Spec.Unschedulable || len(got.Annotations) != 0 {
			t.Errorf("another node was touched: unschedulable=%v annotations=%v", got.Spec.Unschedulable, got.Annotations)
		}
	})

	t.Run("a node cordoned before the run is drained but not marked as our cordon", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, true)
		podOn(t, c, ns, "web-1", node.Name)

		r := prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))

		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("node is schedulable, want it still cordoned")
		}
		assertDrainMarks(t, got, false)
		if !slices.Equal(podNames(r.Node.EvictedPods), []string{ns + "/web-1"}) {
			t.Errorf("evictedPods = %+v, want web-1", r.Node.EvictedPods)
		}
	})

	t.Run("a node cordoned by someone else between Prepare and Inject is not marked as our cordon", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r, err := fault.Prepare(t.Context(), target)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		setUnschedulable(t, c, node.Name, true)
		if _, err := fault.Inject(t.Context(), target, r); err != nil {
			t.Fatalf("Inject: %v", err)
		}
		assertDrainMarks(t, readNode(t, c, node.Name), false)
	})

	t.Run("a node another run is draining is refused and left as it was", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))
		before := readNode(t, c, node.Name)

		second := nodeTarget(node)
		second.Run = "shop/run-2"
		_, err := newDrain(c, chaosv1alpha1.NodeDrainFault{}).Inject(t.Context(), second, nil)
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("Inject error = %v, want ErrBlocked", err)
		}
		if after := readNode(t, c, node.Name); after.ResourceVersion != before.ResourceVersion {
			t.Errorf("the refused drain wrote the node (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
		}
	})

	t.Run("a same-named replacement evicted on a later pass is listed once", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, ns, "db-0", node.Name, controlledBy("StatefulSet", "db"))
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r := prepareAndInject(t, fault, target)
		// A StatefulSet pod that tolerates the cordon comes back under its name.
		podOn(t, c, ns, "db-0", node.Name, controlledBy("StatefulSet", "db"))
		r, err := fault.Inject(t.Context(), target, r)
		if err != nil {
			t.Fatalf("second Inject: %v", err)
		}
		if getPod(t, c, ns, "db-0") != nil {
			t.Error("the replacement was not evicted")
		}
		if got := podNames(r.Node.EvictedPods); !slices.Equal(got, []string{ns + "/db-0"}) {
			t.Errorf("evictedPods = %v, want db-0 once", got)
		}
	})

	t.Run("a node deleted before Inject is gone", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		r, err := fault.Prepare(t.Context(), nodeTarget(node))
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if err := c.Delete(t.Context(), node); err != nil {
			t.Fatal(err)
		}
		if _, err := fault.Inject(t.Context(), nodeTarget(node), r); !errors.Is(err, ErrTargetGone) {
			t.Errorf("Inject error = %v, want ErrTargetGone", err)
		}
	})
}

func TestNodeDrainEmptyDir(t *testing.T) {
	c := apiServer(t)
	tests := map[string]struct {
		policy      chaosv1alpha1.EmptyDirPolicy
		wantEvicted bool
	}{
		"emptyDir pods are skipped by default":   {policy: ""},
		"emptyDir pods are skipped with Skip":    {policy: chaosv1alpha1.EmptyDirSkip},
		"emptyDir pods are evicted when allowed": {policy: chaosv1alpha1.EmptyDirEvict, wantEvicted: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			node := newNode(t, c, false)
			podOn(t, c, ns, "cache-0", node.Name, withEmptyDir)
			podOn(t, c, ns, "web-1", node.Name)

			r := prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{EmptyDir: tc.policy}), nodeTarget(node))

			wantNames := []string{ns + "/web-1"}
			if tc.wantEvicted {
				wantNames = []string{ns + "/cache-0", ns + "/web-1"}
			}
			if got := podNames(r.Node.EvictedPods); !slices.Equal(got, wantNames) {
				t.Errorf("evictedPods = %v, want %v", got, wantNames)
			}
			got := getPod(t, c, ns, "cache-0")
			if tc.wantEvicted && got != nil {
				t.Error("emptyDir pod still exists, want it evicted")
			}
			if !tc.wantEvicted && (got == nil || got.DeletionTimestamp != nil) {
				t.Error("emptyDir pod was evicted, want its data kept")
			}
		})
	}
}

// TestNodeDrainInjectTwice uses a graceful eviction, so evicted pods stay
// terminating (no kubelet finishes them) and the second pass sees them.
func TestNodeDrainInjectTwice(t *testing.T) {
	c := apiServer(t)
	t.Run("inject twice is a no-op the second time", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, ns, "web-1", node.Name)
		podOn(t, c, ns, "web-2", node.Name)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{GracePeriodSeconds: ptr.To[int64](30)})
		target := nodeTarget(node)

		first := prepareAndInject(t, fault, target)
		nodeAfterFirst := readNode(t, c, node.Name)
		podsAfterFirst := map[string]string{}
		for _, name := range []string{"web-1", "web-2"} {
			pod := getPod(t, c, ns, name)
			if pod == nil || ptr.Deref(pod.DeletionGracePeriodSeconds, -1) != 30 {
				t.Fatalf("pod %s = %v, want it terminating with grace 30s", name, pod)
			}
			podsAfterFirst[name] = pod.ResourceVersion
		}

		second, err := fault.Inject(t.Context(), target, first)
		if err != nil {
			t.Fatalf("second Inject: %v", err)
		}
		if !slices.Equal(second.Node.EvictedPods, first.Node.EvictedPods) || len(second.Node.BlockedPods) != 0 {
			t.Errorf("second Inject changed the restore data: %+v, want %+v", second.Node, first.Node)
		}
		if got := readNode(t, c, node.Name); got.ResourceVersion != nodeAfterFirst.ResourceVersion {
			t.Errorf("second Inject wrote the node (resourceVersion %s -> %s)", nodeAfterFirst.ResourceVersion, got.ResourceVersion)
		}
		for name, rv := range podsAfterFirst {
			if got := getPod(t, c, ns, name); got == nil || got.ResourceVersion != rv {
				t.Errorf("second Inject wrote terminating pod %s", name)
			}
		}
	})
}

func TestNodeDrainRevert(t *testing.T) {
	c := apiServer(t)
	tests := map[string]struct {
		inject  bool
		reverts int
		// nilRestore reverts as a run whose status lost the restore data.
		nilRestore bool
	}{
		"revert uncordons and removes annotations": {inject: true, reverts: 1},
		"revert twice": {inject: true, reverts: 2},
		"revert without inject leaves the node alone": {inject: false, reverts: 2},
		"revert from the node's annotations alone":    {inject: true, reverts: 1, nilRestore: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			node := newNode(t, c, false)
			podOn(t, c, ns, "web-1", node.Name)
			fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
			target := nodeTarget(node)
			r, err := fault.Prepare(t.Context(), target)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tc.inject {
				if r, err = fault.Inject(t.Context(), target, r); err != nil {
					t.Fatalf("Inject: %v", err)
				}
				if !readNode(t, c, node.Name).Spec.Unschedulable {
					t.Fatal("Inject did not cordon the node")
				}
			}
			if tc.nilRestore {
				r = nil
			}
			before := readNode(t, c, node.Name)
			for i := range tc.reverts {
				if err := fault.Revert(t.Context(), target, r); err != nil {
					t.Fatalf("Revert #%d: %v", i+1, err)
				}
			}

			got := readNode(t, c, node.Name)
			if got.Spec.Unschedulable {
				t.Error("node is still cordoned after revert")
			}
			assertUnmarked(t, got)
			if !tc.inject && got.ResourceVersion != before.ResourceVersion {
				t.Errorf("revert without inject wrote the node (resourceVersion %s -> %s)", before.ResourceVersion, got.ResourceVersion)
			}
			if tc.inject && getPod(t, c, ns, "web-1") != nil {
				t.Error("the evicted pod came back: revert must not recreate it, its controller does")
			}
		})
	}

	t.Run("revert of a same-named node with another UID leaves it alone", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		r := prepareAndInject(t, fault, nodeTarget(node))
		before := readNode(t, c, node.Name)
		target := nodeTarget(node)
		target.UID = "another-node"
		if err := fault.Revert(t.Context(), target, r); err != nil {
			t.Fatalf("Revert: %v", err)
		}
		if got := readNode(t, c, node.Name); got.ResourceVersion != before.ResourceVersion {
			t.Errorf("revert for another node wrote this one (resourceVersion %s -> %s)", before.ResourceVersion, got.ResourceVersion)
		}
	})

	t.Run("revert of a deleted node is a no-op", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		r := prepareAndInject(t, fault, nodeTarget(node))
		if err := c.Delete(t.Context(), node); err != nil {
			t.Fatal(err)
		}
		if err := fault.Revert(t.Context(), nodeTarget(node), r); err != nil {
			t.Errorf("Revert: %v", err)
		}
	})
}

func TestNodeDrainRevertLeavesOthersChanges(t *testing.T) {
	c := apiServer(t)

	t.Run("a node cordoned by someone else before the run stays cordoned after revert", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, true)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r := prepareAndInject(t, fault, target)
		for i := range 2 {
			if err := fault.Revert(t.Context(), target, r); err != nil {
				t.Fatalf("Revert #%d: %v", i+1, err)
			}
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("revert uncordoned a node someone else cordoned")
		}
		assertUnmarked(t, got)
	})

	t.Run("a node cordoned by someone else between Prepare and Inject stays cordoned after revert", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r, err := fault.Prepare(t.Context(), target)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		setUnschedulable(t, c, node.Name, true)
		if r, err = fault.Inject(t.Context(), target, r); err != nil {
			t.Fatalf("Inject: %v", err)
		}
		if err := fault.Revert(t.Context(), target, r); err != nil {
			t.Fatalf("Revert: %v", err)
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("revert uncordoned a node someone else cordoned")
		}
		assertUnmarked(t, got)
	})

	t.Run("someone uncordons the node during the fault: revert leaves it schedulable and just cleans annotations", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r := prepareAndInject(t, fault, target)
		setUnschedulable(t, c, node.Name, false)

		// A later pass must not fight the person either.
		if _, err := fault.Inject(t.Context(), target, r); err != nil {
			t.Fatalf("Inject after the uncordon: %v", err)
		}
		if readNode(t, c, node.Name).Spec.Unschedulable {
			t.Fatal("Inject cordoned again a node someone uncordoned")
		}

		err := fault.Revert(t.Context(), target, r)
		var conflict *ConflictError
		if !errors.As(err, &conflict) {
			t.Fatalf("Revert error = %v, want a ConflictError saying someone uncordoned the node", err)
		}
		// That someone may cordon it again for their own reasons: the run's
		// revert is done and must not touch it any more.
		setUnschedulable(t, c, node.Name, true)
		if err := fault.Revert(t.Context(), target, r); err != nil {
			t.Fatalf("second Revert: %v", err)
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("a second revert uncordoned the node its owner cordoned again")
		}
		assertUnmarked(t, got)
	})
}

func TestNodeDrainDisruptionBudget(t *testing.T) {
	c := apiServer(t)
	t.Run("PDB blocks eviction: ErrInProgress until the timeout, then nil with BlockedPods listing the pod, and the pod still exists", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, ns, "checkout-0", node.Name, labelled("checkout"))
		podOn(t, c, ns, "web-1", node.Name)
		guardWithBudget(t, c, ns, 1, 0)
		clk := clocktesting.NewFakePassiveClock(drainStart)
		spec := chaosv1alpha1.NodeDrainFault{GracePeriodSeconds: ptr.To[int64](0), Timeout: &metav1.Duration{Duration: 2 * time.Minute}}
		target := nodeTarget(node)
		wantBlocked := []string{ns + "/checkout-0"}

		r, err := NewNodeDrain(c, clk, spec).Prepare(t.Context(), target)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		// Each pass uses a new NodeDrain, as reconciles after an operator
		// restart would: the deadline must come from the node, not memory.
		for _, elapsed := range []time.Duration{0, time.Minute, 2*time.Minute - time.Nanosecond} {
			clk.SetTime(drainStart.Add(elapsed))
			r, err = NewNodeDrain(c, clk, spec).Inject(t.Context(), target, r)
			if !errors.Is(err, ErrInProgress) {
				t.Fatalf("Inject after %s: error = %v, want ErrInProgress", elapsed, err)
			}
			if !slices.Equal(r.Node.BlockedPods, wantBlocked) {
				t.Errorf("Inject after %s: blockedPods = %v, want %v", elapsed, r.Node.BlockedPods, wantBlocked)
			}
			if got := podNames(r.Node.EvictedPods); !slices.Equal(got, []string{ns + "/web-1"}) {
				t.Errorf("Inject after %s: evictedPods = %v, want the unguarded pod", elapsed, got)
			}
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("node is schedulable while the drain waits, want it cordoned")
		}
		assertDrainMarks(t, got, true)

		clk.SetTime(drainStart.Add(2 * time.Minute))
		r, err = NewNodeDrain(c, clk, spec).Inject(t.Context(), target, r)
		if err != nil {
			t.Fatalf("Inject at the timeout: %v, want nil: the drain went as far as the budget allowed", err)
		}
		if !slices.Equal(r.Node.BlockedPods, wantBlocked) {
			t.Errorf("blockedPods = %v, want %v", r.Node.BlockedPods, wantBlocked)
		}
		if pod := getPod(t, c, ns, "checkout-0"); pod == nil || pod.DeletionTimestamp != nil {
			t.Error("the budget-guarded pod was removed: a drain must never force past a PodDisruptionBudget")
		}
		assertDrainMarks(t, readNode(t, c, node.Name), true)
	})

	t.Run("a budget that allows the eviction on a later pass ends the drain", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t, c)
		node := newNode(t, c, false)
		podOn(t, c, ns, "checkout-0", node.Name, labelled("checkout"))
		guardWithBudget(t, c, ns, 1, 0)
		fault := newDrain(c, chaosv1alpha1.NodeDrainFault{})
		target := nodeTarget(node)
		r, err := fault.Prepare(t.Context(), target)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if r, err = fault.Inject(t.Context(), target, r); !errors.Is(err, ErrInProgress) {
			t.Fatalf("Inject error = %v, want ErrInProgress", err)
		}

		pdb := &policyv1.PodDisruptionBudget{}
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "checkout"}, pdb); err != nil {
			t.Fatal(err)
		}
		pdb.Status.DisruptionsAllowed, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy = 1, 2, 1
		if err := c.Status().Update(t.Context(), pdb); err != nil {
			t.Fatalf("allowing a disruption: %v", err)
		}

		if r, err = fault.Inject(t.Context(), target, r); err != nil {
			t.Fatalf("Inject once the budget allows: %v", err)
		}
		if len(r.Node.BlockedPods) != 0 {
			t.Errorf("blockedPods = %v, want none", r.Node.BlockedPods)
		}
		if got := podNames(r.Node.EvictedPods); !slices.Equal(got, []string{ns + "/checkout-0"}) {
			t.Errorf("evictedPods = %v, want the pod the budget let go", got)
		}
		if getPod(t, c, ns, "checkout-0") != nil {
			t.Error("pod still exists, want it evicted")
		}
	})
}

func TestNodeDrainReapNode(t *testing.T) {
	c := apiServer(t)
	t.Run("ReapNode uncordons from annotations alone", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))

		changed, err := ReapNode(t.Context(), c, readNode(t, c, node.Name))
		if err != nil || !changed {
			t.Fatalf("ReapNode = %v, %v; want true, nil", changed, err)
		}
		got := readNode(t, c, node.Name)
		if got.Spec.Unschedulable {
			t.Error("node is still cordoned after ReapNode")
		}
		assertUnmarked(t, got)
		if changed, err := ReapNode(t.Context(), c, got); err != nil || changed {
			t.Errorf("second ReapNode = %v, %v; want false, nil", changed, err)
		}
	})

	t.Run("ReapNode leaves a node someone else cordoned cordoned", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, true)
		prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))

		changed, err := ReapNode(t.Context(), c, readNode(t, c, node.Name))
		if err != nil || !changed {
			t.Fatalf("ReapNode = %v, %v; want true, nil", changed, err)
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("ReapNode uncordoned a node someone else cordoned")
		}
		assertUnmarked(t, got)
	})

	t.Run("ReapNode with a stale view of an old run leaves a newer run's drain", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		stale := readNode(t, c, node.Name)
		stale.Annotations = map[string]string{chaosv1alpha1.RunAnnotation: "shop/run-0", CordonedAnnotation: "true"}
		prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))

		changed, err := ReapNode(t.Context(), c, stale)
		if err != nil || changed {
			t.Fatalf("ReapNode = %v, %v; want false, nil", changed, err)
		}
		got := readNode(t, c, node.Name)
		if !got.Spec.Unschedulable {
			t.Error("ReapNode undid a newer run's cordon")
		}
		assertDrainMarks(t, got, true)
	})

	t.Run("ReapNode ignores a node without a run", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, true)
		if changed, err := ReapNode(t.Context(), c, node); err != nil || changed {
			t.Errorf("ReapNode = %v, %v; want false, nil", changed, err)
		}
		if got := readNode(t, c, node.Name); !got.Spec.Unschedulable || got.ResourceVersion != node.ResourceVersion {
			t.Error("ReapNode wrote a node Faultline never drained")
		}
	})

	t.Run("ReapNode of a deleted node is a no-op", func(t *testing.T) {
		t.Parallel()
		node := newNode(t, c, false)
		prepareAndInject(t, newDrain(c, chaosv1alpha1.NodeDrainFault{}), nodeTarget(node))
		marked := readNode(t, c, node.Name)
		if err := c.Delete(t.Context(), marked); err != nil {
			t.Fatal(err)
		}
		if changed, err := ReapNode(t.Context(), c, marked); err != nil || changed {
			t.Errorf("ReapNode = %v, %v; want false, nil", changed, err)
		}
	})
}

// TestNodeDrainLostPassStillReportsItsEvictions: a pass whose result never
// reached the run's status (the operator died after evicting) is not lost:
// the next pass, given only what Prepare returned, reports every pod the
// first one evicted.
func TestNodeDrainLostPassStillReportsItsEvictions(t *testing.T) {
	c := apiServer(t)
	for name, grace := range map[string]*int64{"evicted pods gone": ptr.To[int64](0), "evicted pods terminating": ptr.To[int64](30)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			node := newNode(t, c, false)
			podOn(t, c, ns, "web-1", node.Name)
			podOn(t, c, ns, "db-0", node.Name, controlledBy("StatefulSet", "db"))
			fault := newDrain(c, chaosv1alpha1.NodeDrainFault{GracePeriodSeconds: grace})
			target := nodeTarget(node)
			prepared, err := fault.Prepare(t.Context(), target)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			first, err := fault.Inject(t.Context(), target, prepared)
			if err != nil {
				t.Fatalf("first Inject: %v", err)
			}
			if len(first.Node.EvictedPods) != 2 {
				t.Fatalf("first pass evicted %+v, want both pods", first.Node.EvictedPods)
			}

			// The first pass's result is lost: the next starts from Prepare's.
			second, err := fault.Inject(t.Context(), target, prepared)
			if err != nil {
				t.Fatalf("second Inject: %v", err)
			}
			if !slices.Equal(second.Node.EvictedPods, first.Node.EvictedPods) {
				t.Errorf("after a lost pass, evictedPods = %+v, want %+v", second.Node.EvictedPods, first.Node.EvictedPods)
			}
			if err := fault.Revert(t.Context(), target, second); err != nil {
				t.Fatalf("Revert: %v", err)
			}
			assertUnmarked(t, readNode(t, c, node.Name))
		})
	}
}
