package experimentrun_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/internal/stored"
)

// drainEvents returns the events recorded so far.
func drainEvents(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A run that does not decode is reported once per resourceVersion (its
// Stalled condition and an Event when they change, the gauge, a terminal
// error the controller logs once), keeps its finalizer while nobody deletes
// it, and loses it when deleted: a metadata patch that never sends the
// unreadable status back.
func TestMalformedRunIsReportedOncePerVersionAndReleasedOnDelete(t *testing.T) {
	ctx := t.Context()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	bad := stored.NewRun()
	bad.SetNamespace("shop")
	bad.SetName("bad")
	bad.SetFinalizers([]string{chaosv1alpha1.RunFinalizer})
	bad.Object["spec"] = map[string]any{"experimentRef": map[string]any{"name": "checkout"}}
	bad.Object["status"] = map[string]any{"phase": "Observing", "targets": "web-0"}
	// Without the Faultline types registered the fake client keeps the run
	// as written, as the API server does.
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(bad).WithStatusSubresource(stored.NewRun()).Build()
	rec := events.NewFakeRecorder(10)
	reg := prometheus.NewRegistry()
	r := &experimentrun.Reconciler{Client: c, Clock: clocktesting.NewFakePassiveClock(t0), Recorder: rec, Metrics: experimentrun.NewMetrics(reg)}
	key := client.ObjectKeyFromObject(bad)
	req := ctrl.Request{NamespacedName: key}

	_, err := r.Reconcile(ctx, req)
	if !errors.Is(err, reconcile.TerminalError(nil)) || !strings.Contains(err.Error(), "status.targets") {
		t.Fatalf("first reconcile: error %v, want a terminal error naming status.targets", err)
	}
	got := drainEvents(rec)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning Malformed") || !strings.Contains(got[0], "status.targets") {
		t.Fatalf("events after the first reconcile = %q, want one Warning Malformed naming status.targets", got)
	}
	if v := malformedGauge(t, reg, "ExperimentRun"); v != 1 {
		t.Errorf("faultline_malformed_objects{kind=ExperimentRun} = %v, want 1", v)
	}
	stalled := func() *metav1.Condition {
		t.Helper()
		u := stored.NewRun()
		if err := c.Get(ctx, key, u); err != nil {
			t.Fatal(err)
		}
		if targets, _, _ := unstructured.NestedString(u.Object, "status", "targets"); targets != "web-0" {
			t.Fatalf("status.targets = %q after the report; the report must leave the rest of the status as it is", targets)
		}
		return meta.FindStatusCondition(stored.Conditions(u), chaosv1alpha1.ConditionStalled)
	}
	if c := stalled(); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonMalformed || !strings.Contains(c.Message, "status.targets") {
		t.Errorf("Stalled condition = %+v, want True, reason Malformed, naming status.targets", c)
	}

	// Woken again (by its own condition write, a ChaosPolicy change): nothing new.
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("second reconcile of the same version: %v, want none (reported already)", err)
	}
	if got := drainEvents(rec); len(got) != 0 {
		t.Fatalf("the same version was reported again: %q", got)
	}
	u := stored.NewRun()
	if err := c.Get(ctx, key, u); err != nil {
		t.Fatal(err)
	}
	if fs := u.GetFinalizers(); len(fs) != 1 || fs[0] != chaosv1alpha1.RunFinalizer {
		t.Fatalf("finalizers of the malformed run nobody deleted = %v, want it kept for a human to decide", fs)
	}

	// An edit is a new version, looked at again: still malformed, the
	// same way, it is logged again but nothing changed to announce.
	u.SetLabels(map[string]string{"edited": "true"})
	if err := c.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile after an edit: error %v, want a terminal error", err)
	}
	if got := drainEvents(rec); len(got) != 0 {
		t.Fatalf("events after an edit that changed nothing the report says = %q, want none", got)
	}
	// Malformed elsewhere now: the report changes, and is announced.
	if err := c.Get(ctx, key, u); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(u.Object, []any{}, "status", "targets")
	_ = unstructured.SetNestedField(u.Object, int64(1773151230), "status", "timeline", "injectedAt")
	if err := c.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); !errors.Is(err, reconcile.TerminalError(nil)) || !strings.Contains(err.Error(), "status.timeline.injectedAt") {
		t.Fatalf("reconcile after the status changed: error %v, want a terminal error naming status.timeline.injectedAt", err)
	}
	if got := drainEvents(rec); len(got) != 1 || !strings.Contains(got[0], "status.timeline.injectedAt") {
		t.Fatalf("events after the status changed = %q, want one naming status.timeline.injectedAt", got)
	}

	// Deleted: the finalizer goes, and with it the run.
	if err := c.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("reconcile of the deleted run: %v", err)
	}
	if err := c.Get(ctx, key, stored.NewRun()); !apierrors.IsNotFound(err) {
		t.Fatalf("after its reconcile the deleted malformed run is still there (get: %v): its finalizer was not released", err)
	}
	if got := drainEvents(rec); len(got) != 1 || !strings.Contains(got[0], "finalizer was released") {
		t.Errorf("events on release = %q, want one saying the finalizer was released", got)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatalf("reconcile of the gone run: %v", err)
	}
	if v := malformedGauge(t, reg, "ExperimentRun"); v != 0 {
		t.Errorf("faultline_malformed_objects{kind=ExperimentRun} after the run went = %v, want 0", v)
	}
}
