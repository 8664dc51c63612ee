package compare

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Outcome is what a comparison found. The values are those of the API's
// ComparisonOutcome, so one converts to the other.
type Outcome string

const (
	// Harm means the experiment group was significantly worse than control, and
	// its median worse by more than the tolerance.
	Harm Outcome = "Harm"
	// NoHarm means no significant harm beyond the tolerance was found.
	NoHarm Outcome = "NoHarm"
	// Insufficient means a group had fewer values than MinSamples: no
	// judgement.
	Insufficient Outcome = "Insufficient"
)

// Defaults of Config's zero fields, the API's defaults.
const (
	DefaultAlpha      = 0.05
	DefaultMinSamples = 10
)

// Config is how a comparison judges.
type Config struct {
	// HigherIsWorse says which way is worse: true for an error ratio or a
	// latency, false for a success ratio.
	HigherIsWorse bool
	// Alpha is the significance level of the one-sided test; 0 means
	// DefaultAlpha.
	Alpha float64
	// Tolerance is how much worse than control's median the experiment's
	// may be, relative to control's, before it counts as harm: 0.02 for 2%.
	Tolerance float64
	// MinSamples each group needs, NaN values not counting; 0 means
	// DefaultMinSamples.
	MinSamples int
}

// Result is a comparison's judgement and the figures behind it.
type Result struct {
	// Outcome is Harm, NoHarm or Insufficient.
	Outcome Outcome
	// Test is the Mann-Whitney test; for Insufficient, only its counts are
	// set.
	Test Test
	// ExperimentMedian and ControlMedian are the medians of the values
	// tested; NaN for a group without any.
	ExperimentMedian, ControlMedian float64
	// RelativeDifference is the experiment median's difference from the
	// control median over the control median's magnitude, signed so that
	// positive is worse: 0.027 is 2.7% worse.
	//
	// When control's median is 0 no relative difference exists: it is +Inf
	// when the experiment's median is worse at all, -Inf when better and 0
	// when equal, and RelativeDefined is false. An error ratio of 0 in
	// control is common, and against it any worsening is harm beyond every
	// tolerance, which is what those values say.
	RelativeDifference float64
	// RelativeDefined is false when control's median is 0 (or a median is
	// not finite), and RelativeDifference says only which way it went.
	RelativeDefined bool
	// Message says in one sentence what the comparison found.
	Message string
}

// Judge compares the experiment group with control: harm is a significant
// one-sided Mann-Whitney test (p below alpha) together with a median worse
// than control's by more than the tolerance. Both are needed: a rank test
// on hundreds of samples finds differences too small to matter, and a
// difference of medians alone cannot tell harm from noise.
//
// Medians compare equal when they are equal: with sparse errors both
// groups' median error ratio is often 0, and no harm is then found however
// the rank test comes out; the message says so.
func Judge(experiment, control []float64, cfg Config) Result {
	if cfg.Alpha <= 0 {
		cfg.Alpha = DefaultAlpha
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = DefaultMinSamples
	}
	x, droppedX := finite(experiment)
	y, droppedY := finite(control)
	r := Result{
		Test:             Test{ExperimentN: len(x), ControlN: len(y), ExperimentDropped: droppedX, ControlDropped: droppedY},
		ExperimentMedian: median(x),
		ControlMedian:    median(y),
	}
	if len(x) < cfg.MinSamples || len(y) < cfg.MinSamples {
		r.Outcome = Insufficient
		r.RelativeDifference = math.NaN()
		r.Message = fmt.Sprintf("too few samples to compare: the faulted slice has %d and control %d, and each needs at least %d%s",
			len(x), len(y), cfg.MinSamples, droppedText(droppedX+droppedY))
		return r
	}
	// Both groups are non-empty past the check above, so the test cannot
	// fail.
	r.Test, _ = MannWhitney(x, y, cfg.HigherIsWorse)
	r.Test.ExperimentDropped, r.Test.ControlDropped = droppedX, droppedY
	r.RelativeDifference, r.RelativeDefined = relativeDifference(r.ExperimentMedian, r.ControlMedian, cfg.HigherIsWorse)

	significant := r.Test.PValue < cfg.Alpha
	beyond := r.RelativeDifference > cfg.Tolerance
	r.Outcome = NoHarm
	if significant && beyond {
		r.Outcome = Harm
	}

	tolerance := strconv.FormatFloat(cfg.Tolerance*100, 'g', 4, 64) + "%"
	var verdict string
	switch {
	case r.Outcome == Harm:
		verdict = "harm beyond the " + tolerance + " tolerance"
	case significant && r.RelativeDifference <= 0:
		verdict = "the ranks lean worse but the medians do not: no harm found"
	case significant:
		verdict = "significant, but within the " + tolerance + " tolerance: no harm found"
	default:
		verdict = fmt.Sprintf("not significant at alpha %g: no harm found", cfg.Alpha)
	}
	r.Message = fmt.Sprintf("the faulted slice's median %s was %s control's %s (Mann-Whitney U=%s, p=%s, P(worse)=%.2f%s): %s",
		number(r.ExperimentMedian), r.comparedText(), number(r.ControlMedian),
		strconv.FormatFloat(r.Test.U, 'f', -1, 64), pValueText(r.Test.PValue), r.Test.EffectSize, droppedText(droppedX+droppedY), verdict)
	return r
}

// RelativeText writes the relative difference as the API records it,
// "+2.7%" or "-0.4%"; "+Inf%" or "-Inf%" when control's median is 0 and the
// experiment's is not; empty when there is none (Insufficient).
func (r Result) RelativeText() string {
	switch {
	case math.IsNaN(r.RelativeDifference):
		return ""
	case math.IsInf(r.RelativeDifference, 1):
		return "+Inf%"
	case math.IsInf(r.RelativeDifference, -1):
		return "-Inf%"
	}
	return fmt.Sprintf("%+.1f%%", r.RelativeDifference*100)
}

// comparedText is "2.7% worse than", "0.4% better than", "equal to", or for
// a control median of 0, "worse than" with the absolute difference.
func (r Result) comparedText() string {
	d := r.RelativeDifference
	switch {
	case d == 0:
		return "equal to"
	case !r.RelativeDefined:
		way := "worse"
		if d < 0 {
			way = "better"
		}
		return fmt.Sprintf("%s by %s in absolute terms (no relative difference from a median of 0) than",
			way, number(math.Abs(r.ExperimentMedian-r.ControlMedian)))
	case d > 0:
		return fmt.Sprintf("%.1f%% worse than", d*100)
	}
	return fmt.Sprintf("%.1f%% better than", -d*100)
}

// relativeDifference is (experiment - control) / |control|, signed so that
// positive is worse; see Result.RelativeDifference for a control of 0.
func relativeDifference(experiment, control float64, higherIsWorse bool) (float64, bool) {
	diff := experiment - control
	if !higherIsWorse {
		diff = -diff
	}
	if control == 0 || math.IsInf(control, 0) || math.IsInf(experiment, 0) {
		switch {
		case diff > 0:
			return math.Inf(1), false
		case diff < 0:
			return math.Inf(-1), false
		}
		return 0, false
	}
	return diff / math.Abs(control), true
}

// median of values, NaN when there are none.
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return sorted[mid-1]/2 + sorted[mid]/2
}

// number writes a median to four significant digits, as people read them.
func number(f float64) string {
	return strconv.FormatFloat(f, 'g', 4, 64)
}

// pValueText writes a p-value to two significant digits, as "0.0003" or
// "4.1e-09".
func pValueText(p float64) string {
	return strconv.FormatFloat(p, 'g', 2, 64)
}

func droppedText(dropped int) string {
	if dropped == 0 {
		return ""
	}
	return fmt.Sprintf("; %d NaN values dropped", dropped)
}
