package webhooks

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/compare"
	"github.com/faultline-dev/faultline/experiments/engine"
)

// validateJudgement checks what the schema cannot of how a run is judged:
// relative conditions, and the comparison of the faulted slice with the
// rest.
func validateJudgement(spec *chaosv1alpha1.ExperimentSpec, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, probe := range spec.SteadyState.Probes {
		c := probe.Condition
		if c == nil || !engine.IsRelative(c.Value) {
			continue
		}
		path := specPath.Child("steadyState", "probes").Index(i).Child("condition")
		if _, ok := engine.ParseRelative(c.Value); !ok {
			errs = append(errs, field.Invalid(path.Child("value"), c.Value, `is not a percentage of the baseline: write one such as "+10%" or "-5%"`))
			continue
		}
		if !slices.Contains([]chaosv1alpha1.ConditionOperator{chaosv1alpha1.OpLess, chaosv1alpha1.OpLessEqual, chaosv1alpha1.OpGreater, chaosv1alpha1.OpGreaterEqual}, c.Op) {
			errs = append(errs, notSupported(path.Child("op"), string(c.Op),
				fmt.Sprintf("a value relative to the baseline (%s) needs op <, <=, > or >=: equality with a measured mean would almost never hold", c.Value)))
		}
	}
	cmp := spec.Comparison
	if cmp == nil {
		return errs
	}
	cmpPath := specPath.Child("comparison")
	if f := spec.Fault.Istio; f != nil && !slicedTraffic(f) {
		errs = append(errs, invalidNoValue(cmpPath, `needs a slice of traffic to compare with the rest, but spec.fault.istio hurts all of it: scope the fault with match.headers (such as {x-canary: "true"}) or a delay/abort percent below 100`))
	}
	for _, probe := range spec.SteadyState.Probes {
		if probe.Name != cmp.Probe {
			continue
		}
		if c := probe.Condition; c != nil && (c.Op == chaosv1alpha1.OpEqual || c.Op == chaosv1alpha1.OpNotEqual) {
			errs = append(errs, field.Invalid(cmpPath.Child("probe"), cmp.Probe,
				fmt.Sprintf("has condition op %s, which says neither higher nor lower is worse: compare a probe whose condition uses <, <=, > or >=", c.Op)))
		}
		if probe.Prometheus != nil {
			for _, group := range []struct {
				name   string
				labels map[string]string
			}{{"experiment", cmp.Experiment}, {"control", cmp.Control}} {
				if _, err := compare.SplitQuery(probe.Prometheus.Query, group.labels, spec.SteadyState.Interval.Duration); err != nil {
					errs = append(errs, invalidNoValue(cmpPath.Child(group.name),
						fmt.Sprintf("the query of probe %s cannot be split into groups: %v", cmp.Probe, err)))
				}
			}
		}
	}
	if cmp.Tolerance != "" && !strings.HasSuffix(cmp.Tolerance, "%") {
		errs = append(errs, field.Invalid(cmpPath.Child("tolerance"), cmp.Tolerance, `must be a percentage, such as "2%"`))
	}
	return errs
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
