package slo

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// Pyrra's examples: a ratio SLO on errors, a latency SLO on a histogram, a
// bool_gauge SLO on blackbox probes, and a latencyNative one.
const (
	pyrraRatio = `
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: pyrra-api-errors
  namespace: monitoring
  labels:
    prometheus: k8s
    role: alert-rules
spec:
  target: "99"
  window: 2w
  description: Pyrra's API requests and response errors over time grouped by route.
  indicator:
    ratio:
      errors:
        metric: http_requests_total{job="pyrra",code=~"5.."}
      total:
        metric: http_requests_total{job="pyrra"}
      grouping:
        - route
`
	pyrraLatency = `
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: prometheus-api-query
  namespace: monitoring
spec:
  target: "99.5"
  window: 4w
  indicator:
    latency:
      success:
        metric: prometheus_http_request_duration_seconds_bucket{job="prometheus",handler="/api/v1/query",le="1"}
      total:
        metric: prometheus_http_request_duration_seconds_count{job="prometheus",handler="/api/v1/query"}
`
	pyrraBoolGauge = `
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: blackbox-probe
  namespace: monitoring
spec:
  target: "99.9"
  window: 28d
  indicator:
    bool_gauge:
      metric: probe_success{job="blackbox"}
`
	pyrraLatencyNative = `
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: checkout-latency
  namespace: shop
spec:
  target: "95"
  window: 1w
  indicator:
    latencyNative:
      latency: 250ms
      total:
        metric: http_request_duration_seconds{job="checkout"}
`
)

func TestFromPyrra(t *testing.T) {
	tests := map[string]struct {
		doc        string
		source     string
		objective  float64
		period     time.Duration
		errorRatio string // over 5m
		wantErr    []string
	}{
		"ratio, grouping summed over": {
			doc:        pyrraRatio,
			source:     "pyrra.dev/v1alpha1 ServiceLevelObjective monitoring/pyrra-api-errors",
			objective:  0.99,
			period:     14 * 24 * time.Hour,
			errorRatio: `sum(rate(http_requests_total{job="pyrra",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="pyrra"}[5m]))`,
		},
		"latency, the share slower than the bucket": {
			doc:        pyrraLatency,
			source:     "pyrra.dev/v1alpha1 ServiceLevelObjective monitoring/prometheus-api-query",
			objective:  0.995,
			period:     28 * 24 * time.Hour,
			errorRatio: `1 - sum(rate(prometheus_http_request_duration_seconds_bucket{job="prometheus",handler="/api/v1/query",le="1"}[5m])) / sum(rate(prometheus_http_request_duration_seconds_count{job="prometheus",handler="/api/v1/query"}[5m]))`,
		},
		"bool gauge, the share of time it was 0": {
			doc:        pyrraBoolGauge,
			source:     "pyrra.dev/v1alpha1 ServiceLevelObjective monitoring/blackbox-probe",
			objective:  0.999,
			period:     28 * 24 * time.Hour,
			errorRatio: `1 - sum(sum_over_time(probe_success{job="blackbox"}[5m])) / sum(count_over_time(probe_success{job="blackbox"}[5m]))`,
		},
		"native latency, the fraction above the latency": {
			doc:        pyrraLatencyNative,
			source:     "pyrra.dev/v1alpha1 ServiceLevelObjective shop/checkout-latency",
			objective:  0.95,
			period:     7 * 24 * time.Hour,
			errorRatio: `1 - histogram_fraction(0, 0.25, sum(rate(http_request_duration_seconds{job="checkout"}[5m])))`,
		},
		"target as a ratio": {
			doc:     strings.Replace(pyrraRatio, `target: "99"`, `target: "0.99"`, 1),
			wantErr: []string{`spec.target "0.99" reads as 0.99%`, `write "99"`},
		},
		"target not a number": {
			doc:     strings.Replace(pyrraRatio, `target: "99"`, `target: "high"`, 1),
			wantErr: []string{`spec.target "high" is not a number`, `"99.9"`},
		},
		"target 100": {
			doc:     strings.Replace(pyrraRatio, `target: "99"`, `target: "100"`, 1),
			wantErr: []string{"objective 1 is not between 0% and 100% exclusive"},
		},
		"window not a duration": {
			doc:     strings.Replace(pyrraRatio, "window: 2w", "window: two weeks", 1),
			wantErr: []string{`spec.window "two weeks" is not a duration`, `"28d"`},
		},
		"metric with a function": {
			doc:     strings.Replace(pyrraRatio, `metric: http_requests_total{job="pyrra"}`, `metric: sum(http_requests_total{job="pyrra"})`, 1),
			wantErr: []string{`ServiceLevelObjective monitoring/pyrra-api-errors: spec.indicator.ratio.total.metric sum(http_requests_total{job="pyrra"}) is not a series selector`},
		},
		"metric that does not parse": {
			doc:     strings.Replace(pyrraRatio, `metric: http_requests_total{job="pyrra"}`, `metric: 'http_requests_total{job="pyrra"'`, 1),
			wantErr: []string{"spec.indicator.ratio.total.metric", "does not parse"},
		},
		"no indicator": {
			doc:     strings.Split(pyrraRatio, "  indicator:")[0],
			wantErr: []string{"spec.indicator sets 0 of ratio, latency, latencyNative and bool_gauge; set exactly one"},
		},
		"two indicators": {
			doc:     pyrraRatio + "    bool_gauge:\n      metric: up\n",
			wantErr: []string{"spec.indicator sets 2 of"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var obj PyrraServiceLevelObjective
			if err := yaml.Unmarshal([]byte(tc.doc), &obj); err != nil {
				t.Fatalf("decoding the ServiceLevelObjective: %v", err)
			}
			sli, err := FromPyrra(&obj)
			if len(tc.wantErr) > 0 {
				checkRefused(t, "FromPyrra", sli, err, tc.wantErr, false)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sli.Source != tc.source || sli.Objective != tc.objective || sli.Period != tc.period {
				t.Errorf("FromPyrra = {%q %v %v}, want {%q %v %v}", sli.Source, sli.Objective, sli.Period, tc.source, tc.objective, tc.period)
			}
			if got := sli.ErrorRatioQuery(5 * time.Minute); got != tc.errorRatio {
				t.Errorf("ErrorRatioQuery(5m) =\n%s\nwant\n%s", got, tc.errorRatio)
			}
		})
	}
}
