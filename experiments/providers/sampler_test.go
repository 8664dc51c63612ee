package providers_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

const (
	successRateQuery = `sum(rate(istio_requests_total{response_code!~"5.."}[30s])) / sum(rate(istio_requests_total[30s]))`
	latencyQuery     = `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket[30s])))`
	errorBudgetQuery = `slo:error_budget_remaining:ratio`
	allAlertsQuery   = `count by () (ALERTS{alertname=~"CheckoutDown|LatencyHigh",alertstate="firing"})`
)

// checkoutSpec has a probe of each kind, a guard and two detection alerts.
func checkoutSpec() *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{
		SteadyState: chaosv1alpha1.SteadyStateSpec{Probes: []chaosv1alpha1.Probe{
			{
				Name:       "success-rate",
				Prometheus: &chaosv1alpha1.PrometheusQuery{Query: successRateQuery},
				Condition:  &chaosv1alpha1.Hypothesis{Op: ">=", Value: "0.99"},
			},
			{
				Name:     "checkout-ready",
				Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100},
			},
			{
				Name:       "latency-p99",
				Prometheus: &chaosv1alpha1.PrometheusQuery{Query: latencyQuery},
				Condition:  &chaosv1alpha1.Hypothesis{Op: "<", Value: "250"},
			},
		}},
		Abort: &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
			Name:       "error-budget",
			Prometheus: chaosv1alpha1.PrometheusQuery{Query: errorBudgetQuery},
			Condition:  chaosv1alpha1.Hypothesis{Op: ">=", Value: "0.95"},
		}}},
		Detection: &chaosv1alpha1.DetectionSpec{Alerts: []string{"CheckoutDown", "LatencyHigh"}},
	}
}

// checkoutAnswers: success rate passes, latency fails, the guard holds,
// LatencyHigh fires and CheckoutDown does not.
var checkoutAnswers = map[string]string{
	successRateQuery: vectorJSON("0.995"),
	latencyQuery:     vectorJSON("312.5"),
	errorBudgetQuery: scalarJSON("0.97"),
	allAlertsQuery:   vectorJSON("1"),
	latencyHighQuery: vectorJSON("1"),
}

// resultSummary is the part of a Result a test compares, with the error as text.
type resultSummary struct {
	name  string
	kind  chaosv1alpha1.ProbeKind
	value float64
	pass  bool
	err   string
}

func summarize(results []probes.Result) []resultSummary {
	out := make([]resultSummary, len(results))
	for i, r := range results {
		out[i] = resultSummary{name: r.Name, kind: r.Kind, value: r.Value, pass: r.Pass}
		if r.Err != nil {
			out[i].err = r.Err.Error()
		}
	}
	return out
}

func TestSamplerSample(t *testing.T) {
	fake := newFakePrometheus(t, answerQueries(checkoutAnswers))
	sampler := providers.Sampler{
		Metrics: fake.provider(t, 5*time.Second),
		// The workload probe names no namespace: it must be read from "shop".
		Reader: fakeReader(
			deployment("shop", "checkout", ptr.To[int32](3), 3),
			deployment("default", "checkout", ptr.To[int32](3), 0),
		),
	}

	sample := sampler.Sample(t.Context(), "shop", checkoutSpec(), sampleTime, probes.Set{Probes: true, Guards: true, Alerts: true})

	if !sample.At.Equal(sampleTime) {
		t.Errorf("Sample.At = %v, want %v", sample.At, sampleTime)
	}
	want := []resultSummary{
		{name: "success-rate", kind: chaosv1alpha1.ProbeKindSteadyState, value: 0.995, pass: true},
		{name: "checkout-ready", kind: chaosv1alpha1.ProbeKindSteadyState, value: 100, pass: true},
		{name: "latency-p99", kind: chaosv1alpha1.ProbeKindSteadyState, value: 312.5, pass: false},
		{name: "error-budget", kind: chaosv1alpha1.ProbeKindGuard, value: 0.97, pass: true},
		{name: "CheckoutDown", kind: chaosv1alpha1.ProbeKindAlert, value: 0, pass: true},
		{name: "LatencyHigh", kind: chaosv1alpha1.ProbeKindAlert, value: 1, pass: false},
	}
	if got := summarize(sample.Results); !slices.Equal(got, want) {
		t.Errorf("Sample().Results =\n%+v\nwant\n%+v", got, want)
	}
	wantConditions := []chaosv1alpha1.Hypothesis{
		hypothesis(">=", "0.99"), hypothesis(">=", "100"), hypothesis("<", "250"),
		hypothesis(">=", "0.95"), hypothesis("==", "0"), hypothesis("==", "0"),
	}
	for i, r := range sample.Results {
		if i < len(wantConditions) && r.Condition != wantConditions[i] {
			t.Errorf("Results[%d] (%s).Condition = %+v, want %+v", i, r.Name, r.Condition, wantConditions[i])
		}
	}
}

func TestSamplerSampleTakesOnlyTheSelectedChecks(t *testing.T) {
	tests := map[string]struct {
		set  probes.Set
		want []string
	}{
		"probes only":       {set: probes.Set{Probes: true}, want: []string{"success-rate", "checkout-ready", "latency-p99"}},
		"guards only":       {set: probes.Set{Guards: true}, want: []string{"error-budget"}},
		"alerts only":       {set: probes.Set{Alerts: true}, want: []string{"CheckoutDown", "LatencyHigh"}},
		"guards and alerts": {set: probes.Set{Guards: true, Alerts: true}, want: []string{"error-budget", "CheckoutDown", "LatencyHigh"}},
		"nothing, is empty": {},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fake := newFakePrometheus(t, answerQueries(checkoutAnswers))
			sampler := providers.Sampler{Metrics: fake.provider(t, 5*time.Second), Reader: fakeReader(deployment("shop", "checkout", ptr.To[int32](3), 3))}

			sample := sampler.Sample(t.Context(), "shop", checkoutSpec(), sampleTime, tt.set)

			var names []string
			for _, r := range sample.Results {
				names = append(names, r.Name)
				if r.Err != nil {
					t.Errorf("Results[%s].Err = %v", r.Name, r.Err)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("Sample() took %q, want %q", names, tt.want)
			}
			if len(tt.want) == 0 && len(fake.received()) > 0 {
				t.Errorf("Sample() of no checks queried Prometheus %d times", len(fake.received()))
			}
		})
	}
}

func TestSamplerSampleWithoutPrometheus(t *testing.T) {
	sampler := providers.Sampler{Reader: fakeReader(deployment("shop", "checkout", ptr.To[int32](4), 3))}

	sample := sampler.Sample(t.Context(), "shop", checkoutSpec(), sampleTime, probes.Set{Probes: true, Guards: true, Alerts: true})

	noProvider := providers.ErrNoProvider.Error()
	want := []resultSummary{
		{name: "success-rate", kind: chaosv1alpha1.ProbeKindSteadyState, err: noProvider},
		{name: "checkout-ready", kind: chaosv1alpha1.ProbeKindSteadyState, value: 75, pass: false},
		{name: "latency-p99", kind: chaosv1alpha1.ProbeKindSteadyState, err: noProvider},
		{name: "error-budget", kind: chaosv1alpha1.ProbeKindGuard, err: noProvider},
		{name: "CheckoutDown", kind: chaosv1alpha1.ProbeKindAlert, err: noProvider},
		{name: "LatencyHigh", kind: chaosv1alpha1.ProbeKindAlert, err: noProvider},
	}
	if got := summarize(sample.Results); !slices.Equal(got, want) {
		t.Errorf("Sample().Results =\n%+v\nwant\n%+v", got, want)
	}
	if noProvider != "no Prometheus provider configured" {
		t.Errorf("ErrNoProvider = %q, want the message status shows users", noProvider)
	}
}

func TestSamplerSampleReportsUnmeasurableChecks(t *testing.T) {
	fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, query string) {
		switch query {
		case successRateQuery:
			writeJSON(w, http.StatusOK, vectorJSON())
		case latencyQuery:
			writeJSON(w, http.StatusOK, vectorJSON("100", "200"))
		case "vector(1)":
			writeJSON(w, http.StatusOK, vectorJSON("1"))
		default:
			writeJSON(w, http.StatusBadRequest, badDataJSON)
		}
	})
	spec := checkoutSpec()
	spec.SteadyState.Probes = append(spec.SteadyState.Probes,
		chaosv1alpha1.Probe{Name: "no-condition", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "up"}},
		chaosv1alpha1.Probe{Name: "bad-threshold", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "vector(1)"}, Condition: &chaosv1alpha1.Hypothesis{Op: ">=", Value: "most"}},
	)
	sampler := providers.Sampler{Metrics: fake.provider(t, 5*time.Second), Reader: fakeReader()}

	sample := sampler.Sample(t.Context(), "shop", spec, sampleTime, probes.Set{Probes: true, Guards: true, Alerts: true})

	wantErr := map[string]string{
		"success-rate":   "no data",
		"checkout-ready": "does not exist",
		"latency-p99":    "more than one series",
		"no-condition":   "no condition",
		"bad-threshold":  "not a number",
		"error-budget":   "parse error",
		"CheckoutDown":   "parse error",
		"LatencyHigh":    "parse error",
	}
	for _, r := range sample.Results {
		switch {
		case r.Err == nil:
			t.Errorf("%s: Err = nil, want an error mentioning %q", r.Name, wantErr[r.Name])
		case !strings.Contains(r.Err.Error(), wantErr[r.Name]):
			t.Errorf("%s: Err = %q, want it to mention %q", r.Name, r.Err, wantErr[r.Name])
		}
		if r.Pass {
			t.Errorf("%s: Pass = true for a check that could not be measured", r.Name)
		}
	}
	if len(sample.Results) != len(wantErr) {
		t.Errorf("Sample() returned %d results, want %d", len(sample.Results), len(wantErr))
	}
	if !errors.Is(sample.Results[0].Err, probes.ErrNoData) {
		t.Errorf("success-rate Err = %v, want it to wrap ErrNoData so callers can tell absent data apart", sample.Results[0].Err)
	}
}

// TestSamplerSampleRunsChecksConcurrently holds every Prometheus answer until
// both probes' queries have arrived. Run one after the other, the first
// would wait alone until the barrier gives up, and fail.
func TestSamplerSampleRunsChecksConcurrently(t *testing.T) {
	const giveUp = 10 * time.Second
	var arrived atomic.Int32
	bothArrived := make(chan struct{})
	fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		if arrived.Add(1) == 2 {
			close(bothArrived)
		}
		select {
		case <-bothArrived:
			writeJSON(w, http.StatusOK, vectorJSON("1"))
		case <-time.After(giveUp):
			writeJSON(w, http.StatusServiceUnavailable, `{"status":"error","errorType":"timeout","error":"the other query never arrived"}`)
		}
	})
	spec := &chaosv1alpha1.ExperimentSpec{SteadyState: chaosv1alpha1.SteadyStateSpec{Probes: []chaosv1alpha1.Probe{
		{Name: "first", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "first"}, Condition: &chaosv1alpha1.Hypothesis{Op: ">=", Value: "1"}},
		{Name: "second", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "second"}, Condition: &chaosv1alpha1.Hypothesis{Op: ">=", Value: "1"}},
	}}}
	sampler := providers.Sampler{Metrics: fake.provider(t, 2*giveUp), Reader: fakeReader()}

	sample := sampler.Sample(t.Context(), "shop", spec, sampleTime, probes.Set{Probes: true})

	for _, r := range sample.Results {
		if r.Err != nil || !r.Pass {
			t.Errorf("%s: Pass = %v, Err = %v; want both queries in flight together", r.Name, r.Pass, r.Err)
		}
	}
}

func TestSamplerSampleOfNoSpec(t *testing.T) {
	sample := (&providers.Sampler{}).Sample(t.Context(), "shop", nil, sampleTime, probes.Set{Probes: true, Guards: true, Alerts: true})
	if len(sample.Results) != 0 || !sample.At.Equal(sampleTime) {
		t.Errorf("Sample(nil spec) = %+v, want no results at %v", sample, sampleTime)
	}
}

func hypothesis(op chaosv1alpha1.ConditionOperator, value string) chaosv1alpha1.Hypothesis {
	return chaosv1alpha1.Hypothesis{Op: op, Value: value}
}
