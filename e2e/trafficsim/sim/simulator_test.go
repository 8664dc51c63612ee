package sim

import (
	"context"
	"io"
	"log/slog"
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

// sample returns the value of the series of family name whose labels include
// want, and whether that series exists. For histograms it is the count.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
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
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
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
	)
	istio := istioFake{istiofake.NewSimpleClientset(&istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"},
		Spec: networkingv1alpha3.VirtualService{
			Hosts: []string{"checkout"},
			Http:  []*networkingv1alpha3.HTTPRoute{{Name: "primary", Fault: abortFault(500, 100)}},
		},
	})}
	refs, err := ParseServices("shop/checkout,shop/cart,shop/payments")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Services:    refs,
		RPS:         200,
		Capacity:    1000,
		HeaderShare: 0.2,
		BaseLatency: 20 * time.Millisecond,
		Tick:        10 * time.Millisecond,
		Seed:        1,
		Log:         slog.New(slog.NewTextHandler(t.Output(), nil)),
	}, kube, istio)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	// Before Run the series already exist at zero, so rate() has a first
	// sample from the start.
	mfs := scrape(t, srv.URL)
	for _, svc := range []string{"checkout", "cart", "payments"} {
		for _, code := range []string{"200", "503"} {
			if v, ok := sample(mfs, "istio_requests_total", requests(svc, code, "-")); !ok || v != 0 {
				t.Errorf("%s %s before any traffic: %v (present %v), want a 0 series", svc, code, v, ok)
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
		return aborted >= enough && served >= enough && outage >= enough
	})
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
