package engine_test

import (
	"math"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// relative makes the success-rate probe's condition relative to the
// baseline.
func relative(op chaosv1alpha1.ConditionOperator, value string) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		s.SteadyState.Probes[0].Condition = &chaosv1alpha1.Hypothesis{Op: op, Value: value}
	}
}

// compared compares the success rate of the canary slice with the rest;
// applied to an istio spec once built, since it scopes the fault.
func compared(minSamples int32, tolerance string) option {
	return func(s *chaosv1alpha1.ExperimentSpec) {
		s.Fault.Istio.Match = &chaosv1alpha1.IstioMatch{Headers: map[string]string{"x-canary": "true"}}
		s.Comparison = &chaosv1alpha1.ComparisonSpec{
			Probe:      "success-rate",
			Experiment: map[string]string{"canary": "true"},
			Control:    map[string]string{"canary": "false"},
			MinSamples: minSamples,
			Tolerance:  tolerance,
		}
	}
}

var preparedComparison = &chaosv1alpha1.ComparisonStatus{
	Probe:      "success-rate",
	Experiment: chaosv1alpha1.ComparisonGroup{Query: `experiment query`},
	Control:    chaosv1alpha1.ComparisonGroup{Query: `control query`},
}

func TestRelativeConditionIsFixedFromTheBaselineMean(t *testing.T) {
	// Baseline samples 0.90, 0.92, ... average to a mean the threshold is
	// taken from: -5% of it. The run then deviates on the scripted bad
	// value (0.62), which the absolute threshold 0.99 would also catch,
	// but a healthy 0.95 — below 0.99 — passes the relative one.
	values := []float64{0.90, 0.92, 0.94, 0.96}
	spec := istio(10*sec, prometheusProbesOnly, noObjectives, relative(chaosv1alpha1.OpGreaterEqual, "-5%"))
	d := start(t, world{
		spec:           spec,
		baselineValues: func(n int) float64 { return values[n%len(values)] },
		script:         script{"success-rate": {bad: []span{during(inj(2*sec), inj(4*sec))}}},
	})
	st := d.finish()

	ps := probeStatus(t, st, "success-rate")
	if ps.BaselineSamples != 4 {
		t.Fatalf("baseline samples = %d, want 4 (a 3s baseline sampled each second)", ps.BaselineSamples)
	}
	mean := (0.90 + 0.92 + 0.94 + 0.96) / 4
	if got := ps.BaselineMean; got != "0.9299999999999999" && got != "0.93" {
		t.Errorf("baselineMean = %s, want the mean %v", got, mean)
	}
	if ps.Threshold != "0.8835" {
		t.Errorf("threshold = %q, want 0.93 - 5%% = 0.8835", ps.Threshold)
	}
	if st.Timeline.DeviatedAt == nil {
		t.Fatalf("the run never deviated although the probe answered 0.62, below the threshold 0.8835: %s", st.Message)
	}
	if st.Experiment.SteadyState.Probes[0].Condition.Value != "-5%" {
		t.Errorf("the snapshot's condition was rewritten to %q; it must stay as written", st.Experiment.SteadyState.Probes[0].Condition.Value)
	}
	if got := engine.Effective(st.Experiment, st).SteadyState.Probes[0].Condition.Value; got != "0.8835" {
		t.Errorf("effective condition = %q, want the fixed threshold", got)
	}
}

func TestRelativeConditionHoldsAHealthyValueAnAbsoluteOneWouldRefuse(t *testing.T) {
	// A cluster whose normal success rate is 0.95: the absolute 0.99 of
	// the example would call the baseline broken; "-5%" of what it measures
	// holds, and the run is judged on the fault alone.
	spec := istio(10*sec, prometheusProbesOnly, noObjectives, relative(chaosv1alpha1.OpGreaterEqual, "-5%"))
	d := start(t, world{spec: spec, baselineValues: func(int) float64 { return 0.95 }})
	st := d.finish()
	if st.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict %s (%s), want Passed", st.Verdict, st.Message)
	}
	if got := probeStatus(t, st, "success-rate").Threshold; got != "0.9025" {
		t.Errorf("threshold = %q, want 0.95 - 5%% = 0.9025", got)
	}
}

func TestRelativeConditionWithoutABaselineValueIsInconclusive(t *testing.T) {
	spec := istio(10*sec, prometheusProbesOnly, noObjectives, relative(chaosv1alpha1.OpLessEqual, "+10%"))
	d := start(t, world{spec: spec, baselineValues: func(int) float64 { return math.NaN() }})
	st := d.finish()
	if st.Verdict != chaosv1alpha1.VerdictInconclusive || st.Timeline.InjectedAt != nil {
		t.Fatalf("verdict %s, injected %v (%s); want Inconclusive with nothing injected", st.Verdict, st.Timeline.InjectedAt, st.Message)
	}
}

func TestRelativeThresholdOfANegativeMean(t *testing.T) {
	if got := engine.RelativeThreshold(-200, 0.10); got != -180 {
		t.Errorf("+10%% of -200 = %v, want -180 (10%% higher)", got)
	}
	if got := engine.RelativeThreshold(200, -0.05); got != 190 {
		t.Errorf("-5%% of 200 = %v, want 190", got)
	}
}

func TestComparisonFindsHarmInTheFaultedSlice(t *testing.T) {
	// The canary slice runs at 0.97 while control stays at 0.995: small
	// next to the 0.99 threshold of the overall rate, which never breaks.
	spec := istio(20*sec, prometheusProbesOnly, noObjectives)
	compared(10, "1%")(spec)
	d := start(t, world{
		spec:       spec,
		comparison: preparedComparison,
		groups: func(n int) (float64, float64) {
			return 0.96 + 0.002*float64(n%5), 0.993 + 0.001*float64(n%4)
		},
	})
	st := d.finish()
	c := st.Comparison
	if c == nil || c.Outcome != chaosv1alpha1.ComparisonHarm {
		t.Fatalf("comparison = %+v, want Harm", c)
	}
	if st.Verdict != chaosv1alpha1.VerdictFailed || !strings.Contains(st.Message, "comparison:") {
		t.Errorf("verdict %s (%s), want Failed saying what the comparison found", st.Verdict, st.Message)
	}
	if n := len(c.Experiment.Values); n < 19 || n > 21 || len(c.Control.Values) != n {
		t.Errorf("%d experiment and %d control values; want one per sample of the 20s the fault was held", n, len(c.Control.Values))
	}
	if c.PValue == "" || c.U == "" || c.EffectSize != "1" || !strings.HasPrefix(c.RelativeDifference, "+") {
		t.Errorf("figures: U=%s p=%s effect=%s rel=%s; want all set, every pair worse", c.U, c.PValue, c.EffectSize, c.RelativeDifference)
	}
	if st.Timeline.DeviatedAt != nil {
		t.Errorf("the fixed threshold deviated; the scripted overall rate never broke it")
	}
	if strings.Contains(st.Message, "absorbed") {
		t.Errorf("message %q calls the fault absorbed although the comparison found harm", st.Message)
	}
	for _, c := range st.Conditions {
		if c.Type == chaosv1alpha1.ConditionDetected && c.Reason != chaosv1alpha1.ReasonHarmFound {
			t.Errorf("Detected condition has reason %s (%s), want %s", c.Reason, c.Message, chaosv1alpha1.ReasonHarmFound)
		}
	}
}

func TestComparisonOfEqualSlicesFindsNoHarm(t *testing.T) {
	spec := istio(20*sec, prometheusProbesOnly, noObjectives)
	compared(10, "")(spec)
	d := start(t, world{
		spec:       spec,
		comparison: preparedComparison,
		groups: func(n int) (float64, float64) {
			// The same values, shifted in order: no group is worse.
			return 0.990 + 0.001*float64(n%7), 0.990 + 0.001*float64((n+3)%7)
		},
	})
	st := d.finish()
	if st.Comparison.Outcome != chaosv1alpha1.ComparisonNoHarm || st.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("outcome %s, verdict %s (%s); want NoHarm and Passed", st.Comparison.Outcome, st.Verdict, st.Message)
	}
}

func TestComparisonWithTooFewSamplesIsInconclusive(t *testing.T) {
	spec := istio(5*sec, prometheusProbesOnly, noObjectives)
	compared(30, "")(spec)
	d := start(t, world{
		spec:       spec,
		comparison: preparedComparison,
		groups:     func(int) (float64, float64) { return 0.5, 0.99 },
	})
	st := d.finish()
	if st.Comparison.Outcome != chaosv1alpha1.ComparisonInsufficient || st.Verdict != chaosv1alpha1.VerdictInconclusive {
		t.Fatalf("outcome %s, verdict %s (%s); want Insufficient and Inconclusive", st.Comparison.Outcome, st.Verdict, st.Message)
	}
	if st.Comparison.PValue != "" {
		t.Errorf("a p-value %s was reported from too few samples", st.Comparison.PValue)
	}
}

func TestComparisonKeepsOnlySamplesWhileTheFaultIsHeld(t *testing.T) {
	// Unanswered and NaN values are counted, not kept.
	spec := istio(10*sec, prometheusProbesOnly, noObjectives)
	compared(5, "")(spec)
	d := start(t, world{
		spec:       spec,
		comparison: preparedComparison,
		groups: func(n int) (float64, float64) {
			if n == 0 {
				return math.NaN(), 0.99
			}
			return 0.99, 0.99
		},
	})
	st := d.finish()
	c := st.Comparison
	if c.Experiment.Errors != 1 || len(c.Experiment.Values)+1 != len(c.Control.Values) {
		t.Errorf("experiment: %d values, %d errors; control: %d values; want the NaN counted as an error and left out", len(c.Experiment.Values), c.Experiment.Errors, len(c.Control.Values))
	}
	if n := len(c.Control.Values); n < 9 || n > 11 {
		t.Errorf("%d control values; want about one a second for the 10s hold, none from the baseline or recovery", n)
	}
}

func TestEffectiveUsesTheDerivedSLOs(t *testing.T) {
	written := istio(10*sec, noObjectives)
	written.SteadyState.Probes = append(written.SteadyState.Probes, chaosv1alpha1.Probe{
		Name: "availability",
		SLO:  &chaosv1alpha1.SLOProbe{SLORef: chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests"}}},
	})
	written.Abort = &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
		Name: "budget-burn",
		SLO:  &chaosv1alpha1.SLOGuard{SLORef: chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests"}}},
		For:  &metav1.Duration{},
	}}}
	st := &chaosv1alpha1.ExperimentRunStatus{}
	if got := engine.Effective(written, st); got.SteadyState.Probes[2].Prometheus != nil {
		t.Fatalf("an slo probe got a query before the SLO was derived")
	}
	st.SLOs = []chaosv1alpha1.SLOStatus{
		{Name: "availability", Kind: chaosv1alpha1.ProbeKindSteadyState, Query: "error ratio", Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: "0.001"}},
		{Name: "budget-burn", Kind: chaosv1alpha1.ProbeKindGuard, Query: "burn rate", Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLess, Value: "14.4"}},
	}
	eff := engine.Effective(written, st)
	p := eff.SteadyState.Probes[2]
	if p.SLO != nil || p.Prometheus == nil || p.Prometheus.Query != "error ratio" || p.Condition == nil || p.Condition.Value != "0.001" {
		t.Errorf("effective probe = %+v, want the derived query and condition", p)
	}
	g := eff.Abort.Guards[0]
	if g.SLO != nil || g.Prometheus.Query != "burn rate" || g.Condition.Op != chaosv1alpha1.OpLess || g.Condition.Value != "14.4" {
		t.Errorf("effective guard = %+v, want the derived burn-rate query and condition", g)
	}
	if written.SteadyState.Probes[2].SLO == nil || written.Abort.Guards[0].SLO == nil {
		t.Errorf("the written spec was modified")
	}
}
