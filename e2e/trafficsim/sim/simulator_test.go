package sim

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// scrape fetches /metrics the way Prometheus would and parses it.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return mfs
}

// sample returns the sum of the values of the series of family name whose
// labels include want, and whether any such series exists, as PromQL's sum
// would: requests(...) leaves the canary label out and so counts both
// slices. For histograms it is the count.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum, found = sum+m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			sum, found = sum+m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			sum, found = sum+float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return sum, found
}

// inSlice narrows labels to one slice of traffic.
func inSlice(labels map[string]string, v string) map[string]string {
	out := maps.Clone(labels)
	out[CanaryLabel] = v
	return out
}

func requests(svc, code, flags string) map[string]string {
	return map[string]string{
		"reporter":                      "destination",
		"source_workload":               "trafficsim",
		"destination_service_name":      svc,
		"destination_service_namespace": "shop",
		"destination_workload":          svc,
		"response_code":                 code,
		"response_flags":                flags,
	}
}

// eventually scrapes until cond holds or the deadline passes, and returns
// the last scrape.
func eventually(t *testing.T, url, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mfs := scrape(t, url)
		if cond(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// istioFake is istio.io/client-go's fake clientset declaring, as client-go's
// own fake does, that it cannot serve watch-list requests, so the reflector
// falls back to list and watch; istio's generated fake lacks the declaration.
type istioFake struct{ *istiofake.Clientset }

// IsWatchListSemanticsUnSupported reports that watch-list is not supported.
func (istioFake) IsWatchListSemanticsUnSupported() bool { return true }

// TestSimulatorAgainstFakeCluster runs the whole simulator, informers
// included, against fake clientsets and reads its metrics through HTTP.
func TestSimulatorAgainstFakeCluster(t *testing.T) {
	kube := kubefake.NewClientset(
		readySlice("checkout-x1", "checkout", 2),
		readySlice("cart-x1", "cart", 3),
		readySlice("reviews-x1", "reviews", 2),
	)
	istio := istioFake{istiofake.NewSimpleClientset(&istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: networkingv1alpha3.VirtualService{
			Hosts: []string{"checkout"},
			Http:  []*networkingv1alpha3.HTTPRoute{{Name: "primary", Fault: abortFault(500, 100)}},
		},
	})}
	refs, err := ParseServices("shop/checkout,shop/cart,shop/payments,shop/reviews")
	if err != nil {
		t.Fatal(err)
	}
	// reviews alone gets twice the traffic, a capacity its two endpoints
	// hold it with, and a base error rate; the others keep the defaults.
	const reviewsRPS, reviewsErrorRate = 400, 0.1
	s, err := New(Config{
		Services:        refs,
		RPS:             200,
		Capacity:        1000,
		ServiceRPS:      ServiceValues{{"shop", "reviews"}: reviewsRPS},
		ServiceCapacity: ServiceValues{{"shop", "reviews"}: 300},
		ErrorRate:       ServiceValues{{"shop", "reviews"}: reviewsErrorRate},
		HeaderShare:     0.2,
		BaseLatency:     20 * time.Millisecond,
		Tick:            10 * time.Millisecond,
		Seed:            1,
		Log:             slog.New(slog.NewTextHandler(t.Output(), nil)),
	}, kube, istio)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	// Before Run the series already exist at zero, so rate() has a first
	// sample from the start.
	mfs := scrape(t, srv.URL)
	for _, svc := range []string{"checkout", "cart", "payments", "reviews"} {
		for _, code := range []string{"200", "503"} {
			for _, slice := range []string{"true", "false"} {
				if v, ok := sample(mfs, "istio_requests_total", inSlice(requests(svc, code, "-"), slice)); !ok || v != 0 {
					t.Errorf("%s %s canary=%s before any traffic: %v (present %v), want a 0 series", svc, code, slice, v, ok)
				}
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begun := time.Now().Truncate(time.Second)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	const enough = 20
	mfs = eventually(t, srv.URL, "traffic on every service", func(mfs map[string]*dto.MetricFamily) bool {
		aborted, _ := sample(mfs, "istio_requests_total", requests("checkout", "500", "FI"))
		served, _ := sample(mfs, "istio_requests_total", requests("cart", "200", "-"))
		outage, _ := sample(mfs, "istio_requests_total", requests("payments", "503", "-"))
		reviews, _ := sample(mfs, "istio_requests_total", map[string]string{"destination_service_name": "reviews"})
		return aborted >= enough && served >= enough && outage >= enough && reviews >= 1000
	})
	checkPerServiceSettings(t, mfs, reviewsRPS/200.0, reviewsErrorRate, 0.2)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"checkout with a 100% abort serves nothing", requests("checkout", "200", "-"), 0},
		{"cart within capacity sheds nothing", requests("cart", "503", "-"), 0},
		{"payments without endpoints serves nothing", requests("payments", "200", "-"), 0},
		{"checkout ready endpoints", map[string]string{"destination_service_name": "checkout"}, 2},
		{"cart ready endpoints", map[string]string{"destination_service_name": "cart"}, 3},
		{"payments ready endpoints", map[string]string{"destination_service_name": "payments"}, 0},
	} {
		name := "istio_requests_total"
		if strings.HasSuffix(c.name, "ready endpoints") {
			name = "trafficsim_ready_endpoints"
		}
		if got, ok := sample(mfs, name, c.labels); !ok || got != c.want {
			t.Errorf("%s: %s = %v (present %v), want %v", c.name, name, got, ok, c.want)
		}
	}
	checkout := map[string]string{"destination_service_name": "checkout"}
	started, ok := sample(mfs, "trafficsim_fault_started_seconds", checkout)
	if !ok || started < float64(begun.Unix()) || started > float64(time.Now().Unix()+1) {
		t.Errorf("checkout fault started at %v (present %v), want the time the simulator first saw its route fault, after %s", started, ok, begun)
	}
	if _, ok := sample(mfs, "trafficsim_fault_ended_seconds", map[string]string{"destination_service_name": "cart"}); ok {
		t.Error("cart never had a fault, but its fault-ended series exists")
	}
	aborted, _ := sample(mfs, "istio_requests_total", requests("checkout", "500", "FI"))
	histLabels := requests("checkout", "500", "")
	delete(histLabels, "response_flags")
	if observed, ok := sample(mfs, "istio_request_duration_milliseconds", histLabels); !ok || observed != aborted {
		t.Errorf("checkout 500 durations observed %v (present %v), want one per request: %v", observed, ok, aborted)
	}

	// Changes reach the model through the watches: cart loses its ready
	// endpoints and checkout loses its fault.
	notReady := readySlice("cart-x1", "cart", 3)
	for i := range notReady.Endpoints {
		notReady.Endpoints[i].Conditions.Ready = new(false)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("shop").Update(ctx, notReady, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := istio.NetworkingV1().VirtualServices("shop").Delete(ctx, "checkout", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, srv.URL, "cart outage and checkout recovery", func(mfs map[string]*dto.MetricFamily) bool {
		ready, _ := sample(mfs, "trafficsim_ready_endpoints", map[string]string{"destination_service_name": "cart"})
		outage, _ := sample(mfs, "istio_requests_total", requests("cart", "503", "-"))
		recovered, _ := sample(mfs, "istio_requests_total", requests("checkout", "200", "-"))
		return ready == 0 && outage >= enough && recovered >= enough
	})
	ended, ok := sample(scrape(t, srv.URL), "trafficsim_fault_ended_seconds", checkout)
	if !ok || ended < started {
		t.Errorf("checkout fault ended at %v (present %v), want after it started (%v)", ended, ok, started)
	}

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d %s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// checkPerServiceSettings compares reviews, which has settings of its own,
// with cart, which has the defaults: reviews got rpsRatio times cart's
// requests, a share errorRate of them answered 503 by the upstream, and
// both slices of traffic are labelled in the proportion of headerShare.
func checkPerServiceSettings(t *testing.T, mfs map[string]*dto.MetricFamily, rpsRatio, errorRate, headerShare float64) {
	t.Helper()
	total := func(svc string, extra map[string]string) float64 {
		labels := map[string]string{"destination_service_name": svc}
		maps.Copy(labels, extra)
		v, _ := sample(mfs, "istio_requests_total", labels)
		return v
	}
	reviews, cart := total("reviews", nil), total("cart", nil)
	// Both are paced by the same ticks, so the counts keep the ratio of
	// the rates to within a request or two per service.
	if got := reviews / cart; math.Abs(got-rpsRatio) > 0.05*rpsRatio {
		t.Errorf("reviews sent %v requests and cart %v: ratio %.3f, want %.1f from --service-rps", reviews, cart, got, rpsRatio)
	}
	// Binomial noise: with n requests the share's standard deviation is
	// sqrt(p(1-p)/n); four of them bound it.
	within := func(what string, got, want, n float64) {
		t.Helper()
		if tol := 4 * math.Sqrt(want*(1-want)/n); math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f over %v requests, want %.3f±%.4f", what, got, n, want, tol)
		}
	}
	within("reviews' 503 share", total("reviews", map[string]string{"response_code": "503", "response_flags": "-"})/reviews, errorRate, reviews)
	within("reviews' canary share", total("reviews", map[string]string{CanaryLabel: "true"})/reviews, headerShare, reviews)
	within("cart's canary share", total("cart", map[string]string{CanaryLabel: "true"})/cart, headerShare, cart)
	if shed := total("cart", map[string]string{"response_code": "503"}); shed != 0 {
		t.Errorf("cart, with no error rate of its own, answered %v requests 503", shed)
	}
	// The histogram carries the same label: every canary request of
	// reviews has one observation.
	canaryReviews := total("reviews", map[string]string{CanaryLabel: "true"})
	observed, _ := sample(mfs, "istio_request_duration_milliseconds", map[string]string{"destination_service_name": "reviews", CanaryLabel: "true"})
	if observed != canaryReviews {
		t.Errorf("reviews' canary durations observed %v, want one per canary request: %v", observed, canaryReviews)
	}
}

func TestServiceValues(t *testing.T) {
	reviews, ratings := ServiceRef{"shop", "reviews"}, ServiceRef{"shop", "ratings"}
	tests := map[string]struct {
		sets    []string
		want    ServiceValues
		wantErr string
	}{
		"one entry": {
			sets: []string{"shop/reviews=300"},
			want: ServiceValues{reviews: 300},
		},
		"comma-separated and repeated flags add up": {
			sets: []string{"shop/reviews=0.005, shop/ratings=0.01", "shop/cart=0"},
			want: ServiceValues{reviews: 0.005, ratings: 0.01, {"shop", "cart"}: 0},
		},
		"a service given twice is refused": {
			sets:    []string{"shop/reviews=300", "shop/reviews=200"},
			wantErr: "given twice",
		},
		"no value": {
			sets:    []string{"shop/reviews"},
			wantErr: "want namespace/name=number, such as shop/reviews=300",
		},
		"no namespace": {
			sets:    []string{"reviews=300"},
			wantErr: "want namespace/name=number",
		},
		"not a number": {
			sets:    []string{"shop/reviews=fast"},
			wantErr: `"fast" is not a finite number`,
		},
		"infinity is refused": {
			sets:    []string{"shop/reviews=+Inf"},
			wantErr: "not a finite number",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := make(ServiceValues)
			var err error
			for _, s := range tc.sets {
				if err = v.Set(s); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(v, tc.want) {
				t.Fatalf("values %v, want %v", v, tc.want)
			}
			// String writes what Set reads.
			again := make(ServiceValues)
			if err := again.Set(v.String()); err != nil || !maps.Equal(again, v) {
				t.Errorf("Set(String()) = %v, %v; want %v", again, err, v)
			}
		})
	}
}

func TestModelForAppliesOnlyTheServicesOwnSettings(t *testing.T) {
	reviews, cart := ServiceRef{"shop", "reviews"}, ServiceRef{"shop", "cart"}
	cfg := Config{
		Services: []ServiceRef{cart, reviews}, RPS: 20, Capacity: 10, BaseLatency: 20 * time.Millisecond,
		ServiceRPS:      ServiceValues{reviews: 300},
		ServiceCapacity: ServiceValues{reviews: 0},
		ErrorRate:       ServiceValues{reviews: 0.005},
	}
	got := ModelFor(cfg, reviews)
	if got.RPS != 300 || got.Capacity != 0 || got.ErrorRate != 0.005 || got.BaseLatency != cfg.BaseLatency {
		t.Errorf("reviews' model %+v, want rps 300, capacity 0 (unlimited), error rate 0.005 and the shared base latency", got)
	}
	if got := ModelFor(cfg, cart); got.RPS != 20 || got.Capacity != 10 || got.ErrorRate != 0 {
		t.Errorf("cart's model %+v, want the defaults: rps 20, capacity 10, no error rate", got)
	}
}

func TestNewRefusesBadServiceSettings(t *testing.T) {
	reviews := ServiceRef{"shop", "reviews"}
	tests := map[string]struct {
		cfg     Config
		wantErr string
	}{
		"a setting for a service that gets no traffic": {
			cfg:     Config{ServiceRPS: ServiceValues{{"shop", "ratings"}: 300}},
			wantErr: "--service-rps names shop/ratings, which is not in --services",
		},
		"an error rate above 1": {
			cfg:     Config{ErrorRate: ServiceValues{reviews: 5}},
			wantErr: "--error-rate shop/reviews=5: want a share from 0 to 1",
		},
		"a negative rate": {
			cfg:     Config{ServiceRPS: ServiceValues{reviews: -1}},
			wantErr: "--service-rps shop/reviews=-1: want a rate of 0 or more",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.cfg.Services = []ServiceRef{reviews}
			_, err := New(tc.cfg, kubefake.NewClientset(), istioFake{istiofake.NewSimpleClientset()})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
