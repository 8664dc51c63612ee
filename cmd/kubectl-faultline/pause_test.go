package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

var engagedAt = time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)

func policy(paused bool) *chaosv1alpha1.ChaosPolicy {
	return &chaosv1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName, Generation: 1},
		Spec:       chaosv1alpha1.ChaosPolicySpec{Paused: paused},
	}
}

// confirmedPolicy is a paused policy whose kill switch the operator confirmed.
func confirmedPolicy() *chaosv1alpha1.ChaosPolicy {
	p := policy(true)
	p.Status = chaosv1alpha1.ChaosPolicyStatus{ObservedGeneration: 1, KillSwitch: &chaosv1alpha1.KillSwitchStatus{
		EngagedAt: micro(engagedAt), AllRevertedAt: micro(engagedAt.Add(1500 * time.Millisecond)), AbortedRuns: 0,
	}}
	return p
}

// killSwitchRun is a run the kill switch aborted at decidedAt.
func killSwitchRun(name string, decidedAt time.Time) *chaosv1alpha1.ExperimentRun {
	st := completed(chaosv1alpha1.VerdictAborted, "kill switch")
	st.Abort = &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortKillSwitch, DecidedAt: micro(decidedAt)}
	return storedRun(name, "checkout-pod-kill", decidedAt, st)
}

// thePolicy reads the ChaosPolicy as it is now.
func (h *harness) thePolicy() *chaosv1alpha1.ChaosPolicy {
	h.t.Helper()
	var p chaosv1alpha1.ChaosPolicy
	if err := h.client.Get(h.t.Context(), client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, &p); err != nil {
		h.t.Fatal(err)
	}
	return &p
}

// confirmKillSwitch plays the operator's ChaosPolicy controller: once the
// policy is paused it records that aborted runs were stopped 2.5s after the
// switch was engaged.
func (h *harness) confirmKillSwitch(aborted int32) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !h.thePolicy().Spec.Paused {
		if time.Now().After(deadline) {
			h.t.Fatal("the policy was never paused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := h.thePolicy()
	p.Status.ObservedGeneration = p.Generation
	p.Status.KillSwitch = &chaosv1alpha1.KillSwitchStatus{
		EngagedAt: micro(engagedAt), AllRevertedAt: micro(engagedAt.Add(2500 * time.Millisecond)), AbortedRuns: aborted,
	}
	if err := h.client.Update(h.t.Context(), p); err != nil {
		h.t.Fatal(err)
	}
}

func TestPauseWaitsForTheOperatorsConfirmation(t *testing.T) {
	h := newHarness(t, []client.Object{
		policy(false),
		killSwitchRun("stopped-by-this-pause", engagedAt.Add(time.Second)),
		killSwitchRun("stopped-by-an-earlier-pause", engagedAt.Add(-time.Hour)),
	})
	done := h.start("pause", "--reason", "checkout incident", "--timeout", "10s")
	h.confirmKillSwitch(1)
	if code := h.exitCode(done); code != 0 {
		t.Fatalf("exit code %d, want 0\nstderr: %s", code, h.stderr.String())
	}
	p := h.thePolicy()
	if !p.Spec.Paused {
		t.Error("spec.paused is false after pause")
	}
	if got := p.Annotations[chaosv1alpha1.PauseReasonAnnotation]; got != "checkout incident" {
		t.Errorf("%s = %q, want the reason", chaosv1alpha1.PauseReasonAnnotation, got)
	}
	out := h.stdout.String()
	for _, want := range []string{"paused ChaosPolicy default", "1 run(s) aborted; no fault active 2.5s after it was engaged", "aborted shop/stopped-by-this-pause"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "stopped-by-an-earlier-pause") {
		t.Errorf("stdout lists a run an earlier pause aborted:\n%s", out)
	}
}

func TestPause(t *testing.T) {
	tests := map[string]struct {
		policy     *chaosv1alpha1.ChaosPolicy // nil: none
		args       []string
		wantCode   int
		wantPaused bool
		wantSaid   string // in stdout or stderr
	}{
		"without waiting, the policy is paused and the command returns": {
			policy: policy(false), args: []string{"pause", "--wait=false"}, wantPaused: true, wantSaid: "paused ChaosPolicy default",
		},
		"an unconfirmed pause times out with the timed-out code and stays paused": {
			policy: policy(false), args: []string{"pause", "--timeout", "50ms"}, wantCode: exitTimedOut, wantPaused: true, wantSaid: "did not confirm the kill switch within 50ms",
		},
		"a paused policy is said to be so and its confirmation still read": {
			policy: confirmedPolicy(), args: []string{"pause", "--timeout", "10s"}, wantPaused: true, wantSaid: "0 run(s) aborted; no fault active 1.5s after",
		},
		"a confirmation older than the policy's generation is not believed": {
			policy: func() *chaosv1alpha1.ChaosPolicy { p := confirmedPolicy(); p.Generation = 2; return p }(),
			args:   []string{"pause", "--timeout", "500ms"}, wantCode: exitTimedOut, wantPaused: true, wantSaid: "was already paused (engaged at 2026-03-03T14:00:00Z)",
		},
		"without a policy nothing is created and the plugin is unusable": {
			args: []string{"pause"}, wantCode: exitUnusable, wantSaid: `there is no ChaosPolicy "default"`,
		},
		"resume releases the switch": {
			policy: func() *chaosv1alpha1.ChaosPolicy {
				p := confirmedPolicy()
				p.Annotations = map[string]string{chaosv1alpha1.PauseReasonAnnotation: "incident"}
				return p
			}(),
			args: []string{"resume"}, wantPaused: false, wantSaid: "resumed ChaosPolicy default",
		},
		"resuming a policy that is not paused changes nothing": {
			policy: policy(false), args: []string{"resume"}, wantSaid: "is not paused; nothing to resume",
		},
		"resume without a policy is unusable": {
			args: []string{"resume"}, wantCode: exitUnusable, wantSaid: "there is no ChaosPolicy",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			if tc.policy != nil {
				objs = append(objs, tc.policy)
			}
			h := newHarness(t, objs)
			if code := h.execute(tc.args...); code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, tc.wantCode, h.stderr.String())
			}
			if said := h.stdout.String() + h.stderr.String(); !strings.Contains(said, tc.wantSaid) {
				t.Errorf("output does not say %q:\n%s", tc.wantSaid, said)
			}
			var list chaosv1alpha1.ChaosPolicyList
			if err := h.client.List(t.Context(), &list); err != nil {
				t.Fatal(err)
			}
			if tc.policy == nil {
				if len(list.Items) != 0 {
					t.Errorf("%d policies exist, want none created", len(list.Items))
				}
				return
			}
			p := h.thePolicy()
			if p.Spec.Paused != tc.wantPaused {
				t.Errorf("spec.paused = %v, want %v", p.Spec.Paused, tc.wantPaused)
			}
			if _, ok := p.Annotations[chaosv1alpha1.PauseReasonAnnotation]; ok && !tc.wantPaused {
				t.Errorf("a resumed policy keeps %s", chaosv1alpha1.PauseReasonAnnotation)
			}
		})
	}
}
