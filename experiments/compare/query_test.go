package compare

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestSplitQuery(t *testing.T) {
	canary := map[string]string{"canary": "true"}
	tests := map[string]struct {
		query    string
		matchers map[string]string
		window   time.Duration
		want     string
	}{
		"istio success ratio: both selectors get the matcher and the window": {
			query:    `sum(rate(istio_requests_total{destination_service_name="checkout",response_code!~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[1m]))`,
			matchers: canary, window: 5 * time.Second,
			want: `sum(rate(istio_requests_total{canary="true",destination_service_name="checkout",response_code!~"5.."}[5s])) / sum(rate(istio_requests_total{canary="true",destination_service_name="checkout"}[5s]))`,
		},
		"histogram quantile of latency": {
			query:    `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[10s])))`,
			matchers: map[string]string{"canary": "false"}, window: 2 * time.Second,
			want: `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{canary="false",reporter="destination"}[2s])))`,
		},
		"offset is kept": {
			query:    `sum(increase(istio_requests_total{response_code=~"5.."}[30s] offset 1m))`,
			matchers: canary, window: 5 * time.Second,
			want: `sum(increase(istio_requests_total{canary="true",response_code=~"5.."}[5s] offset 1m))`,
		},
		"a matcher on the same label is replaced": {
			query:    `sum(rate(istio_requests_total{canary=~".*",app="checkout"}[1m]))`,
			matchers: canary, window: 5 * time.Second,
			want: `sum(rate(istio_requests_total{app="checkout",canary="true"}[5s]))`,
		},
		"a query already on the group's label value stays on it": {
			query:    `sum(rate(istio_requests_total{canary="true"}[1m]))`,
			matchers: canary, window: 5 * time.Second,
			want: `sum(rate(istio_requests_total{canary="true"}[5s]))`,
		},
		"subquery range and inner range both take the window": {
			query:    `max_over_time(rate(istio_requests_total{app="checkout"}[1m])[10m:30s])`,
			matchers: canary, window: 5 * time.Second,
			want: `max_over_time(rate(istio_requests_total{app="checkout",canary="true"}[5s])[5s:30s])`,
		},
		"several matchers, in label order": {
			query:    `up{job="checkout"}`,
			matchers: map[string]string{"slice": "b", "canary": "true"}, window: 5 * time.Second,
			want: `up{canary="true",job="checkout",slice="b"}`,
		},
		"values with quotes are escaped": {
			query:    `up`,
			matchers: map[string]string{"user_agent": `say "hi"`}, window: 5 * time.Second,
			want: `up{user_agent="say \"hi\""}`,
		},
	}
	p := parser.NewParser(parser.Options{EnableExperimentalFunctions: true})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := SplitQuery(tc.query, tc.matchers, tc.window)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if _, err := p.ParseExpr(got); err != nil {
				t.Errorf("the split query does not parse: %v", err)
			}
		})
	}
}

func TestSplitQueryLeavesTheOriginalAlone(t *testing.T) {
	// Two groups split from one query must not share selectors.
	q := `sum(rate(istio_requests_total{app="checkout"}[1m]))`
	a, errA := SplitQuery(q, map[string]string{"canary": "true"}, 5*time.Second)
	b, errB := SplitQuery(q, map[string]string{"canary": "false"}, 5*time.Second)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !strings.Contains(a, `canary="true"`) || strings.Contains(a, `canary="false"`) ||
		!strings.Contains(b, `canary="false"`) || strings.Contains(b, `canary="true"`) {
		t.Errorf("groups mixed: %s and %s", a, b)
	}
}

func TestSplitQueryErrors(t *testing.T) {
	tests := map[string]struct {
		query    string
		matchers map[string]string
		window   time.Duration
		want     string
	}{
		"does not parse":      {`sum(rate(x[1m])`, map[string]string{"canary": "true"}, 5 * time.Second, "not valid PromQL"},
		"no matchers":         {`up`, nil, 5 * time.Second, "at least one label matcher"},
		"window not positive": {`up`, map[string]string{"canary": "true"}, 0, "must be positive"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := SplitQuery(tc.query, tc.matchers, tc.window)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
