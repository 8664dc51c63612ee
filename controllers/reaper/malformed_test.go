package reaper_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/reaper"
	"github.com/faultline-dev/faultline/internal/stored"
)

// storedRun is a run in namespace reaper with the given status, as the API
// server stores it, decodable or not.
func storedRun(name string, status map[string]any) *unstructured.Unstructured {
	u := stored.NewRun()
	u.SetNamespace("reaper")
	u.SetName(name)
	u.Object["spec"] = map[string]any{"experimentRef": map[string]any{"name": "drain"}}
	u.Object["status"] = status
	return u
}

// A run whose status no longer decodes is driven by nothing: the run
// controller reports it and leaves it. The reaper must not wait for the
// drain's expiry to revert it; a drain of a readable live run stays.
func TestReaperRevertsTheFaultOfARunThatCannotBeRead(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// Without the Faultline types registered the fake client keeps runs as
	// written, as the API server does with one stored through a looser CRD.
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		storedRun("live", map[string]any{"phase": string(chaosv1alpha1.PhaseObserving)}),
		storedRun("unreadable", map[string]any{"phase": string(chaosv1alpha1.PhaseObserving), "targets": "held-by-unreadable"}),
		drainedNode("held-by-live", "reaper/live", now.Add(time.Hour)),
		drainedNode("held-by-unreadable", "reaper/unreadable", now.Add(time.Hour)),
	).Build()

	r := &reaper.Reaper{Client: c, Clock: clocktesting.NewFakePassiveClock(now)}
	n, err := r.Pass(t.Context())
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if n != 1 {
		t.Errorf("reaped %d artefacts, want 1: the drain of the run that cannot be read", n)
	}
	for name, wantCordoned := range map[string]bool{"held-by-live": true, "held-by-unreadable": false} {
		node := &corev1.Node{}
		if err := c.Get(t.Context(), client.ObjectKey{Name: name}, node); err != nil {
			t.Fatal(err)
		}
		_, marked := node.Annotations[chaosv1alpha1.RunAnnotation]
		if node.Spec.Unschedulable != wantCordoned || marked != wantCordoned {
			t.Errorf("node %s: unschedulable %v, run annotation %v; want both %v", name, node.Spec.Unschedulable, marked, wantCordoned)
		}
	}
}
