package experimentrun_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/internal/stored"
)

// quickSpec is a valid Experiment that completes in seconds on the real
// clock: a one-second baseline on the web Deployment's readiness (which
// nothing changes in envtest), a pod kill of one of the web pods.
func quickSpec() chaosv1alpha1.ExperimentSpec {
	return chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{
			Kind:     chaosv1alpha1.TargetPod,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Mode:     chaosv1alpha1.SelectOne,
		},
		Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval:        metav1.Duration{Duration: time.Second},
			Baseline:        metav1.Duration{Duration: time.Second},
			Stabilization:   1,
			RecoveryTimeout: metav1.Duration{Duration: time.Minute},
			Probes: []chaosv1alpha1.Probe{{Name: "web-ready",
				Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web", MinReadyPercent: 100}}},
		},
	}
}

// createNamespaceWithPods creates a chaos-enabled namespace holding the web
// Deployment, ready, and three Running, Ready web pods.
func createNamespaceWithPods(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix, Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"},
	}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	createReadyDeployment(t.Context(), t, c, ns.Name, "web", 3)
	for i := range 3 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
		}
		if err := c.Create(t.Context(), pod); err != nil {
			t.Fatalf("creating pod: %v", err)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if err := c.Status().Update(t.Context(), pod); err != nil {
			t.Fatalf("marking pod running: %v", err)
		}
	}
	return ns.Name
}

func createRunOf(t *testing.T, c client.Client, ns, name, experimentName string) client.ObjectKey {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experimentName}},
	}
	if err := c.Create(t.Context(), run); err != nil {
		t.Fatalf("creating run %s: %v", name, err)
	}
	return client.ObjectKeyFromObject(run)
}

func readRun(t *testing.T, c client.Reader, key client.ObjectKey) *chaosv1alpha1.ExperimentRun {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{}
	if err := c.Get(t.Context(), key, run); err != nil {
		t.Fatalf("reading run %s: %v", key, err)
	}
	return run
}

// An Experiment the Go types cannot decode (spec.duration: 1y), stored
// before the schema refused it, neither keeps the operator from starting
// nor stops the runs of other Experiments; it is reported on itself, and a
// run of it ends in Error naming the field.
func TestMalformedExperimentDoesNotStopTheOperator(t *testing.T) {
	cfg, scheme, c := isolatedAPIServer(t, true)
	ns := createNamespaceWithPods(t, c, "malformed-")

	bad := stored.NewExperiment()
	bad.SetNamespace(ns)
	bad.SetName("bad")
	spec, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptr.To(quickSpec()))
	if err != nil {
		t.Fatal(err)
	}
	spec["duration"] = "1y"
	bad.Object["spec"] = spec
	if err := c.Create(t.Context(), bad); err != nil {
		t.Fatalf("storing the malformed Experiment: %v", err)
	}
	// It really is in etcd as written, and typed reads of Experiments fail
	// on it: what made the typed informer, and the manager, never sync.
	readBack := stored.NewExperiment()
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(bad), readBack); err != nil {
		t.Fatalf("reading the malformed Experiment back: %v", err)
	}
	if d, _, _ := unstructured.NestedString(readBack.Object, "spec", "duration"); d != "1y" {
		t.Fatalf("stored spec.duration = %q, want 1y", d)
	}
	if err := c.List(t.Context(), &chaosv1alpha1.ExperimentList{}, client.InNamespace(ns)); err == nil {
		t.Fatal("a typed List of Experiments succeeded; the test stores no undecodable object")
	}

	start := time.Now()
	op := startOperator(t, cfg, scheme, 0, 30*time.Second)
	t.Logf("the manager synced %s after start with a malformed Experiment stored", time.Since(start).Round(time.Millisecond))

	good := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "good"}, Spec: quickSpec()}
	if err := c.Create(t.Context(), good); err != nil {
		t.Fatalf("creating the valid Experiment: %v", err)
	}
	goodRun := createRunOf(t, c, ns, "good-1", "good")
	badRun := createRunOf(t, c, ns, "bad-1", "bad")
	reader := op.mgr.GetAPIReader()

	eventually(t, 60*time.Second, func() string {
		r := readRun(t, reader, goodRun)
		return fmt.Sprintf("the valid Experiment's run is in phase %q: %s", r.Status.Phase, r.Status.Message)
	}, func() bool { return readRun(t, reader, goodRun).Status.Phase == chaosv1alpha1.PhaseCompleted })
	if r := readRun(t, reader, goodRun); r.Status.Verdict == chaosv1alpha1.VerdictError {
		t.Errorf("the valid Experiment's run ended in Error: %s", r.Status.Message)
	}

	eventually(t, 30*time.Second, func() string {
		return fmt.Sprintf("the malformed Experiment's run: %+v", readRun(t, reader, badRun).Status.Conditions)
	}, func() bool { return readRun(t, reader, badRun).Status.Phase == chaosv1alpha1.PhaseCompleted })
	r := readRun(t, reader, badRun)
	done := meta.FindStatusCondition(r.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	if r.Status.Verdict != chaosv1alpha1.VerdictError || done == nil || done.Reason != chaosv1alpha1.ReasonMalformed ||
		!strings.Contains(done.Message, "spec.duration") {
		t.Errorf("the malformed Experiment's run ended %q, %+v; want Error, reason Malformed, naming spec.duration", r.Status.Verdict, done)
	}

	var stalled *metav1.Condition
	eventually(t, 30*time.Second, func() string {
		return fmt.Sprintf("the malformed Experiment's Stalled condition is %+v", stalled)
	}, func() bool {
		u := stored.NewExperiment()
		if err := reader.Get(t.Context(), client.ObjectKeyFromObject(bad), u); err != nil {
			t.Fatalf("reading the malformed Experiment: %v", err)
		}
		raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		var status struct {
			Conditions []metav1.Condition `json:"conditions"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"conditions": raw}, &status); err != nil {
			t.Fatalf("decoding conditions: %v", err)
		}
		stalled = meta.FindStatusCondition(status.Conditions, chaosv1alpha1.ConditionStalled)
		ready := meta.FindStatusCondition(status.Conditions, chaosv1alpha1.ConditionReady)
		return stalled != nil && stalled.Status == metav1.ConditionTrue && stalled.Reason == chaosv1alpha1.ReasonMalformed &&
			strings.Contains(stalled.Message, "spec.duration") && ready != nil && ready.Status == metav1.ConditionFalse
	})

	// The valid Experiment is unaffected: it is reconciled and Ready.
	eventually(t, 30*time.Second, func() string { return "the valid Experiment is not Ready" }, func() bool {
		exp, err := stored.GetExperiment(t.Context(), reader, client.ObjectKeyFromObject(good))
		return err == nil && meta.IsStatusConditionTrue(exp.Status.Conditions, chaosv1alpha1.ConditionReady)
	})
}

// Runs stuck on a provider that answers nothing do not hold the kill switch
// from each other: with the ChaosPolicy paused, every run ends within about
// one provider timeout, not one per run.
func TestKillSwitchReachesEveryStuckRunWithinSeconds(t *testing.T) {
	cfg, scheme, c := isolatedAPIServer(t, false)
	ns := createNamespaceWithPods(t, c, "stuck-")

	var queries atomic.Int64
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries.Add(1)
		// Never answers: the provider timeout ends each query.
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers
	const providerTimeout = 2 * time.Second

	policy := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec: chaosv1alpha1.ChaosPolicySpec{MaxConcurrentRuns: ptr.To[int32](100)}}
	if err := c.Create(t.Context(), policy); err != nil {
		t.Fatalf("creating ChaosPolicy: %v", err)
	}
	spec := quickSpec()
	spec.SteadyState.Baseline = metav1.Duration{Duration: 10 * time.Minute}
	spec.Provider = &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
		Address: hang.URL, Timeout: &metav1.Duration{Duration: providerTimeout},
	}}
	spec.SteadyState.Probes = append(spec.SteadyState.Probes, chaosv1alpha1.Probe{Name: "success-rate",
		Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "vector(1)"},
		Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"}})
	// Probe errors alone would end the runs; they must stay stuck.
	spec.Abort = &chaosv1alpha1.AbortSpec{ProbeErrorThreshold: 100}
	if err := c.Create(t.Context(), &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck"}, Spec: spec}); err != nil {
		t.Fatalf("creating Experiment: %v", err)
	}
	op := startOperator(t, cfg, scheme, 0, 30*time.Second)
	reader := op.mgr.GetAPIReader()
	const stuckRuns = 5
	var keys []client.ObjectKey
	for i := range stuckRuns {
		keys = append(keys, createRunOf(t, c, ns, fmt.Sprintf("stuck-%d", i), "stuck"))
	}
	// Every run is stuck in its baseline, waiting on the silent provider.
	eventually(t, 30*time.Second, func() string {
		var states []string
		for _, k := range keys {
			r := readRun(t, reader, k)
			states = append(states, fmt.Sprintf("%s: %q %s", k.Name, r.Status.Phase, r.Status.Message))
		}
		return fmt.Sprintf("%d queries reached the provider; runs: %s", queries.Load(), strings.Join(states, "; "))
	}, func() bool {
		inBaseline := 0
		for _, k := range keys {
			switch readRun(t, reader, k).Status.Phase {
			case chaosv1alpha1.PhaseBaseline:
				inBaseline++
			case chaosv1alpha1.PhasePending:
			default:
				return false
			}
		}
		return inBaseline == stuckRuns && queries.Load() >= 2*stuckRuns
	})

	if err := c.Get(t.Context(), client.ObjectKeyFromObject(policy), policy); err != nil {
		t.Fatal(err)
	}
	policy.Spec.Paused = true
	paused := time.Now()
	if err := c.Update(t.Context(), policy); err != nil {
		t.Fatalf("pausing the ChaosPolicy: %v", err)
	}
	bound := 2*providerTimeout + 3*time.Second
	eventually(t, bound, func() string {
		var states []string
		for _, k := range keys {
			r := readRun(t, reader, k)
			states = append(states, fmt.Sprintf("%s: %s %s", k.Name, r.Status.Phase, r.Status.Verdict))
		}
		return "runs not ended by the kill switch: " + strings.Join(states, "; ")
	}, func() bool {
		for _, k := range keys {
			if readRun(t, reader, k).Status.Phase != chaosv1alpha1.PhaseCompleted {
				return false
			}
		}
		return true
	})
	took := time.Since(paused)
	t.Logf("the kill switch ended all %d stuck runs %s after spec.paused was set (provider timeout %s, %d workers)",
		stuckRuns, took.Round(time.Millisecond), providerTimeout, experimentrun.DefaultMaxConcurrentReconciles)
	for _, k := range keys {
		r := readRun(t, reader, k)
		aborted := r.Status.Verdict == chaosv1alpha1.VerdictAborted && r.Status.Abort != nil && r.Status.Abort.Reason == chaosv1alpha1.AbortKillSwitch
		if !aborted && r.Status.Verdict != chaosv1alpha1.VerdictInconclusive {
			t.Errorf("run %s ended %q (%s), want Aborted by the kill switch or Inconclusive", k.Name, r.Status.Verdict, r.Status.Message)
		}
	}
}

// createReadyDeployment creates the Deployment name, labelled app=name,
// whose status says all its replicas are ready, as its controller would
// (envtest runs none).
func createReadyDeployment(ctx context.Context, tb testing.TB, c client.Client, ns, name string, replicas int32) {
	tb.Helper()
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/" + name + ":1"}}},
			},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		tb.Fatalf("creating deployment: %v", err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
	if err := c.Status().Update(ctx, dep); err != nil {
		tb.Fatalf("setting deployment status: %v", err)
	}
}
