package providers_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// injection is the fault's instant in the refinement tests; it has a
// fraction of a second, as real instants do.
var injection = time.Date(2025, time.March, 4, 14, 0, 3, 120_000_000, time.UTC)

const errorRateQuery = `sum(rate(http_requests_total{code=~"5.."}[30s]))`

// rangeRequest is one range query the server received.
type rangeRequest struct {
	query      string
	start, end time.Time
	stepSize   time.Duration
	points     int
}

// rangeServer is a real HTTP server answering /api/v1/query_range the way
// Prometheus does: one evaluation at start, start+step, ... up to end, of a
// series given as a function of time per query (a query it does not know
// has no series).
type rangeServer struct {
	mu       sync.Mutex
	requests []rangeRequest
}

func newRangeServer(t *testing.T, series map[string]func(time.Time) float64) (*providers.Prometheus, *rangeServer) {
	t.Helper()
	rs := &rangeServer{}
	p := promAPI(t, map[string]http.HandlerFunc{"/api/v1/query_range": func(w http.ResponseWriter, r *http.Request) {
		seconds := func(key string) time.Duration {
			f, err := strconv.ParseFloat(r.Form.Get(key), 64)
			if err != nil {
				t.Errorf("range query %s = %q: %v", key, r.Form.Get(key), err)
			}
			return time.Duration(math.Round(f*1000)) * time.Millisecond
		}
		start, end, step := time.Unix(0, 0).Add(seconds("start")).UTC(), time.Unix(0, 0).Add(seconds("end")).UTC(), seconds("step")
		query := r.Form.Get("query")
		f, ok := series[query]
		var values []string
		for at := start; ok && step > 0 && !at.After(end); at = at.Add(step) {
			if v := f(at); !math.IsNaN(v) {
				values = append(values, fmt.Sprintf(`[%s,"%s"]`, strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', -1, 64), strconv.FormatFloat(v, 'f', -1, 64)))
			}
		}
		rs.mu.Lock()
		rs.requests = append(rs.requests, rangeRequest{query: query, start: start, end: end, stepSize: step, points: len(values)})
		rs.mu.Unlock()
		result := ""
		if ok {
			result = `{"metric":{},"values":[` + strings.Join(values, ",") + `]}`
		}
		writeJSON(w, http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[`+result+`]}}`)
	}})
	return p, rs
}

func (rs *rangeServer) received() []rangeRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]rangeRequest(nil), rs.requests...)
}

// between is a series that is bad (value bad) from injection+from until
// injection+to, and good otherwise.
func between(from, to time.Duration, good, bad float64) func(time.Time) float64 {
	return func(at time.Time) float64 {
		if !at.Before(injection.Add(from)) && at.Before(injection.Add(to)) {
			return bad
		}
		return good
	}
}

func refineSpec() *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{SteadyState: chaosv1alpha1.SteadyStateSpec{Probes: []chaosv1alpha1.Probe{
		{Name: "success-rate", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: successRateQuery}, Condition: &chaosv1alpha1.Hypothesis{Op: ">=", Value: "0.99"}},
		{Name: "error-rate", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: errorRateQuery}, Condition: &chaosv1alpha1.Hypothesis{Op: "<", Value: "5"}},
		{Name: "checkout-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "checkout", MinReadyPercent: 100}},
	}}}
}

func TestRefine(t *testing.T) {
	const step = 250 * time.Millisecond
	ms := time.Millisecond
	tests := map[string]struct {
		series     map[string]func(time.Time) float64
		crossing   probes.Crossing
		wantAt     time.Time
		wantWithin time.Duration
		wantErr    string
	}{
		"deviation: the first failing evaluation after the injection": {
			series:     map[string]func(time.Time) float64{successRateQuery: between(1300*ms, 4200*ms, 0.999, 0.6)},
			crossing:   probes.Crossing{Kind: probes.CrossingDeviation, Probes: []string{"success-rate"}, From: injection, To: injection.Add(2 * time.Second)},
			wantAt:     injection.Add(1500 * ms),
			wantWithin: step,
		},
		"recovery: the evaluation after the last failing one": {
			series:     map[string]func(time.Time) float64{successRateQuery: between(1300*ms, 4200*ms, 0.999, 0.6)},
			crossing:   probes.Crossing{Kind: probes.CrossingRecovery, Probes: []string{"success-rate"}, From: injection, To: injection.Add(5 * time.Second)},
			wantAt:     injection.Add(4250 * ms),
			wantWithin: step,
		},
		"deviation of two probes: the earlier one's": {
			series: map[string]func(time.Time) float64{
				successRateQuery: between(1300*ms, 4200*ms, 0.999, 0.6),
				errorRateQuery:   between(700*ms, 2200*ms, 0, 12),
			},
			crossing:   probes.Crossing{Kind: probes.CrossingDeviation, Probes: []string{"success-rate", "error-rate"}, From: injection, To: injection.Add(2 * time.Second)},
			wantAt:     injection.Add(750 * ms),
			wantWithin: step,
		},
		"recovery of two probes: the later one's": {
			series: map[string]func(time.Time) float64{
				successRateQuery: between(1300*ms, 4200*ms, 0.999, 0.6),
				errorRateQuery:   between(700*ms, 2200*ms, 0, 12),
			},
			crossing:   probes.Crossing{Kind: probes.CrossingRecovery, Probes: []string{"success-rate", "error-rate"}, From: injection, To: injection.Add(5 * time.Second)},
			wantAt:     injection.Add(4250 * ms),
			wantWithin: step,
		},
		"a probe that did not cross leaves the crossing to the others": {
			series: map[string]func(time.Time) float64{
				successRateQuery: between(1300*ms, 4200*ms, 0.999, 0.6),
				errorRateQuery:   between(0, 0, 0, 12),
			},
			crossing:   probes.Crossing{Kind: probes.CrossingRecovery, Probes: []string{"success-rate", "error-rate"}, From: injection, To: injection.Add(5 * time.Second)},
			wantAt:     injection.Add(4250 * ms),
			wantWithin: step,
		},
		"missing evaluations widen the resolution to the one before": {
			series: map[string]func(time.Time) float64{successRateQuery: func(at time.Time) float64 {
				if at.After(injection.Add(500*ms)) && at.Before(injection.Add(1400*ms)) {
					return math.NaN() // no data
				}
				return between(1300*ms, 4200*ms, 0.999, 0.6)(at)
			}},
			crossing:   probes.Crossing{Kind: probes.CrossingDeviation, Probes: []string{"success-rate"}, From: injection, To: injection.Add(2 * time.Second)},
			wantAt:     injection.Add(1500 * ms),
			wantWithin: time.Second,
		},
		"a crossing the data does not show cannot be placed": {
			series:   map[string]func(time.Time) float64{successRateQuery: between(0, 0, 0.999, 0.6)},
			crossing: probes.Crossing{Kind: probes.CrossingDeviation, Probes: []string{"success-rate"}, From: injection, To: injection.Add(2 * time.Second)},
			wantErr:  probes.ErrNoCrossing.Error(),
		},
		"a query without data cannot be placed": {
			series:   map[string]func(time.Time) float64{},
			crossing: probes.Crossing{Kind: probes.CrossingRecovery, Probes: []string{"success-rate"}, From: injection, To: injection.Add(5 * time.Second)},
			wantErr:  probes.ErrNoData.Error(),
		},
		"a workload probe cannot be re-evaluated": {
			crossing: probes.Crossing{Kind: probes.CrossingDeviation, Probes: []string{"checkout-ready"}, From: injection, To: injection.Add(2 * time.Second)},
			wantErr:  "not a Prometheus probe",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p, server := newRangeServer(t, tt.series)
			tt.crossing.Instant = "deviatedAt"

			got := probes.Refine(t.Context(), p, refineSpec(), []probes.Crossing{tt.crossing}, step)

			if len(got) != 1 || got[0].Instant != "deviatedAt" {
				t.Fatalf("Refine() = %+v, want one result for deviatedAt", got)
			}
			r := got[0]
			if tt.wantErr != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
					t.Errorf("Refine() error = %v, want one saying %q", r.Err, tt.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatalf("Refine() error = %v", r.Err)
			}
			if !r.At.Equal(tt.wantAt) || r.Within != tt.wantWithin {
				t.Errorf("Refine() = injection%+v within %s, want injection%+v within %s", r.At.Sub(injection), r.Within, tt.wantAt.Sub(injection), tt.wantWithin)
			}
			for _, req := range server.received() {
				// The grid ends at the sample and starts a step or more
				// before the injection.
				if !req.end.Equal(tt.crossing.To) || req.start.After(injection.Add(-step)) || req.stepSize != step {
					t.Errorf("range query %s to %s at %s, want it to end at the sample %s, start by %s, step %s",
						req.start, req.end, req.stepSize, tt.crossing.To, injection.Add(-step), step)
				}
			}
		})
	}
}

// A long window is evaluated at a coarser step, so no range query asks
// Prometheus for more points than it serves.
func TestRefineBoundsThePoints(t *testing.T) {
	p, server := newRangeServer(t, map[string]func(time.Time) float64{successRateQuery: between(5*time.Hour, 6*time.Hour, 0.999, 0.6)})
	crossing := probes.Crossing{Instant: "recoveredAt", Kind: probes.CrossingRecovery, Probes: []string{"success-rate"}, From: injection, To: injection.Add(6*time.Hour + time.Minute)}

	got := probes.Refine(t.Context(), p, refineSpec(), []probes.Crossing{crossing}, 0)

	requests := server.received()
	if len(requests) != 1 {
		t.Fatalf("server received %d range queries, want 1", len(requests))
	}
	req := requests[0]
	if req.points > probes.MaxRefinePoints || req.stepSize <= probes.DefaultRefineStep {
		t.Errorf("range query of %d points at a %s step, want at most %d points at a step coarser than %s", req.points, req.stepSize, probes.MaxRefinePoints, probes.DefaultRefineStep)
	}
	r := got[0]
	if r.Err != nil || r.Within != req.stepSize || r.At.Before(injection.Add(6*time.Hour)) || r.At.After(injection.Add(6*time.Hour+req.stepSize)) {
		t.Errorf("Refine() = injection%+v within %s (%v), want within one %s step after injection+6h", r.At.Sub(injection), r.Within, r.Err, req.stepSize)
	}
}

func TestRefineWithoutRangeProvider(t *testing.T) {
	crossing := probes.Crossing{Instant: "deviatedAt", Kind: probes.CrossingDeviation, Probes: []string{"success-rate"}, From: injection, To: injection.Add(time.Second)}

	got := probes.Refine(t.Context(), nil, refineSpec(), []probes.Crossing{crossing}, 0)

	if len(got) != 1 || got[0].Err == nil {
		t.Errorf("Refine() without a provider = %+v, want an error for the crossing", got)
	}
}

func TestPrometheusQueryRangeErrors(t *testing.T) {
	tests := map[string]struct {
		status  int
		body    string
		wantErr error
		errHas  string
	}{
		"two series": {
			body:    `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[[1700000000,"1"]]},{"metric":{"pod":"b"},"values":[[1700000000,"1"]]}]}}`,
			wantErr: probes.ErrMultipleSeries,
		},
		"no series":      {body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, wantErr: probes.ErrNoData},
		"server failure": {status: http.StatusBadGateway, body: "upstream gone", errHas: "HTTP 502"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := promAPI(t, map[string]http.HandlerFunc{"/api/v1/query_range": func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, max(tt.status, http.StatusOK), tt.body)
			}})

			_, err := p.QueryRange(t.Context(), successRateQuery, injection, injection.Add(time.Minute), time.Second)

			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("QueryRange() error = %v, want %v", err, tt.wantErr)
			}
			if tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("QueryRange() error = %v, want it to say %q", err, tt.errHas)
			}
		})
	}
}
