package faults

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// There is no kubelet in envtest: pods stay Pending unless a test sets their
// status, and a graceful deletion leaves the pod in place with its
// deletionTimestamp set. Pods are bound to a node by name so the API server
// honours grace periods (it deletes unscheduled pods at once).

// newNamespace creates a namespace of the test's own. envtest has no
// namespace controller, so namespaces are never cleaned up; unique names keep
// tests (and PodDisruptionBudgets) apart.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "podkill-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// runningPod creates a pod and marks it Running and Ready, as a kubelet would.
func runningPod(t *testing.T, c client.Client, ns, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "checkout"}},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/checkout:1"}},
		},
	}
	if err := c.Create(t.Context(), pod); err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatalf("marking pod %s/%s running: %v", ns, name, err)
	}
	return pod
}

// targetOf is the target a run records for pod when it selects it: with the
// version it listed.
func targetOf(pod *corev1.Pod) Target {
	return Target{Kind: chaosv1alpha1.TargetPod, Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion, Run: "shop/run-1"}
}

// targetVersions are the two kinds of recorded target Inject meets: one with
// the version selection listed, and one without (a status written before
// versions were recorded).
var targetVersions = map[string]func(*corev1.Pod) Target{
	"selected version": targetOf,
	"no version": func(pod *corev1.Pod) Target {
		t := targetOf(pod)
		t.ResourceVersion = ""
		return t
	},
}

// getPod reads the pod; nil when it is gone.
func getPod(t *testing.T, c client.Client, ns, name string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, pod)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// replace deletes pod at once and creates a running pod of the same name,
// which gets a new UID, as a StatefulSet would.
func replace(t *testing.T, c client.Client, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if err := c.Delete(t.Context(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatalf("deleting pod: %v", err)
	}
	replacement := runningPod(t, c, pod.Namespace, pod.Name)
	if replacement.UID == pod.UID {
		t.Fatalf("replacement kept UID %s", pod.UID)
	}
	return replacement
}

// guardWithBudget creates a PodDisruptionBudget over the test's pods whose
// status allows disruptionsAllowed evictions. envtest runs no disruption
// controller, so the test writes the status it would have written; the
// eviction API trusts it once observedGeneration catches up with generation.
func guardWithBudget(t *testing.T, c client.Client, ns string, healthy, disruptionsAllowed int32) {
	t.Helper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(healthy - disruptionsAllowed)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
		},
	}
	if err := c.Create(t.Context(), pdb); err != nil {
		t.Fatalf("creating PodDisruptionBudget: %v", err)
	}
	pdb.Status = policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptionsAllowed: disruptionsAllowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     healthy - disruptionsAllowed,
		ExpectedPods:       healthy,
	}
	if err := c.Status().Update(t.Context(), pdb); err != nil {
		t.Fatalf("setting PodDisruptionBudget status: %v", err)
	}
}

var methods = map[string]chaosv1alpha1.PodKillMethod{
	"delete": chaosv1alpha1.PodKillDelete,
	"evict":  chaosv1alpha1.PodKillEvict,
}

// TestPodKillPrepareReadsNothing shows Prepare costs no request: the pod was
// just listed, and Inject's preconditions judge whether it is still the one.
func TestPodKillPrepareReadsNothing(t *testing.T) {
	fault := NewPodKill(nil, chaosv1alpha1.PodKillFault{})
	r, err := fault.Prepare(t.Context(), Target{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "p", UID: "u", ResourceVersion: "7"})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if r == nil || r.Istio != nil || r.Node != nil {
		t.Errorf("Prepare = %+v, want empty restore data", r)
	}
}

// TestPodKillUnchangedPodCostsOneRequest counts the requests a kill makes:
// one for a pod unchanged since selection, and a read plus a kill for one
// whose status changed since, which is still killed.
func TestPodKillUnchangedPodCostsOneRequest(t *testing.T) {
	c := apiServer(t)
	for methodName, method := range methods {
		t.Run(methodName, func(t *testing.T) {
			ns := newNamespace(t, c)
			unchanged := runningPod(t, c, ns, "unchanged")
			changed := runningPod(t, c, ns, "changed")
			target := targetOf(changed)
			changed.Status.Conditions[0].Status = corev1.ConditionFalse
			if err := c.Status().Update(t.Context(), changed); err != nil {
				t.Fatal(err)
			}
			var requests int
			counting := interceptor.NewClient(watchClient, interceptor.Funcs{
				Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					requests++
					return cl.Get(ctx, key, obj, opts...)
				},
				Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					requests++
					return cl.Delete(ctx, obj, opts...)
				},
				SubResourceCreate: func(ctx context.Context, cl client.Client, sub string, obj, sr client.Object, opts ...client.SubResourceCreateOption) error {
					requests++
					return cl.SubResource(sub).Create(ctx, obj, sr, opts...)
				},
			})
			fault := NewPodKill(counting, chaosv1alpha1.PodKillFault{Method: method, GracePeriodSeconds: ptr.To[int64](0)})
			for _, tc := range []struct {
				target Target
				want   int
			}{{targetOf(unchanged), 1}, {target, 3}} {
				requests = 0
				if _, err := fault.Inject(t.Context(), tc.target, &chaosv1alpha1.RestoreData{}); err != nil {
					t.Fatalf("Inject %s: %v", tc.target.Name, err)
				}
				if requests != tc.want {
					t.Errorf("killing %s took %d requests, want %d", tc.target.Name, requests, tc.want)
				}
				if getPod(t, c, ns, tc.target.Name) != nil {
					t.Errorf("pod %s survived", tc.target.Name)
				}
			}
		})
	}
}

func TestPodKillRefusesTargetsItCannotTellApart(t *testing.T) {
	fault := NewPodKill(nil, chaosv1alpha1.PodKillFault{})
	tests := map[string]Target{
		"a target without a UID is refused": {Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "p"},
		"a node target is refused":          {Kind: chaosv1alpha1.TargetNode, Name: "node-1", UID: "u"},
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

func TestPodKillInject(t *testing.T) {
	c := apiServer(t)

	for methodName, method := range methods {
		tests := map[string]struct {
			grace *int64
			// injections is how often Inject runs; every one must return nil.
			injections int
			// wantTerminatingFor, when set, is the grace period the pod must be
			// terminating with; otherwise the pod must be gone.
			wantTerminatingFor *int64
		}{
			"grace period 0 removes the pod": {
				grace: ptr.To[int64](0), injections: 1,
			},
			"inject twice: the second is a no-op": {
				grace: ptr.To[int64](0), injections: 2,
			},
			"a graceful kill leaves the pod terminating": {
				grace: ptr.To[int64](45), injections: 1, wantTerminatingFor: ptr.To[int64](45),
			},
			"no grace period uses the pod's own": {
				injections: 1, wantTerminatingFor: ptr.To[int64](corev1.DefaultTerminationGracePeriodSeconds),
			},
			"inject twice during a graceful kill: the second is a no-op": {
				grace: ptr.To[int64](45), injections: 2, wantTerminatingFor: ptr.To[int64](45),
			},
		}
		for name, tc := range tests {
			for version, targetFor := range targetVersions {
				t.Run(methodName+", "+version+": "+name, func(t *testing.T) {
					t.Parallel()
					ns := newNamespace(t, c)
					pod := runningPod(t, c, ns, "checkout-0")
					fault := NewPodKill(c, chaosv1alpha1.PodKillFault{Method: method, GracePeriodSeconds: tc.grace})
					target := targetFor(pod)

					r, err := fault.Prepare(t.Context(), target)
					if err != nil {
						t.Fatalf("Prepare: %v", err)
					}
					var afterFirst *corev1.Pod
					for i := range tc.injections {
						if r, err = fault.Inject(t.Context(), target, r); err != nil {
							t.Fatalf("Inject #%d: %v", i+1, err)
						}
						if r == nil {
							t.Fatalf("Inject #%d returned nil restore data", i+1)
						}
						if i == 0 {
							afterFirst = getPod(t, c, ns, pod.Name)
						}
					}

					got := getPod(t, c, ns, pod.Name)
					if tc.wantTerminatingFor == nil {
						if got != nil {
							t.Fatalf("pod still exists (deletionTimestamp %v), want it gone", got.DeletionTimestamp)
						}
						return
					}
					if got == nil {
						t.Fatal("pod is gone, want it terminating gracefully")
					}
					if got.DeletionTimestamp == nil {
						t.Fatal("pod has no deletionTimestamp, want it terminating")
					}
					if gp := ptr.Deref(got.DeletionGracePeriodSeconds, -1); gp != *tc.wantTerminatingFor {
						t.Errorf("pod terminates with grace %ds, want %ds", gp, *tc.wantTerminatingFor)
					}
					if got.ResourceVersion != afterFirst.ResourceVersion {
						t.Errorf("a later Inject wrote the terminating pod (resourceVersion %s -> %s)", afterFirst.ResourceVersion, got.ResourceVersion)
					}
				})
			}
		}
	}
}

// TestPodKillDoesNotCutAGracefulKillShort shows that a terminating pod counts as
// killed: a faster kill would rob the workload of the shutdown the first was
// given, and measure something else than the experiment asked for.
func TestPodKillDoesNotCutAGracefulKillShort(t *testing.T) {
	c := apiServer(t)
	for methodName, method := range methods {
		for version, targetFor := range targetVersions {
			t.Run(methodName+", "+version+": a terminating pod is left to finish", func(t *testing.T) {
				t.Parallel()
				ns := newNamespace(t, c)
				pod := runningPod(t, c, ns, "checkout-0")
				// Selected before someone else began a graceful deletion.
				target := targetFor(pod)
				if err := c.Delete(t.Context(), pod, client.GracePeriodSeconds(60)); err != nil {
					t.Fatal(err)
				}
				fault := NewPodKill(c, chaosv1alpha1.PodKillFault{Method: method, GracePeriodSeconds: ptr.To[int64](0)})
				if _, err := fault.Inject(t.Context(), target, &chaosv1alpha1.RestoreData{}); err != nil {
					t.Fatalf("Inject: %v", err)
				}
				got := getPod(t, c, ns, pod.Name)
				if got == nil {
					t.Fatal("Inject removed a pod that was terminating gracefully")
				}
				if gp := ptr.Deref(got.DeletionGracePeriodSeconds, -1); gp != 60 {
					t.Errorf("pod terminates with grace %ds, want the 60s it was given", gp)
				}
			})
		}
	}
}

func TestPodKillNeverKillsAReplacement(t *testing.T) {
	c := apiServer(t)
	for methodName, method := range methods {
		for version, targetFor := range targetVersions {
			t.Run(methodName+", "+version+": a same-named pod with a different UID is not killed", func(t *testing.T) {
				t.Parallel()
				ns := newNamespace(t, c)
				pod := runningPod(t, c, ns, "db-0")
				fault := NewPodKill(c, chaosv1alpha1.PodKillFault{Method: method, GracePeriodSeconds: ptr.To[int64](0)})
				target := targetFor(pod)
				r, err := fault.Prepare(t.Context(), target)
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				replacement := replace(t, c, pod)

				if _, err := fault.Inject(t.Context(), target, r); err != nil {
					t.Fatalf("Inject: %v, want nil: the selected pod is already gone", err)
				}
				got := getPod(t, c, ns, pod.Name)
				if got == nil || got.UID != replacement.UID {
					t.Fatal("the replacement pod was killed")
				}
				if got.DeletionTimestamp != nil {
					t.Error("the replacement pod is terminating")
				}
			})
		}
	}
}

func TestPodKillRevert(t *testing.T) {
	c := apiServer(t)
	tests := map[string]struct {
		inject  bool
		reverts int
	}{
		"revert without inject leaves the pod alone": {inject: false, reverts: 1},
		"revert twice without inject":                {inject: false, reverts: 2},
		"revert after inject":                        {inject: true, reverts: 1},
		"revert twice after inject":                  {inject: true, reverts: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			pod := runningPod(t, c, ns, "checkout-0")
			fault := NewPodKill(c, chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)})
			target := targetOf(pod)
			r, err := fault.Prepare(t.Context(), target)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if tc.inject {
				if r, err = fault.Inject(t.Context(), target, r); err != nil {
					t.Fatalf("Inject: %v", err)
				}
			}
			for i := range tc.reverts {
				if err := fault.Revert(t.Context(), target, r); err != nil {
					t.Fatalf("Revert #%d: %v", i+1, err)
				}
			}
			// A crash before Prepare's result was stored leaves no restore data.
			if err := fault.Revert(t.Context(), target, nil); err != nil {
				t.Fatalf("Revert without restore data: %v", err)
			}

			got := getPod(t, c, ns, pod.Name)
			switch {
			case tc.inject && got != nil:
				t.Error("the killed pod came back: revert must not recreate it, its controller does")
			case !tc.inject && got == nil:
				t.Error("revert without inject deleted the pod")
			case !tc.inject && got.ResourceVersion != pod.ResourceVersion:
				t.Errorf("revert without inject wrote the pod (resourceVersion %s -> %s)", pod.ResourceVersion, got.ResourceVersion)
			}
		})
	}
}

func TestPodKillEvictionAndDisruptionBudgets(t *testing.T) {
	c := apiServer(t)
	tests := map[string]struct {
		// budget, when set, guards the pod: {healthy, disruptionsAllowed}.
		budget      *[2]int32
		wantBlocked bool
	}{
		"eviction blocked by a PodDisruptionBudget is ErrBlocked and the pod stays": {
			budget: &[2]int32{1, 0}, wantBlocked: true,
		},
		"eviction allowed by a PodDisruptionBudget removes the pod": {
			budget: &[2]int32{2, 1},
		},
		"eviction without a PodDisruptionBudget removes the pod": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t, c)
			pod := runningPod(t, c, ns, "checkout-0")
			if tc.budget != nil {
				guardWithBudget(t, c, ns, tc.budget[0], tc.budget[1])
			}
			fault := NewPodKill(c, chaosv1alpha1.PodKillFault{Method: chaosv1alpha1.PodKillEvict, GracePeriodSeconds: ptr.To[int64](0)})
			target := targetOf(pod)
			r, err := fault.Prepare(t.Context(), target)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}

			_, err = fault.Inject(t.Context(), target, r)
			got := getPod(t, c, ns, pod.Name)
			if !tc.wantBlocked {
				if err != nil {
					t.Fatalf("Inject: %v", err)
				}
				if got != nil {
					t.Fatalf("pod still exists (deletionTimestamp %v), want it evicted", got.DeletionTimestamp)
				}
				return
			}

			if !errors.Is(err, ErrBlocked) {
				t.Fatalf("Inject error = %v, want ErrBlocked", err)
			}
			if !apierrors.IsTooManyRequests(err) {
				t.Errorf("Inject error %q does not carry the API's 429", err)
			}
			if got == nil || got.DeletionTimestamp != nil {
				t.Fatal("a blocked eviction killed the pod: it must never fall back to deleting")
			}
			// Blocked stays blocked: a retry is refused the same way, not forced.
			if _, err := fault.Inject(t.Context(), target, r); !errors.Is(err, ErrBlocked) {
				t.Errorf("second Inject error = %v, want ErrBlocked", err)
			}
			if err := fault.Revert(t.Context(), target, r); err != nil {
				t.Errorf("Revert after a blocked eviction: %v", err)
			}
		})
	}
}

// TestPodKillGracefulEviction checks that an allowed eviction honours the
// grace period rather than removing the pod outright.
func TestPodKillGracefulEviction(t *testing.T) {
	c := apiServer(t)
	ns := newNamespace(t, c)
	pod := runningPod(t, c, ns, "checkout-0")
	guardWithBudget(t, c, ns, 2, 1)
	fault := NewPodKill(c, chaosv1alpha1.PodKillFault{Method: chaosv1alpha1.PodKillEvict, GracePeriodSeconds: ptr.To[int64](20)})

	if _, err := fault.Inject(t.Context(), targetOf(pod), nil); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	got := getPod(t, c, ns, pod.Name)
	if got == nil || got.DeletionTimestamp == nil {
		t.Fatalf("pod = %v, want it terminating", got)
	}
	if gp := ptr.Deref(got.DeletionGracePeriodSeconds, -1); gp != 20 {
		t.Errorf("pod terminates with grace %ds, want 20s", gp)
	}
	pdb := &policyv1.PodDisruptionBudget{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "checkout"}, pdb); err != nil {
		t.Fatal(err)
	}
	if _, ok := pdb.Status.DisruptedPods[pod.Name]; !ok || pdb.Status.DisruptionsAllowed != 0 {
		t.Errorf("budget status = %+v, want the eviction counted against it", pdb.Status)
	}
}
