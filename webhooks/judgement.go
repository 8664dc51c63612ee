package webhooks

import (
	"fmt"
	"slices"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/compare"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// validateJudgement checks what the schema cannot of how a run is judged:
// relative conditions, and the comparison of the faulted slice with the
// rest.
func validateJudgement(p *problems, spec *chaosv1alpha1.ExperimentSpec) {
	for i, probe := range spec.SteadyState.Probes {
		c := probe.Condition
		if c == nil || !engine.IsRelative(c.Value) {
			continue
		}
		path := fmt.Sprintf("spec.steadyState.probes[%d].condition", i)
		if _, ok := engine.ParseRelative(c.Value); !ok {
			p.addf("%s.value %s is not a percentage of the baseline: write one such as \"+10%%\" or \"-5%%\"", path, quote(c.Value))
			continue
		}
		if !slices.Contains([]chaosv1alpha1.ConditionOperator{chaosv1alpha1.OpLess, chaosv1alpha1.OpLessEqual, chaosv1alpha1.OpGreater, chaosv1alpha1.OpGreaterEqual}, c.Op) {
			p.addf("%s: a value relative to the baseline (%s) needs op <, <=, > or >=, not %s: equality with a measured mean would almost never hold", path, c.Value, c.Op)
		}
	}
	cmp := spec.Comparison
	if cmp == nil {
		return
	}
	if f := spec.Fault.Istio; f != nil && !slicedTraffic(f) {
		p.addf("spec.comparison needs a slice of traffic to compare with the rest, but spec.fault.istio hurts all of it: scope the fault with match.headers (such as {x-canary: \"true\"}) or a delay/abort percent below 100")
	}
	for _, probe := range spec.SteadyState.Probes {
		if probe.Name != cmp.Probe {
			continue
		}
		if c := probe.Condition; c != nil && (c.Op == chaosv1alpha1.OpEqual || c.Op == chaosv1alpha1.OpNotEqual) {
			p.addf("spec.comparison.probe %s has condition op %s, which says neither higher nor lower is worse: compare a probe whose condition uses <, <=, > or >=", cmp.Probe, c.Op)
		}
		if probe.Prometheus != nil {
			for name, m := range map[string]map[string]string{"experiment": cmp.Experiment, "control": cmp.Control} {
				if _, err := compare.SplitQuery(probe.Prometheus.Query, m, spec.SteadyState.Interval.Duration); err != nil {
					p.addf("spec.comparison.%s: the query of probe %s cannot be split into groups: %v", name, cmp.Probe, err)
				}
			}
		}
	}
	if cmp.Tolerance != "" && !strings.HasSuffix(cmp.Tolerance, "%") {
		p.addf("spec.comparison.tolerance %s must be a percentage, such as \"2%%\"", quote(cmp.Tolerance))
	}
}

// slicedTraffic says whether an istio fault leaves some traffic unhurt: it
// matches on headers or source labels, or every part of it hits less than
// all requests.
func slicedTraffic(f *chaosv1alpha1.IstioFault) bool {
	if f.Match != nil && (len(f.Match.Headers) > 0 || len(f.Match.SourceLabels) > 0) {
		return true
	}
	if f.Delay == nil && f.Abort == nil {
		return false
	}
	return (f.Delay == nil || f.Delay.Percent < 100) && (f.Abort == nil || f.Abort.Percent < 100)
}
