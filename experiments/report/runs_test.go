package report

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The runs below are built by hand, as the operator would leave them, so the
// golden files show exactly what a reader of each kind of run sees.

// started is when every test run started; injected is its failure onset.
var (
	started  = time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)
	injected = started.Add(35*time.Second + 12345*time.Microsecond)
)

func at(t time.Time, d time.Duration) *metav1.MicroTime {
	m := metav1.NewMicroTime(t.Add(d))
	return &m
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// experimentSpec is the snapshot every run carries: two steady-state probes,
// one guard, one detection alert and both objectives.
func experimentSpec() *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod},
		Fault:  chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval: metav1.Duration{Duration: 5 * time.Second},
			Baseline: metav1.Duration{Duration: 30 * time.Second},
			Probes: []chaosv1alpha1.Probe{
				{
					Name:       "success-rate",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: `sum(rate(istio_requests_total{response_code!~"5.."}[30s])) / sum(rate(istio_requests_total[30s]))`},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"},
				},
				{
					Name:     "checkout-ready",
					Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100},
				},
			},
		},
		Detection: &chaosv1alpha1.DetectionSpec{Alerts: []string{"CheckoutAvailabilityLow"}},
		Objectives: &chaosv1alpha1.ObjectivesSpec{
			DetectWithin:  dur(time.Minute),
			RecoverWithin: dur(2 * time.Minute),
		},
		Abort: &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
			Name:       "error-budget",
			Prometheus: chaosv1alpha1.PrometheusQuery{Query: "slo:availability:ratio_rate5m"},
			Condition:  chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.95"},
			For:        dur(10 * time.Second),
		}}},
	}
}

func newRun(name string) *chaosv1alpha1.ExperimentRun {
	return &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         "shop",
			Name:              name,
			CreationTimestamp: metav1.NewTime(started.Add(-time.Second)),
			Labels:            map[string]string{chaosv1alpha1.ExperimentLabel: "checkout-pod-kill"},
		},
		Spec: chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
	}
}

func podTargets(phase chaosv1alpha1.TargetPhase, reverted bool) []chaosv1alpha1.TargetStatus {
	ts := []chaosv1alpha1.TargetStatus{
		{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f8c-x2kqp", UID: "u1", Phase: phase, InjectedAt: at(injected, 0)},
		{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f8c-m8vtn", UID: "u2", Phase: phase, InjectedAt: at(injected, 4213*time.Microsecond)},
	}
	if reverted {
		for i := range ts {
			ts[i].RevertedAt = at(injected, 201*time.Millisecond)
		}
	}
	return ts
}

// passedRun detected the fault by its alert in 15s and recovered in 45s,
// within both objectives.
func passedRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-7xk2p")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:                chaosv1alpha1.PhaseCompleted,
		Verdict:              chaosv1alpha1.VerdictPassed,
		Message:              "Passed: detected 15.002s after injection (by alert), recovered 45.003s after injection",
		ExperimentGeneration: 3,
		Experiment:           experimentSpec(),
		RequestedBy:          "alice@example.com",
		Approval:             &chaosv1alpha1.ApprovalStatus{ApprovedBy: "bob@example.com", ApprovedAt: at(started, -2*time.Minute)},
		Targets:              podTargets(chaosv1alpha1.TargetReverted, true),
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:          at(started, 0),
			BaselineVerifiedAt: at(started, 30*time.Second+4*time.Millisecond),
			InjectedAt:         at(injected, 0),
			DeviatedAt:         at(injected, 5*time.Second+1*time.Millisecond),
			AlertedAt:          at(injected, 15*time.Second+2*time.Millisecond),
			RevertedAt:         at(injected, 201*time.Millisecond),
			RecoveredAt:        at(injected, 45*time.Second+3*time.Millisecond),
			FinishedAt:         at(injected, 60*time.Second+10*time.Millisecond),
		},
		Result: &chaosv1alpha1.RunResult{
			TimeToDetect:  dur(15*time.Second + 2*time.Millisecond),
			DetectedBy:    chaosv1alpha1.DetectedByAlert,
			TimeToRecover: dur(45*time.Second + 3*time.Millisecond),
			Resolutions: []chaosv1alpha1.FigureResolution{
				{Figure: "timeToDetect", Resolution: chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionProbeInterval, Within: *dur(5 * time.Second)}},
				{Figure: "timeToRecover", Resolution: chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionEvent}},
			},
			Objectives: []chaosv1alpha1.ObjectiveResult{
				{Name: "detectWithin", Target: metav1.Duration{Duration: time.Minute}, Measured: dur(15*time.Second + 2*time.Millisecond), Status: chaosv1alpha1.ObjectiveMet},
				{Name: "recoverWithin", Target: metav1.Duration{Duration: 2 * time.Minute}, Measured: dur(45*time.Second + 3*time.Millisecond), Status: chaosv1alpha1.ObjectiveMet},
			},
		},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.998", Worst: "0.71", Last: "0.997", Samples: 19, Failures: 6},
			{Name: "checkout-ready", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "100", Worst: "50", Last: "100", Samples: 19, Failures: 7},
			{Name: "error-budget", Kind: chaosv1alpha1.ProbeKindGuard, Baseline: "0.999", Worst: "0.97", Last: "0.998", Samples: 13},
			{Name: "CheckoutAvailabilityLow", Kind: chaosv1alpha1.ProbeKindAlert, Baseline: "0", Worst: "1", Last: "0", Samples: 19, Failures: 4},
		},
	}
	return r
}

// failedRun was detected in time but took 2m31.2s to recover, missing the
// 2m objective.
func failedRun() *chaosv1alpha1.ExperimentRun {
	r := passedRun()
	r.Name = "checkout-pod-kill-q9w4z"
	st := &r.Status
	st.Verdict = chaosv1alpha1.VerdictFailed
	st.Message = "Failed: recovered 2m31.2s after injection; objective recoverWithin 2m0s missed"
	st.Timeline.RecoveredAt = at(injected, 2*time.Minute+31200*time.Millisecond)
	st.Timeline.FinishedAt = at(injected, 2*time.Minute+46*time.Second)
	st.Result.TimeToRecover = dur(2*time.Minute + 31200*time.Millisecond)
	st.Result.Objectives[1].Measured = dur(2*time.Minute + 31200*time.Millisecond)
	st.Result.Objectives[1].Status = chaosv1alpha1.ObjectiveMissed
	// The operator restarted while the steady state returned: the
	// recovery is known only to the length of the restart.
	gap := chaosv1alpha1.SamplingGap{
		From: *at(injected, 2*time.Minute+16*time.Second), To: *at(injected, 2*time.Minute+31200*time.Millisecond),
		Cause: chaosv1alpha1.GapNotSampled,
	}
	st.Timeline.Gaps = []chaosv1alpha1.SamplingGap{gap}
	st.Result.Resolutions[1] = chaosv1alpha1.FigureResolution{Figure: "timeToRecover",
		Resolution: chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionGap, Within: *dur(15200 * time.Millisecond), Gap: &gap}}
	st.Probes[0].Samples, st.Probes[0].Failures = 40, 30
	st.Probes[1].Samples, st.Probes[1].Failures = 40, 31
	return r
}

// abortedRun breached its error-budget guard 20s after injection; the run
// aborted after the guard's 10s window and reverted.
func abortedRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-b5r8d")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:                chaosv1alpha1.PhaseCompleted,
		Verdict:              chaosv1alpha1.VerdictAborted,
		Message:              "Aborted: guard error-budget breached: value 0.93 (>= 0.95 required) for 10s",
		ExperimentGeneration: 3,
		Experiment:           experimentSpec(),
		Targets: []chaosv1alpha1.TargetStatus{
			{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f8c-x2kqp", Phase: chaosv1alpha1.TargetReverted, InjectedAt: at(injected, 0), RevertedAt: at(injected, 30*time.Second+500*time.Millisecond)},
			{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f8c-m8vtn", Phase: chaosv1alpha1.TargetFailed, Message: "pods \"checkout-7d9f8c-m8vtn\" not found"},
		},
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:          at(started, 0),
			BaselineVerifiedAt: at(started, 30*time.Second+4*time.Millisecond),
			InjectedAt:         at(injected, 0),
			DeviatedAt:         at(injected, 5*time.Second+1*time.Millisecond),
			RevertedAt:         at(injected, 30*time.Second+500*time.Millisecond),
			FinishedAt:         at(injected, 30*time.Second+501*time.Millisecond),
		},
		Result: &chaosv1alpha1.RunResult{
			AbortLatency:     dur(498 * time.Millisecond),
			BreachToDecision: dur(10*time.Second + 1*time.Millisecond),
			Objectives: []chaosv1alpha1.ObjectiveResult{
				{Name: "detectWithin", Target: metav1.Duration{Duration: time.Minute}, Status: chaosv1alpha1.ObjectiveNotMeasured},
				{Name: "recoverWithin", Target: metav1.Duration{Duration: 2 * time.Minute}, Status: chaosv1alpha1.ObjectiveNotMeasured},
			},
		},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.998", Worst: "0.41", Last: "0.52", Samples: 13, Failures: 6},
			{Name: "checkout-ready", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "100", Worst: "50", Last: "50", Samples: 13, Failures: 6},
			{Name: "error-budget", Kind: chaosv1alpha1.ProbeKindGuard, Baseline: "0.999", Worst: "0.93", Last: "0.93", Samples: 7, Failures: 3,
				BreachedSince: at(injected, 20*time.Second+1*time.Millisecond)},
			{Name: "CheckoutAvailabilityLow", Kind: chaosv1alpha1.ProbeKindAlert, Baseline: "0", Worst: "0", Last: "0", Samples: 13},
		},
		Abort: &chaosv1alpha1.AbortStatus{
			Reason:        chaosv1alpha1.AbortSLOBreached,
			Guard:         "error-budget",
			Value:         "0.93",
			FirstBreachAt: at(injected, 20*time.Second+1*time.Millisecond),
			DecidedAt:     at(injected, 30*time.Second+2*time.Millisecond),
			Message:       "guard error-budget breached: value 0.93 (>= 0.95 required) for 10s",
		},
	}
	return r
}

// killSwitchRun was stopped by the ChaosPolicy's kill switch while its
// fault was held: no sample was bad, so it has no first breach.
func killSwitchRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-k1l5w")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:                chaosv1alpha1.PhaseCompleted,
		Verdict:              chaosv1alpha1.VerdictAborted,
		Message:              "Aborted: aborted: the ChaosPolicy kill switch is on (spec.paused: true); reverting; fault reverted 16ms after the kill switch was seen",
		ExperimentGeneration: 3,
		Experiment:           experimentSpec(),
		Targets: []chaosv1alpha1.TargetStatus{
			{Kind: chaosv1alpha1.TargetPod, Namespace: "shop", Name: "checkout-7d9f8c-x2kqp", Phase: chaosv1alpha1.TargetReverted, InjectedAt: at(injected, 0), RevertedAt: at(injected, 4*time.Second+16*time.Millisecond)},
		},
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:          at(started, 0),
			BaselineVerifiedAt: at(started, 30*time.Second+4*time.Millisecond),
			InjectedAt:         at(injected, 0),
			RevertedAt:         at(injected, 4*time.Second+16*time.Millisecond),
			FinishedAt:         at(injected, 4*time.Second+17*time.Millisecond),
		},
		Result: &chaosv1alpha1.RunResult{
			AbortLatency: dur(16 * time.Millisecond),
			Objectives: []chaosv1alpha1.ObjectiveResult{
				{Name: "detectWithin", Target: metav1.Duration{Duration: time.Minute}, Status: chaosv1alpha1.ObjectiveNotMeasured},
				{Name: "recoverWithin", Target: metav1.Duration{Duration: 2 * time.Minute}, Status: chaosv1alpha1.ObjectiveNotMeasured},
			},
		},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.998", Worst: "0.998", Last: "0.998", Samples: 7},
			{Name: "checkout-ready", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "100", Worst: "100", Last: "100", Samples: 7},
		},
		Abort: &chaosv1alpha1.AbortStatus{
			Reason:    chaosv1alpha1.AbortKillSwitch,
			DecidedAt: at(injected, 4*time.Second),
			Message:   "the ChaosPolicy kill switch is on (spec.paused: true); reverting",
		},
	}
	return r
}

// inconclusiveRun never saw its baseline hold, so it injected nothing.
func inconclusiveRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-h3n6c")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:                chaosv1alpha1.PhaseCompleted,
		Verdict:              chaosv1alpha1.VerdictInconclusive,
		Message:              "Inconclusive: the steady state did not hold for the 30s baseline: success-rate 0.93 (>= 0.99 required); nothing was injected",
		ExperimentGeneration: 3,
		Experiment:           experimentSpec(),
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:  at(started, 0),
			FinishedAt: at(started, 2*time.Minute+250*time.Millisecond),
		},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.93", Worst: "0.91", Last: "0.93", Samples: 24, Failures: 9},
			{Name: "checkout-ready", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "100", Worst: "100", Last: "100", Samples: 24},
		},
	}
	return r
}

// inProgressRun has injected its fault and is observing; nothing is judged
// yet and the result is absent.
func inProgressRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-t7m1s")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:                chaosv1alpha1.PhaseObserving,
		Message:              "fault injected into 2 target(s); observing",
		ExperimentGeneration: 3,
		Experiment:           experimentSpec(),
		Targets:              podTargets(chaosv1alpha1.TargetInjected, false),
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:          at(started, 0),
			BaselineVerifiedAt: at(started, 30*time.Second+4*time.Millisecond),
			InjectedAt:         at(injected, 0),
			DeviatedAt:         at(injected, 5*time.Second+1*time.Millisecond),
		},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.998", Worst: "0.71", Last: "0.71", Samples: 8, Failures: 1},
			{Name: "checkout-ready", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "100", Worst: "50", Last: "50", Samples: 8, Failures: 1,
				Errors: 1, LastError: "deployments.apps \"checkout\" is forbidden: | RBAC"},
		},
	}
	return r
}

// errorRun could not be carried out: its Experiment does not exist, so there
// is no snapshot either.
func errorRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-pod-kill-e1a2b")
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:   chaosv1alpha1.PhaseCompleted,
		Verdict: chaosv1alpha1.VerdictError,
		Message: "Error: Experiment shop/checkout-pod-kill not found",
		Timeline: chaosv1alpha1.Timeline{
			FinishedAt: at(started, 0),
		},
	}
	return r
}

// newRunOnly is a run just created: the operator has not written any status.
func newRunOnly() *chaosv1alpha1.ExperimentRun {
	return newRun("checkout-pod-kill-n0st8")
}
