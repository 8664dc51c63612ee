package chaospolicy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/chaospolicy"
)

var t0 = time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)

// TestKillSwitchIsConfirmedOnThePolicy drives the controller against a real
// API server with a fake clock: the pause is engaged, runs are aborted one
// by one (as the run controller does), and the policy's status says when the
// last fault was reverted.
func TestKillSwitchIsConfirmedOnThePolicy(t *testing.T) {
	c := apiServer(t)
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(t0)
	rec := events.NewFakeRecorder(20)
	r := &chaospolicy.Reconciler{Client: c, Clock: clk, Recorder: rec}
	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
	}
	read := func() *chaosv1alpha1.ChaosPolicy {
		t.Helper()
		p := &chaosv1alpha1.ChaosPolicy{}
		if err := c.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
			t.Fatalf("reading policy: %v", err)
		}
		return p
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "policy-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("creating policy: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), p) })
	a := newRun(t, c, ns.Name, "a", chaosv1alpha1.PhaseObserving)
	b := newRun(t, c, ns.Name, "b", chaosv1alpha1.PhaseInjecting)
	newRun(t, c, ns.Name, "waiting", chaosv1alpha1.PhasePending)

	reconcile()
	got := read()
	if got.Status.ActiveRuns != 2 || got.Status.KillSwitch != nil || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("unpaused status = %+v, want 2 active runs, no kill switch, generation observed", got.Status)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, chaosv1alpha1.ConditionReady) {
		t.Errorf("Ready = %+v, want True", got.Status.Conditions)
	}

	got.Spec.Paused = true
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Second)
	engagedAt := clk.Now()
	reconcile()
	if ks := read().Status.KillSwitch; ks == nil || ks.EngagedAt == nil || !ks.EngagedAt.Equal(&metav1.MicroTime{Time: engagedAt}) || ks.AllRevertedAt != nil {
		t.Fatalf("killSwitch = %+v, want engagedAt %s and nothing reverted yet", ks, engagedAt)
	}

	clk.Step(500 * time.Millisecond)
	abort(t, c, a, clk.Now())
	reconcile()
	if ks := read().Status.KillSwitch; ks.AbortedRuns != 1 || ks.AllRevertedAt != nil {
		t.Fatalf("killSwitch = %+v, want 1 aborted run and run b still active", ks)
	}

	clk.Step(500 * time.Millisecond)
	abort(t, c, b, clk.Now())
	revertedAt := clk.Now()
	reconcile()
	clk.Step(time.Minute)
	reconcile() // a later look changes nothing
	got = read()
	ks := got.Status.KillSwitch
	if ks.AbortedRuns != 2 || ks.AllRevertedAt == nil || !ks.AllRevertedAt.Equal(&metav1.MicroTime{Time: revertedAt}) || got.Status.ActiveRuns != 0 {
		t.Fatalf("status = %+v, killSwitch %+v; want 2 aborted, allRevertedAt %s, no active run", got.Status, ks, revertedAt)
	}
	if n := countReasons(rec, chaosv1alpha1.ReasonKillSwitchEngaged, chaosv1alpha1.ReasonKillSwitchReverted); n != [2]int{1, 1} {
		t.Errorf("events KillSwitchEngaged, KillSwitchReverted = %v, want one of each", n)
	}

	got.Spec.Paused = false
	if err := c.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if ks := read().Status.KillSwitch; ks != nil {
		t.Errorf("killSwitch = %+v after unpausing, want it cleared", ks)
	}
}

// TestBadPolicyIsStalled: a policy stored with a field the operator cannot
// read says so on itself, and says it once.
func TestBadPolicyIsStalled(t *testing.T) {
	c := apiServer(t)
	ctx := t.Context()
	rec := events.NewFakeRecorder(20)
	r := &chaospolicy.Reconciler{Client: c, Clock: clocktesting.NewFakeClock(t0), Recorder: rec}
	zone := "Europe/Berln"
	p := &chaosv1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec: chaosv1alpha1.ChaosPolicySpec{BlackoutWindows: []chaosv1alpha1.BlackoutWindow{
			{TimeWindow: chaosv1alpha1.TimeWindow{Start: "10:00", End: "11:00"}, TimeZone: &zone},
		}},
	}
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("creating policy: %v", err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), p) })
	for range 2 {
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Name: p.Name}}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
	}
	got := &chaosv1alpha1.ChaosPolicy{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(p), got); err != nil {
		t.Fatal(err)
	}
	stalled := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != chaosv1alpha1.ReasonConfigError ||
		!strings.Contains(stalled.Message, "spec.blackoutWindows[0].timeZone") || !strings.Contains(stalled.Message, "Europe/Berln") {
		t.Errorf("Stalled = %+v, want ConfigError naming spec.blackoutWindows[0].timeZone and the zone", stalled)
	}
	if n := countReasons(rec, chaosv1alpha1.ReasonConfigError, ""); n[0] != 1 {
		t.Errorf("%d ConfigError events, want 1 (on the transition only)", n[0])
	}
}

func newRun(t *testing.T, c client.Client, ns, name string, phase chaosv1alpha1.RunPhase) *chaosv1alpha1.ExperimentRun {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "exp"}},
	}
	if err := c.Create(t.Context(), run); err != nil {
		t.Fatalf("creating run %s: %v", name, err)
	}
	run.Status.Phase = phase
	if err := c.Status().Update(t.Context(), run); err != nil {
		t.Fatalf("setting run %s phase: %v", name, err)
	}
	return run
}

// abort finishes run as the run controller does on the kill switch.
func abort(t *testing.T, c client.Client, run *chaosv1alpha1.ExperimentRun, at time.Time) {
	t.Helper()
	m := metav1.NewMicroTime(at)
	run.Status.Phase = chaosv1alpha1.PhaseCompleted
	run.Status.Verdict = chaosv1alpha1.VerdictAborted
	run.Status.Abort = &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortKillSwitch, DecidedAt: &m}
	run.Status.Timeline.RevertedAt = &m
	if err := c.Status().Update(t.Context(), run); err != nil {
		t.Fatalf("aborting run %s: %v", run.Name, err)
	}
}

// countReasons drains the recorder and counts events of the two reasons.
func countReasons(rec *events.FakeRecorder, a, b string) [2]int {
	var n [2]int
	var all []string
	for {
		select {
		case e := <-rec.Events:
			all = append(all, e)
			continue
		default:
		}
		break
	}
	for _, e := range all {
		f := strings.Fields(e)
		if len(f) > 1 && f[1] == a {
			n[0]++
		}
		if b != "" && len(f) > 1 && f[1] == b {
			n[1]++
		}
	}
	return n
}
