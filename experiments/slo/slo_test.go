package slo

import (
	"errors"
	"strings"
	"testing"
	"time"

	slothv1 "github.com/slok/sloth/pkg/kubernetes/api/sloth/v1"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// slothObject is the availability SLO of Sloth's Kubernetes getting-started
// example, with a raw SLI next to it and a plugin one.
const slothObject = `
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: checkout
  namespace: shop
spec:
  service: checkout
  labels:
    owner: shop-team
  slos:
    - name: requests-availability
      objective: 99.9
      description: "Common SLO based on availability for HTTP request responses."
      sli:
        events:
          errorQuery: sum(rate(http_request_duration_seconds_count{job="checkout",code=~"(5..|429)"}[{{.window}}]))
          totalQuery: |
            sum(rate(http_request_duration_seconds_count{job="checkout"}[{{ .window }}]))
      alerting:
        name: CheckoutHighErrorRate
        pageAlert:
          labels:
            severity: pageteam
    - name: latency-raw
      objective: 99
      sli:
        raw:
          errorRatioQuery: |
            1 - (sum(rate(http_request_duration_seconds_bucket{job="checkout",le="0.25"}[{{.window}}]))
              / sum(rate(http_request_duration_seconds_count{job="checkout"}[{{.window}}])))
      alerting:
        pageAlert:
          disable: true
    - name: wifi
      objective: 95
      sli:
        plugin:
          id: sloth-common/coredns/availability
      alerting: {}
`

func decodeSloth(t *testing.T, doc string) *slothv1.PrometheusServiceLevel {
	t.Helper()
	var obj slothv1.PrometheusServiceLevel
	if err := yaml.UnmarshalStrict([]byte(doc), &obj); err != nil {
		t.Fatalf("decoding the PrometheusServiceLevel: %v", err)
	}
	return &obj
}

func TestFromSloth(t *testing.T) {
	tests := map[string]struct {
		doc        string
		slo        string
		source     string
		objective  float64
		errorRatio string // over 5m
		wantErr    []string
		notFound   bool // the error is ErrNotFound, not a malformed SLO
	}{
		"events SLI, both spellings of the window substituted": {
			doc:        slothObject,
			slo:        "requests-availability",
			source:     "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo requests-availability",
			objective:  0.999,
			errorRatio: `(sum(rate(http_request_duration_seconds_count{job="checkout",code=~"(5..|429)"}[5m]))) / (sum(rate(http_request_duration_seconds_count{job="checkout"}[5m])))`,
		},
		"raw SLI, every window substituted": {
			doc:       slothObject,
			slo:       "latency-raw",
			source:    "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo latency-raw",
			objective: 0.99,
			errorRatio: "(1 - (sum(rate(http_request_duration_seconds_bucket{job=\"checkout\",le=\"0.25\"}[5m]))\n" +
				"  / sum(rate(http_request_duration_seconds_count{job=\"checkout\"}[5m]))))",
		},
		"unknown SLO, names the ones there are": {
			doc:      slothObject,
			slo:      "availability",
			wantErr:  []string{`PrometheusServiceLevel shop/checkout has no SLO named "availability"; it has: requests-availability, latency-raw, wifi`},
			notFound: true,
		},
		"plugin SLI is refused": {
			doc:     slothObject,
			slo:     "wifi",
			wantErr: []string{"slo wifi uses the SLI plugin", "sloth-common/coredns/availability", "events SLI"},
		},
		"query without the window": {
			doc: strings.Replace(slothObject, `code=~"(5..|429)"}[{{.window}}]`, `code=~"(5..|429)"}[5m]`, 1),
			slo: "requests-availability",
			wantErr: []string{
				"sli.events.errorQuery", "has no {{.window}}", "[{{.window}}]",
			},
		},
		"other template action": {
			doc:     strings.Replace(slothObject, `{job="checkout"}[{{ .window }}]`, `{job="{{.service}}"}[{{ .window }}]`, 1),
			slo:     "requests-availability",
			wantErr: []string{"sli.events.totalQuery uses the template action {{.service}}", "only {{.window}}"},
		},
		"query that does not parse": {
			doc:     strings.Replace(slothObject, `sum(rate(http_request_duration_seconds_count{job="checkout",code`, `sum(rate(http_request_duration_seconds_count{job="checkout" code`, 1),
			slo:     "requests-availability",
			wantErr: []string{"slo requests-availability: the error ratio", "does not parse"},
		},
		"raw SLI answering a scalar": {
			doc:     strings.Replace(slothObject, "errorRatioQuery: |\n            1 - (", "errorRatioQuery: |\n            scalar(", 1),
			slo:     "latency-raw",
			wantErr: []string{"returns a scalar", "instant vector"},
		},
		"objective of 100 leaves no budget": {
			doc:     strings.Replace(slothObject, "objective: 99.9", "objective: 100", 1),
			slo:     "requests-availability",
			wantErr: []string{"objective 1 is not between 0% and 100% exclusive", "99.9%"},
		},
		"empty query": {
			doc:     strings.Replace(slothObject, `errorQuery: sum(rate(http_request_duration_seconds_count{job="checkout",code=~"(5..|429)"}[{{.window}}]))`, `errorQuery: ""`, 1),
			slo:     "requests-availability",
			wantErr: []string{"sli.events.errorQuery is empty"},
		},
		"query longer than the bound": {
			doc:     strings.Replace(slothObject, `job="checkout",code`, `job="`+strings.Repeat("c", MaxQueryLength)+`",code`, 1),
			slo:     "requests-availability",
			wantErr: []string{"sli.events.errorQuery is", "more than the 4096", "recording rule"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sli, err := FromSloth(decodeSloth(t, tc.doc), tc.slo)
			if len(tc.wantErr) > 0 {
				checkRefused(t, "FromSloth", sli, err, tc.wantErr, tc.notFound)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sli.Source != tc.source {
				t.Errorf("Source = %q, want %q", sli.Source, tc.source)
			}
			if sli.Objective != tc.objective {
				t.Errorf("Objective = %v, want %v", sli.Objective, tc.objective)
			}
			if sli.Period != DefaultSlothPeriod {
				t.Errorf("Period = %v, want Sloth's default %v", sli.Period, DefaultSlothPeriod)
			}
			if got := sli.ErrorRatioQuery(5 * time.Minute); got != tc.errorRatio {
				t.Errorf("ErrorRatioQuery(5m) =\n%s\nwant\n%s", got, tc.errorRatio)
			}
		})
	}
}

func TestDerivedQueries(t *testing.T) {
	sli, err := FromSloth(decodeSloth(t, slothObject), "requests-availability")
	if err != nil {
		t.Fatal(err)
	}
	const (
		errs  = `sum(rate(http_request_duration_seconds_count{job="checkout",code=~"(5..|429)"}[%s]))`
		total = `sum(rate(http_request_duration_seconds_count{job="checkout"}[%s]))`
	)
	ratio := func(w string) string {
		return "(" + strings.ReplaceAll(errs, "%s", w) + ") / (" + strings.ReplaceAll(total, "%s", w) + ")"
	}
	tests := map[string]struct {
		got, want string
	}{
		"error ratio over 1m30s": {
			got:  sli.ErrorRatioQuery(90 * time.Second),
			want: ratio("1m30s"),
		},
		"burn rate, the lower of long and short": {
			got:  sli.BurnRateQuery(time.Hour, 5*time.Minute),
			want: "clamp_max((" + ratio("1h") + ") / 0.001, scalar((" + ratio("5m") + ") / 0.001))",
		},
		"budget remaining over the 30d period": {
			got:  sli.BudgetRemainingQuery(),
			want: "1 - (" + ratio("30d") + ") / 0.001",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
			}
			if _, err := promQL.ParseExpr(tc.got); err != nil {
				t.Errorf("%s does not parse: %v", tc.got, err)
			}
		})
	}

	if got, want := sli.ProbeCondition(), (chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: "0.001"}); got != want {
		t.Errorf("ProbeCondition = %+v, want %+v", got, want)
	}
	if got, want := GuardCondition("14.4"), (chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLess, Value: "14.4"}); got != want {
		t.Errorf("GuardCondition = %+v, want %+v", got, want)
	}
}

func TestPromDuration(t *testing.T) {
	tests := map[string]struct {
		in   time.Duration
		want string
	}{
		"minutes":           {time.Minute, "1m"},
		"minutes and secs":  {90 * time.Second, "1m30s"},
		"a day":             {24 * time.Hour, "1d"},
		"thirty days":       {30 * 24 * time.Hour, "30d"},
		"four weeks":        {28 * 24 * time.Hour, "4w"},
		"milliseconds kept": {1500 * time.Millisecond, "1s500ms"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := PromDuration(tc.in); got != tc.want {
				t.Errorf("PromDuration(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	tests := map[string]struct {
		ref     chaosv1alpha1.SLORef
		want    Object
		wantErr bool
	}{
		"sloth in the Experiment's namespace": {
			ref:  chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests-availability"}},
			want: Object{Kind: SlothKind, Resource: "prometheusservicelevels", Namespace: "shop", Name: "checkout"},
		},
		"pyrra in its own namespace": {
			ref:  chaosv1alpha1.SLORef{Pyrra: &chaosv1alpha1.PyrraSLORef{Name: "checkout-errors", Namespace: "monitoring"}},
			want: Object{Kind: PyrraKind, Resource: "servicelevelobjectives", Namespace: "monitoring", Name: "checkout-errors"},
		},
		"openSLO reads the ConfigMap": {
			ref:  chaosv1alpha1.SLORef{OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "slos", Name: "web-availability"}},
			want: Object{Kind: ConfigMapKind, Resource: "configmaps", Namespace: "shop", Name: "slos"},
		},
		"empty reference": {wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Access(tc.ref, "shop")
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "set one of sloth, pyrra or openSLO") {
					t.Fatalf("Access = %+v, %v; want an error naming the choices", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Access = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// checkRefused checks that fn refused an SLO object with an error saying
// every part of wantErr, and that it is ErrNotFound exactly when notFound.
func checkRefused(t *testing.T, fn string, sli SLI, err error, wantErr []string, notFound bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s = %+v, want an error", fn, sli)
	}
	if errors.Is(err, ErrNotFound) != notFound {
		t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !notFound, notFound)
	}
	for _, want := range wantErr {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
