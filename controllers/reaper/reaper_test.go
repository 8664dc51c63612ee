package reaper_test

import (
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/reaper"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// k8sClient talks to the package's envtest API server; nil without one.
var k8sClient client.Client

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		k8sClient = e.Client
		return nil
	}))
}

// drainedNode is a node as a drain of run leaves it: cordoned by Faultline,
// annotated with the run and an expiry.
func drainedNode(name, run string, expires time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{chaosv1alpha1.InjectedLabel: "true"}, Annotations: map[string]string{
			chaosv1alpha1.RunAnnotation:    run,
			chaosv1alpha1.ExpiryAnnotation: expires.UTC().Format(time.RFC3339),
			faults.CordonedAnnotation:      "true",
		}},
		Spec: corev1.NodeSpec{Unschedulable: true},
	}
}

func TestReaperRevertsOnlyOrphanedArtefacts(t *testing.T) {
	if k8sClient == nil {
		t.Skip("needs a kube-apiserver: run with KUBEBUILDER_ASSETS set (make test)")
	}
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "reaper"}}
	if err := k8sClient.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// A live run that still owns its drain.
	live := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "reaper"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "drain"}},
	}
	if err := k8sClient.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	live.Status.Phase = chaosv1alpha1.PhaseObserving
	if err := k8sClient.Status().Update(ctx, live); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		node            *corev1.Node
		wantCordoned    bool
		wantAnnotations bool
	}{
		"the run was deleted: uncordoned and cleaned": {
			node:         drainedNode("orphan", "reaper/deleted-run", now.Add(time.Hour)),
			wantCordoned: false,
		},
		"the run is live and within its expiry: left alone": {
			node:            drainedNode("owned", "reaper/live", now.Add(time.Hour)),
			wantCordoned:    true,
			wantAnnotations: true,
		},
		"the run is live but overdue: the dead-man switch reverts it": {
			node:         drainedNode("overdue", "reaper/live", now.Add(-time.Minute)),
			wantCordoned: false,
		},
		"left unlabelled (by an older operator), the run deleted: only the full scan reverts it": {
			node: func() *corev1.Node {
				n := drainedNode("unlabelled", "reaper/deleted-run", now.Add(time.Hour))
				n.Labels = nil
				return n
			}(),
			wantCordoned: false,
		},
		"cordoned by someone else, no Faultline mark: left alone": {
			node: &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "theirs"},
				Spec:       corev1.NodeSpec{Unschedulable: true},
			},
			wantCordoned: true,
		},
	}
	for _, tc := range tests {
		if err := k8sClient.Create(ctx, tc.node); err != nil {
			t.Fatal(err)
		}
	}
	r := &reaper.Reaper{Client: k8sClient, Clock: clocktesting.NewFakePassiveClock(now)}
	n, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("the labelled scan reaped %d artefacts, want 2", n)
	}
	unlabelled := &corev1.Node{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Name: "unlabelled"}, unlabelled); err != nil || !unlabelled.Spec.Unschedulable {
		t.Errorf("the labelled scan reached the unlabelled node (unschedulable %v, err %v): it must list only labelled objects", unlabelled.Spec.Unschedulable, err)
	}
	// The scan at start-up lists everything once.
	if n, err := r.PassAll(ctx); err != nil || n != 1 {
		t.Errorf("the full scan reaped %d (err %v), want 1: the unlabelled node", n, err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := &corev1.Node{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tc.node), got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.Unschedulable != tc.wantCordoned {
				t.Errorf("unschedulable = %v, want %v", got.Spec.Unschedulable, tc.wantCordoned)
			}
			_, has := got.Annotations[chaosv1alpha1.RunAnnotation]
			if has != tc.wantAnnotations {
				t.Errorf("run annotation present = %v, want %v (annotations %v)", has, tc.wantAnnotations, got.Annotations)
			}
			if _, labelled := got.Labels[chaosv1alpha1.InjectedLabel]; labelled && !tc.wantAnnotations {
				t.Errorf("reverted node still labelled %s", chaosv1alpha1.InjectedLabel)
			}
		})
	}
	// A second pass finds nothing left to do: reaping is idempotent.
	if n, err := r.PassAll(ctx); err != nil || n != 0 {
		t.Errorf("second pass reaped %d (err %v), want 0", n, err)
	}
}
