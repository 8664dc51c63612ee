package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Workloads of their own that the benchmarks, the soak and the ground-truth
// tests add to the testbed beside the shop: kwok nodes, namespaces and
// Deployments of kwok pods, each removed when the test or benchmark ends.
const (
	// BenchNodeType is the "type" label of the benchmarks' kwok nodes. It is
	// not the shop's "kwok", so the shop's node affinity keeps its pods off
	// them and the e2e helpers that walk type=kwok nodes never see them.
	BenchNodeType = "kwok-bench"
	// BenchPodsPerNode is the pod capacity of a benchmark node, a kubelet's
	// default maxPods.
	BenchPodsPerNode = 110
	// BenchAppLabel labels the benchmarks' pods with their Deployment's name.
	BenchAppLabel = "faultline.dev/bench-app"
)

// BenchNodes is a set of kwok nodes a benchmark adds to the testbed.
type BenchNodes struct {
	tb     *Testbed
	prefix string
	names  []string
}

// NewBenchNodes returns an empty set of nodes named prefix-NNN, deleted
// when b ends. Register it before anything that puts pods on the nodes:
// cleanups run last-in first-out, so the pods' namespaces are gone first.
func (t *Testbed) NewBenchNodes(b testing.TB, prefix string) *BenchNodes {
	n := &BenchNodes{tb: t, prefix: prefix}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, name := range n.names {
			err := t.Client.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
			if client.IgnoreNotFound(err) != nil {
				b.Errorf("deleting node %s: %v", name, err)
			}
		}
	})
	return n
}

// EnsureCapacity adds nodes until the set holds pods pods with one node to
// spare, and waits until kwok has made them Ready.
func (n *BenchNodes) EnsureCapacity(b testing.TB, pods int) {
	b.Helper()
	want := (pods+BenchPodsPerNode-1)/BenchPodsPerNode + 1
	if len(n.names) >= want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var added []string
	for i := len(n.names); i < want; i++ {
		node := BenchNode(fmt.Sprintf("%s-%03d", n.prefix, i))
		if err := n.tb.Client.Create(ctx, node); err != nil {
			b.Fatalf("creating kwok node %s: %v", node.Name, err)
		}
		n.names = append(n.names, node.Name)
		added = append(added, node.Name)
	}
	WaitFor(b, 5*time.Minute, fmt.Sprintf("%d kwok nodes to be Ready", len(added)), func(ctx context.Context) (bool, error) {
		for _, name := range added {
			node := &corev1.Node{}
			if err := n.tb.Client.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
				return false, err
			}
			if !nodeReady(node) {
				return false, fmt.Errorf("node %s is not Ready", name)
			}
		}
		return true, nil
	})
	b.Logf("added %d kwok nodes (%d in all, %d pods each) in %s", len(added), len(n.names), BenchPodsPerNode, time.Since(start).Round(100*time.Millisecond))
}

// BenchNode is a kwok node shaped like those of e2e/testbed/nodes.yaml:
// kwok fills in its conditions, and the taint keeps off every pod that does
// not tolerate fake nodes.
func BenchNode(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("16"),
		corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(BenchPodsPerNode, resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"type":                        BenchNodeType,
				"kubernetes.io/arch":          "amd64",
				"kubernetes.io/os":            "linux",
				"kubernetes.io/hostname":      name,
				"topology.kubernetes.io/zone": "zone-bench",
			},
		},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// BenchNamespace creates a namespace named prefix plus a random suffix,
// opted in to chaos when enabled, and returns its name. It is deleted when
// b ends (see DeleteNamespace).
func (t *Testbed) BenchNamespace(b testing.TB, prefix string, enabled bool) string {
	b.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if enabled {
		ns.Labels = map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.Client.Create(ctx, ns); err != nil {
		b.Fatalf("creating namespace %s*: %v", prefix, err)
	}
	b.Cleanup(func() { t.DeleteNamespace(b, ns.Name) })
	return ns.Name
}

// DeleteNamespace deletes a namespace and waits until it is gone, so the
// next measurement does not share the control plane with its teardown. A
// namespace still terminating after the wait is logged, not failed: it is
// slow, not wrong, and the namespace controller finishes it.
func (t *Testbed) DeleteNamespace(b testing.TB, name string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := t.Client.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		b.Errorf("deleting namespace %s: %v", name, err)
		return
	}
	err := Poll(ctx, 15*time.Minute, func(ctx context.Context) (bool, error) {
		err := t.Client.Get(ctx, client.ObjectKey{Name: name}, &corev1.Namespace{})
		if IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		b.Logf("namespace %s is still terminating %s after its deletion: %v", name, time.Since(start).Round(time.Second), err)
	}
}

// BenchDeployment is a Deployment of replicas kwok pods on the benchmark
// nodes, labelled BenchAppLabel=name, Ready readyDelay after they start.
func BenchDeployment(namespace, name string, replicas int32, readyDelay time.Duration) *appsv1.Deployment {
	labels := map[string]string{BenchAppLabel: name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{ReadyDelayAnnotation: readyDelay.String()},
				},
				Spec: corev1.PodSpec{
					NodeSelector:                 map[string]string{"type": BenchNodeType},
					Tolerations:                  []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					Containers:                   []corev1.Container{{Name: "app", Image: "registry.example/bench/app:1.0"}},
				},
			},
		},
	}
}

// WaitDeploymentsReady waits until every Deployment has all its replicas
// Ready, allowing time in proportion to the pods: the scheduler,
// controller-manager and kwok share the machine's cores.
func (t *Testbed) WaitDeploymentsReady(b testing.TB, deployments []*appsv1.Deployment) time.Duration {
	b.Helper()
	var total int32
	for _, d := range deployments {
		total += *d.Spec.Replicas
	}
	timeout := 2*time.Minute + time.Duration(total)*100*time.Millisecond
	return WaitFor(b, timeout, fmt.Sprintf("%d pods of %d Deployments to be Ready", total, len(deployments)), func(ctx context.Context) (bool, error) {
		var ready int32
		var notReady []string
		for _, d := range deployments {
			got := &appsv1.Deployment{}
			if err := t.Client.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
				return false, err
			}
			ready += got.Status.ReadyReplicas
			if got.Status.ReadyReplicas != *d.Spec.Replicas || got.Status.ObservedGeneration < got.Generation {
				notReady = append(notReady, d.Namespace+"/"+d.Name)
			}
		}
		if len(notReady) > 0 {
			return false, fmt.Errorf("%d of %d pods Ready; not yet: %s", ready, total, strings.Join(notReady[:min(len(notReady), 5)], ", "))
		}
		return true, nil
	})
}

// CreateAll creates objs with workers requests at a time.
func (t *Testbed) CreateAll(ctx context.Context, objs []client.Object, workers int) error {
	jobs := make(chan client.Object)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range jobs {
				if err := t.Client.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
				}
			}
		})
	}
	for _, o := range objs {
		jobs <- o
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs // the first error, or nil
}
