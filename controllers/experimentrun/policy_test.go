package experimentrun_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// fakeRights is a RightsChecker that denies what deny names, as the API
// server's SubjectAccessReviews would for a user whose rights were revoked.
// It records whom it was asked about.
type fakeRights struct {
	deny *rights.Denied
	// denyStart, when set, is the refusal of the right to start runs.
	denyStart *rights.Denied
	mu        sync.Mutex
	// asked lists the usernames checked, in order.
	asked []string
}

func (r *fakeRights) CheckExperiment(_ context.Context, req rights.Requester, _ string, _ *chaosv1alpha1.ExperimentSpec) error {
	r.mu.Lock()
	r.asked = append(r.asked, req.Username)
	r.mu.Unlock()
	if r.deny != nil {
		return fmt.Errorf("checking rights: %w", r.deny)
	}
	return nil
}

func (r *fakeRights) CheckStartRun(_ context.Context, _ rights.Requester, _ string) error {
	if r.denyStart != nil {
		return fmt.Errorf("checking rights: %w", r.denyStart)
	}
	return nil
}

// createPolicy creates the ChaosPolicy default with spec and deletes it when
// the test ends.
func (e *env) createPolicy(spec chaosv1alpha1.ChaosPolicySpec) {
	t := e.t
	t.Helper()
	p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}, Spec: spec}
	if err := e.c.Create(t.Context(), p); err != nil {
		t.Fatalf("creating ChaosPolicy: %v", err)
	}
	t.Cleanup(func() {
		if err := e.c.Delete(context.Background(), p); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting ChaosPolicy: %v", err)
		}
	})
}

// createAnnotatedRun creates run-1 of experiment with annotations, as the
// admission webhook would have left it.
func (e *env) createAnnotatedRun(experiment string, annotations map[string]string) client.ObjectKey {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "run-1", Annotations: annotations},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
	}
	if err := e.c.Create(e.t.Context(), run); err != nil {
		e.t.Fatalf("creating run: %v", err)
	}
	return client.ObjectKeyFromObject(run)
}

const prometheusAddress = "http://prometheus.monitoring:9090"

var alice = rights.Requester{Username: "alice", Groups: []string{"shop-devs"}}

// TestStartChecks: when a run starts, its requester's rights and its
// provider are checked again; a refusal ends it with verdict Error, Stalled,
// and nothing touched.
func TestStartChecks(t *testing.T) {
	revoked := &rights.Denied{User: "alice", Verb: "delete", Resource: "pods", Namespace: "shop"}
	tests := map[string]struct {
		requester   *rights.Requester
		deny        *rights.Denied
		allowed     []string
		address     string // the Experiment's provider address; prometheusAddress when empty
		wantVerdict chaosv1alpha1.Verdict
		wantReason  string
		wantInMsg   string
	}{
		"rights revoked since the run was created, it ends Error Forbidden with the denial": {
			requester: &alice, deny: revoked, allowed: []string{prometheusAddress},
			wantVerdict: chaosv1alpha1.VerdictError, wantReason: chaosv1alpha1.ReasonForbidden, wantInMsg: `user "alice" may not delete pods in namespace shop`,
		},
		"no recorded requester, it ends Error saying so": {
			allowed:     []string{prometheusAddress},
			wantVerdict: chaosv1alpha1.VerdictError, wantReason: chaosv1alpha1.ReasonForbidden, wantInMsg: rights.ErrNoRequester.Error(),
		},
		"a provider the policy does not list, it ends Error ProviderNotAllowed": {
			requester: &alice, allowed: []string{"http://prometheus.other:9090"},
			wantVerdict: chaosv1alpha1.VerdictError, wantReason: chaosv1alpha1.ReasonProviderNotAllowed, wantInMsg: "http://prometheus.other:9090",
		},
		"an address climbing out of an allowed path with encoded dots, stored before admission refused it, ends Error ProviderNotAllowed": {
			requester: &alice, allowed: []string{prometheusAddress + "/tenants/team-a"}, address: prometheusAddress + "/tenants/team-a/%2e%2e/team-b",
			wantVerdict: chaosv1alpha1.VerdictError, wantReason: chaosv1alpha1.ReasonProviderNotAllowed, wantInMsg: "(it reads as http://prometheus.monitoring:9090/tenants/team-b once dot segments and encodings are resolved)",
		},
		"rights hold and the provider is allowed, it runs to a verdict": {
			requester: &alice, allowed: []string{prometheusAddress},
			wantVerdict: chaosv1alpha1.VerdictPassed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			pods := e.createWeb()
			spec := experimentSpec()
			if tc.address != "" {
				spec.Provider.Prometheus.Address = tc.address
			}
			exp := e.createExperiment(spec)
			e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: tc.allowed})
			checker := &fakeRights{deny: tc.deny}
			e.r.Access = checker
			var annotations map[string]string
			if tc.requester != nil {
				annotations = map[string]string{chaosv1alpha1.RequestedByAnnotation: tc.requester.Annotation()}
			}
			key := e.createAnnotatedRun(exp.Name, annotations)

			run := e.drive(key, released)

			if run.Status.Verdict != tc.wantVerdict {
				t.Fatalf("verdict = %q, want %q; message %q", run.Status.Verdict, tc.wantVerdict, run.Status.Message)
			}
			if tc.requester != nil && run.Status.RequestedBy != tc.requester.Username {
				t.Errorf("requestedBy = %q, want %q", run.Status.RequestedBy, tc.requester.Username)
			}
			if tc.wantVerdict == chaosv1alpha1.VerdictPassed {
				if !slices.Equal(checker.asked, []string{"alice"}) {
					t.Errorf("rights checked for %v, want alice once, at start", checker.asked)
				}
				return
			}
			stalled := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionStalled)
			if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != tc.wantReason || !strings.Contains(stalled.Message, tc.wantInMsg) {
				t.Errorf("Stalled = %+v, want True, reason %s, message containing %q", stalled, tc.wantReason, tc.wantInMsg)
			}
			if !strings.Contains(run.Status.Message, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", run.Status.Message, tc.wantInMsg)
			}
			if run.Status.Timeline.StartedAt != nil || len(run.Status.Targets) != 0 {
				t.Errorf("startedAt %s, targets %+v; want the run never started", at(run.Status.Timeline.StartedAt), run.Status.Targets)
			}
			if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
				t.Errorf("pods = %v, want all of %v", got, want)
			}
		})
	}
}

// TestApproval: a run of an Experiment that requires approval starts only
// once approved, by a recorded approver when the webhook is in place, and
// says who approved and when.
func TestApproval(t *testing.T) {
	spec := func() chaosv1alpha1.ExperimentSpec {
		s := experimentSpec()
		s.Approval = &chaosv1alpha1.ApprovalSpec{Required: true}
		return s
	}
	approve := func(e *env, key client.ObjectKey, annotations map[string]string) {
		e.t.Helper()
		run := e.getRun(key)
		patch := client.MergeFrom(run.DeepCopy())
		for k, v := range annotations {
			metav1.SetMetaDataAnnotation(&run.ObjectMeta, k, v)
		}
		if err := e.c.Patch(e.t.Context(), run, patch); err != nil {
			e.t.Fatalf("annotating run: %v", err)
		}
	}

	t.Run("with the webhook, the annotation alone waits and the recorded approver starts the run", func(t *testing.T) {
		e := newEnv(t)
		e.createWeb()
		exp := e.createExperiment(spec())
		e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{prometheusAddress}})
		e.r.Access = &fakeRights{}
		key := e.createAnnotatedRun(exp.Name, map[string]string{chaosv1alpha1.RequestedByAnnotation: alice.Annotation()})

		e.drive(key, pendingWith("waiting for approval"))
		approve(e, key, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"})
		e.drive(key, pendingWith("no approver is recorded"))

		// The webhook pins an approval to the snapshot the run took.
		approve(e, key, map[string]string{
			chaosv1alpha1.ApprovedByAnnotation:   rights.Requester{Username: "bob"}.Annotation(),
			chaosv1alpha1.ApprovedSpecAnnotation: e.getRun(key).Annotations[chaosv1alpha1.SpecHashAnnotation],
		})
		approvedAt := e.clock.Now()
		run := e.drive(key, released)

		if a := run.Status.Approval; a == nil || a.ApprovedBy != "bob" || a.ApprovedAt == nil || !a.ApprovedAt.Time.Equal(approvedAt) {
			t.Errorf("approval = %+v, want bob at %s", a, approvedAt.Sub(t0))
		}
		if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("verdict = %q, want Passed; message %q", run.Status.Verdict, run.Status.Message)
		}
		if n := countEvents(e.eventList(), corev1.EventTypeNormal, chaosv1alpha1.ReasonApproved); n != 1 {
			t.Errorf("%d Approved events, want 1", n)
		}
	})

	t.Run("without the webhook, the approved annotation alone starts the run", func(t *testing.T) {
		e := newEnv(t)
		e.createWeb()
		exp := e.createExperiment(spec())
		key := e.createRun(exp.Name, false)

		e.drive(key, pendingWith("waiting for approval"))
		approve(e, key, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"})
		run := e.drive(key, released)

		if run.Status.Approval == nil || run.Status.Approval.ApprovedBy == "" || run.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("approval = %+v, verdict %q; want an approval recorded and Passed", run.Status.Approval, run.Status.Verdict)
		}
	})
}

func countEvents(events []string, typ, reason string) int {
	n := 0
	for _, ev := range events {
		if strings.HasPrefix(ev, typ+" "+reason+" ") {
			n++
		}
	}
	return n
}

// TestDrainSparesNamespacesThePolicyProtects drives the operator's real
// drain with the Selector as its eviction scope: pods of kube-system and of
// a namespace that never opted in stay on the cordoned node and are
// reported, unless the ChaosPolicy says drainScope AllNamespaces; the
// operator's own namespace is spared either way.
func TestDrainSparesNamespacesThePolicyProtects(t *testing.T) {
	tests := map[string]struct {
		policy      chaosv1alpha1.ChaosPolicySpec
		wantEvicted []string // namespace keys of the pods evicted
		wantSpared  []string
	}{
		"the default scope evicts only pods of enabled namespaces": {
			wantEvicted: []string{"enabled"},
			wantSpared:  []string{"kube-system", "operator", "other"},
		},
		"drainScope AllNamespaces evicts protected and non-enabled namespaces' pods too, never the operator's": {
			policy:      chaosv1alpha1.ChaosPolicySpec{DrainScope: chaosv1alpha1.DrainAllNamespaces},
			wantEvicted: []string{"enabled", "kube-system", "other"},
			wantSpared:  []string{"operator"},
		},
		"an invalid namespaceSelector falls back to the opt-in label": {
			// Stored before admission checked label values (the schema does not).
			policy: chaosv1alpha1.ChaosPolicySpec{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"team": "shop and billing"}}},
			wantEvicted: []string{"enabled"},
			wantSpared:  []string{"kube-system", "operator", "other"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			namespaces := map[string]string{"enabled": e.ns, "kube-system": "kube-system",
				"other": newNamespace(t, e.c, nil), "operator": newNamespace(t, e.c, nil)}
			e.createPolicy(tc.policy)
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "drain-"}}
			if err := e.c.Create(ctx, node); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.c.Delete(context.Background(), node) })
			podKey := map[string]string{}
			for key, ns := range namespaces {
				name := "app-" + node.Name
				controlledPod(t, e.c, ns, name, node.Name)
				podKey[ns+"/"+name] = key
			}
			sel := experimentrun.NewSelector(e.c, rand.New(rand.NewPCG(1, 2)), namespaces["operator"], nil)
			drain := faults.NewNodeDrain(e.c, e.clock, chaosv1alpha1.NodeDrainFault{GracePeriodSeconds: ptr.To[int64](0)}).WithEvictionScope(sel)
			target := faults.Target{Kind: chaosv1alpha1.TargetNode, Name: node.Name, UID: node.UID, Run: e.ns + "/run-1", Expires: t0.Add(time.Hour)}

			r, err := drain.Prepare(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			if r, err = drain.Inject(ctx, target, r); err != nil {
				t.Fatalf("Inject: %v", err)
			}

			var evicted, spared []string
			for _, p := range r.Node.EvictedPods {
				evicted = append(evicted, podKey[p.Namespace+"/"+p.Name])
			}
			for _, p := range r.Node.SparedPods {
				spared = append(spared, podKey[p])
			}
			slices.Sort(evicted)
			slices.Sort(spared)
			if !slices.Equal(evicted, tc.wantEvicted) || !slices.Equal(spared, tc.wantSpared) {
				t.Errorf("evicted %v, spared %v; want evicted %v, spared %v", evicted, spared, tc.wantEvicted, tc.wantSpared)
			}
			for podName, key := range podKey {
				ns, name, _ := strings.Cut(podName, "/")
				pod := &corev1.Pod{}
				err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)
				stillThere := err == nil && pod.DeletionTimestamp == nil
				if stillThere != slices.Contains(tc.wantSpared, key) {
					t.Errorf("pod %s still running = %v, want %v", podName, stillThere, slices.Contains(tc.wantSpared, key))
				}
			}
			if err := drain.Revert(ctx, target, r); err != nil {
				t.Fatalf("Revert: %v", err)
			}
		})
	}
}

// newNamespace creates a namespace with labels.
func newNamespace(t *testing.T, c client.Client, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ns-", Labels: labels}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// controlledPod creates a Running pod of a ReplicaSet on node.
func controlledPod(t *testing.T, c client.Client, ns, name, node string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app", UID: "00000000-0000-0000-0000-00000000000a", Controller: ptr.To(true),
		}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}
	if err := c.Create(t.Context(), pod); err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	pod.Status.Phase = corev1.PodRunning
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatalf("marking pod %s/%s running: %v", ns, name, err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), pod, client.GracePeriodSeconds(0)) })
}
