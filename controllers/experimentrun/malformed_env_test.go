package experimentrun_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
	"github.com/faultline-dev/faultline/internal/stored"
)

// runCRD is the ExperimentRun CRD's name.
const runCRD = "experimentruns.chaos.faultline.dev"

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// malformedRunStatus is a run's status the Go type cannot hold: targets a
// string, timeline.injectedAt a number. The phase still reads Observing.
func malformedRunStatus() map[string]any {
	return map[string]any{
		"phase":    string(chaosv1alpha1.PhaseObserving),
		"targets":  "web-0",
		"timeline": map[string]any{"injectedAt": int64(1773151230)},
	}
}

// storeRunStatusBehindTheSchema writes status into the run key's status
// subresource as the API server would have taken it through a looser CRD:
// it makes the ExperimentRun CRD keep any field, writes, and puts the CRD
// back (also when the test fails), then waits until the hardened schema is
// served again. The run keeps a status that schema refuses, as one written
// by an older CRD, a downgraded operator or by hand does.
func storeRunStatusBehindTheSchema(t *testing.T, c client.Client, key client.ObjectKey, status map[string]any) {
	t.Helper()
	patchStatus := func(status map[string]any, opts ...client.SubResourcePatchOption) error {
		raw, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			t.Fatal(err)
		}
		u := stored.NewRun()
		u.SetNamespace(key.Namespace)
		u.SetName(key.Name)
		return c.Status().Patch(t.Context(), u, client.RawPatch(types.MergePatchType, raw), opts...)
	}
	// A phase outside its enum is refused again once the schema is back.
	storeBehindTheSchema(t, c, runCRD, func() error { return patchStatus(status) },
		func() error { return patchStatus(map[string]any{"phase": "NotAPhase"}, client.DryRunAll) })
}

// storeBehindTheSchema makes the CRD named crd keep any field, calls write
// until the API server takes it, and puts the CRD back (also when the test
// fails), then waits until refused, a write the real schema refuses, is
// refused again.
func storeBehindTheSchema(t *testing.T, c client.Client, crd string, write, refused func() error) {
	t.Helper()
	ctx := t.Context()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(crdGVK)
	if err := c.Get(ctx, client.ObjectKey{Name: crd}, u); err != nil {
		t.Fatal(err)
	}
	original, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	loose := make([]any, len(original))
	for i, v := range original {
		version := (&unstructured.Unstructured{Object: v.(map[string]any)}).DeepCopy().Object
		if err := unstructured.SetNestedMap(version, map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "schema", "openAPIV3Schema"); err != nil {
			t.Fatal(err)
		}
		loose[i] = version
	}
	setVersions := func(versions []any) {
		t.Helper()
		eventually(t, 30*time.Second, func() string { return "the CRD " + crd + " did not take its new schema" }, func() bool {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(crdGVK)
			if err := c.Get(ctx, client.ObjectKey{Name: crd}, u); err != nil {
				return false
			}
			_ = unstructured.SetNestedSlice(u.Object, versions, "spec", "versions")
			return c.Update(ctx, u) == nil
		})
	}
	setVersions(loose)
	restored := false
	restore := func() {
		if !restored {
			restored = true
			setVersions(original)
		}
	}
	defer restore()
	// The API server serves the new schema a moment after the update.
	eventually(t, 30*time.Second, func() string { return "the malformed object was never stored" }, func() bool {
		return write() == nil
	})
	restore()
	eventually(t, 30*time.Second, func() string { return "the CRD " + crd + "'s schema did not come back" }, func() bool {
		return apierrors.IsInvalid(refused())
	})
}

// malformedGauge reads faultline_malformed_objects{kind} from reg.
func malformedGauge(t *testing.T, reg prometheus.Gatherer, kind string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "faultline_malformed_objects" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no faultline_malformed_objects{kind=%q} series", kind)
	return 0
}

// malformedEvent returns the Warning Event with reason Malformed and action
// about the run name in ns, or nil.
func malformedEvent(t *testing.T, c client.Reader, ns, name, action string) *eventsv1.Event {
	t.Helper()
	list := &eventsv1.EventList{}
	if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	for i := range list.Items {
		ev := &list.Items[i]
		if ev.Regarding.Kind == "ExperimentRun" && ev.Regarding.Name == name && ev.Type == corev1.EventTypeWarning &&
			ev.Reason == chaosv1alpha1.ReasonMalformed && ev.Action == action {
			return ev
		}
	}
	return nil
}

// An ExperimentRun whose stored status the Go type cannot decode, present
// before the operator starts, stops nothing: the caches sync, a new run
// completes, the kill switch ends a held run, and the bad run is reported
// (Event naming the field, gauge) and, once deleted, released and gone.
// Before runs were cached unstructured, the typed informer's List failed on
// it and none of this happened.
func TestMalformedRunStopsNothing(t *testing.T) {
	cfg, scheme, c := isolatedAPIServer(t, false)
	ctx := t.Context()
	ns := createNamespaceWithPods(t, c, "badrun-")
	policy := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec: chaosv1alpha1.ChaosPolicySpec{MaxConcurrentRuns: ptr.To[int32](10)}}
	if err := c.Create(ctx, policy); err != nil {
		t.Fatalf("creating ChaosPolicy: %v", err)
	}
	held := quickSpec()
	// Held in its baseline until something stops it.
	held.SteadyState.Baseline = metav1.Duration{Duration: 10 * time.Minute}
	for name, spec := range map[string]chaosv1alpha1.ExperimentSpec{"good": quickSpec(), "held": held} {
		if err := c.Create(ctx, &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}); err != nil {
			t.Fatalf("creating Experiment %s: %v", name, err)
		}
	}

	// The bad run carries the operator's finalizer, as every run it
	// started does, then has its status made unreadable.
	bad := createRunOf(t, c, ns, "bad", "good")
	finalizer := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, chaosv1alpha1.RunFinalizer)
	if err := c.Patch(ctx, readRun(t, c, bad), client.RawPatch(types.MergePatchType, []byte(finalizer))); err != nil {
		t.Fatalf("adding the finalizer: %v", err)
	}
	storeRunStatusBehindTheSchema(t, c, bad, malformedRunStatus())
	// It is stored as written, and a typed List of runs fails on it: what
	// stopped the typed informer, and every run with it.
	u := stored.NewRun()
	if err := c.Get(ctx, bad, u); err != nil {
		t.Fatal(err)
	}
	if targets, _, _ := unstructured.NestedString(u.Object, "status", "targets"); targets != "web-0" {
		t.Fatalf("stored status.targets = %q, want web-0: the test proves nothing", targets)
	}
	if err := c.List(ctx, &chaosv1alpha1.ExperimentRunList{}, client.InNamespace(ns)); err == nil {
		t.Fatal("a typed List of runs succeeded; the test stores no undecodable run")
	}

	op := startOperator(t, cfg, scheme, 0, 30*time.Second, func(mgr ctrl.Manager) error {
		return (&chaospolicy.Reconciler{Client: mgr.GetClient(), Runs: mgr.GetCache(), Clock: clock.RealClock{}}).SetupWithManager(mgr)
	})
	reader := op.mgr.GetAPIReader()

	t.Run("the bad run is reported", func(t *testing.T) {
		var ev *eventsv1.Event
		eventually(t, 30*time.Second, func() string { return "no Warning Event with reason Malformed about the bad run" }, func() bool {
			ev = malformedEvent(t, reader, ns, bad.Name, "Decode")
			return ev != nil
		})
		if !strings.Contains(ev.Note, "status.targets") {
			t.Errorf("the Event says %q; want it to name the first bad field, status.targets", ev.Note)
		}
		if got := malformedGauge(t, op.metrics, "ExperimentRun"); got != 1 {
			t.Errorf("faultline_malformed_objects{kind=ExperimentRun} = %v, want 1", got)
		}
		// On the run itself too: the API server's validation ratcheting
		// lets the conditions through beside the fields that still fail
		// the schema, which stay as they were.
		u := stored.NewRun()
		if err := reader.Get(ctx, bad, u); err != nil {
			t.Fatal(err)
		}
		stalled := meta.FindStatusCondition(stored.Conditions(u), chaosv1alpha1.ConditionStalled)
		if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != chaosv1alpha1.ReasonMalformed || !strings.Contains(stalled.Message, "status.targets") {
			t.Errorf("the bad run's Stalled condition is %+v, want True, reason Malformed, naming status.targets", stalled)
		}
		if targets, _, _ := unstructured.NestedString(u.Object, "status", "targets"); targets != "web-0" {
			t.Errorf("the bad run's status.targets is %q after the report, want it left as stored", targets)
		}
	})

	t.Run("a new run completes", func(t *testing.T) {
		key := createRunOf(t, c, ns, "good-1", "good")
		eventually(t, 60*time.Second, func() string {
			r := readRun(t, reader, key)
			return fmt.Sprintf("the new run is in phase %q: %s", r.Status.Phase, r.Status.Message)
		}, func() bool { return readRun(t, reader, key).Status.Phase == chaosv1alpha1.PhaseCompleted })
		if r := readRun(t, reader, key); r.Status.Verdict == chaosv1alpha1.VerdictError {
			t.Errorf("the new run ended in Error: %s", r.Status.Message)
		}
		// Runs are cached as unstructured objects, stripped of
		// managedFields as typed ones were.
		cached := stored.NewRun()
		if err := op.mgr.GetCache().Get(ctx, key, cached); err != nil {
			t.Fatalf("reading the run from the cache: %v", err)
		}
		if mf := cached.GetManagedFields(); len(mf) != 0 {
			t.Errorf("the cached run keeps %d managedFields entries; the cache transform should strip them", len(mf))
		}
	})

	t.Run("the kill switch ends a held run", func(t *testing.T) {
		key := createRunOf(t, c, ns, "held-1", "held")
		eventually(t, 30*time.Second, func() string { return "the held run never reached its baseline" }, func() bool {
			return readRun(t, reader, key).Status.Phase == chaosv1alpha1.PhaseBaseline
		})
		if err := c.Patch(ctx, policy, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":true}}`))); err != nil {
			t.Fatalf("pausing the ChaosPolicy: %v", err)
		}
		eventually(t, 30*time.Second, func() string {
			r := readRun(t, reader, key)
			return fmt.Sprintf("the held run is %q %q: %s", r.Status.Phase, r.Status.Verdict, r.Status.Message)
		}, func() bool { return readRun(t, reader, key).Status.Phase == chaosv1alpha1.PhaseCompleted })
		if r := readRun(t, reader, key); r.Status.Abort == nil || r.Status.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			t.Errorf("the held run ended %q with abort %+v; want it aborted by the kill switch", r.Status.Verdict, r.Status.Abort)
		}
		// The ChaosPolicy controller reads every run too: the bad run still
		// counts by the phase it recorded (Observing), since nothing can
		// tell its fault is gone, so the switch is engaged and not yet
		// confirmed.
		eventually(t, 30*time.Second, func() string { return "the ChaosPolicy does not count the bad run by its phase" }, func() bool {
			p := &chaosv1alpha1.ChaosPolicy{}
			if err := reader.Get(ctx, client.ObjectKeyFromObject(policy), p); err != nil {
				return false
			}
			ks := p.Status.KillSwitch
			return p.Status.ActiveRuns == 1 && ks != nil && ks.EngagedAt != nil && ks.AllRevertedAt == nil
		})
	})

	t.Run("the bad run can be deleted", func(t *testing.T) {
		u := stored.NewRun()
		u.SetNamespace(bad.Namespace)
		u.SetName(bad.Name)
		if err := c.Delete(ctx, u); err != nil {
			t.Fatalf("deleting the bad run: %v", err)
		}
		eventually(t, 30*time.Second, func() string { return "the bad run is still stored: its finalizer was not released" }, func() bool {
			return apierrors.IsNotFound(reader.Get(ctx, bad, stored.NewRun()))
		})
		if ev := malformedEvent(t, reader, ns, bad.Name, "ReleaseFinalizer"); ev == nil {
			t.Error("no Warning Event says the bad run's finalizer was released without a revert")
		}
		eventually(t, 10*time.Second, func() string { return "faultline_malformed_objects{kind=ExperimentRun} is not back to 0" }, func() bool {
			return malformedGauge(t, op.metrics, "ExperimentRun") == 0
		})
		// With it gone, nothing is active and the kill switch is confirmed.
		eventually(t, 30*time.Second, func() string { return "the ChaosPolicy does not confirm the kill switch" }, func() bool {
			p := &chaosv1alpha1.ChaosPolicy{}
			if err := reader.Get(ctx, client.ObjectKeyFromObject(policy), p); err != nil {
				return false
			}
			return p.Status.ActiveRuns == 0 && p.Status.KillSwitch != nil && p.Status.KillSwitch.AllRevertedAt != nil
		})
	})
}
