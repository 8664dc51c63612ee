package providers_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/probes"
)

// answerQueries answers each query from answers, by exact text, and any
// other query with an empty vector (no series: nothing firing).
func answerQueries(answers map[string]string) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, _ *http.Request, query string) {
		body, ok := answers[query]
		if !ok {
			body = vectorJSON()
		}
		writeJSON(w, http.StatusOK, body)
	}
}

const (
	checkoutAndLatencyQuery = `count by () (ALERTS{alertname=~"CheckoutDown|LatencyHigh",alertstate="firing"})`
	checkoutDownQuery       = `count by () (ALERTS{alertname="CheckoutDown",alertstate="firing"})`
	latencyHighQuery        = `count by () (ALERTS{alertname="LatencyHigh",alertstate="firing"})`
)

func TestAlertFiring(t *testing.T) {
	tests := map[string]struct {
		alerts      []string
		answers     map[string]string
		want        []string
		wantQueries []string // in any order
	}{
		"no alerts declared, asks nothing": {},
		"none firing, asks once and reports none": {
			alerts:      []string{"CheckoutDown", "LatencyHigh"},
			wantQueries: []string{checkoutAndLatencyQuery},
		},
		"the only alert firing, needs one query": {
			alerts:      []string{"CheckoutDown"},
			answers:     map[string]string{`count by () (ALERTS{alertname=~"CheckoutDown",alertstate="firing"})`: vectorJSON("2")},
			want:        []string{"CheckoutDown"},
			wantQueries: []string{`count by () (ALERTS{alertname=~"CheckoutDown",alertstate="firing"})`},
		},
		"one of two firing, names that one": {
			alerts: []string{"CheckoutDown", "LatencyHigh"},
			answers: map[string]string{
				checkoutAndLatencyQuery: vectorJSON("1"),
				latencyHighQuery:        vectorJSON("1"),
			},
			want:        []string{"LatencyHigh"},
			wantQueries: []string{checkoutAndLatencyQuery, checkoutDownQuery, latencyHighQuery},
		},
		"both firing, names both in the declared order": {
			alerts: []string{"LatencyHigh", "CheckoutDown"},
			answers: map[string]string{
				`count by () (ALERTS{alertname=~"LatencyHigh|CheckoutDown",alertstate="firing"})`: vectorJSON("3"),
				checkoutDownQuery: vectorJSON("1"),
				latencyHighQuery:  vectorJSON("2"),
			},
			want:        []string{"LatencyHigh", "CheckoutDown"},
			wantQueries: []string{`count by () (ALERTS{alertname=~"LatencyHigh|CheckoutDown",alertstate="firing"})`, checkoutDownQuery, latencyHighQuery},
		},
		"names with regex metacharacters and quotes, are escaped": {
			alerts:      []string{`Latency.High`, `Say "hi"`},
			wantQueries: []string{`count by () (ALERTS{alertname=~"Latency\\.High|Say \"hi\"",alertstate="firing"})`},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fake := newFakePrometheus(t, answerQueries(tt.answers))

			got, err := probes.AlertFiring(t.Context(), fake.provider(t, 5*time.Second), tt.alerts, sampleTime)

			if err != nil {
				t.Fatalf("AlertFiring(): %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("AlertFiring() = %q, want %q", got, tt.want)
			}
			var queries []string
			for _, r := range fake.received() {
				queries = append(queries, r.query)
				if r.time != sampleTimeParam {
					t.Errorf("query %s asked at time %q, want %q: every query of a sample must see the same instant", r.query, r.time, sampleTimeParam)
				}
			}
			slices.Sort(queries)
			wantQueries := slices.Clone(tt.wantQueries)
			slices.Sort(wantQueries)
			if !slices.Equal(queries, wantQueries) {
				t.Errorf("server received queries\n%q\nwant\n%q", queries, wantQueries)
			}
		})
	}
}

func TestAlertFiringReportsServerErrors(t *testing.T) {
	fake := newFakePrometheus(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		writeJSON(w, http.StatusServiceUnavailable, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`)
	})

	got, err := probes.AlertFiring(t.Context(), fake.provider(t, 5*time.Second), []string{"CheckoutDown"}, sampleTime)

	if err == nil {
		t.Fatalf("AlertFiring() = %q, nil; want the server's error, not \"none firing\"", got)
	}
}
