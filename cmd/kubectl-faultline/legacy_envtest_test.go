package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/report"
)

// TestRunAbortedBeforeDecidedAtExistedIsReported is a run stored before
// abort.decidedAt existed, which kept the decision to abort only in
// timeline.abortedAt. That field is gone from the CRD, and the API server
// prunes it from the stored run when it reads it, not only on writes: no
// reader sees it again. The report still dates the decision, from the run's
// Aborted condition, which turned True at the same instant (to the second).
//
// The test puts the previous schema back (the CRD with timeline.abortedAt),
// stores the run as the operator then wrote it, and reports it once the
// current CRD is back.
func TestRunAbortedBeforeDecidedAtExistedIsReported(t *testing.T) {
	c := needAPIServer(t)
	ctx := t.Context()

	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := c.Get(ctx, client.ObjectKey{Name: "experimentruns.chaos.faultline.dev"}, crd); err != nil {
		t.Fatal(err)
	}
	current := crd.DeepCopy()
	timelinePath := []string{"properties", "status", "properties", "timeline", "properties"}
	setTimelineSchema := func(ctx context.Context, with bool) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
			t.Fatal(err)
		}
		versions, _, _ := unstructured.NestedSlice(current.Object, "spec", "versions")
		versions = append([]any(nil), versions...)
		v := runtime.DeepCopyJSON(versions[0].(map[string]any))
		if with {
			path := append([]string{"schema", "openAPIV3Schema"}, timelinePath...)
			props, _, _ := unstructured.NestedMap(v, path...)
			props["abortedAt"] = map[string]any{"type": "string", "format": "date-time"}
			if err := unstructured.SetNestedMap(v, props, path...); err != nil {
				t.Fatal(err)
			}
		}
		versions[0] = v
		if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		if err := c.Update(ctx, crd); err != nil {
			t.Fatalf("updating the ExperimentRun CRD: %v", err)
		}
	}
	// The other tests of the package need the current CRD back, even when
	// this one fails; t.Context() is over by then.
	t.Cleanup(func() { setTimelineSchema(context.WithoutCancel(ctx), false) })

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "legacy-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	run := &unstructured.Unstructured{}
	run.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentRun"))
	run.SetNamespace(ns.Name)
	run.SetName("checkout-pod-kill-old")
	run.Object["spec"] = map[string]any{"experimentRef": map[string]any{"name": "checkout-pod-kill"}}
	if err := c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}

	injected := time.Date(2026, time.November, 20, 14, 0, 0, 0, time.UTC)
	decided := injected.Add(4*time.Second + 250*time.Millisecond) // the Aborted condition keeps 14:00:04
	status := map[string]any{
		"phase": "Completed", "verdict": "Aborted", "message": "Aborted: the ChaosPolicy kill switch is on",
		"timeline": map[string]any{
			"startedAt":  injected.Add(-30 * time.Second).Format(metav1.RFC3339Micro),
			"injectedAt": injected.Format(metav1.RFC3339Micro),
			"abortedAt":  decided.Format(metav1.RFC3339Micro),
			"revertedAt": decided.Add(16 * time.Millisecond).Format(metav1.RFC3339Micro),
			"finishedAt": decided.Add(17 * time.Millisecond).Format(metav1.RFC3339Micro),
		},
		"abort":  map[string]any{"reason": "KillSwitch", "message": "the ChaosPolicy kill switch is on (spec.paused: true); reverting"},
		"result": map[string]any{"abortLatency": "16ms"},
		"conditions": []any{map[string]any{
			"type": "Aborted", "status": "True", "reason": "KillSwitch", "message": "the ChaosPolicy kill switch is on",
			"lastTransitionTime": decided.Truncate(time.Second).Format(time.RFC3339),
		}},
	}
	abortedAt := func() (string, bool) {
		t.Helper()
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(run.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			t.Fatal(err)
		}
		s, ok, _ := unstructured.NestedString(got.Object, "status", "timeline", "abortedAt")
		return s, ok
	}

	// The previous CRD, and the run as the operator wrote it then. The API
	// server takes a moment to serve a changed schema: write until the
	// field is kept.
	setTimelineSchema(ctx, true)
	pollUntil(t, 30*time.Second, "the previous schema keeps timeline.abortedAt", func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), run); err != nil {
			t.Fatal(err)
		}
		run.Object["status"] = status
		if err := c.Status().Update(ctx, run); err != nil {
			t.Fatalf("writing the old run's status: %v", err)
		}
		_, ok := abortedAt()
		return ok
	})

	// The current CRD: the stored run is unchanged, but reads of it no
	// longer carry the field.
	setTimelineSchema(ctx, false)
	pollUntil(t, 30*time.Second, "reads of the stored run prune timeline.abortedAt", func() bool {
		_, ok := abortedAt()
		return !ok
	})

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, apiServer.kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	a := newApp(stdout, stderr, make(chan os.Signal))
	if code := a.execute(ctx, []string{"report", run.GetName(), "-o", "json", "--kubeconfig", kubeconfig, "-n", ns.Name}); code != 0 {
		t.Fatalf("report exited %d\nstderr:\n%s", code, stderr.String())
	}
	var s report.Summary
	if err := json.Unmarshal([]byte(stdout.String()), &s); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	wantDecided := decided.Truncate(time.Second)
	if s.Abort == nil || s.Abort.Decided == nil || !s.Abort.Decided.At.Equal(wantDecided) {
		t.Fatalf("abort = %+v, want it decided at the Aborted condition's %s", s.Abort, wantDecided)
	}
	if s.Abort.Reverted == nil || s.Abort.Trigger != "the kill switch was seen" {
		t.Errorf("abort reverted %v, trigger %q; want the revert after the decision, after the kill switch was seen", s.Abort.Reverted, s.Abort.Trigger)
	}
	var event *report.Event
	for i := range s.Timeline.Events {
		if s.Timeline.Events[i].Name == "abortedAt" {
			event = &s.Timeline.Events[i]
		}
	}
	if event == nil || !event.At.Equal(wantDecided) {
		t.Errorf("timeline events = %+v, want abortedAt at %s", s.Timeline.Events, wantDecided)
	}
	if s.Result.AbortLatency == nil || s.Result.AbortLatency.Text != "16ms" {
		t.Errorf("abortLatency = %+v, want the stored 16ms", s.Result.AbortLatency)
	}
}

// pollUntil polls ok every 100ms until it holds, or fails the test after
// timeout saying what did not happen.
func pollUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: not yet %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
