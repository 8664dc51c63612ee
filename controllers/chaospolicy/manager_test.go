package chaospolicy_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
)

// TestWatchesConfirmTheKillSwitch runs the controller in a manager, as main
// does: a run's change alone (no change of the policy) must bring the
// confirmation that every fault was reverted.
func TestWatchesConfirmTheKillSwitch(t *testing.T) {
	c := apiServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mgr, err := ctrl.NewManager(testConfig, ctrl.Options{Scheme: c.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	// A day after the other tests' clocks: their runs, aborted by the kill
	// switch near t0 in the same API server, belong to another engagement.
	start := t0.Add(24 * time.Hour)
	r := &chaospolicy.Reconciler{Client: mgr.GetClient(), Clock: clocktesting.NewFakeClock(start)}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	run := newRun(t, c, ns.Name, "held", chaosv1alpha1.PhaseObserving)
	p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}, Spec: chaosv1alpha1.ChaosPolicySpec{Paused: true}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), p) })

	waitFor(t, c, "engaged with one active run", func(s chaosv1alpha1.ChaosPolicyStatus) bool {
		return s.ActiveRuns == 1 && s.KillSwitch != nil && s.KillSwitch.EngagedAt != nil && s.KillSwitch.AllRevertedAt == nil
	})
	abort(t, c, run, start)
	waitFor(t, c, "all reverted, one run aborted", func(s chaosv1alpha1.ChaosPolicyStatus) bool {
		return s.ActiveRuns == 0 && s.KillSwitch != nil && s.KillSwitch.AllRevertedAt != nil && s.KillSwitch.AbortedRuns == 1
	})
}

func waitFor(t *testing.T, c client.Client, what string, ok func(chaosv1alpha1.ChaosPolicyStatus) bool) {
	t.Helper()
	var last chaosv1alpha1.ChaosPolicyStatus
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p := &chaosv1alpha1.ChaosPolicy{}
		if err := c.Get(t.Context(), client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err == nil {
			last = p.Status
			if ok(last) {
				return
			}
		}
	}
	t.Fatalf("policy status never %s; last %+v (killSwitch %+v)", what, last, last.KillSwitch)
}
