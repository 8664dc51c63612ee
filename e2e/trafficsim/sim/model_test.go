package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// serveMany sends n requests through the model with a fixed seed, so every
// run of a test sees the same draws.
func serveMany(m Model, ready int, routes []Route, headerShare float64, n int) ([]Request, []Outcome) {
	rng := rand.New(rand.NewPCG(42, 7))
	reqs := make([]Request, n)
	outs := make([]Outcome, n)
	for i := range n {
		reqs[i] = NewRequest(rng, headerShare)
		outs[i] = m.Serve(rng, ready, routes, reqs[i])
	}
	return reqs, outs
}

func shareOf(outs []Outcome, keep func(Outcome) bool) float64 {
	k := 0
	for _, o := range outs {
		if keep(o) {
			k++
		}
	}
	return float64(k) / float64(len(outs))
}

func TestServe(t *testing.T) {
	const base = 20 * time.Millisecond
	tests := map[string]struct {
		ready       int
		rps         float64
		http        []*networkingv1alpha3.HTTPRoute
		headerShare float64
		errorRate   float64
		// want is the share of each status code, within tol.
		want  map[int]float64
		tol   float64
		check func(t *testing.T, reqs []Request, outs []Outcome)
	}{
		"no ready endpoints, every request 503": {
			ready: 0,
			rps:   20,
			want:  map[int]float64{503: 1},
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				if s := shareOf(outs, func(o Outcome) bool { return o.Flags == FlagNone }); s != 1 {
					t.Errorf("share without flags = %v, want 1: an outage is no injected fault", s)
				}
			},
		},
		"within capacity, every request 200 near the base latency": {
			ready: 3,
			rps:   20,
			want:  map[int]float64{200: 1},
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				for _, o := range outs {
					if o.Latency < base*9/10 || o.Latency > base*11/10 {
						t.Fatalf("latency %v, want within 10%% of %v", o.Latency, base)
					}
				}
			},
		},
		"50% abort, about half 503 over 10000 requests": {
			ready: 5,
			rps:   20,
			http:  []*networkingv1alpha3.HTTPRoute{{Fault: abortFault(503, 50)}},
			want:  map[int]float64{503: 0.5, 200: 0.5},
			tol:   0.02,
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				for _, o := range outs {
					if (o.Code == 503) != (o.Flags == FlagFaultInjected) {
						t.Fatalf("outcome %+v: every 503 here is injected and flagged FI", o)
					}
				}
			},
		},
		"header-scoped route only hurts the canary share": {
			ready: 5,
			rps:   20,
			http: []*networkingv1alpha3.HTTPRoute{
				{
					Name:  "faultline-canary",
					Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")})},
					Fault: abortFault(500, 100),
				},
				{Name: "primary"},
			},
			headerShare: 0.2,
			want:        map[int]float64{500: 0.2, 200: 0.8},
			tol:         0.02,
			check: func(t *testing.T, reqs []Request, outs []Outcome) {
				for i, o := range outs {
					_, isCanary := reqs[i].Headers[CanaryHeader]
					if (o.Code == 500) != isCanary {
						t.Fatalf("request %d (canary %v) got %d", i, isCanary, o.Code)
					}
				}
			},
		},
		"over capacity, errors grow": {
			// 40 rps on one endpoint of capacity 10: a quarter is
			// served, four times slower.
			ready: 1,
			rps:   40,
			want:  map[int]float64{503: 0.75, 200: 0.25},
			tol:   0.02,
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				for _, o := range outs {
					if o.Latency < 4*base*9/10 || o.Latency > 4*base*11/10 {
						t.Fatalf("latency %v, want about 4x %v", o.Latency, base)
					}
				}
			},
		},
		"30% delay is recorded on about 30% of requests, none fail": {
			ready: 5,
			rps:   20,
			http:  []*networkingv1alpha3.HTTPRoute{{Fault: delayFault(2*time.Second, 30)}},
			want:  map[int]float64{200: 1},
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				s := shareOf(outs, func(o Outcome) bool { return o.Latency >= 2*time.Second })
				if math.Abs(s-0.3) > 0.02 {
					t.Errorf("delayed share = %v, want about 0.3", s)
				}
			},
		},
		"delay and abort together, aborted requests keep the delay": {
			ready: 5,
			rps:   20,
			http: []*networkingv1alpha3.HTTPRoute{{Fault: &networkingv1alpha3.HTTPFaultInjection{
				Delay: delayFault(time.Second, 100).Delay,
				Abort: abortFault(503, 100).Abort,
			}}},
			want: map[int]float64{503: 1},
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				for _, o := range outs {
					if o.Latency != time.Second || o.Flags != FlagFaultInjected {
						t.Fatalf("outcome %+v, want FI after exactly the 1s delay", o)
					}
				}
			},
		},
		"an abort also hits a service with no ready endpoints first": {
			ready: 0,
			rps:   20,
			http:  []*networkingv1alpha3.HTTPRoute{{Fault: abortFault(500, 100)}},
			want:  map[int]float64{500: 1},
		},
		"base error rate, about 2% answered 503 by the upstream, unflagged": {
			ready:     5,
			rps:       20,
			errorRate: 0.02,
			want:      map[int]float64{503: 0.02, 200: 0.98},
			tol:       0.005,
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				for _, o := range outs {
					if o.Code == 503 && (o.Flags != FlagNone || o.Latency < base*9/10) {
						t.Fatalf("outcome %+v: the upstream's own 503 carries no flag and its serving latency", o)
					}
				}
			},
		},
		"base error rate adds to a header-scoped abort on the canary share only": {
			ready: 5,
			rps:   20,
			http: []*networkingv1alpha3.HTTPRoute{
				{
					Name:  "faultline-canary",
					Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")})},
					Fault: abortFault(500, 10),
				},
				{Name: "primary"},
			},
			headerShare: 0.5,
			errorRate:   0.02,
			// Canary: 10% aborted with 500, then 2% of the rest 503;
			// the others: 2% 503.
			want: map[int]float64{500: 0.05, 503: 0.02*0.5*0.9 + 0.02*0.5},
			tol:  0.006,
			check: func(t *testing.T, reqs []Request, outs []Outcome) {
				for i, o := range outs {
					if o.Code == 500 && !reqs[i].Canary() {
						t.Fatalf("request %d without the canary header was aborted", i)
					}
				}
			},
		},
		"no route takes the request, Envoy answers 404": {
			ready: 5,
			rps:   20,
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")})}},
			},
			want: map[int]float64{404: 1},
			check: func(t *testing.T, _ []Request, outs []Outcome) {
				if outs[0].Flags != FlagNoRoute {
					t.Errorf("flags = %q, want %q", outs[0].Flags, FlagNoRoute)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := Model{RPS: tc.rps, Capacity: 10, BaseLatency: base, Jitter: 0.1, ErrorRate: tc.errorRate}
			reqs, outs := serveMany(m, tc.ready, mustCompile(t, tc.http...), tc.headerShare, 10000)
			for code, want := range tc.want {
				got := shareOf(outs, func(o Outcome) bool { return o.Code == code })
				if math.Abs(got-want) > tc.tol {
					t.Errorf("share of %d = %.4f, want %.2f±%.2f", code, got, want, tc.tol)
				}
			}
			if tc.check != nil {
				tc.check(t, reqs, outs)
			}
		})
	}
}

// TestOverloadGrowsWithLoad checks the shape of the overload model: past
// capacity, both the error share and the latency rise with the load.
func TestOverloadGrowsWithLoad(t *testing.T) {
	const base = 20 * time.Millisecond
	prevErr, prevLat := -1.0, time.Duration(0)
	for _, rps := range []float64{10, 15, 20, 40, 80} {
		m := Model{RPS: rps, Capacity: 10, BaseLatency: base}
		_, outs := serveMany(m, 1, nil, 0, 5000)
		errShare := shareOf(outs, func(o Outcome) bool { return o.Code == 503 })
		lat := outs[0].Latency
		if errShare <= prevErr || lat <= prevLat {
			t.Errorf("rps %v: error share %.3f latency %v, want both above %.3f and %v", rps, errShare, lat, prevErr, prevLat)
		}
		if want := 1 - 10/rps; math.Abs(errShare-want) > 0.03 {
			t.Errorf("rps %v: error share %.3f, want about %.3f", rps, errShare, want)
		}
		prevErr, prevLat = errShare, lat
	}
}

// TestErrorRateZeroDrawsNothing keeps the services without an error rate
// on the random draws they always had: with no error rate (and no route or
// jitter to draw for) serving a request consumes no draw at all, while any
// error rate consumes one.
func TestErrorRateZeroDrawsNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		errorRate float64
		wantDraws bool
	}{
		"no error rate, no draw":                   {0, false},
		"a tiny error rate draws once per request": {1e-12, true},
	} {
		t.Run(name, func(t *testing.T) {
			m := Model{RPS: 20, Capacity: 10, BaseLatency: 20 * time.Millisecond, ErrorRate: tc.errorRate}
			rng := rand.New(rand.NewPCG(1, 2))
			if o := m.Serve(rng, 5, nil, Request{}); o.Code != 200 {
				t.Fatalf("outcome %+v, want 200", o)
			}
			fresh := rand.New(rand.NewPCG(1, 2))
			if drew := rng.Uint64() != fresh.Uint64(); drew != tc.wantDraws {
				t.Errorf("serving drew from the random source: %v, want %v", drew, tc.wantDraws)
			}
		})
	}
}
