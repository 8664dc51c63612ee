package slo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// promtoolTest is the part of promtool's rule unit-test format these tests
// write: input series, and PromQL expressions with the samples they must
// return at a time.
type promtoolTest struct {
	EvaluationInterval string         `json:"evaluation_interval"`
	Tests              []promtoolCase `json:"tests"`
}

type promtoolCase struct {
	Name        string           `json:"name"`
	Interval    string           `json:"interval"`
	InputSeries []promtoolSeries `json:"input_series"`
	Exprs       []promtoolExpr   `json:"promql_expr_test"`
}

type promtoolSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type promtoolExpr struct {
	Expr       string           `json:"expr"`
	EvalTime   string           `json:"eval_time"`
	ExpSamples []promtoolSample `json:"exp_samples"`
}

type promtoolSample struct {
	Labels string  `json:"labels"`
	Value  float64 `json:"value"`
}

// TestQueriesOnPrometheus evaluates the derived queries with Prometheus's
// own engine (promtool's rule unit tests, bin/promtool from hack/tools.sh)
// on two hours of checkout traffic sampled every 15s: 99 good requests per
// sample, and 1 failing, except from 90m to 105m where 10 fail. Each
// expression is written to return 1 when the derived query behaves as
// documented, so a wrong query fails the test with promtool's report.
func TestQueriesOnPrometheus(t *testing.T) {
	promtool, err := filepath.Abs("../../bin/promtool")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(promtool); err != nil {
		t.Skipf("no %s (hack/tools.sh prometheus installs it): %v", promtool, err)
	}

	sloth, err := FromSloth(decodeSloth(t, slothObject), "requests-availability")
	if err != nil {
		t.Fatal(err)
	}
	pyrraFor := func(target string, ind PyrraIndicator) SLI {
		t.Helper()
		s, err := FromPyrra(&PyrraServiceLevelObjective{Spec: PyrraSpec{Target: target, Window: "30d", Indicator: ind}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	lenient := pyrraFor("50", PyrraIndicator{Ratio: &PyrraRatio{
		Errors: PyrraQuery{Metric: `http_request_duration_seconds_count{job="checkout",code=~"(5..|429)"}`},
		Total:  PyrraQuery{Metric: `http_request_duration_seconds_count{job="checkout"}`},
	}})
	latency := pyrraFor("99", PyrraIndicator{Latency: &PyrraLatency{
		Success: PyrraQuery{Metric: `http_request_duration_seconds_bucket{job="checkout",le="0.25"}`},
		Total:   PyrraQuery{Metric: `http_request_duration_seconds_count{job="checkout"}`},
	}})
	probe := pyrraFor("99", PyrraIndicator{BoolGauge: &PyrraQuery{Metric: `probe_success{job="checkout"}`}})
	batch := pyrraFor("99", PyrraIndicator{Ratio: &PyrraRatio{
		Errors: PyrraQuery{Metric: `batch_jobs_total{outcome="failed"}`},
		Total:  PyrraQuery{Metric: `batch_jobs_total`},
	}})
	openSLO, err := FromOpenSLO([]byte(`
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout
spec:
  service: checkout
  budgetingMethod: Occurrences
  timeWindow: [{duration: 30d, isRolling: true}]
  objectives: [{target: 0.999}]
  indicator:
    metadata: {name: checkout}
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource: {type: Prometheus, spec: {query: 'sum(http_request_duration_seconds_count{job="checkout",code="200"})'}}
        total:
          metricSource: {type: Prometheus, spec: {query: 'sum(http_request_duration_seconds_count{job="checkout"})'}}
`), "checkout")
	if err != nil {
		t.Fatal(err)
	}

	const (
		surgeEnd = "105m" // the last sample of the surge
		end      = "120m"
	)
	holds := func(expr, at string) promtoolExpr {
		return promtoolExpr{Expr: expr, EvalTime: at, ExpSamples: []promtoolSample{{Labels: "{}", Value: 1}}}
	}
	close := func(a, b string) string { return fmt.Sprintf("abs((%s) - (%s)) < bool 1e-9", a, b) }
	ratio := sloth.ErrorRatioQuery
	burn := func(w time.Duration) string { return fmt.Sprintf("(%s) / %s", ratio(w), sloth.Budget()) }

	file := promtoolTest{
		EvaluationInterval: "15s",
		Tests: []promtoolCase{{
			Name:     "derived SLO queries",
			Interval: "15s",
			InputSeries: []promtoolSeries{
				{Series: `http_request_duration_seconds_count{job="checkout",code="200"}`, Values: "0+99x480"},
				{Series: `http_request_duration_seconds_count{job="checkout",code="500"}`, Values: "0+1x360 370+10x59 970+1x60"},
				{Series: `http_request_duration_seconds_bucket{job="checkout",le="0.25"}`, Values: "0+90x480"},
				{Series: `probe_success{job="checkout"}`, Values: "1x419 0x19 1x40"},
				{Series: `batch_jobs_total{outcome="failed"}`, Values: "0+1x240"},
				{Series: `batch_jobs_total{outcome="done"}`, Values: "0+9x240"},
			},
			Exprs: []promtoolExpr{
				// Within the surge, every sample of 5m fails 10 in 109.
				holds(close(ratio(5*time.Minute), "10 / 109"), surgeEnd),
				// Burn rate: the long window's while the short one burns
				// faster, the short one's once it has calmed down.
				holds(fmt.Sprintf("(%s) < bool (%s)", burn(time.Hour), burn(5*time.Minute)), surgeEnd),
				holds(fmt.Sprintf("(%s) == bool (%s)", sloth.BurnRateQuery(time.Hour, 5*time.Minute), burn(time.Hour)), surgeEnd),
				holds(fmt.Sprintf("(%s) < bool (%s)", burn(5*time.Minute), burn(time.Hour)), end),
				holds(fmt.Sprintf("(%s) == bool (%s)", sloth.BurnRateQuery(time.Hour, 5*time.Minute), burn(5*time.Minute)), end),
				// Failing 1% or more all along spends a 0.1% budget, and
				// leaves most of a 50% one.
				holds(fmt.Sprintf("(%s) < bool 0", sloth.BudgetRemainingQuery()), end),
				holds(fmt.Sprintf("(%s) > bool 0.8", lenient.BudgetRemainingQuery()), end),
				holds(fmt.Sprintf("(%s) < bool 1", lenient.BudgetRemainingQuery()), end),
				// Pyrra's ratio and OpenSLO's good-over-total of aggregated
				// counters (a subquery) agree with Sloth's on the same traffic.
				holds(close(lenient.ErrorRatioQuery(5*time.Minute), ratio(5*time.Minute)), surgeEnd),
				holds(close(openSLO.ErrorRatioQuery(5*time.Minute), ratio(5*time.Minute)), surgeEnd),
				// Pyrra's latency: 90 of 100 requests within the bucket.
				holds(close(latency.ErrorRatioQuery(5*time.Minute), "10 / 100"), end),
				// Pyrra's bool gauge: 20 of the hour's 240 probes failed.
				holds(close(probe.ErrorRatioQuery(time.Hour), "20 / 240"), end),
				// Batch jobs stopped at 60m: the short window has no series,
				// so the burn rate is NaN (NaN != NaN holds) rather than the
				// long window's alone.
				holds(fmt.Sprintf("(%s) != bool (%s)", batch.BurnRateQuery(2*time.Hour, 5*time.Minute), batch.BurnRateQuery(2*time.Hour, 5*time.Minute)), end),
			},
		}},
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "slo_test.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), promtool, "test", "rules", "--enable-feature=promql-experimental-functions", path)
	if report, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\nthe test file:\n%s", err, report, out)
	}
}
