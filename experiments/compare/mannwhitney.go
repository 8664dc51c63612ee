// Package compare judges a controlled experiment: the faulted slice of
// traffic against the rest, sampled side by side while the fault is active.
// It holds the statistics (a one-sided Mann-Whitney U test, medians and the
// relative difference against a tolerance) and SplitQuery, which turns one
// probe query into the query of one group.
//
// The package is pure: it decides from the numbers and strings it is handed,
// so every judgement replays in a table test.
package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Test is the outcome of a one-sided Mann-Whitney U test (the Wilcoxon
// rank-sum test) of "the experiment group tends to be worse than control".
type Test struct {
	// U counts the experiment-control pairs where the experiment sample is
	// worse, a tie counting one half.
	U float64
	// EffectSize is U over the number of pairs: the probability that an
	// experiment sample is worse than a control sample, ties counting one
	// half. 0.5 is no effect.
	EffectSize float64
	// PValue is the probability, were both groups drawn from one
	// distribution, of a U at least this large.
	PValue float64
	// Exact says PValue comes from the exact distribution of U rather than
	// from the normal approximation.
	Exact bool
	// ExperimentN and ControlN are the values each group was tested on.
	ExperimentN, ControlN int
	// ExperimentDropped and ControlDropped count the NaN values left out.
	ExperimentDropped, ControlDropped int
}

// maxExactPairs bounds n1*n2 for the exact distribution. Counting it takes
// about (n1*n2)²/4 additions; at this bound that is a few milliseconds, and
// above it the normal approximation is within a few thousandths of the
// exact p-value anyway. Two minutes of samples at 5s, 24 per group, are
// well inside it.
const maxExactPairs = 1000

// ErrEmptyGroup is returned when a group has no value to rank once NaN
// values are dropped.
var ErrEmptyGroup = errors.New("a group has no values to compare")

// MannWhitney tests whether the experiment group tends to be worse than
// control. higherIsWorse says which way is worse: true for an error ratio or
// a latency, false for a success ratio.
//
// NaN values are dropped and counted; ±Inf rank as the extremes they are.
// With no ties and at most maxExactPairs pairs the p-value is exact,
// counted over every assignment of the pooled ranks to the two groups;
// otherwise it is the normal approximation with the tie correction of the
// variance and a continuity correction of one half.
func MannWhitney(experiment, control []float64, higherIsWorse bool) (Test, error) {
	x, droppedX := finite(experiment)
	y, droppedY := finite(control)
	t := Test{ExperimentN: len(x), ControlN: len(y), ExperimentDropped: droppedX, ControlDropped: droppedY}
	if len(x) == 0 || len(y) == 0 {
		return t, fmt.Errorf("%w: the experiment group has %d and control %d (NaN values dropped: %d and %d)",
			ErrEmptyGroup, len(x), len(y), droppedX, droppedY)
	}
	if !higherIsWorse {
		// Ranking the negated values makes "lower is worse" the same test.
		x, y = negated(x), negated(y)
	}

	ranks, tieTerm := pooledRanks(x, y)
	n1, n2 := float64(len(x)), float64(len(y))
	var rankSum float64
	for _, r := range ranks[:len(x)] {
		rankSum += r
	}
	t.U = rankSum - n1*(n1+1)/2
	t.EffectSize = t.U / (n1 * n2)

	if tieTerm == 0 && len(x)*len(y) <= maxExactPairs {
		t.PValue, t.Exact = exactUpperTail(len(x), len(y), t.U), true
		return t, nil
	}
	t.PValue = normalUpperTail(n1, n2, t.U, tieTerm)
	return t, nil
}

// finite returns the values that are not NaN, and how many were.
func finite(values []float64) ([]float64, int) {
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out, len(values) - len(out)
}

func negated(values []float64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = -v
	}
	return out
}

// pooledRanks ranks x and y together, ascending, tied values sharing the
// mean of their ranks (midranks). It returns the ranks in the order x then
// y, and the tie term Σ(t³ - t) over the groups of t tied values.
func pooledRanks(x, y []float64) ([]float64, float64) {
	n := len(x) + len(y)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	value := func(i int) float64 {
		if i < len(x) {
			return x[i]
		}
		return y[i-len(x)]
	}
	slices.SortFunc(order, func(a, b int) int {
		switch va, vb := value(a), value(b); {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	})
	ranks := make([]float64, n)
	var tieTerm float64
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && value(order[hi]) == value(order[lo]) {
			hi++
		}
		// Positions lo..hi-1 hold ranks lo+1..hi; their mean is (lo+1+hi)/2.
		mid := float64(lo+1+hi) / 2
		for _, i := range order[lo:hi] {
			ranks[i] = mid
		}
		if t := float64(hi - lo); t > 1 {
			tieTerm += t*t*t - t
		}
		lo = hi
	}
	return ranks, tieTerm
}

// exactUpperTail is P(U >= u) when U is the statistic of a group of n1
// among n1+n2 distinct values, every assignment of ranks equally likely.
//
// It counts the assignments by U with the usual recurrence over the largest
// value: it belongs to the first group, and beats all j of the second
// (count(i-1, j, u-j)), or to the second, and beats none of the first
// (count(i, j-1, u)). Counts are kept as float64: they only ever add, so
// the relative rounding stays near 1e-16 even where they pass 2^53.
func exactUpperTail(n1, n2 int, u float64) float64 {
	// prev[j] and cur[j] are the counts for i-1 and i values of the first
	// group against j of the second, indexed by U.
	prev := make([][]float64, n2+1)
	for j := range prev {
		prev[j] = []float64{1} // no value of the first group: U is 0
	}
	for i := 1; i <= n1; i++ {
		cur := make([][]float64, n2+1)
		cur[0] = []float64{1} // nothing to beat: U is 0
		for j := 1; j <= n2; j++ {
			counts := make([]float64, i*j+1)
			for k, c := range prev[j] {
				counts[k+j] += c
			}
			for k, c := range cur[j-1] {
				counts[k] += c
			}
			cur[j] = counts
		}
		prev = cur
	}
	counts := prev[n2]
	var total, tail float64
	for k, c := range counts {
		total += c
		if float64(k) >= u-1e-9 {
			tail += c
		}
	}
	return tail / total
}

// normalUpperTail is P(U >= u) by the normal approximation: mean n1*n2/2,
// variance n1*n2/12 * ((n+1) - Σ(t³-t)/(n(n-1))), and half a unit of
// continuity correction towards the mean. All values tied leaves U no
// variance and nothing to tell apart: the p-value is 1.
func normalUpperTail(n1, n2, u, tieTerm float64) float64 {
	n := n1 + n2
	variance := n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1)))
	if variance <= 0 {
		return 1
	}
	z := (u - n1*n2/2 - 0.5) / math.Sqrt(variance)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
