//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
	"github.com/faultline-dev/faultline/experiments/report"
)

// The judgement: does comparing the faulted slice of traffic with the rest
// tell a small real harm from noise where a fixed threshold cannot? Each
// round runs two Experiments at once, one on reviews and one on ratings
// (the testbed's noisy services: 300 requests a second, 0.5% of them failed
// by the upstream, 20% carrying the canary header), and swaps them the next
// round so neither service's luck decides a kind:
//
//   - HARMFUL aborts 3% of the canary slice with a 503: the slice fails
//     about 3.5% of its requests instead of 0.5%, the service as a whole
//     about 1.1%.
//   - NO-OP delays the canary slice by 1ms, which no success ratio sees.
//
// Each Experiment judges the same probe two ways: its fixed threshold (the
// steady state deviated: status.timeline.deviatedAt) and its comparison of
// the canary slice with the rest (status.comparison.outcome Harm). The test
// prints every run and the false positives and negatives of each method; it
// holds the comparison to bounds derived below, and only reports the fixed
// threshold's.
//
//	FAULTLINE_JUDGEMENT_RUNS  runs of each kind (default 2; make judgement runs 20)

const (
	// judgementInterval is the sampling interval, and so the window each
	// comparison sample covers.
	judgementInterval = 2 * time.Second
	// judgementDuration holds the fault for about 20 samples a group, twice
	// the comparison's default minSamples.
	judgementDuration = 40 * time.Second
	// judgementWindow is the fixed-threshold probe's window.
	judgementWindow = "10s"
	// judgementThreshold is the success ratio the fixed-threshold probe
	// holds: what a team writes to stay clear of the noise. The services
	// answer 99.5% at rest and a 10s window at 300 requests a second varies
	// by about ±0.15%, so 99% would page on a bad minute now and then; 98%
	// never does, and so misses HARMFUL's 1.1% too.
	judgementThreshold = "0.98"
	// harmfulAbortPercent is HARMFUL's share of the canary slice aborted.
	harmfulAbortPercent = 3
	// canaryHeader is the header trafficsim sends on 20% of requests
	// (sim.CanaryHeader), which its canary label reports.
	canaryHeader = "x-faultline-canary"
)

// judgedServices are the services the judgement runs on, one Experiment
// each per round.
var judgedServices = [2]string{"reviews", "ratings"}

// judgementKind is what a run's fault does to the canary slice.
type judgementKind string

const (
	kindHarmful judgementKind = "HARMFUL"
	kindNoOp    judgementKind = "NO-OP"
)

// The comparison's bounds. A bound must hold on every run of the suite, so
// each is the strictest count that a method performing as assumed still
// meets with probability at least 1 - judgementFlakeBudget:
//
//   - false positives: on NO-OP the two slices differ by nothing, and the
//     one-sided test at alpha 0.05 flags at most 5% of such runs. (Fewer,
//     here: the canary slice's samples count a quarter of the requests, so
//     they are more often a perfect 1.0 than control's and rank better.)
//   - catches: a sample of the canary slice counts about 60 requests (the
//     requests between the two scrapes of its 2s window), so with 3.5% of
//     them failing a sample without a failed request has a chance of 12%,
//     against 74% at rest, and the two groups' 20 samples each are as good
//     as never ranked alike. 0.9 leaves room for samples lost to scrape
//     timing.
//
// With the default 2 runs a kind this requires at least 1 catch and at most
// 1 false positive; with 20, at least 14 catches and at most 4 false
// positives.
const (
	judgementAlpha        = 0.05
	judgementAssumedPower = 0.9
	judgementFlakeBudget  = 0.01
)

// judgementRun is what one run found.
type judgementRun struct {
	round   int
	kind    judgementKind
	service string
	name    string
	verdict chaosv1alpha1.Verdict
	reason  string
	// fixedFlagged: the fixed threshold saw the steady state deviate.
	fixedFlagged bool
	// comparison is the run's status.comparison; nil if it has none.
	comparison *chaosv1alpha1.ComparisonStatus
	// run is the run as it ended.
	run *chaosv1alpha1.ExperimentRun
	// lowestDuring and lowestBefore are the lowest values of the
	// fixed-threshold probe's query at the sampling interval, from
	// injection to the run's end and during its baseline: what a probe
	// with a stricter threshold would have seen (NaN when unknown).
	lowestDuring, lowestBefore float64
}

// stricterThresholds are fixed thresholds the judgement also reports, from
// the same runs, by what the probe's own query answered at each sampling
// instant: would a team that set them have been told of harm, or been
// unable to start (a broken baseline)?
var stricterThresholds = []float64{0.99, 0.985}

// lowestRatio is the lowest value of service's success ratio over
// judgementWindow, evaluated every judgementInterval from from to to.
func lowestRatio(ctx context.Context, service string, from, to time.Time) float64 {
	v, _, _, err := tb.Prom.QueryRange(ctx, harness.SuccessRatioQuery(service, judgementWindow), promv1.Range{Start: from, End: to, Step: judgementInterval}, promv1.WithTimeout(10*time.Second))
	m, ok := v.(model.Matrix)
	if err != nil || !ok || len(m) != 1 {
		return math.NaN()
	}
	lowest := math.Inf(1)
	for _, p := range m[0].Values {
		lowest = math.Min(lowest, float64(p.Value))
	}
	return lowest
}

func (r judgementRun) comparisonFlagged() bool {
	return r.comparison != nil && r.comparison.Outcome == chaosv1alpha1.ComparisonHarm
}

// judgementExperiment is an Experiment of the given kind on service: a
// fixed-threshold probe on its success ratio, and the comparison of the
// canary slice with the rest on that probe.
func judgementExperiment(name, service string, kind judgementKind) *chaosv1alpha1.Experiment {
	fault := chaosv1alpha1.IstioFault{
		Routes: []string{"primary"},
		Match:  &chaosv1alpha1.IstioMatch{Headers: map[string]string{canaryHeader: "true"}},
	}
	switch kind {
	case kindHarmful:
		fault.Abort = &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: harmfulAbortPercent}
	case kindNoOp:
		fault.Delay = &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: time.Millisecond}, Percent: 100}
	}
	return &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: harness.ShopNamespace},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind: chaosv1alpha1.TargetVirtualService, Names: []string{service},
				Mode: chaosv1alpha1.SelectAll, MaxTargets: ptr.To[int32](1),
			},
			Fault:    chaosv1alpha1.FaultSpec{Istio: &fault},
			Duration: &metav1.Duration{Duration: judgementDuration},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
				Address: "http://" + tb.PrometheusAddr, Timeout: &metav1.Duration{Duration: 2 * time.Second},
			}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{
				Interval:        metav1.Duration{Duration: judgementInterval},
				Baseline:        metav1.Duration{Duration: 4 * time.Second},
				Stabilization:   2,
				RecoveryTimeout: metav1.Duration{Duration: time.Minute},
				Probes: []chaosv1alpha1.Probe{{
					Name:       "success",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: harness.SuccessRatioQuery(service, judgementWindow)},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: judgementThreshold},
				}},
			},
			Comparison: &chaosv1alpha1.ComparisonSpec{
				Probe:      "success",
				Experiment: map[string]string{"canary": "true"},
				Control:    map[string]string{"canary": "false"},
				Alpha:      fmt.Sprint(judgementAlpha),
			},
		},
	}
}

// TestJudgementComparisonAgainstFixedThreshold runs HARMFUL and NO-OP side
// by side, FAULTLINE_JUDGEMENT_RUNS times each, and counts what each method
// flagged.
func TestJudgementComparisonAgainstFixedThreshold(t *testing.T) {
	runs := harness.EnvInt(t, "FAULTLINE_JUDGEMENT_RUNS", 2)
	if runs < 1 {
		t.Fatalf("FAULTLINE_JUDGEMENT_RUNS=%d: want at least 1", runs)
	}
	tb.RelaxPolicyForBench(t, 2)
	exps := map[string]map[judgementKind]*chaosv1alpha1.Experiment{}
	for _, svc := range judgedServices {
		exps[svc] = map[judgementKind]*chaosv1alpha1.Experiment{}
		for kind, suffix := range map[judgementKind]string{kindHarmful: "harmful", kindNoOp: "noop"} {
			exp := judgementExperiment("judgement-"+svc+"-"+suffix, svc, kind)
			tb.Create(t, exp)
			exps[svc][kind] = exp
		}
	}

	var results []judgementRun
	for round := range runs {
		tb.RequireSteadyState(t)
		// HARMFUL on reviews in even rounds, on ratings in odd ones.
		harmfulOn := judgedServices[round%2]
		pair := make([]judgementRun, len(judgedServices))
		errs := make([]error, len(judgedServices))
		var wg sync.WaitGroup
		for i, svc := range judgedServices {
			kind := kindNoOp
			if svc == harmfulOn {
				kind = kindHarmful
			}
			run := tb.StartRun(t, exps[svc][kind])
			pair[i] = judgementRun{round: round + 1, kind: kind, service: svc, name: run.Name}
			wg.Go(func() {
				got, err := waitRunDone(run, 3*time.Minute)
				if err != nil {
					errs[i] = err
					return
				}
				pair[i].verdict = got.Status.Verdict
				pair[i].run = got
				pair[i].lowestDuring, pair[i].lowestBefore = math.NaN(), math.NaN()
				if tl := got.Status.Timeline; tl.InjectedAt != nil && tl.FinishedAt != nil && tl.StartedAt != nil {
					pair[i].lowestDuring = lowestRatio(context.Background(), svc, tl.InjectedAt.Time, tl.FinishedAt.Time)
					pair[i].lowestBefore = lowestRatio(context.Background(), svc, tl.StartedAt.Time, tl.InjectedAt.Time)
				}
				pair[i].fixedFlagged = got.Status.Timeline.DeviatedAt != nil
				pair[i].comparison = got.Status.Comparison
				if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionCompleted); c != nil {
					pair[i].reason = c.Reason
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, %s on %s: %v", round+1, pair[i].kind, pair[i].service, err)
			}
		}
		for _, r := range pair {
			checkJudgementRun(t, r)
		}
		results = append(results, pair...)
	}
	reportJudgement(t, results, runs)
	writeJudgementReport(t, results)
}

// writeJudgementReport writes the HTML report of the first HARMFUL run to
// the file FAULTLINE_JUDGEMENT_HTML names, when set: a real run's page, as
// the README shows it.
func writeJudgementReport(t *testing.T, results []judgementRun) {
	path := os.Getenv("FAULTLINE_JUDGEMENT_HTML")
	if path == "" {
		return
	}
	for _, r := range results {
		if r.kind != kindHarmful || r.run == nil {
			continue
		}
		var buf bytes.Buffer
		if err := report.HTML(&buf, r.run); err != nil {
			t.Errorf("rendering the report of %s: %v", r.name, err)
			return
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
			return
		}
		t.Logf("wrote the HTML report of %s to %s", r.name, path)
		return
	}
}

// waitRunDone is WaitRunCompleted for a goroutine other than the test's:
// it returns the error instead of failing the test.
func waitRunDone(run *chaosv1alpha1.ExperimentRun, timeout time.Duration) (*chaosv1alpha1.ExperimentRun, error) {
	got := &chaosv1alpha1.ExperimentRun{}
	err := harness.Poll(context.Background(), timeout, func(ctx context.Context) (bool, error) {
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		if got.Status.Phase != chaosv1alpha1.PhaseCompleted {
			return false, fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for run %s to complete: %w", run.Name, err)
	}
	return got, nil
}

// checkJudgementRun fails the test when a run's comparison did not judge
// (a 40s fault must give every group its samples) or when its verdict does
// not follow from what the comparison found.
func checkJudgementRun(t *testing.T, r judgementRun) {
	t.Helper()
	c := r.comparison
	switch {
	case c == nil:
		t.Errorf("run %s (%s on %s) has no status.comparison", r.name, r.kind, r.service)
	case c.Outcome == chaosv1alpha1.ComparisonInsufficient || c.Outcome == "":
		t.Errorf("run %s (%s on %s): comparison outcome %q after a %s fault sampled every %s: %s (experiment %d values, %d errors; control %d values, %d errors)",
			r.name, r.kind, r.service, c.Outcome, judgementDuration, judgementInterval, c.Message,
			len(c.Experiment.Values), c.Experiment.Errors, len(c.Control.Values), c.Control.Errors)
	case c.Outcome == chaosv1alpha1.ComparisonHarm && (r.verdict != chaosv1alpha1.VerdictFailed || r.reason != chaosv1alpha1.ReasonHarmFound):
		t.Errorf("run %s: the comparison found harm but the run ended %s (%s), want Failed (%s)", r.name, r.verdict, r.reason, chaosv1alpha1.ReasonHarmFound)
	}
}

// reportJudgement prints every run and the counts of each method, and
// holds the comparison to its bounds.
func reportJudgement(t *testing.T, results []judgementRun, runs int) {
	t.Helper()
	t.Logf("%-5s %-7s %-7s %-24s %-12s %-5s %-10s %-10s %-10s %-10s %-9s %s",
		"round", "kind", "service", "run", "verdict", "fixed", "comparison", "p-value", "exp median", "ctl median", "rel diff", "samples exp/ctl")
	type counts struct{ fixed, comparison int }
	flagged := map[judgementKind]*counts{kindHarmful: {}, kindNoOp: {}}
	for _, r := range results {
		c := r.comparison
		if c == nil {
			c = &chaosv1alpha1.ComparisonStatus{}
		}
		t.Logf("%-5d %-7s %-7s %-24s %-12s %-5v %-10s %-10s %-10s %-10s %-9s %d/%d  lowest %.4f during, %.4f before",
			r.round, r.kind, r.service, r.name, r.verdict, r.fixedFlagged, orDash(string(c.Outcome)), orDash(c.PValue),
			orDash(c.Experiment.Median), orDash(c.Control.Median), orDash(c.RelativeDifference), len(c.Experiment.Values), len(c.Control.Values),
			r.lowestDuring, r.lowestBefore)
		if r.fixedFlagged {
			flagged[r.kind].fixed++
		}
		if r.comparisonFlagged() {
			flagged[r.kind].comparison++
		}
	}
	h, n := flagged[kindHarmful], flagged[kindNoOp]
	t.Logf("%-16s %-22s %-22s", "method", "false negatives", "false positives")
	t.Logf("%-16s %-22s %-22s", "fixed threshold", fmt.Sprintf("%d of %d HARMFUL", runs-h.fixed, runs), fmt.Sprintf("%d of %d NO-OP", n.fixed, runs))
	t.Logf("%-16s %-22s %-22s", "comparison", fmt.Sprintf("%d of %d HARMFUL", runs-h.comparison, runs), fmt.Sprintf("%d of %d NO-OP", n.comparison, runs))
	// Stricter thresholds, from the probe's query at every sampling
	// instant of the same runs: flagged when a value during or after the
	// fault fell below; a broken baseline when one before it did, which
	// would have ended the run Inconclusive before any fault.
	for _, th := range stricterThresholds {
		var missed, falseAlarms, broken, unknown int
		for _, r := range results {
			if math.IsNaN(r.lowestDuring) || math.IsNaN(r.lowestBefore) {
				unknown++
				continue
			}
			if r.lowestBefore < th {
				broken++
			}
			flagged := r.lowestDuring < th
			if r.kind == kindHarmful && !flagged {
				missed++
			}
			if r.kind == kindNoOp && flagged {
				falseAlarms++
			}
		}
		t.Logf("%-16s %-22s %-22s %d of %d baselines below it (%d runs not measured)", fmt.Sprintf("fixed >= %g", th),
			fmt.Sprintf("%d of %d HARMFUL", missed, runs), fmt.Sprintf("%d of %d NO-OP", falseAlarms, runs), broken, len(results), unknown)
	}
	fmt.Printf("e2e figure: judgement over %d runs a kind: fixed threshold (>= %s) %d false negatives, %d false positives; comparison %d false negatives, %d false positives\n",
		runs, judgementThreshold, runs-h.fixed, n.fixed, runs-h.comparison, n.comparison)

	minCaught := minSuccesses(runs, judgementAssumedPower, judgementFlakeBudget)
	maxFalse := maxSuccesses(runs, judgementAlpha, judgementFlakeBudget)
	if h.comparison < minCaught {
		t.Errorf("the comparison caught %d of %d HARMFUL runs; a method with power %.2f catches at least %d with probability %.0f%%",
			h.comparison, runs, judgementAssumedPower, minCaught, 100*(1-judgementFlakeBudget))
	}
	if n.comparison > maxFalse {
		t.Errorf("the comparison flagged %d of %d NO-OP runs; a test at alpha %.2f flags at most %d with probability %.0f%%",
			n.comparison, runs, judgementAlpha, maxFalse, 100*(1-judgementFlakeBudget))
	}
}

// TestComparisonWithTooFewSamplesIsInconclusive holds a harmless fault for
// far fewer samples than the comparison's minSamples: the run must end
// Inconclusive rather than judge.
func TestComparisonWithTooFewSamplesIsInconclusive(t *testing.T) {
	tb.RequireSteadyState(t)
	exp := judgementExperiment("judgement-too-few", judgedServices[0], kindNoOp)
	exp.Spec.Duration = &metav1.Duration{Duration: 4 * judgementInterval}
	const minSamples = 50
	exp.Spec.Comparison.MinSamples = minSamples
	run := tb.RunExperiment(t, exp, 2*time.Minute)
	t.Logf("report: %s", run.Status.Message)

	c := run.Status.Comparison
	if c == nil {
		t.Fatal("no status.comparison")
	}
	t.Logf("comparison: %s; experiment %d values, control %d values", c.Message, len(c.Experiment.Values), len(c.Control.Values))
	if len(c.Experiment.Values)+len(c.Control.Values) == 0 {
		t.Error("no comparison values were sampled while the fault was held; the run proves nothing about minSamples")
	}
	if c.Outcome != chaosv1alpha1.ComparisonInsufficient {
		t.Errorf("comparison outcome %q, want %s", c.Outcome, chaosv1alpha1.ComparisonInsufficient)
	}
	cond := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive || cond == nil || cond.Reason != chaosv1alpha1.ReasonTooFewSamples {
		t.Errorf("verdict %s (condition %+v), want Inconclusive with reason %s", run.Status.Verdict, cond, chaosv1alpha1.ReasonTooFewSamples)
	}
	if c.PValue != "" {
		t.Errorf("p-value %s recorded for a comparison that must not judge", c.PValue)
	}
}

// minSuccesses is the largest k such that Binomial(n, p) falls below k
// with probability at most budget.
func minSuccesses(n int, p, budget float64) int {
	k := 0
	for k < n && binomialCDF(k, n, p) <= budget*(1+1e-9) {
		k++
	}
	return k
}

// maxSuccesses is the smallest m such that Binomial(n, p) exceeds m with
// probability at most budget.
func maxSuccesses(n int, p, budget float64) int {
	m := 0
	for m < n && 1-binomialCDF(m, n, p) > budget*(1+1e-9) {
		m++
	}
	return m
}

// binomialCDF is P(X <= k) for X ~ Binomial(n, p).
func binomialCDF(k, n int, p float64) float64 {
	sum := 0.0
	for i := 0; i <= k && i <= n; i++ {
		lc := lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1)
		sum += math.Exp(lc + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return min(sum, 1)
}

func lgamma(n int) float64 {
	v, _ := math.Lgamma(float64(n))
	return v
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
