package stored_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// heldRun is a run as the operator writes it while it holds an Istio fault
// on three VirtualServices: the Experiment snapshot, targets with their
// restore data, probes, timeline and conditions. It is the size of object
// the run controller reads at every reconcile.
func heldRun() *chaosv1alpha1.ExperimentRun {
	at := metav1.NewMicroTime(time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC))
	later := metav1.NewMicroTime(at.Add(30 * time.Second))
	run := &chaosv1alpha1.ExperimentRun{
		TypeMeta: metav1.TypeMeta{APIVersion: chaosv1alpha1.GroupVersion.String(), Kind: "ExperimentRun"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop", Name: "checkout-delay-29512800", UID: "5f0c6a3e-2b8e-4c1e-9d0a-3f6e1b2c4d5e", ResourceVersion: "4711",
			Labels:      map[string]string{chaosv1alpha1.ExperimentLabel: "checkout-delay"},
			Annotations: map[string]string{chaosv1alpha1.ScheduledAtAnnotation: "2026-03-10T14:00:00Z"},
			Finalizers:  []string{chaosv1alpha1.RunFinalizer},
		},
		Spec: chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-delay"}},
	}
	spec := &chaosv1alpha1.ExperimentSpec{
		Schedule: "0 14 * * TUE",
		Target:   chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetVirtualService, Names: []string{"checkout", "cart", "payments"}, Mode: chaosv1alpha1.SelectAll},
		Fault: chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{Routes: []string{"primary"},
			Delay: &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: 2 * time.Second}, Percent: 50}}},
		Duration: &metav1.Duration{Duration: 2 * time.Minute},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval: metav1.Duration{Duration: 5 * time.Second}, Baseline: metav1.Duration{Duration: 30 * time.Second}, Stabilization: 3,
		},
	}
	run.Status = chaosv1alpha1.ExperimentRunStatus{
		ObservedGeneration: 1, Phase: chaosv1alpha1.PhaseObserving, Message: "fault held on 3 targets",
		ExperimentGeneration: 3, Experiment: spec,
		Timeline: chaosv1alpha1.Timeline{StartedAt: &at, BaselineVerifiedAt: &at, InjectedAt: &later},
		Progress: chaosv1alpha1.Progress{LastSampleAt: &later, BaselineSince: &at},
	}
	for i, name := range spec.Target.Names {
		spec.SteadyState.Probes = append(spec.SteadyState.Probes, chaosv1alpha1.Probe{
			Name:       name + "-success",
			Prometheus: &chaosv1alpha1.PrometheusQuery{Query: fmt.Sprintf(`sum(rate(istio_requests_total{destination_service_name=%q,response_code!~"5.."}[30s])) / sum(rate(istio_requests_total{destination_service_name=%q}[30s]))`, name, name)},
			Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"},
		})
		run.Status.Targets = append(run.Status.Targets, chaosv1alpha1.TargetStatus{
			Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: name, UID: types.UID("uid-" + name), ResourceVersion: fmt.Sprint(100 + i),
			Phase: chaosv1alpha1.TargetInjected, InjectedAt: &later,
			Restore: &chaosv1alpha1.RestoreData{Istio: &chaosv1alpha1.IstioRestore{Routes: []chaosv1alpha1.IstioRouteRestore{{
				Name: "primary", InjectedFault: `{"delay":{"fixedDelay":"2s","percentage":{"value":50}}}`,
			}}}},
		})
		run.Status.Probes = append(run.Status.Probes, chaosv1alpha1.ProbeStatus{
			Name: name + "-success", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.999", Worst: "0.97", Last: "0.98",
			Samples: 12, Failures: 2,
		})
	}
	for _, c := range []string{chaosv1alpha1.ConditionInjected, chaosv1alpha1.ConditionReady} {
		run.Status.Conditions = append(run.Status.Conditions, metav1.Condition{
			Type: c, Status: metav1.ConditionTrue, Reason: "Injected", Message: "the fault is applied", LastTransitionTime: metav1.NewTime(later.Time),
		})
	}
	return run
}

// storedRun returns run as the API server stores it, unstructured.
func storedRun(tb testing.TB, run *chaosv1alpha1.ExperimentRun) *unstructured.Unstructured {
	tb.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
	if err != nil {
		tb.Fatal(err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func TestDecodeRun(t *testing.T) {
	cases := map[string]struct {
		edit      func(u *unstructured.Unstructured)
		wantField string // "" means it decodes
	}{
		"a run as the operator writes it decodes": {edit: func(*unstructured.Unstructured) {}},
		"status.targets a string is malformed at status.targets": {
			edit:      func(u *unstructured.Unstructured) { u.Object["status"].(map[string]any)["targets"] = "checkout" },
			wantField: "status.targets: ",
		},
		"timeline.injectedAt a number names the timeline field": {
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(1773151230), "status", "timeline", "injectedAt")
			},
			wantField: "status.timeline.injectedAt: ",
		},
		"a bad field of one target names the target": {
			edit: func(u *unstructured.Unstructured) {
				targets := u.Object["status"].(map[string]any)["targets"].([]any)
				targets[1].(map[string]any)["injectedAt"] = map[string]any{"seconds": int64(1)}
			},
			wantField: "status.targets[1].injectedAt",
		},
		"a field the API no longer has (timeline.abortedAt of an older run) is ignored, not malformed": {
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "2026-03-10T14:00:30.000002Z", "status", "timeline", "abortedAt")
			},
		},
		"a bad duration in the Experiment snapshot names it": {
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "1y", "status", "experiment", "duration")
			},
			wantField: "status.experiment.duration: ",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := storedRun(t, heldRun())
			tc.edit(u)
			run, err := stored.DecodeRun(u)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("DecodeRun: %v", err)
				}
				if !equality.Semantic.DeepEqual(run, heldRun()) {
					t.Fatalf("DecodeRun changed the run: got %+v", run.Status)
				}
				return
			}
			m, ok := errors.AsType[*stored.MalformedError](err)
			if !ok {
				t.Fatalf("DecodeRun error = %v, want a *MalformedError", err)
			}
			if m.Kind != "ExperimentRun" || m.Namespace != "shop" || m.Name != "checkout-delay-29512800" {
				t.Errorf("MalformedError names %s %s/%s, want ExperimentRun shop/checkout-delay-29512800", m.Kind, m.Namespace, m.Name)
			}
			if msg := m.Err.Error(); !strings.HasPrefix(msg, tc.wantField) {
				t.Errorf("reason = %q, want it to start with %q", msg, tc.wantField)
			}
			// The phase still reads: what counting active runs relies on.
			if p := stored.RunPhase(u); p != chaosv1alpha1.PhaseObserving {
				t.Errorf("RunPhase of the malformed run = %q, want Observing", p)
			}
			if n := stored.RunExperimentName(u); n != "checkout-delay" {
				t.Errorf("RunExperimentName of the malformed run = %q, want checkout-delay", n)
			}
		})
	}
}

// The run controller and the list helpers decode runs straight from the
// cache's own objects, without copying them first. That is safe only if
// the decoded run shares nothing the caller may change with the stored
// object: every map, slice and pointer changed here would otherwise change
// the cache under every other reader.
func TestDecodedRunSharesNothingWithTheStoredObject(t *testing.T) {
	u := storedRun(t, heldRun())
	before := u.DeepCopy()
	run, err := stored.DecodeRun(u)
	if err != nil {
		t.Fatal(err)
	}
	run.Labels[chaosv1alpha1.ExperimentLabel] = "changed"
	run.Annotations["new"] = "x"
	run.Finalizers[0] = "changed"
	run.Status.Targets[0].Name = "changed"
	run.Status.Targets[0].Restore.Istio.Routes[0].InjectedFault = "changed"
	run.Status.Targets = append(run.Status.Targets[:1], run.Status.Targets[2])
	run.Status.Timeline.InjectedAt.Time = time.Time{}
	run.Status.Experiment.Target.Names[0] = "changed"
	run.Status.Experiment.SteadyState.Probes[0].Prometheus.Query = "changed"
	run.Status.Experiment.Duration.Duration = 0
	run.Status.Conditions[0].Message = "changed"
	run.Status.Probes[0].Samples = 99
	if !equality.Semantic.DeepEqual(u.Object, before.Object) {
		t.Fatal("changing the decoded run changed the stored object it was decoded from")
	}
}

func TestGetAndListRuns(t *testing.T) {
	good := storedRun(t, heldRun())
	good.SetName("good")
	good.SetResourceVersion("")
	bad := storedRun(t, heldRun())
	bad.SetName("bad")
	bad.SetResourceVersion("")
	bad.Object["status"].(map[string]any)["targets"] = "checkout"
	// Without the Faultline types registered the fake client keeps runs as
	// they are written, as the API server does.
	c := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithObjects(good, bad).Build()
	ctx := t.Context()

	runs, malformed, err := stored.ListRuns(ctx, c, client.InNamespace("shop"))
	if err != nil {
		t.Fatalf("ListRuns: %v", err)
	}
	if len(runs) != 1 || runs[0].Name != "good" || runs[0].Status.Phase != chaosv1alpha1.PhaseObserving {
		t.Errorf("good runs = %v, want only shop/good, Observing", runs)
	}
	if len(malformed) != 1 || malformed[0].Name != "bad" || !strings.HasPrefix(malformed[0].Err.Error(), "status.targets") {
		t.Errorf("malformed runs = %v, want only shop/bad at status.targets", malformed)
	}
	if _, err := stored.GetRun(ctx, c, client.ObjectKey{Namespace: "shop", Name: "good"}); err != nil {
		t.Errorf("GetRun(good): %v", err)
	}
	if _, err := stored.GetRun(ctx, c, client.ObjectKey{Namespace: "shop", Name: "bad"}); !errors.As(err, new(*stored.MalformedError)) {
		t.Errorf("GetRun(bad) error = %v, want a *MalformedError", err)
	}
}

func TestDecodeRunFields(t *testing.T) {
	u := storedRun(t, heldRun())
	u.Object["status"].(map[string]any)["targets"] = "checkout"
	run, err := stored.DecodeRunFields(u, "phase", "abort", "timeline")
	if err != nil {
		t.Fatalf("DecodeRunFields of a run malformed in a field it skips: %v", err)
	}
	if run.Name != "checkout-delay-29512800" || run.Spec.ExperimentRef.Name != "checkout-delay" ||
		run.Status.Phase != chaosv1alpha1.PhaseObserving || run.Status.Timeline.InjectedAt == nil {
		t.Errorf("DecodeRunFields = %+v, want the metadata, spec, phase and timeline", run)
	}
	if run.Status.Experiment != nil || run.Status.Probes != nil || run.Status.Message != "" {
		t.Errorf("DecodeRunFields decoded fields it was not asked for: %+v", run.Status)
	}

	_ = unstructured.SetNestedField(u.Object, int64(1773151230), "status", "timeline", "injectedAt")
	_, err = stored.DecodeRunFields(u, "phase", "timeline")
	if m, ok := errors.AsType[*stored.MalformedError](err); !ok || !strings.HasPrefix(m.Err.Error(), "status.timeline.injectedAt") {
		t.Errorf("DecodeRunFields of a run malformed in a field it decodes: error %v, want one naming status.timeline.injectedAt", err)
	}

	u.Object["status"] = "gone"
	if _, err := stored.DecodeRunFields(u, "phase"); !errors.As(err, new(*stored.MalformedError)) {
		t.Errorf("DecodeRunFields of a run whose status is a string: error %v, want a *MalformedError", err)
	}
}

// BenchmarkDecodeRun is what reading a run costs the run controller per
// reconcile now that runs are cached unstructured: the decode of a held
// run. BenchmarkDeepCopyTypedRun is what the typed cache cost per read (a
// deep copy), BenchmarkDeepCopyStoredRun what an unstructured read costs
// when the cache copies. Compare with
//
//	go test ./internal/stored/ -run '^$' -bench Run -benchmem
func BenchmarkDecodeRun(b *testing.B) {
	u := storedRun(b, heldRun())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stored.DecodeRun(u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeepCopyTypedRun(b *testing.B) {
	run := heldRun()
	b.ReportAllocs()
	for b.Loop() {
		_ = run.DeepCopy()
	}
}

func BenchmarkDeepCopyStoredRun(b *testing.B) {
	u := storedRun(b, heldRun())
	b.ReportAllocs()
	for b.Loop() {
		_ = u.DeepCopy()
	}
}

// BenchmarkDecodeRunFields is what the ChaosPolicy controller pays per
// run at each run change: the phase, abort and timeline only.
func BenchmarkDecodeRunFields(b *testing.B) {
	u := storedRun(b, heldRun())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stored.DecodeRunFields(u, "phase", "abort", "timeline"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMalformedRun is the cost of finding the bad field, paid
// for each malformed run a list meets.
func BenchmarkDecodeMalformedRun(b *testing.B) {
	u := storedRun(b, heldRun())
	_ = unstructured.SetNestedField(u.Object, int64(1773151230), "status", "timeline", "injectedAt")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stored.DecodeRun(u); err == nil {
			b.Fatal("decoded a malformed run")
		}
	}
}
