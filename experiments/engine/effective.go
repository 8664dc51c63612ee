package engine

import (
	"math"
	"strconv"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// Effective is the spec a run samples and judges by: the Experiment as
// written, with what the run has since fixed put in place.
//
//   - An slo probe or guard becomes a prometheus one, with the query and
//     condition derived when the run started (status.slos). One not derived
//     (yet) is left as written; the sampler reports it unanswered.
//   - A condition relative to the baseline ("+10%") becomes the absolute
//     threshold fixed when the baseline ended (status.probes[].threshold).
//     Before that, during the baseline, the probe only has to answer with a
//     number: its condition is value >= -Inf (or <= +Inf), which NaN fails.
//
// The written spec is never modified; when nothing needs replacing it is
// returned as is, otherwise a copy.
func Effective(written *chaosv1alpha1.ExperimentSpec, st *chaosv1alpha1.ExperimentRunStatus) *chaosv1alpha1.ExperimentSpec {
	if written == nil || !needsResolving(written) {
		return written
	}
	spec := written.DeepCopy()
	for i := range spec.SteadyState.Probes {
		p := &spec.SteadyState.Probes[i]
		if p.SLO != nil {
			if d := derivedSLO(st, p.Name, chaosv1alpha1.ProbeKindSteadyState); d != nil {
				p.Prometheus = &chaosv1alpha1.PrometheusQuery{Query: d.Query}
				if p.Condition == nil && d.Condition != nil {
					c := *d.Condition
					p.Condition = &c
				}
				p.SLO = nil
			}
		}
		if p.Condition != nil && IsRelative(p.Condition.Value) {
			c := resolvedCondition(*p.Condition, st, p.Name)
			p.Condition = &c
		}
	}
	if spec.Abort != nil {
		for i := range spec.Abort.Guards {
			g := &spec.Abort.Guards[i]
			if g.SLO == nil {
				continue
			}
			if d := derivedSLO(st, g.Name, chaosv1alpha1.ProbeKindGuard); d != nil && d.Condition != nil {
				g.Prometheus = chaosv1alpha1.PrometheusQuery{Query: d.Query}
				g.Condition = *d.Condition
				g.SLO = nil
			}
		}
	}
	return spec
}

// needsResolving says whether any probe or guard refers to an SLO or to the
// baseline.
func needsResolving(spec *chaosv1alpha1.ExperimentSpec) bool {
	for _, p := range spec.SteadyState.Probes {
		if p.SLO != nil || (p.Condition != nil && IsRelative(p.Condition.Value)) {
			return true
		}
	}
	if spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			if g.SLO != nil {
				return true
			}
		}
	}
	return false
}

func derivedSLO(st *chaosv1alpha1.ExperimentRunStatus, name string, kind chaosv1alpha1.ProbeKind) *chaosv1alpha1.SLOStatus {
	if st == nil {
		return nil
	}
	for i := range st.SLOs {
		s := &st.SLOs[i]
		if s.Name == name && s.Kind == kind && s.Error == "" && s.Query != "" {
			return s
		}
	}
	return nil
}

// IsRelative says whether a condition value is a percentage of the baseline,
// such as "+10%".
func IsRelative(value string) bool { return strings.HasSuffix(value, "%") }

// ParseRelative reads a relative condition value, "+10%" as 0.10 and "-5%"
// as -0.05.
func ParseRelative(value string) (float64, bool) {
	if !IsRelative(value) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f / 100, true
}

// RelativeThreshold is the absolute threshold of a relative condition given
// the baseline's mean: mean*(1+share). Of a negative mean, "+10%" still
// means 10% higher: mean + |mean|*share.
func RelativeThreshold(mean, share float64) float64 {
	return mean + math.Abs(mean)*share
}

// resolvedCondition is a relative condition with its threshold put in, or,
// before the baseline fixed one, the condition any number meets.
func resolvedCondition(c chaosv1alpha1.Hypothesis, st *chaosv1alpha1.ExperimentRunStatus, probe string) chaosv1alpha1.Hypothesis {
	if st != nil {
		for _, ps := range st.Probes {
			if ps.Name == probe && ps.Kind == chaosv1alpha1.ProbeKindSteadyState && ps.Threshold != "" {
				return chaosv1alpha1.Hypothesis{Op: c.Op, Value: ps.Threshold}
			}
		}
	}
	switch c.Op {
	case chaosv1alpha1.OpLess, chaosv1alpha1.OpLessEqual:
		return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: "+Inf"}
	default:
		return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "-Inf"}
	}
}

// foldBaselineMean adds the sample's answered values of the steady-state
// probes to their baseline means.
func (r Run) foldBaselineMean(s probes.Sample) {
	for _, res := range s.Results {
		if res.Kind != chaosv1alpha1.ProbeKindSteadyState || res.Err != nil || math.IsNaN(res.Value) || math.IsInf(res.Value, 0) {
			continue
		}
		ps := findProbe(r.Status, res.Name, res.Kind)
		mean := 0.0
		if ps.BaselineSamples > 0 {
			mean, _ = strconv.ParseFloat(ps.BaselineMean, 64)
		}
		n := ps.BaselineSamples + 1
		mean += (res.Value - mean) / float64(n)
		ps.BaselineMean = strconv.FormatFloat(mean, 'g', -1, 64)
		ps.BaselineSamples = n
	}
}

// resetBaselineMeans forgets the baseline's values when it starts over.
func (r Run) resetBaselineMeans() {
	for i := range r.Status.Probes {
		r.Status.Probes[i].BaselineMean, r.Status.Probes[i].BaselineSamples = "", 0
	}
}

// fixRelativeThresholds turns each relative condition into its threshold
// from the baseline's mean, when the baseline ends. It returns the names of
// probes whose baseline gave no value to refer to.
func (r Run) fixRelativeThresholds() (missing []string) {
	written := r.written()
	for _, p := range written.SteadyState.Probes {
		if p.Condition == nil {
			continue
		}
		share, ok := ParseRelative(p.Condition.Value)
		if !ok {
			continue
		}
		ps := findProbe(r.Status, p.Name, chaosv1alpha1.ProbeKindSteadyState)
		mean, err := strconv.ParseFloat(ps.BaselineMean, 64)
		if ps.BaselineSamples == 0 || err != nil {
			missing = append(missing, p.Name)
			continue
		}
		ps.Threshold = probes.FormatValue(RelativeThreshold(mean, share))
	}
	return missing
}

// written is the spec as the Experiment wrote it.
func (r Run) written() *chaosv1alpha1.ExperimentSpec {
	if r.Written != nil {
		return r.Written
	}
	return r.Spec
}
