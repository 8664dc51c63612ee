package webhooks_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// newExperiment is a valid Experiment in the test namespace.
func newExperiment(name string) *chaosv1alpha1.Experiment {
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Approval: &chaosv1alpha1.ApprovalSpec{Required: true},
			Target: chaosv1alpha1.TargetSpec{
				Kind:       chaosv1alpha1.TargetPod,
				Selector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
				Mode:       chaosv1alpha1.SelectOne,
				MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{Address: "http://prometheus.monitoring:9090"}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{Probes: []chaosv1alpha1.Probe{{
				Name:       "success-rate",
				Prometheus: &chaosv1alpha1.PrometheusQuery{Query: `sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))`},
				Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"},
			}}},
		},
	}
}

func newRun(name, experiment string) *chaosv1alpha1.ExperimentRun {
	return &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
	}
}

// requesterOf reads the recorded requester of the stored object, failing t
// when there is none.
func requesterOf(t *testing.T, obj client.Object) string {
	t.Helper()
	if err := admin.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	r, err := rights.RequesterOf(obj)
	if err != nil {
		t.Fatalf("%s: %v", obj.GetName(), err)
	}
	return r.Username
}

// annotate sets annotations on the stored obj as user c, by a merge patch.
func annotate(ctx context.Context, c client.Client, obj client.Object, kv map[string]string) error {
	base := obj.DeepCopyObject().(client.Object)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range kv {
		ann[k] = v
	}
	obj.SetAnnotations(ann)
	return c.Patch(ctx, obj, client.MergeFrom(base))
}

func TestRequestedByIsRecordedAndCannotBeForged(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	forged := rights.Requester{Username: "system:admin", Groups: []string{"system:masters"}}.Annotation()

	exp := newExperiment("requested-by")
	exp.Annotations = map[string]string{chaosv1alpha1.RequestedByAnnotation: forged}
	err := users[alice].Create(ctx, exp)
	if err == nil || !strings.Contains(err.Error(), "is written only by Faultline's admission webhook") || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("created with a forged record: %v, want a refusal saying to remove it", err)
	}
	exp = newExperiment("requested-by")
	if err := users[alice].Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if got := requesterOf(t, exp); got != alice {
		t.Fatalf("created by alice: requester %q, want %q", got, alice)
	}

	// A metadata-only update cannot rewrite the record; one that leaves it
	// as stored (an exported manifest applied again) passes.
	err = annotate(ctx, users[bob], exp.DeepCopy(), map[string]string{chaosv1alpha1.RequestedByAnnotation: forged, "team": "sre"})
	if err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("bob rewriting the record: %v, want a refusal", err)
	}
	if err := annotate(ctx, users[bob], exp, map[string]string{"team": "sre"}); err != nil {
		t.Fatalf("metadata-only update refused: %v", err)
	}
	if got := requesterOf(t, exp); got != alice {
		t.Fatalf("after bob's metadata-only update: requester %q, want %q kept", got, alice)
	}

	// Whoever changes the spec becomes the requester: scheduled runs then
	// act with their rights.
	exp.Spec.Suspend = true
	if err := users[bob].Update(ctx, exp); err != nil {
		t.Fatalf("spec update refused: %v", err)
	}
	if got := requesterOf(t, exp); got != bob {
		t.Fatalf("after bob changed the spec: requester %q, want %q", got, bob)
	}

	// A run records its creator; a forged record is refused.
	run := newRun("requested-by-bob", exp.Name)
	run.Annotations = map[string]string{chaosv1alpha1.RequestedByAnnotation: forged}
	if err := users[bob].Create(ctx, run); err == nil {
		t.Fatal("a run created with a forged requester record was accepted")
	}
	run = newRun("requested-by-bob", exp.Name)
	if err := users[bob].Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	if got := requesterOf(t, run); got != bob {
		t.Fatalf("run created by bob: requester %q, want %q", got, bob)
	}
	if err := annotate(ctx, users[alice], run.DeepCopy(), map[string]string{chaosv1alpha1.RequestedByAnnotation: forged}); err == nil {
		t.Fatal("alice rewrote the run's requester record")
	}
	if got := requesterOf(t, run); got != bob {
		t.Fatalf("after alice tried to rewrite the run's record: requester %q, want %q kept", got, bob)
	}
}

func TestRunsCreatedByTheOperatorActForTheExperimentOwner(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	exp := newExperiment("operator-runs")
	if err := users[alice].Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	run := newRun("operator-runs-1", exp.Name)
	if err := users[operatorUser].Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	if got := requesterOf(t, run); got != alice {
		t.Fatalf("run the operator created: requester %q, want the Experiment's owner %q", got, alice)
	}

	// Without an Experiment there is nobody to act for: the record stays
	// absent and the run controller refuses to start the run.
	orphan := newRun("operator-runs-orphan", "no-such-experiment")
	if err := users[operatorUser].Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(orphan), orphan); err != nil {
		t.Fatal(err)
	}
	if v, ok := orphan.Annotations[chaosv1alpha1.RequestedByAnnotation]; ok {
		t.Fatalf("orphan run: requested-by %q, want none", v)
	}

	// The operator's own updates (finalizer, abort) always pass, even on a
	// run without a record.
	orphan.Finalizers = append(orphan.Finalizers, chaosv1alpha1.RunFinalizer)
	if err := users[operatorUser].Update(ctx, orphan); err != nil {
		t.Fatalf("operator adding its finalizer: %v", err)
	}
	if err := annotate(ctx, users[operatorUser], orphan, map[string]string{chaosv1alpha1.AbortAnnotation: string(chaosv1alpha1.AbortReplaced)}); err != nil {
		t.Fatalf("operator setting the abort annotation: %v", err)
	}
	orphan.Finalizers = nil
	if err := users[operatorUser].Update(ctx, orphan); err != nil {
		t.Fatalf("operator removing its finalizer: %v", err)
	}
}

// TestStoredExperimentThatNoLongerValidatesCanBeAnnotated makes a stored
// Experiment invalid by taking its provider address off the allow-list,
// then shows that metadata-only updates still pass (ratcheting) while a
// spec change is refused with the allow-list's message.
func TestStoredExperimentThatNoLongerValidatesCanBeAnnotated(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	const extra = "http://prometheus-old.monitoring:9090"
	setAllowList(t, append(append([]string{}, allowedAddresses...), extra))
	t.Cleanup(func() { setAllowList(t, allowedAddresses) })

	exp := newExperiment("ratchet")
	exp.Spec.Provider.Prometheus.Address = extra
	if err := users[alice].Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	setAllowList(t, allowedAddresses)

	if err := annotate(ctx, users[alice], exp, map[string]string{chaosv1alpha1.RunNowAnnotation: "1"}); err != nil {
		t.Fatalf("run-now on an Experiment the allow-list no longer admits was refused: %v", err)
	}
	exp.Finalizers = []string{"example.com/keep"}
	if err := users[alice].Update(ctx, exp); err != nil {
		t.Fatalf("adding a finalizer was refused: %v", err)
	}
	exp.Finalizers = nil
	if err := users[alice].Update(ctx, exp); err != nil {
		t.Fatalf("removing a finalizer was refused: %v", err)
	}

	exp.Spec.Suspend = true
	err := users[alice].Update(ctx, exp)
	if err == nil || !strings.Contains(err.Error(), "is not allowed by the ChaosPolicy") {
		t.Fatalf("spec change of an Experiment whose address is not allowed: got %v, want the allow-list refusal", err)
	}
}

func setAllowList(t *testing.T, addresses []string) {
	t.Helper()
	ctx := context.Background()
	pol := &chaosv1alpha1.ChaosPolicy{}
	if err := admin.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, pol); err != nil {
		t.Fatal(err)
	}
	pol.Spec.AllowedProviderAddresses = addresses
	if err := admin.Update(ctx, pol); err != nil {
		t.Fatal(err)
	}
}

func TestApproval(t *testing.T) {
	apiServer(t)
	ctx := context.Background()
	exp := newExperiment("approval")
	if err := users[alice].Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	approve := map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}

	tests := map[string]struct {
		approver   string
		startPhase chaosv1alpha1.RunPhase
		extra      map[string]string
		wantErr    string
	}{
		"the requester approving their own run is refused": {
			approver: alice, wantErr: "approval must come from another person",
		},
		"another user approving records them as approver": {
			approver: bob,
		},
		"another user approving with a forged approver record still records them": {
			approver: bob, extra: map[string]string{chaosv1alpha1.ApprovedByAnnotation: rights.Requester{Username: "carol"}.Annotation()},
		},
		"approving a run that has started is refused": {
			approver: bob, startPhase: chaosv1alpha1.PhaseObserving, wantErr: "an approval can only be given or withdrawn while the run is Pending",
		},
		"an approval value other than true is refused": {
			approver: bob, extra: map[string]string{chaosv1alpha1.ApprovedAnnotation: "yes"}, wantErr: `write "true" to approve`,
		},
		"the operator cannot approve": {
			approver: operatorUser, wantErr: "Faultline's own account cannot approve runs",
		},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			run := newRun("approval-"+strings.Repeat("x", i), exp.Name)
			if err := users[alice].Create(ctx, run); err != nil {
				t.Fatal(err)
			}
			if tc.startPhase != "" {
				run.Status.Phase = tc.startPhase
				if err := users[operatorUser].Status().Update(ctx, run); err != nil {
					t.Fatal(err)
				}
			}
			kv := map[string]string{}
			for k, v := range approve {
				kv[k] = v
			}
			for k, v := range tc.extra {
				kv[k] = v
			}
			err := annotate(ctx, users[tc.approver], run, kv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want a refusal containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			stored := &chaosv1alpha1.ExperimentRun{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(run), stored); err != nil {
				t.Fatal(err)
			}
			var approver rights.Requester
			byJSON := stored.Annotations[chaosv1alpha1.ApprovedByAnnotation]
			if err := json.Unmarshal([]byte(byJSON), &approver); err != nil || approver.Username != tc.approver {
				t.Fatalf("approved-by %q, want user %q", byJSON, tc.approver)
			}
			if got := requesterOf(t, stored); got != alice {
				t.Fatalf("requester after approval %q, want %q", got, alice)
			}

			// The record cannot be rewritten afterwards.
			if err := annotate(ctx, users[tc.approver], stored, map[string]string{chaosv1alpha1.ApprovedByAnnotation: rights.Requester{Username: "mallory"}.Annotation()}); err != nil {
				t.Fatalf("metadata update refused: %v", err)
			}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(run), stored); err != nil {
				t.Fatal(err)
			}
			if stored.Annotations[chaosv1alpha1.ApprovedByAnnotation] != byJSON {
				t.Fatalf("approved-by rewritten to %q", stored.Annotations[chaosv1alpha1.ApprovedByAnnotation])
			}
		})
	}
}
