//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// These tests try Faultline as a shared cluster would: objects stored behind
// the admission webhook's back, credentials, and the kill switch reaching
// every run at once.

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

const experimentCRD = "experiments.chaos.faultline.dev"

// storeBehindAdmission stores obj as the API server would have before the
// schema and the webhooks checked it: it removes Faultline's webhook
// configurations and loosens the Experiment CRD's schema, creates obj, and
// puts both back, even when the test fails.
func storeBehindAdmission(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	behindAdmission(t, experimentCRD, func(ctx context.Context) error {
		err := tb.Client.Create(ctx, obj.DeepCopy())
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return nil
		}
		return err
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tb.Client.Delete(ctx, obj.DeepCopy())
	})
}

// behindAdmission calls write as the API server would have taken it before
// the schema and the webhooks checked it: it removes Faultline's webhook
// configurations, makes the schema of the CRD named crdName keep any field,
// retries write until the API server serves that schema, and puts both
// back, even when the test fails. What write stored stays as written.
func behindAdmission(t *testing.T, crdName string, write func(ctx context.Context) error) {
	t.Helper()
	ctx := t.Context()

	tb.UninstallWebhooks(t)
	defer tb.InstallWebhooks(t)

	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	if err := tb.Client.Get(ctx, client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Fatal(err)
	}
	original, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	loose := make([]any, len(original))
	for i, v := range original {
		version := runtimeDeepCopy(v.(map[string]any))
		_ = unstructured.SetNestedMap(version, map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "schema", "openAPIV3Schema")
		loose[i] = version
	}
	setVersions := func(versions []any) {
		t.Helper()
		harness.WaitFor(t, 30*time.Second, "the CRD "+crdName+" to take its schema", func(ctx context.Context) (bool, error) {
			c := &unstructured.Unstructured{}
			c.SetGroupVersionKind(crdGVK)
			if err := tb.Client.Get(ctx, client.ObjectKey{Name: crdName}, c); err != nil {
				return false, err
			}
			if err := unstructured.SetNestedSlice(c.Object, versions, "spec", "versions"); err != nil {
				return false, err
			}
			return true, tb.Client.Update(ctx, c)
		})
	}
	setVersions(loose)
	defer setVersions(original)

	// The API server serves the new schema a moment after the update.
	harness.WaitFor(t, 30*time.Second, "the malformed object to be stored", func(ctx context.Context) (bool, error) {
		if err := write(ctx); err != nil {
			return false, err
		}
		return true, nil
	})
}

func runtimeDeepCopy(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}

// heldIstioExperiment delays vsName's primary route for a long hold: its
// run stays Observing until something stops it.
func heldIstioExperiment(name, vsName string) *chaosv1alpha1.Experiment {
	exp := tb.IstioExperiment(name, chaosv1alpha1.IstioFault{
		Routes: []string{"primary"},
		Delay:  &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: 50 * time.Millisecond}, Percent: 10},
	}, 10*time.Minute)
	exp.Spec.Target.Names = []string{vsName}
	exp.Spec.SteadyState.Probes[0].Prometheus.Query = harness.SuccessRatioQuery(vsName, "5s")
	exp.Spec.SteadyState.RecoveryTimeout = metav1.Duration{Duration: 30 * time.Second}
	exp.Spec.Objectives = nil
	return exp
}

// TestAnUndecodableExperimentStopsNothing stores an Experiment whose
// spec.duration no Go type can hold, as one stored before the schema checked
// durations would be, and shows that other runs, the kill switch and the
// reaper go on, before and after an operator restart.
func TestAnUndecodableExperimentStopsNothing(t *testing.T) {
	tb.RequireSteadyState(t)
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": chaosv1alpha1.GroupVersion.String(),
		"kind":       "Experiment",
		"metadata":   map[string]any{"name": "e2e-malformed", "namespace": harness.ShopNamespace},
		"spec": map[string]any{
			"target":   map[string]any{"kind": "VirtualService", "names": []any{"cart"}},
			"fault":    map[string]any{"istio": map[string]any{"abort": map[string]any{"httpStatus": int64(503), "percent": int64(50)}}},
			"duration": "1y",
			"steadyState": map[string]any{"probes": []any{map[string]any{
				"name": "cart-ready", "workload": map[string]any{"kind": "Deployment", "name": "cart"},
			}}},
		},
	}}
	storeBehindAdmission(t, bad)
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(bad.GroupVersionKind())
	if err := tb.Client.Get(t.Context(), client.ObjectKeyFromObject(bad), stored); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := unstructured.NestedString(stored.Object, "spec", "duration"); d != "1y" {
		t.Fatalf("stored spec.duration = %q, want 1y: the test proves nothing", d)
	}

	check := func(t *testing.T, label string) {
		harness.WaitFor(t, 60*time.Second, "the malformed Experiment to be reported Stalled", func(ctx context.Context) (bool, error) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(bad.GroupVersionKind())
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(bad), u); err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m := c.(map[string]any)
				if m["type"] == chaosv1alpha1.ConditionStalled && m["status"] == "True" && m["reason"] == chaosv1alpha1.ReasonMalformed {
					t.Logf("%s: Stalled: %s", label, m["message"])
					return true, nil
				}
			}
			return false, fmt.Errorf("conditions %v", conds)
		})

		// A valid run goes on beside it.
		before := virtualService(t, "cart")
		run := tb.RunExperiment(t, tb.IstioExperiment("e2e-beside-malformed-"+label, harness.AbortFault(50), 5*time.Second), 2*time.Minute)
		if run.Status.Verdict == chaosv1alpha1.VerdictError {
			t.Fatalf("%s: a valid run ended Error beside the malformed Experiment: %s", label, run.Status.Message)
		}
		if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(virtualService(t, "cart"))) {
			t.Fatalf("%s: the VirtualService differs after the run", label)
		}

		// The kill switch reaches a run in flight.
		exp := heldIstioExperiment("e2e-killswitch-malformed-"+label, "checkout")
		tb.Create(t, exp)
		held := tb.StartRun(t, exp)
		waitPhase(t, held, chaosv1alpha1.PhaseObserving)
		tb.SetPaused(t, true)
		t.Cleanup(func() { tb.SetPaused(t, false) })
		got := tb.WaitRunCompleted(t, held, time.Minute)
		if got.Status.Verdict != chaosv1alpha1.VerdictAborted || got.Status.Abort == nil || got.Status.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			t.Fatalf("%s: run under the kill switch ended %s: %s", label, got.Status.Verdict, got.Status.Message)
		}
		tb.SetPaused(t, false)
	}

	t.Run("while the operator runs", func(t *testing.T) { check(t, "running") })
	t.Run("after a restart", func(t *testing.T) {
		tb.RestartOperator(t)
		check(t, "restarted")
	})
	t.Run("a run of it ends with a verdict", func(t *testing.T) {
		run := &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: harness.ShopNamespace, GenerateName: "e2e-malformed-"},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: bad.GetName()}},
		}
		if err := tb.Client.Create(t.Context(), run); err != nil {
			// Refusing it at admission is as good, if it says why.
			if !strings.Contains(strings.ToLower(err.Error()), "malformed") && !strings.Contains(err.Error(), "duration") {
				t.Fatalf("creating a run of the malformed Experiment: %v", err)
			}
			t.Logf("refused at admission: %v", err)
			return
		}
		t.Cleanup(func() { _ = tb.Client.Delete(context.Background(), run) })
		got := tb.WaitRunCompleted(t, run, time.Minute)
		if got.Status.Verdict != chaosv1alpha1.VerdictError {
			t.Fatalf("verdict %s, want Error: %s", got.Status.Verdict, got.Status.Message)
		}
		t.Logf("run of the malformed Experiment: %s", got.Status.Message)
	})
	t.Run("the reaper still reverts an orphaned fault", func(t *testing.T) {
		reaperRevertsOrphanedFault(t, "e2e-reaper-malformed")
	})
}

// TestARunWithPrometheusAuthCompletes reads credentials from a Secret: the
// operator reads it straight from the API server, without a Secret informer
// its RBAC would never let sync.
func TestARunWithPrometheusAuthCompletes(t *testing.T) {
	tb.RequireSteadyState(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus-token", Namespace: harness.ShopNamespace},
		StringData: map[string]string{"token": "e2e-not-a-real-token"},
	}
	tb.Create(t, secret)
	// payments, which the tests before this one leave alone: a service just
	// released from a fault may still fail the baseline's 5s window.
	exp := tb.IstioExperiment("e2e-prometheus-auth", harness.AbortFault(50), 5*time.Second)
	exp.Spec.Target.Names = []string{"payments"}
	exp.Spec.SteadyState.Probes[0].Name = "payments-success"
	exp.Spec.SteadyState.Probes[0].Prometheus.Query = harness.SuccessRatioQuery("payments", "5s")
	exp.Spec.Provider.Prometheus.Auth = &chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBearer, SecretName: secret.Name}
	run := tb.RunExperiment(t, exp, 2*time.Minute)
	t.Logf("report: %s", run.Status.Message)
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
	}
}

// TestKillSwitchRevertsEveryStuckRun holds three Istio faults at once and
// flips the kill switch: every run must be aborted and every VirtualService
// restored, within seconds. It prints the time that took.
func TestKillSwitchRevertsEveryStuckRun(t *testing.T) {
	tb.RequireSteadyState(t)
	services := []string{"checkout", "cart", "payments"}
	before := map[string]map[string]any{}
	var runs []*chaosv1alpha1.ExperimentRun
	for _, vs := range services {
		before[vs] = vsSpec(virtualService(t, vs))
		exp := heldIstioExperiment("e2e-stuck-"+vs, vs)
		tb.Create(t, exp)
		runs = append(runs, tb.StartRun(t, exp))
	}
	for _, r := range runs {
		waitPhase(t, r, chaosv1alpha1.PhaseObserving)
	}

	start := time.Now()
	tb.SetPaused(t, true)
	t.Cleanup(func() { tb.SetPaused(t, false) })
	for _, r := range runs {
		got := tb.WaitRunCompleted(t, r, time.Minute)
		if got.Status.Verdict != chaosv1alpha1.VerdictAborted || got.Status.Abort == nil || got.Status.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			t.Errorf("run %s ended %s: %s", r.Name, got.Status.Verdict, got.Status.Message)
		}
	}
	allDone := time.Since(start)
	for _, vs := range services {
		if !equality.Semantic.DeepEqual(before[vs], vsSpec(virtualService(t, vs))) {
			t.Errorf("VirtualService %s differs after the kill switch", vs)
		}
	}
	t.Logf("kill switch: 3 held runs aborted and reverted %.3fs after spec.paused=true", allDone.Seconds())
	fmt.Printf("e2e figure: kill switch reverted 3 stuck runs in %.3fs\n", allDone.Seconds())

	// The ChaosPolicy confirms it.
	harness.WaitFor(t, 30*time.Second, "the ChaosPolicy to confirm the kill switch", func(ctx context.Context) (bool, error) {
		p := &chaosv1alpha1.ChaosPolicy{}
		if err := tb.Client.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
			return false, err
		}
		ks := p.Status.KillSwitch
		if ks == nil || ks.EngagedAt == nil || ks.AllRevertedAt == nil {
			return false, fmt.Errorf("status.killSwitch %+v", ks)
		}
		t.Logf("ChaosPolicy status.killSwitch: engaged %s, all reverted %s, %d runs aborted",
			ks.EngagedAt.UTC().Format(time.RFC3339Nano), ks.AllRevertedAt.UTC().Format(time.RFC3339Nano), ks.AbortedRuns)
		return ks.AbortedRuns >= int32(len(runs)), nil
	})
}
