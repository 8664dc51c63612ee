//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

const runCRD = "experimentruns.chaos.faultline.dev"

// malformedRunEvent finds the Warning Event with reason Malformed and the
// given action about the run name in the shop namespace, or returns an
// error saying what the events are.
func malformedRunEvent(ctx context.Context, name, action string) (*eventsv1.Event, error) {
	events := &eventsv1.EventList{}
	if err := tb.Client.List(ctx, events, client.InNamespace(harness.ShopNamespace)); err != nil {
		return nil, err
	}
	for i := range events.Items {
		e := &events.Items[i]
		if e.Regarding.Kind == "ExperimentRun" && e.Regarding.Name == name && e.Type == corev1.EventTypeWarning &&
			e.Reason == chaosv1alpha1.ReasonMalformed && e.Action == action {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no Warning %s/%s Event about run %s among %d", chaosv1alpha1.ReasonMalformed, action, name, len(events.Items))
}

// TestAnUndecodableRunStopsNothing stores, while the operator is down, an
// ExperimentRun whose status no Go type can hold (status.targets a string,
// status.timeline.injectedAt a number), as an older or loosened CRD, a
// downgrade or a hand edit leaves one, with the operator's finalizer on it.
// Started again, the operator syncs, reports the run (an Event naming the
// field, faultline_malformed_objects), runs a new Experiment to its
// verdict, ends a held run with the kill switch, and lets the bad run be
// deleted.
func TestAnUndecodableRunStopsNothing(t *testing.T) {
	tb.RequireSteadyState(t)
	const name = "e2e-malformed-run"
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": chaosv1alpha1.GroupVersion.String(),
		"kind":       "ExperimentRun",
		"metadata": map[string]any{
			"name": name, "namespace": harness.ShopNamespace,
			// As every run the operator started carries it.
			"finalizers": []any{chaosv1alpha1.RunFinalizer},
		},
		"spec": map[string]any{"experimentRef": map[string]any{"name": "e2e-malformed-run-experiment"}},
	}}
	status, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase":    string(chaosv1alpha1.PhaseObserving),
		"targets":  "checkout",
		"timeline": map[string]any{"injectedAt": int64(1773151230)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the testbed is left with its operator running and
	// without the bad run: its finalizer is stripped if the operator did
	// not release it.
	t.Cleanup(func() { tb.StartOperator(t) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		u := bad.DeepCopy()
		_ = tb.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
		_ = tb.Client.Delete(ctx, u)
	})

	// Stored while the operator is down, the bad run is in the first List
	// its informers make: the List a typed informer failed, forever.
	tb.KillOperator(t)
	behindAdmission(t, runCRD, func(ctx context.Context) error {
		if err := tb.Client.Create(ctx, bad.DeepCopy()); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		return tb.Client.Status().Patch(ctx, bad.DeepCopy(), client.RawPatch(types.MergePatchType, status))
	})
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(bad.GroupVersionKind())
	if err := tb.Client.Get(t.Context(), client.ObjectKeyFromObject(bad), got); err != nil {
		t.Fatal(err)
	}
	if targets, _, _ := unstructured.NestedString(got.Object, "status", "targets"); targets != "checkout" {
		t.Fatalf("stored status.targets = %q, want checkout: the test proves nothing", targets)
	}
	if err := tb.Client.List(t.Context(), &chaosv1alpha1.ExperimentRunList{}, client.InNamespace(harness.ShopNamespace)); err == nil {
		t.Fatal("a typed List of runs succeeded; the test stores no undecodable run")
	}

	// Ready means its caches synced with the bad run stored.
	tb.StartOperator(t)

	t.Run("the bad run is reported", func(t *testing.T) {
		harness.WaitFor(t, 60*time.Second, "a Malformed Event about the bad run", func(ctx context.Context) (bool, error) {
			e, err := malformedRunEvent(ctx, name, "Decode")
			if err != nil {
				return false, err
			}
			if !strings.Contains(e.Note, "status.targets") {
				t.Errorf("the Event says %q; want it to name the first bad field, status.targets", e.Note)
			}
			t.Logf("reported: %s", e.Note)
			return true, nil
		})
		// And on the run itself, for kstatus and kubectl wait: the API
		// server's validation ratcheting lets the conditions through
		// beside the fields that still fail the schema.
		harness.WaitFor(t, 30*time.Second, "the bad run to be marked Stalled, reason Malformed", func(ctx context.Context) (bool, error) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(bad.GroupVersionKind())
			if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(bad), u); err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == chaosv1alpha1.ConditionStalled && m["status"] == "True" && m["reason"] == chaosv1alpha1.ReasonMalformed {
					return true, nil
				}
			}
			return false, fmt.Errorf("conditions %v", conds)
		})
		harness.WaitFor(t, 30*time.Second, "faultline_malformed_objects{kind=ExperimentRun} to be 1", func(ctx context.Context) (bool, error) {
			v, err := tb.OperatorMetric(ctx, `faultline_malformed_objects{kind="ExperimentRun"}`)
			if err != nil || v != 1 {
				return false, fmt.Errorf("value %v, error %v", v, err)
			}
			return true, nil
		})
	})

	t.Run("a new run completes", func(t *testing.T) {
		before := virtualService(t, "cart")
		run := tb.RunExperiment(t, tb.IstioExperiment("e2e-beside-malformed-run", harness.AbortFault(50), 5*time.Second), 2*time.Minute)
		if run.Status.Verdict == chaosv1alpha1.VerdictError {
			t.Fatalf("a valid run ended Error beside the malformed run: %s", run.Status.Message)
		}
		if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(virtualService(t, "cart"))) {
			t.Fatal("the VirtualService differs after the run")
		}
	})

	t.Run("the kill switch ends a held run", func(t *testing.T) {
		exp := heldIstioExperiment("e2e-killswitch-malformed-run", "checkout")
		tb.Create(t, exp)
		held := tb.StartRun(t, exp)
		waitPhase(t, held, chaosv1alpha1.PhaseObserving)
		tb.SetPaused(t, true)
		t.Cleanup(func() { tb.SetPaused(t, false) })
		got := tb.WaitRunCompleted(t, held, time.Minute)
		if got.Status.Verdict != chaosv1alpha1.VerdictAborted || got.Status.Abort == nil || got.Status.Abort.Reason != chaosv1alpha1.AbortKillSwitch {
			t.Fatalf("run under the kill switch ended %s: %s", got.Status.Verdict, got.Status.Message)
		}
		tb.SetPaused(t, false)
	})

	t.Run("the bad run can be deleted", func(t *testing.T) {
		if err := tb.Client.Delete(t.Context(), bad.DeepCopy()); err != nil {
			t.Fatalf("deleting the bad run: %v", err)
		}
		harness.WaitFor(t, 30*time.Second, "the bad run to be gone (its finalizer released)", func(ctx context.Context) (bool, error) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(bad.GroupVersionKind())
			err := tb.Client.Get(ctx, client.ObjectKeyFromObject(bad), u)
			if harness.IsNotFound(err) {
				return true, nil
			}
			if err != nil {
				return false, err
			}
			return false, fmt.Errorf("still stored, finalizers %v, deletionTimestamp %v", u.GetFinalizers(), u.GetDeletionTimestamp())
		})
		harness.WaitFor(t, 30*time.Second, "the release to be reported", func(ctx context.Context) (bool, error) {
			_, err := malformedRunEvent(ctx, name, "ReleaseFinalizer")
			return err == nil, err
		})
		harness.WaitFor(t, 30*time.Second, "faultline_malformed_objects{kind=ExperimentRun} to be 0", func(ctx context.Context) (bool, error) {
			v, err := tb.OperatorMetric(ctx, `faultline_malformed_objects{kind="ExperimentRun"}`)
			if err != nil || v != 0 {
				return false, fmt.Errorf("value %v, error %v", v, err)
			}
			return true, nil
		})
	})
}
