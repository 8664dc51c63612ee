package statuspatch_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/statuspatch"
)

func newClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(objs...).Build()
}

func statusOf(r *chaosv1alpha1.ExperimentRun) any { return &r.Status }

func read(t *testing.T, c client.Client, name string) *chaosv1alpha1.ExperimentRun {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "shop", Name: name}, run); err != nil {
		t.Fatal(err)
	}
	return run
}

func sent(rec *events.FakeRecorder) []string {
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

func TestEventsAreSentOnlyOnceTheStatusIsWritten(t *testing.T) {
	stored := &chaosv1alpha1.ExperimentRun{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "run-1"}}
	c := newClient(t, stored)
	rec := events.NewFakeRecorder(10)

	// A reconcile that read the run, then lost a race with another writer.
	run := read(t, c, "run-1")
	p := statuspatch.New(c, rec, run, statusOf)
	other := read(t, c, "run-1")
	other.Status.Message = "written by another reconcile"
	if err := c.Status().Update(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	run.Status.Phase = chaosv1alpha1.PhaseBaseline
	p.Queue(statuspatch.Event{Type: corev1.EventTypeNormal, Reason: "BaselineStarted", Action: "Run", Note: "started"})
	if err := p.Patch(t.Context(), run); !apierrors.IsConflict(err) {
		t.Fatalf("Patch from a stale read = %v, want a conflict", err)
	}
	if got := sent(rec); len(got) != 0 {
		t.Fatalf("events sent though the status was not written: %q", got)
	}
	if got := read(t, c, "run-1"); got.Status.Phase != "" || got.Status.Message != "written by another reconcile" {
		t.Fatalf("stored status %+v, want the other writer's kept", got.Status)
	}

	// The next reconcile reads afresh and announces the transition once.
	run = read(t, c, "run-1")
	p = statuspatch.New(c, rec, run, statusOf)
	run.Status.Phase = chaosv1alpha1.PhaseBaseline
	p.Queue(statuspatch.Event{Type: corev1.EventTypeNormal, Reason: "BaselineStarted", Action: "Run", Note: "started"})
	if err := p.Patch(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if got := sent(rec); len(got) != 1 || got[0] != "Normal BaselineStarted started" {
		t.Fatalf("events = %q, want the one transition", got)
	}
	if got := read(t, c, "run-1"); got.Status.Phase != chaosv1alpha1.PhaseBaseline {
		t.Fatalf("stored phase %q, want Baseline", got.Status.Phase)
	}

	// A second write in the same reconcile is pinned to the first one's
	// resourceVersion, not the one first read.
	run.Status.Phase = chaosv1alpha1.PhaseInjecting
	if err := p.Patch(t.Context(), run); err != nil {
		t.Fatalf("second write of the same reconcile: %v", err)
	}

	// Nothing to write: queued events still go out (they announce what the
	// reconcile did elsewhere), and no write is made.
	rv := read(t, c, "run-1").ResourceVersion
	p.Queue(statuspatch.Event{Type: corev1.EventTypeNormal, Reason: "Approved", Action: "Approve", Note: "approved"})
	if err := p.Patch(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c, "run-1").ResourceVersion; got != rv {
		t.Errorf("an unchanged status was written (resourceVersion %s -> %s)", rv, got)
	}
	if got := sent(rec); len(got) != 1 {
		t.Errorf("events = %q, want the queued one", got)
	}
}
