package slo

import (
	"strings"
	"testing"
	"time"
)

// openSLODocs is a ConfigMap value as a team would keep it: a DataSource, an
// SLI, an SLO referring to it, an SLO with its indicator inline (from the
// OpenSLO specification's example) and an old v1alpha SLO.
const openSLODocs = `
# Checkout's SLOs, in OpenSLO v1.
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: cluster-prometheus
spec:
  type: Prometheus
  connectionDetails:
    url: http://prometheus.monitoring:9090
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: cluster-prometheus
        spec:
          query: http_requests_total{job="checkout",code=~"5.."}
    total:
      metricSource:
        type: Prometheus
        spec:
          query: http_requests_total{job="checkout"}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  budgetingMethod: Occurrences
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - displayName: Good
      target: 0.999
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web-availability
  displayName: SLO for web availability
spec:
  description: X% of search requests are successful
  service: web
  indicator:
    metadata:
      name: web-successful-requests-ratio
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{server="web",code!~"(5..|429)"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(http_requests_total{server="web"})
  timeWindow:
    - duration: 1w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good
      targetPercent: 99.5
---
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: legacy
spec:
  service: web
---
`

func TestFromOpenSLO(t *testing.T) {
	tests := map[string]struct {
		docs       string
		name       string
		objective  float64
		period     time.Duration
		errorRatio string // over 5m
		wantErr    []string
		notFound   bool // the error is ErrNotFound, not a malformed SLO
	}{
		"indicatorRef to an SLI, a metricSourceRef to a DataSource": {
			docs:       openSLODocs,
			name:       "checkout-availability",
			objective:  0.999,
			period:     28 * 24 * time.Hour,
			errorRatio: `sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="checkout"}[5m]))`,
		},
		"inline indicator of aggregated counters, targetPercent": {
			docs:       openSLODocs,
			name:       "web-availability",
			objective:  0.995,
			period:     7 * 24 * time.Hour,
			errorRatio: `1 - sum(rate((sum(http_requests_total{server="web",code!~"(5..|429)"}))[5m:])) / sum(rate((sum(http_requests_total{server="web"}))[5m:]))`,
		},
		"counts per evaluation, not counters": {
			docs:       strings.Replace(openSLODocs, "counter: true\n    bad", "counter: false\n    bad", 1),
			name:       "checkout-availability",
			objective:  0.999,
			period:     28 * 24 * time.Hour,
			errorRatio: `sum(sum_over_time(http_requests_total{job="checkout",code=~"5.."}[5m])) / sum(sum_over_time(http_requests_total{job="checkout"}[5m]))`,
		},
		"unknown name lists the SLOs": {
			docs:     openSLODocs,
			name:     "payments",
			wantErr:  []string{`no openslo/v1 document of kind SLO is named "payments"; it has: checkout-availability, web-availability`},
			notFound: true,
		},
		"v1alpha document": {
			docs:    openSLODocs,
			name:    "legacy",
			wantErr: []string{"OpenSLO SLO legacy is apiVersion openslo/v1alpha; Faultline reads openslo/v1"},
		},
		"missing SLI document": {
			docs:    strings.Replace(openSLODocs, "indicatorRef: checkout-errors", "indicatorRef: checkout-latency", 1),
			name:    "checkout-availability",
			wantErr: []string{`spec.indicatorRef names the SLI "checkout-latency"`, "they have the SLIs: checkout-errors"},
		},
		"timeslices": {
			docs:    strings.Replace(openSLODocs, "budgetingMethod: Occurrences", "budgetingMethod: Timeslices", 1),
			name:    "checkout-availability",
			wantErr: []string{"spec.budgetingMethod is Timeslices", "write Occurrences"},
		},
		"month window": {
			docs:    strings.Replace(openSLODocs, "duration: 28d", "duration: 1M", 1),
			name:    "checkout-availability",
			wantErr: []string{`spec.timeWindow[0].duration "1M" is not a duration`, "28d"},
		},
		"two objectives": {
			docs:    strings.Replace(openSLODocs, "target: 0.999", "target: 0.999\n    - target: 0.99", 1),
			name:    "checkout-availability",
			wantErr: []string{"spec.objectives has 2 entries", "keep one"},
		},
		"target as a percentage": {
			docs:    strings.Replace(openSLODocs, "target: 0.999", "target: 99.9", 1),
			name:    "checkout-availability",
			wantErr: []string{"no target between 0 and 1", "targetPercent: 99.9"},
		},
		"other data source": {
			docs:    strings.Replace(openSLODocs, "type: Prometheus\n        spec:\n          query: http_requests_total{job=\"checkout\"}", "type: Datadog\n        spec:\n          query: http_requests_total{job=\"checkout\"}", 1),
			name:    "checkout-availability",
			wantErr: []string{`ratioMetric.total.metricSource.type is "Datadog"`, "type: Prometheus"},
		},
		"unknown DataSource": {
			docs:    strings.Replace(openSLODocs, "metricSourceRef: cluster-prometheus", "metricSourceRef: thanos", 1),
			name:    "checkout-availability",
			wantErr: []string{`names the DataSource "thanos"`, "they have: cluster-prometheus"},
		},
		"threshold metric": {
			docs: strings.Replace(openSLODocs, `  ratioMetric:
    counter: true
    bad:`, `  thresholdMetric:
    metricSource:
      type: Prometheus
      spec:
        query: up
  unused:
    bad:`, 1),
			name:    "checkout-availability",
			wantErr: []string{"its indicator is a thresholdMetric", "ratioMetric"},
		},
		"query that is not a number": {
			docs:    strings.Replace(openSLODocs, `query: http_requests_total{job="checkout"}`, `query: '"checkout"'`, 1),
			name:    "checkout-availability",
			wantErr: []string{"the error ratio", "does not parse"},
		},
		"YAML that does not parse": {
			docs:    openSLODocs + "kind: [SLO\n",
			name:    "checkout-availability",
			wantErr: []string{"YAML document 6 does not parse"},
		},
		"two SLOs of one name": {
			docs:    openSLODocs + "apiVersion: openslo/v1\nkind: SLO\n" + strings.SplitN(openSLODocs, "---\napiVersion: openslo/v1\nkind: SLO\n", 2)[1],
			name:    "checkout-availability",
			wantErr: []string{`2 SLO documents are named "checkout-availability"; keep one`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sli, err := FromOpenSLO([]byte(tc.docs), tc.name)
			if len(tc.wantErr) > 0 {
				checkRefused(t, "FromOpenSLO", sli, err, tc.wantErr, tc.notFound)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := "openslo/v1 SLO " + tc.name; sli.Source != want {
				t.Errorf("Source = %q, want %q", sli.Source, want)
			}
			if sli.Objective != tc.objective || sli.Period != tc.period {
				t.Errorf("FromOpenSLO = {%v %v}, want {%v %v}", sli.Objective, sli.Period, tc.objective, tc.period)
			}
			if got := sli.ErrorRatioQuery(5 * time.Minute); got != tc.errorRatio {
				t.Errorf("ErrorRatioQuery(5m) =\n%s\nwant\n%s", got, tc.errorRatio)
			}
		})
	}
}

// TestFromOpenSLOLargeValue reads a ConfigMap value near the API server's
// 1 MiB limit: thousands of SLO documents, the one asked for last.
func TestFromOpenSLOLargeValue(t *testing.T) {
	parts := strings.SplitN(openSLODocs, "---\napiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: checkout-availability\n", 2)
	slo := "---\napiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: checkout-availability\n" + strings.SplitN(parts[1], "---", 2)[0]
	var b strings.Builder
	b.WriteString(parts[0])
	for i := 0; b.Len() < 1<<20-2*len(slo); i++ {
		b.WriteString(strings.Replace(slo, "name: checkout-availability", "name: other-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"-"+time.Duration(i).String(), 1))
	}
	b.WriteString(slo)
	if b.Len() > 1<<20 {
		t.Fatalf("the value is %d bytes, more than a ConfigMap holds", b.Len())
	}
	sli, err := FromOpenSLO([]byte(b.String()), "checkout-availability")
	if err != nil {
		t.Fatal(err)
	}
	if sli.Objective != 0.999 {
		t.Errorf("Objective = %v, want 0.999", sli.Objective)
	}
}
