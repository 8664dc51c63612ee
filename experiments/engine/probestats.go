package engine

import (
	"math"
	"strconv"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// recordProbeStats folds a sample into the per-probe summaries.
func (r Run) recordProbeStats(s probes.Sample) {
	st := r.Status
	for _, res := range s.Results {
		ps := findProbe(st, res.Name, res.Kind)
		ps.Samples++
		if res.Err != nil {
			ps.Errors++
			ps.LastError = res.Err.Error()
			continue
		}
		if !res.Pass {
			ps.Failures++
		}
		ps.Last = probes.FormatValue(res.Value)
		if h, ok := r.hypothesis(res); ok {
			if ps.Worst == "" || probes.Worse(res.Value, parseValue(ps.Worst), h) {
				ps.Worst = ps.Last
			}
		}
	}
}

// hypothesis is what a result is judged by, for the "worst" figure.
func (r Run) hypothesis(res probes.Result) (chaosv1alpha1.Hypothesis, bool) {
	switch res.Kind {
	case chaosv1alpha1.ProbeKindGuard:
		if g := r.guard(res.Name); g != nil {
			return g.Condition, true
		}
	case chaosv1alpha1.ProbeKindSteadyState:
		for _, p := range r.Spec.SteadyState.Probes {
			if p.Name != res.Name {
				continue
			}
			if p.Condition != nil {
				return *p.Condition, true
			}
			if p.Workload != nil {
				return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: strconv.Itoa(int(p.Workload.MinReadyPercent))}, true
			}
		}
	}
	return chaosv1alpha1.Hypothesis{}, false
}

func findProbe(st *chaosv1alpha1.ExperimentRunStatus, name string, kind chaosv1alpha1.ProbeKind) *chaosv1alpha1.ProbeStatus {
	for i := range st.Probes {
		if st.Probes[i].Name == name && st.Probes[i].Kind == kind {
			return &st.Probes[i]
		}
	}
	st.Probes = append(st.Probes, chaosv1alpha1.ProbeStatus{Name: name, Kind: kind})
	return &st.Probes[len(st.Probes)-1]
}

// parseValue reads back a figure written by probes.FormatValue.
func parseValue(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}
