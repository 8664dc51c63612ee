package engine

import (
	"math"
	"strconv"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/compare"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// maxGroupValues is how many values of each comparison group status keeps;
// the API bounds the list, and comparison.minSamples, at the same number.
const maxGroupValues = chaosv1alpha1.MaxComparisonValues

// groupQueries are the comparison's two queries while the fault is held;
// nil when the run compares nothing, or not now.
func (r Run) groupQueries() *probes.GroupQueries {
	c := r.Status.Comparison
	if r.Spec.Comparison == nil || c == nil || r.instant() || r.DryRun {
		return nil
	}
	if r.Status.Phase != chaosv1alpha1.PhaseObserving || c.Experiment.Query == "" || c.Control.Query == "" {
		return nil
	}
	return &probes.GroupQueries{Experiment: c.Experiment.Query, Control: c.Control.Query}
}

// foldGroups keeps a sample's comparison values, only those taken while the
// fault was held: the groups differ by the fault only then.
func (r Run) foldGroups(s probes.Sample) {
	c := r.Status.Comparison
	if c == nil || len(s.Groups) != 2 || r.Status.Phase != chaosv1alpha1.PhaseObserving {
		return
	}
	for i, g := range []*chaosv1alpha1.ComparisonGroup{&c.Experiment, &c.Control} {
		res := s.Groups[i]
		switch {
		case res.Err != nil || math.IsNaN(res.Value) || math.IsInf(res.Value, 0):
			g.Errors++
		case len(g.Values) >= maxGroupValues:
			g.Dropped++
		default:
			g.Values = append(g.Values, strconv.FormatFloat(res.Value, 'g', -1, 64))
		}
	}
}

// judgeComparison compares the two groups at the end of the run and
// records what it found. It returns the verdict and reason the comparison
// calls for, or empty strings when it leaves the verdict to the rest of the
// judgement (no harm found, or nothing compared).
func (r Run) judgeComparison() (chaosv1alpha1.Verdict, string) {
	spec, c := r.Spec.Comparison, r.Status.Comparison
	if spec == nil || c == nil || r.Status.Timeline.InjectedAt == nil {
		return "", ""
	}
	// Malformed figures (admission refuses them) fall back to the
	// defaults: a tolerance of 0% and compare's alpha.
	tolerance, _ := ParsePercent(spec.Tolerance)
	cfg := compare.Config{
		HigherIsWorse: r.higherIsWorse(spec.Probe),
		Alpha:         alpha(spec.Alpha),
		Tolerance:     tolerance,
		MinSamples:    int(spec.MinSamples),
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = 10
	}
	res := compare.Judge(parseValues(c.Experiment.Values), parseValues(c.Control.Values), cfg)
	c.Experiment.Median = formatIfFinite(res.ExperimentMedian)
	c.Control.Median = formatIfFinite(res.ControlMedian)
	c.U, c.PValue, c.EffectSize, c.RelativeDifference = "", "", "", ""
	if res.Outcome != compare.Insufficient {
		c.U = probes.FormatValue(res.Test.U)
		c.PValue = probes.FormatValue(res.Test.PValue)
		c.EffectSize = probes.FormatValue(res.Test.EffectSize)
		if res.RelativeDefined {
			c.RelativeDifference = formatSignedPercent(res.RelativeDifference)
		}
	}
	c.Message = res.Message
	switch res.Outcome {
	case compare.Harm:
		c.Outcome = chaosv1alpha1.ComparisonHarm
		return chaosv1alpha1.VerdictFailed, chaosv1alpha1.ReasonHarmFound
	case compare.Insufficient:
		c.Outcome = chaosv1alpha1.ComparisonInsufficient
		return chaosv1alpha1.VerdictInconclusive, chaosv1alpha1.ReasonTooFewSamples
	}
	c.Outcome = chaosv1alpha1.ComparisonNoHarm
	return "", ""
}

// harmFound says whether the comparison judged the faulted slice harmed.
func (r Run) harmFound() bool {
	c := r.Status.Comparison
	return c != nil && c.Outcome == chaosv1alpha1.ComparisonHarm
}

// higherIsWorse follows the compared probe's condition: a probe that must
// stay low (<, <=; an slo probe's error ratio) is hurt by higher values.
func (r Run) higherIsWorse(probe string) bool {
	for _, p := range r.Spec.SteadyState.Probes {
		if p.Name != probe {
			continue
		}
		if p.Condition == nil {
			// An slo probe without a condition judges the error ratio.
			return true
		}
		return p.Condition.Op == chaosv1alpha1.OpLess || p.Condition.Op == chaosv1alpha1.OpLessEqual
	}
	return false
}

// ParsePercent reads a percentage such as "20%" as 0.2; false when s is
// empty or not one (admission refuses those).
func ParsePercent(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if !strings.HasSuffix(s, "%") || err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f / 100, true
}

// alpha reads the significance level; 0, compare's default, when empty or
// malformed.
func alpha(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0
	}
	return f
}

func parseValues(values []string) []float64 {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func formatIfFinite(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return probes.FormatValue(v)
}

// formatSignedPercent writes a share as a signed percentage: 0.027 as
// "+2.7%".
func formatSignedPercent(v float64) string {
	s := strconv.FormatFloat(v*100, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s + "%"
}
