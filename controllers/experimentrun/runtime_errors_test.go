package experimentrun_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// A run whose credentials Secret does not exist retries a bounded number of
// times, spaced, then ends with verdict Error and a Stalled condition that
// says what to fix, having touched nothing.
func TestMissingCredentialsSecretEndsTheRunInErrorAfterBoundedRetries(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	spec := experimentSpec()
	spec.Provider.Prometheus.Auth = &chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBearer, SecretName: "prometheus-token"}
	e.createExperiment(spec)
	// The real Samplers, reading Secrets from the API server.
	e.r.Samplers = &experimentrun.Samplers{Client: e.c, Secrets: e.c}
	key := e.createRun("web-pod-kill", false)

	run := e.drive(key, released)

	if run.Status.Verdict != chaosv1alpha1.VerdictError {
		t.Fatalf("verdict = %q (%s), want Error", run.Status.Verdict, run.Status.Message)
	}
	done := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	if done == nil || done.Reason != chaosv1alpha1.ReasonConfigError {
		t.Errorf("Completed condition = %+v, want reason ConfigError", done)
	}
	stalled := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != chaosv1alpha1.ReasonConfigError ||
		!strings.Contains(stalled.Message, "prometheus-token does not exist; create it") {
		t.Errorf("Stalled condition = %+v, want True, ConfigError, saying to create the Secret", stalled)
	}
	if got := run.Status.Progress.ConfigErrorAttempts; got != engine.MaxConfigErrorAttempts {
		t.Errorf("status.progress.configErrorAttempts = %d, want %d", got, engine.MaxConfigErrorAttempts)
	}
	// The attempts were spaced, not spent in a burst.
	spent := run.Status.Timeline.FinishedAt.Sub(run.Status.Timeline.StartedAt.Time)
	if want := time.Duration(engine.MaxConfigErrorAttempts-1) * engine.ConfigErrorRetryInterval; spent < want {
		t.Errorf("the run ended %s after it started, want at least %s of retries", spent, want)
	}
	if killed := e.killedPods(); len(killed) > 0 {
		t.Errorf("pods killed: %v, want none", killed)
	}
	if !hasEvent(e.eventList(), "Warning", chaosv1alpha1.ReasonConfigError) {
		t.Errorf("events = %v, want a Warning ConfigError", e.eventList())
	}
}

// A run written out in full by a template (spec.dryRun: false) and carrying
// another controller's finalizer gets the revert finalizer without its spec
// being re-sent, and keeps the other finalizer.
func TestStoredDefaultsAndOtherFinalizersSurviveTheFinalizerPatch(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	e.createExperiment(experimentSpec())
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": chaosv1alpha1.GroupVersion.String(), "kind": "ExperimentRun",
		"metadata": map[string]any{"namespace": e.ns, "name": "templated", "finalizers": []any{"example.com/keep"}},
		"spec":     map[string]any{"experimentRef": map[string]any{"name": "web-pod-kill"}, "dryRun": false},
	}}
	if err := e.c.Create(t.Context(), u); err != nil {
		t.Fatalf("creating run: %v", err)
	}
	key := client.ObjectKeyFromObject(u)
	t.Cleanup(func() {
		run := &chaosv1alpha1.ExperimentRun{}
		if err := e.c.Get(t.Context(), key, run); err == nil {
			run.Finalizers = nil
			_ = e.c.Update(t.Context(), run)
		}
	})

	if _, err := e.r.Reconcile(t.Context(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}

	run := e.getRun(key)
	if !slices.Contains(run.Finalizers, chaosv1alpha1.RunFinalizer) || !slices.Contains(run.Finalizers, "example.com/keep") {
		t.Errorf("finalizers = %v, want both %s and example.com/keep", run.Finalizers, chaosv1alpha1.RunFinalizer)
	}
	if run.Status.Phase == "" {
		t.Errorf("the run has no phase after a reconcile: it did not start")
	}
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentRun"))
	if err := e.c.Get(t.Context(), key, stored); err != nil {
		t.Fatalf("reading run: %v", err)
	}
	if v, found, _ := unstructured.NestedBool(stored.Object, "spec", "dryRun"); !found || v {
		t.Errorf("stored spec.dryRun = %v (found %v), want the user's false untouched", v, found)
	}
}
