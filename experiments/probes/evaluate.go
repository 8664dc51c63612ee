package probes

import (
	"fmt"
	"math"
	"strconv"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Evaluate reports whether value meets h: value h.Op h.Value. It is pure, so
// the verdict on a sample depends on the numbers alone, never on which
// provider measured them.
//
// NaN never passes, whatever the operator: Prometheus answers NaN for 0/0
// (a success-rate query while no traffic flows), and a system that serves
// nothing must not count as healthy. Go's NaN != x being true would otherwise
// let a != hypothesis pass on it.
func Evaluate(value float64, h chaosv1alpha1.Hypothesis) (bool, error) {
	threshold, err := parseThreshold(h)
	if err != nil {
		return false, err
	}
	var pass bool
	switch h.Op {
	case chaosv1alpha1.OpGreater:
		pass = value > threshold
	case chaosv1alpha1.OpGreaterEqual:
		pass = value >= threshold
	case chaosv1alpha1.OpLess:
		pass = value < threshold
	case chaosv1alpha1.OpLessEqual:
		pass = value <= threshold
	case chaosv1alpha1.OpEqual:
		pass = value == threshold
	case chaosv1alpha1.OpNotEqual:
		pass = value != threshold
	default:
		return false, fmt.Errorf("condition operator %q is not one of >, >=, <, <=, ==, !=", h.Op)
	}
	return pass && !math.IsNaN(value), nil
}

// Worse reports whether a is further on the failing side of h than b, so a
// run can keep the worst value it has seen of each probe:
//   - for > and >= the lower value is worse;
//   - for < and <= the higher value is worse;
//   - for == the value further from the threshold is worse;
//   - for != the value closer to the threshold is worse (equal is failing).
//
// NaN is worse than any number, because it never passes (see Evaluate) and
// a report that hid it behind an earlier finite value would mislead. Ties,
// an unknown operator and an unparsable threshold report false, so the
// caller keeps the value it already holds instead of flapping.
func Worse(a, b float64, h chaosv1alpha1.Hypothesis) bool {
	switch {
	case math.IsNaN(a):
		return !math.IsNaN(b)
	case math.IsNaN(b):
		return false
	}
	switch h.Op {
	case chaosv1alpha1.OpGreater, chaosv1alpha1.OpGreaterEqual:
		return a < b
	case chaosv1alpha1.OpLess, chaosv1alpha1.OpLessEqual:
		return a > b
	}
	threshold, err := parseThreshold(h)
	if err != nil {
		return false
	}
	distanceA, distanceB := math.Abs(a-threshold), math.Abs(b-threshold)
	switch h.Op {
	case chaosv1alpha1.OpEqual:
		return distanceA > distanceB
	case chaosv1alpha1.OpNotEqual:
		return distanceA < distanceB
	default:
		return false
	}
}

// parseThreshold reads h.Value. The CRD validates the format, but a spec can
// reach the operator without that validation (an older CRD, a unit test), so
// a bad threshold is an error rather than a silent zero.
func parseThreshold(h chaosv1alpha1.Hypothesis) (float64, error) {
	threshold, err := strconv.ParseFloat(h.Value, 64)
	if err != nil {
		return 0, fmt.Errorf("condition value %q is not a number, such as \"0.99\" or \"250\"", h.Value)
	}
	// ParseFloat accepts "NaN", against which nothing could ever pass.
	if math.IsNaN(threshold) {
		return 0, fmt.Errorf("condition value %q is NaN, which no value can meet; use a number such as \"0.99\"", h.Value)
	}
	return threshold, nil
}

// FormatValue renders a measured value for status and reports, everywhere
// the same way, so a value written by one sample compares equal as text to
// the same value written by another. Six significant digits are enough to
// read a ratio such as 0.99952 and keep large counts short; NaN and the
// infinities use Prometheus's spelling, and negative zero prints as 0.
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0:
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// AlertHypothesis is the condition a detection alert's Result is judged by:
// its Value, 1 while firing, must be 0. Pass is therefore "not firing".
var AlertHypothesis = chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpEqual, Value: "0"}

// WorkloadHypothesis is the condition a workload probe's readiness is judged
// by: readyPercent >= minReadyPercent. A zero minReadyPercent (a spec that
// did not pass through the API server's defaulting) means the CRD's default,
// 100, rather than a probe that passes with nothing ready.
func WorkloadHypothesis(w chaosv1alpha1.WorkloadProbe) chaosv1alpha1.Hypothesis {
	minReady := w.MinReadyPercent
	if minReady <= 0 {
		minReady = 100
	}
	return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: FormatValue(float64(minReady))}
}
