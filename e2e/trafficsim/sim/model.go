package sim

import (
	"math/rand/v2"
	"time"
)

// CanaryHeader is the header a share of simulated requests carries, so that
// header-scoped faults have traffic to hurt and traffic to spare.
const CanaryHeader = "x-faultline-canary"

// Response flags, as Envoy reports them in Istio's response_flags label.
const (
	// FlagNone marks a response with nothing unusual about it.
	FlagNone = "-"
	// FlagFaultInjected marks a request aborted by an injected fault.
	FlagFaultInjected = "FI"
	// FlagNoRoute marks a request that no http route of the
	// VirtualService took.
	FlagNoRoute = "NR"
)

// Model turns the state of a Service into the outcome of each request.
type Model struct {
	// RPS is the offered load on the Service, spread over its ready
	// endpoints.
	RPS float64
	// Capacity is how many requests per second one ready endpoint serves
	// before it slows down and sheds load; 0 or less means unlimited.
	Capacity float64
	// BaseLatency is the latency of a request to an endpoint within
	// capacity.
	BaseLatency time.Duration
	// Jitter is the relative spread around the latency, such as 0.1 for
	// ±10%, so histograms do not put every request in one bucket.
	Jitter float64
	// SourceLabels are the labels of the simulated calling workload, for
	// routes matched on sourceLabels.
	SourceLabels map[string]string
	// ErrorRate is the share of requests, 0 to 1, that an upstream within
	// capacity answers 503 all the same: the background noise of a real
	// service, so that a judgement has normal variation to tell harm from.
	// Zero draws nothing, so a service without it sees the random draws it
	// always did.
	ErrorRate float64
}

// Outcome is what happened to one request: what the mesh would record.
type Outcome struct {
	// Code is the HTTP status.
	Code int
	// Flags is Envoy's response flag: FlagNone, FlagFaultInjected or
	// FlagNoRoute.
	Flags string
	// Latency is the duration the mesh would record.
	Latency time.Duration
}

// Canary reports whether the request carries CanaryHeader, the slice of
// traffic header-scoped faults and comparisons single out.
func (r Request) Canary() bool {
	_, ok := r.Headers[CanaryHeader]
	return ok
}

// NewRequest returns a request that carries the canary header with
// probability headerShare.
func NewRequest(rng *rand.Rand, headerShare float64) Request {
	if rng.Float64() < headerShare {
		return Request{Headers: map[string]string{CanaryHeader: "true"}}
	}
	return Request{}
}

// Serve decides the outcome of req against a Service with ready endpoints and
// the http routes of its VirtualService (none when it has no VirtualService).
//
// The order follows Envoy: the client sidecar picks the route, applies its
// delay, then its abort, and only a request that is not aborted reaches the
// endpoints. An injected delay is added to the recorded latency, never slept:
// the metrics are the point, and sleeping would cut the request rate the
// simulator actually produces.
func (m Model) Serve(rng *rand.Rand, ready int, routes []Route, req Request) Outcome {
	var latency time.Duration
	if len(routes) > 0 {
		i := FirstMatch(routes, req, m.SourceLabels)
		if i < 0 {
			// With http routes but none taking the request, Envoy has no
			// route and answers 404 itself.
			return Outcome{Code: 404, Flags: FlagNoRoute}
		}
		if f := routes[i].Fault; f != nil {
			if f.Delay > 0 && hit(rng, f.DelayPercent) {
				latency += f.Delay
			}
			if f.AbortStatus != 0 && hit(rng, f.AbortPercent) {
				return Outcome{Code: f.AbortStatus, Flags: FlagFaultInjected, Latency: latency}
			}
		}
	}
	if ready <= 0 {
		// No healthy upstream: the proxy answers 503 at once.
		return Outcome{Code: 503, Flags: FlagNone, Latency: latency}
	}
	serve := m.jitter(rng, m.BaseLatency)
	if load := m.RPS / float64(ready); m.Capacity > 0 && load > m.Capacity {
		// Past capacity requests queue, so latency grows with the
		// overload, and the share beyond capacity is shed.
		serve = time.Duration(float64(serve) * load / m.Capacity)
		if rng.Float64() < 1-m.Capacity/load {
			return Outcome{Code: 503, Flags: FlagNone, Latency: latency + serve}
		}
	}
	if m.ErrorRate > 0 && rng.Float64() < m.ErrorRate {
		// The upstream itself failed the request: Envoy passes its 503
		// on without a flag of its own.
		return Outcome{Code: 503, Flags: FlagNone, Latency: latency + serve}
	}
	return Outcome{Code: 200, Flags: FlagNone, Latency: latency + serve}
}

func (m Model) jitter(rng *rand.Rand, d time.Duration) time.Duration {
	if m.Jitter <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + m.Jitter*(2*rng.Float64()-1)))
}

// hit draws whether a fault with the given percentage applies.
func hit(rng *rand.Rand, percent float64) bool {
	return rng.Float64()*100 < percent
}
