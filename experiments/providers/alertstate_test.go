package providers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// promAPI is a real HTTP server speaking the parts of the Prometheus API
// each test gives a handler for, by path; any other path is 404.
func promAPI(t *testing.T, handlers map[string]http.HandlerFunc) *providers.Prometheus {
	t.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h(w, r)
	}))
	t.Cleanup(server.Close)
	api, err := providers.NewPrometheusClient(server.URL, nil)
	if err != nil {
		t.Fatalf("NewPrometheusClient: %v", err)
	}
	return providers.NewPrometheus(api, 5*time.Second)
}

func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, body) }
}

// activeAt is when the alerts of the rules answers became pending.
var activeAt = time.Date(2025, time.March, 4, 14, 0, 3, 250_000_000, time.UTC)

// alertJSON is one alert of an alerting rule, active since activeAt+offset.
func alertJSON(state string, offset time.Duration) string {
	return fmt.Sprintf(`{"labels":{"alertname":"x","pod":"checkout-%d"},"annotations":{},"state":%q,"activeAt":%q,"value":"1e+00"}`,
		offset/time.Second, state, activeAt.Add(offset).Format(time.RFC3339Nano))
}

// alertingRuleJSON is an alerting rule named name with the `for` hold
// (seconds) and alerts.
func alertingRuleJSON(name string, hold float64, alerts ...string) string {
	return fmt.Sprintf(`{"type":"alerting","name":%q,"query":"up == 0","duration":%g,"labels":{},"annotations":{},"alerts":[%s],"health":"ok","evaluationTime":0.001,"lastEvaluation":"2025-03-04T14:00:30Z","state":"firing"}`,
		name, hold, strings.Join(alerts, ","))
}

const recordingRuleJSON = `{"type":"recording","name":"job:up:sum","query":"sum by (job) (up)","labels":{},"health":"ok","evaluationTime":0.001,"lastEvaluation":"2025-03-04T14:00:30Z"}`

// rulesJSON is a rules answer with one group per argument, each a group
// interval (seconds) followed by its rules.
func rulesJSON(groups ...string) string {
	return `{"status":"success","data":{"groups":[` + strings.Join(groups, ",") + `]}}`
}

func groupJSON(interval float64, rules ...string) string {
	return fmt.Sprintf(`{"name":"checkout","file":"/etc/prometheus/rules/checkout.yaml","interval":%g,"rules":[%s]}`, interval, strings.Join(rules, ","))
}

func TestPrometheusFiringSince(t *testing.T) {
	tests := map[string]struct {
		rules  string
		alerts []string
		want   map[string]probes.AlertFiringTime
	}{
		"a `for` of whole intervals: activeAt plus the for": {
			rules:  rulesJSON(groupJSON(15, alertingRuleJSON("CheckoutDown", 60, alertJSON("firing", 0)))),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{"CheckoutDown": {Since: activeAt.Add(60 * time.Second), EvaluationInterval: 15 * time.Second}},
		},
		"a `for` between evaluations: the first evaluation after it": {
			rules:  rulesJSON(groupJSON(15, alertingRuleJSON("CheckoutDown", 50, alertJSON("firing", 0)))),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{"CheckoutDown": {Since: activeAt.Add(60 * time.Second), EvaluationInterval: 15 * time.Second}},
		},
		"no `for`: fired when it became active": {
			rules:  rulesJSON(groupJSON(30, alertingRuleJSON("CheckoutDown", 0, alertJSON("firing", 0)))),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{"CheckoutDown": {Since: activeAt, EvaluationInterval: 30 * time.Second}},
		},
		"no group interval given: activeAt plus the for, interval unknown": {
			rules:  rulesJSON(groupJSON(0, alertingRuleJSON("CheckoutDown", 50, alertJSON("firing", 0)))),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{"CheckoutDown": {Since: activeAt.Add(50 * time.Second)}},
		},
		"several series and rules of one name: the earliest firing one": {
			rules: rulesJSON(
				groupJSON(15, recordingRuleJSON, alertingRuleJSON("CheckoutDown", 60, alertJSON("firing", 20*time.Second), alertJSON("firing", 5*time.Second))),
				groupJSON(10, alertingRuleJSON("CheckoutDown", 10, alertJSON("firing", 60*time.Second), alertJSON("pending", -time.Minute))),
			),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{"CheckoutDown": {Since: activeAt.Add(65 * time.Second), EvaluationInterval: 15 * time.Second}},
		},
		"pending alerts and other rules are left out": {
			rules: rulesJSON(groupJSON(15,
				alertingRuleJSON("CheckoutDown", 60, alertJSON("pending", 0)),
				alertingRuleJSON("LatencyHigh", 0, alertJSON("firing", 0)),
			)),
			alerts: []string{"CheckoutDown"},
			want:   map[string]probes.AlertFiringTime{},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := promAPI(t, map[string]http.HandlerFunc{"/api/v1/rules": answer(tt.rules)})

			got, err := p.FiringSince(t.Context(), tt.alerts)

			if err != nil {
				t.Fatalf("FiringSince() error = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("FiringSince() = %v, want %v", got, tt.want)
			}
			for name, w := range tt.want {
				if g, ok := got[name]; !ok || !g.Since.Equal(w.Since) || g.EvaluationInterval != w.EvaluationInterval {
					t.Errorf("FiringSince()[%s] = %+v, want %+v", name, g, w)
				}
			}
		})
	}
}

func TestPrometheusFiringSinceReportsServerErrors(t *testing.T) {
	p := promAPI(t, map[string]http.HandlerFunc{"/api/v1/rules": func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, `{"status":"error","errorType":"unavailable","error":"rule manager not ready"}`)
	}})

	_, err := p.FiringSince(t.Context(), []string{"CheckoutDown"})

	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("FiringSince() error = %v, want one naming HTTP 503", err)
	}
}

// The Sampler dates the alerts it sees firing from Prometheus' alert state,
// and without that state still reports them firing, undated.
func TestSamplerDatesFiringAlerts(t *testing.T) {
	spec := &chaosv1alpha1.ExperimentSpec{Detection: &chaosv1alpha1.DetectionSpec{Alerts: []string{"CheckoutDown", "LatencyHigh"}}}
	queries := map[string]string{allAlertsQuery: vectorJSON("1"), latencyHighQuery: vectorJSON("1")}
	rules := rulesJSON(groupJSON(15,
		alertingRuleJSON("LatencyHigh", 30, alertJSON("firing", 0)),
		alertingRuleJSON("CheckoutDown", 0, alertJSON("pending", 0)),
	))
	tests := map[string]struct {
		rules     http.HandlerFunc
		wantSince time.Time
		wantIn    time.Duration
	}{
		"alert state answers: the firing alert carries its firing instant": {
			rules: answer(rules), wantSince: activeAt.Add(30 * time.Second), wantIn: 15 * time.Second,
		},
		"alert state unavailable: the alert still fires, undated": {
			rules: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := promAPI(t, map[string]http.HandlerFunc{
				"/api/v1/query": func(w http.ResponseWriter, r *http.Request) {
					body, ok := queries[r.Form.Get("query")]
					if !ok {
						body = vectorJSON()
					}
					writeJSON(w, http.StatusOK, body)
				},
				"/api/v1/rules": tt.rules,
			})
			sampler := providers.Sampler{Metrics: p}

			sample := sampler.Sample(t.Context(), "shop", spec, sampleTime, probes.Set{Alerts: true})

			if len(sample.Results) != 2 {
				t.Fatalf("Sample() = %+v, want two alert results", sample.Results)
			}
			down, high := sample.Results[0], sample.Results[1]
			if down.Err != nil || !down.Pass || !down.Since.IsZero() {
				t.Errorf("CheckoutDown = %+v, want passing (not firing) and undated", down)
			}
			if high.Err != nil || high.Pass {
				t.Fatalf("LatencyHigh = %+v, want firing", high)
			}
			if !high.Since.Equal(tt.wantSince) || high.SinceWithin != tt.wantIn {
				t.Errorf("LatencyHigh since %v within %s, want %v within %s", high.Since, high.SinceWithin, tt.wantSince, tt.wantIn)
			}
		})
	}
}
