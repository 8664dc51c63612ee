package compare

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// bruteForce counts, over every way of choosing which n1 of the pooled
// values form the experiment group, the share whose U is at least the
// observed one: the exact permutation p-value, by enumeration rather than by
// the recurrence the package uses. U is counted pair by pair.
func bruteForce(x, y []float64, higherIsWorse bool) (u, p float64) {
	pairU := func(a, b []float64) float64 {
		var u float64
		for _, v := range a {
			for _, w := range b {
				switch {
				case v == w:
					u += 0.5
				case (v > w) == higherIsWorse:
					u++
				}
			}
		}
		return u
	}
	u = pairU(x, y)
	pooled := append(append([]float64{}, x...), y...)
	n := len(pooled)
	var total, atLeast float64
	for mask := 0; mask < 1<<n; mask++ {
		var a, b []float64
		for i, v := range pooled {
			if mask&(1<<i) != 0 {
				a = append(a, v)
			} else {
				b = append(b, v)
			}
		}
		if len(a) != len(x) {
			continue
		}
		total++
		if pairU(a, b) >= u-1e-9 {
			atLeast++
		}
	}
	return u, atLeast / total
}

func TestMannWhitneyExactMatchesEnumeration(t *testing.T) {
	tests := map[string]struct {
		experiment, control []float64
		higherIsWorse       bool
	}{
		"error ratios, experiment clearly higher": {
			experiment: []float64{0.031, 0.044, 0.029, 0.052, 0.047, 0.038},
			control:    []float64{0.011, 0.009, 0.014, 0.012, 0.016, 0.010, 0.013},
		},
		"success ratios, experiment clearly lower": {
			experiment: []float64{0.951, 0.962, 0.948, 0.955, 0.967},
			control:    []float64{0.991, 0.995, 0.989, 0.993, 0.997, 0.990},
		},
		"success ratios, experiment higher: not worse": {
			experiment:    []float64{0.991, 0.995, 0.989, 0.993, 0.997, 0.990},
			control:       []float64{0.951, 0.962, 0.948, 0.955, 0.967},
			higherIsWorse: false,
		},
		"interleaved latencies": {
			experiment:    []float64{120, 180, 95, 210, 150, 133, 170},
			control:       []float64{110, 160, 140, 100, 190, 125, 115},
			higherIsWorse: true,
		},
		"one experiment sample": {
			experiment:    []float64{7},
			control:       []float64{1, 2, 3, 4, 5, 6, 8, 9},
			higherIsWorse: true,
		},
		"groups of different sizes": {
			experiment:    []float64{3.5, 1.2, 8.8},
			control:       []float64{2.1, 4.4, 0.3, 5.9, 7.7, 6.6, 9.1, 1.9, 3.3, 2.8},
			higherIsWorse: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := MannWhitney(tc.experiment, tc.control, tc.higherIsWorse)
			if err != nil {
				t.Fatal(err)
			}
			wantU, wantP := bruteForce(tc.experiment, tc.control, tc.higherIsWorse)
			if !got.Exact {
				t.Errorf("small groups without ties should get the exact p-value")
			}
			if got.U != wantU {
				t.Errorf("U = %v, want %v", got.U, wantU)
			}
			if math.Abs(got.PValue-wantP) > 1e-12 {
				t.Errorf("p = %v, want %v by enumeration", got.PValue, wantP)
			}
			pairs := float64(len(tc.experiment) * len(tc.control))
			if math.Abs(got.EffectSize-wantU/pairs) > 1e-12 {
				t.Errorf("effect size = %v, want %v", got.EffectSize, wantU/pairs)
			}
		})
	}
}

func TestMannWhitneyExactAgreesWithNormalOnLargerGroups(t *testing.T) {
	// At 25 x 40 the exact distribution is still counted; the normal
	// approximation with continuity correction must be close to it, or one
	// of the two is wrong.
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 25)
	y := make([]float64, 40)
	for i := range x {
		x[i] = rng.NormFloat64() + 0.4
	}
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	got, err := MannWhitney(x, y, true)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Exact {
		t.Fatalf("25 x 40 without ties should be exact")
	}
	approx := normalUpperTail(25, 40, got.U, 0)
	if math.Abs(got.PValue-approx) > 0.003 {
		t.Errorf("exact p %v and normal approximation %v disagree", got.PValue, approx)
	}
	// One more experiment sample takes the pairs past the bound: the
	// normal approximation answers, and close to the exact p-value.
	wider, err := MannWhitney(append(x, 0.4), y, true)
	if err != nil {
		t.Fatal(err)
	}
	if wider.Exact || len(x)*len(y) > maxExactPairs || (len(x)+1)*len(y) <= maxExactPairs {
		t.Errorf("26 x 40 should take the normal approximation (exact %v)", wider.Exact)
	}
	if math.Abs(wider.PValue-got.PValue) > 0.05 {
		t.Errorf("one sample more moved p from %v to %v", got.PValue, wider.PValue)
	}
}

func TestMannWhitneyPublishedExampleWithTies(t *testing.T) {
	// ClickHouse's mannWhitneyUTest test (tests/queries/0_stateless/
	// 01560_mann_whitney) publishes, for these two groups of 20 with ties,
	// U = 223 and the two-sided p-value 0.5426959774289482 that
	// scipy.stats.mannwhitneyu gives with the tie and continuity
	// corrections. The one-sided p-value in the direction of the observed
	// U is half of it.
	left := []float64{310, 195, 530, 155, 530, 245, 385, 450, 465, 545, 170, 180, 125, 180, 230, 75, 430, 480, 495, 295}
	right := []float64{116, 171, 176, 421, 111, 326, 481, 111, 346, 441, 261, 411, 206, 521, 456, 446, 296, 51, 426, 261}
	got, err := MannWhitney(left, right, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Exact {
		t.Errorf("groups with ties must use the normal approximation")
	}
	if got.U != 223 {
		t.Errorf("U = %v, want 223", got.U)
	}
	if want := 0.5426959774289482 / 2; math.Abs(got.PValue-want) > 1e-12 {
		t.Errorf("p = %.16f, want %.16f", got.PValue, want)
	}
	// The other direction: U counts the other side of each pair.
	other, err := MannWhitney(left, right, false)
	if err != nil {
		t.Fatal(err)
	}
	if other.U != 400-223 || other.PValue <= 0.5 {
		t.Errorf("lower is worse: U = %v, p = %v; want U 177 and p above 0.5", other.U, other.PValue)
	}
}

func TestMannWhitneyTiesAndEdges(t *testing.T) {
	tests := map[string]struct {
		experiment, control []float64
		higherIsWorse       bool
		wantU, wantEffect   float64
		wantP               func(p float64) bool
		wantDropped         [2]int
	}{
		"all values equal: no evidence, no division by zero": {
			experiment: []float64{0, 0, 0, 0}, control: []float64{0, 0, 0},
			higherIsWorse: true, wantU: 6, wantEffect: 0.5,
			wantP: func(p float64) bool { return p == 1 },
		},
		"ties across groups count one half": {
			experiment: []float64{1, 2, 2, 3}, control: []float64{2, 2, 1},
			higherIsWorse: true, wantU: 7.5, wantEffect: 7.5 / 12,
			wantP: func(p float64) bool { return p > 0.3 && p < 0.7 },
		},
		"NaN values are dropped and counted": {
			experiment: []float64{5, math.NaN(), 6, 7}, control: []float64{1, 2, math.NaN(), math.NaN(), 3},
			higherIsWorse: true, wantU: 9, wantEffect: 1, wantDropped: [2]int{1, 2},
			wantP: func(p float64) bool { return math.Abs(p-1.0/20) < 1e-12 }, // 1 of C(6,3) assignments
		},
		"infinities rank at the ends": {
			experiment: []float64{math.Inf(1), 10}, control: []float64{math.Inf(-1), 1},
			higherIsWorse: true, wantU: 4, wantEffect: 1,
			wantP: func(p float64) bool { return math.Abs(p-1.0/6) < 1e-12 },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := MannWhitney(tc.experiment, tc.control, tc.higherIsWorse)
			if err != nil {
				t.Fatal(err)
			}
			if got.U != tc.wantU || math.Abs(got.EffectSize-tc.wantEffect) > 1e-12 {
				t.Errorf("U = %v, effect %v; want %v, %v", got.U, got.EffectSize, tc.wantU, tc.wantEffect)
			}
			if !tc.wantP(got.PValue) || math.IsNaN(got.PValue) {
				t.Errorf("p = %v out of the expected range", got.PValue)
			}
			if got.ExperimentDropped != tc.wantDropped[0] || got.ControlDropped != tc.wantDropped[1] {
				t.Errorf("dropped %d and %d, want %v", got.ExperimentDropped, got.ControlDropped, tc.wantDropped)
			}
		})
	}
}

func TestMannWhitneyEmptyGroup(t *testing.T) {
	_, err := MannWhitney([]float64{math.NaN()}, []float64{1, 2}, true)
	if !errors.Is(err, ErrEmptyGroup) {
		t.Fatalf("err = %v, want ErrEmptyGroup", err)
	}
}

// series makes n values around centre with a deterministic spread, so the
// medians are known and the groups do not tie.
func series(n int, centre, spread float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]float64, n)
	for i := range out {
		out[i] = centre + spread*(rng.Float64()-0.5)
	}
	return out
}

func TestJudge(t *testing.T) {
	tests := map[string]struct {
		experiment, control []float64
		cfg                 Config
		want                Outcome
		wantInMessage       []string
		wantRelative        string
	}{
		"success ratio 3% lower, 2% tolerance: harm": {
			experiment:    series(30, 0.965, 0.01, 1),
			control:       series(30, 0.995, 0.004, 2),
			cfg:           Config{HigherIsWorse: false, Tolerance: 0.02},
			want:          Harm,
			wantInMessage: []string{"worse than control's", "harm beyond the 2% tolerance", "Mann-Whitney U="},
		},
		"success ratio 1% lower, 2% tolerance: significant but within": {
			experiment:    series(30, 0.985, 0.004, 3),
			control:       series(30, 0.995, 0.004, 4),
			cfg:           Config{HigherIsWorse: false, Tolerance: 0.02},
			want:          NoHarm,
			wantInMessage: []string{"within the 2% tolerance"},
		},
		"same distribution: not significant": {
			experiment:    series(40, 0.2, 0.1, 5),
			control:       series(40, 0.2, 0.1, 6),
			cfg:           Config{HigherIsWorse: true},
			want:          NoHarm,
			wantInMessage: []string{"not significant at alpha 0.05"},
		},
		"experiment better: no harm whatever the tolerance": {
			experiment:    series(20, 0.001, 0.0005, 7),
			control:       series(20, 0.02, 0.005, 8),
			cfg:           Config{HigherIsWorse: true},
			want:          NoHarm,
			wantInMessage: []string{"better than control's"},
		},
		"too few experiment samples: insufficient": {
			experiment:    series(4, 0.5, 0.1, 9),
			control:       series(40, 0.1, 0.1, 10),
			cfg:           Config{HigherIsWorse: true, MinSamples: 10},
			want:          Insufficient,
			wantInMessage: []string{"the faulted slice has 4 and control 40", "at least 10"},
		},
		"NaN values do not count towards the minimum": {
			experiment:    append(series(8, 0.5, 0.1, 11), math.NaN(), math.NaN(), math.NaN()),
			control:       series(12, 0.1, 0.1, 12),
			cfg:           Config{HigherIsWorse: true, MinSamples: 10},
			want:          Insufficient,
			wantInMessage: []string{"has 8", "3 NaN values dropped"},
		},
		"all values equal: no harm, no division by zero": {
			experiment:    []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			control:       []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			cfg:           Config{HigherIsWorse: true},
			want:          NoHarm,
			wantInMessage: []string{"equal to control's 0", "p=1"},
			wantRelative:  "+0.0%",
		},
		"control error ratio 0: any significant worsening is harm": {
			experiment:    series(15, 0.01, 0.004, 13),
			control:       []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.001},
			cfg:           Config{HigherIsWorse: true, Tolerance: 0.5},
			want:          Harm,
			wantInMessage: []string{"no relative difference from a median of 0"},
			wantRelative:  "+Inf%",
		},
		"sparse errors in both: medians 0, no harm however the ranks lean": {
			experiment: []float64{0, 0, 0, 0, 0, 0, 0.01, 0.02, 0.03, 0.02, 0.01},
			control:    []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			cfg:        Config{HigherIsWorse: true, Alpha: 0.05},
			want:       NoHarm,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Judge(tc.experiment, tc.control, tc.cfg)
			if got.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s: %s", got.Outcome, tc.want, got.Message)
			}
			for _, w := range tc.wantInMessage {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message %q lacks %q", got.Message, w)
				}
			}
			if tc.wantRelative != "" && got.RelativeText() != tc.wantRelative {
				t.Errorf("relative %q, want %q", got.RelativeText(), tc.wantRelative)
			}
			if got.Outcome == Insufficient {
				return
			}
			// Harm is exactly significance together with a median worse than
			// the tolerance, recomputed here from the medians.
			e, c := median(tc.experiment), median(tc.control)
			if math.IsNaN(e) {
				t.Fatal("median of a group without NaN is NaN")
			}
			worse := (e - c) / math.Abs(c)
			if !tc.cfg.HigherIsWorse {
				worse = -worse
			}
			alpha := tc.cfg.Alpha
			if alpha == 0 {
				alpha = DefaultAlpha
			}
			wantHarm := got.Test.PValue < alpha && (worse > tc.cfg.Tolerance || (c == 0 && e != c && (e > c) == tc.cfg.HigherIsWorse))
			if (got.Outcome == Harm) != wantHarm {
				t.Errorf("outcome %s with p %v and relative difference %v (tolerance %v)", got.Outcome, got.Test.PValue, worse, tc.cfg.Tolerance)
			}
		})
	}
}

func TestJudgeMessageReadsAsTheFigures(t *testing.T) {
	x := []float64{0.95, 0.96, 0.97, 0.955, 0.965, 0.968, 0.958, 0.962, 0.971, 0.952}
	y := []float64{0.995, 0.993, 0.996, 0.994, 0.997, 0.992, 0.9955, 0.9965, 0.998, 0.991}
	got := Judge(x, y, Config{HigherIsWorse: false, Tolerance: 0.02})
	// Every experiment value is below every control value: U is all 100
	// pairs, and exactly one of the C(20,10) rank assignments is that
	// extreme. The medians are the means of the middle two values.
	p := 1 / binomial(20, 10)
	e, c := (0.96+0.962)/2, (0.995+0.9955)/2
	want := fmt.Sprintf("the faulted slice's median %.4g was %.1f%% worse than control's %.4g (Mann-Whitney U=100, p=%.2g, P(worse)=1.00): harm beyond the 2%% tolerance",
		e, (c-e)/c*100, c, p)
	if got.Message != want {
		t.Errorf("message\n got %s\nwant %s", got.Message, want)
	}
}

func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median of nothing should be NaN")
	}
}

func BenchmarkJudge512(b *testing.B) {
	x := series(512, 0.97, 0.02, 21)
	y := series(512, 0.99, 0.02, 22)
	cfg := Config{HigherIsWorse: false, Tolerance: 0.01}
	for b.Loop() {
		Judge(x, y, cfg)
	}
}
