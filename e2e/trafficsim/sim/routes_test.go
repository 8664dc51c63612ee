package sim

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

func exact(v string) *networkingv1alpha3.StringMatch {
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: v}}
}

func prefix(v string) *networkingv1alpha3.StringMatch {
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: v}}
}

func regex(v string) *networkingv1alpha3.StringMatch {
	return &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: v}}
}

func headerMatch(h map[string]*networkingv1alpha3.StringMatch) *networkingv1alpha3.HTTPMatchRequest {
	return &networkingv1alpha3.HTTPMatchRequest{Headers: h}
}

func abortFault(status int32, percent float64) *networkingv1alpha3.HTTPFaultInjection {
	return &networkingv1alpha3.HTTPFaultInjection{Abort: &networkingv1alpha3.HTTPFaultInjection_Abort{
		ErrorType:  &networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: status},
		Percentage: &networkingv1alpha3.Percent{Value: percent},
	}}
}

func delayFault(d time.Duration, percent float64) *networkingv1alpha3.HTTPFaultInjection {
	return &networkingv1alpha3.HTTPFaultInjection{Delay: &networkingv1alpha3.HTTPFaultInjection_Delay{
		HttpDelayType: &networkingv1alpha3.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(d)},
		Percentage:    &networkingv1alpha3.Percent{Value: percent},
	}}
}

func mustCompile(t *testing.T, http ...*networkingv1alpha3.HTTPRoute) []Route {
	t.Helper()
	routes, err := CompileRoutes(&networkingv1alpha3.VirtualService{Http: http})
	if err != nil {
		t.Fatalf("CompileRoutes: %v", err)
	}
	return routes
}

func canary() Request { return Request{Headers: map[string]string{CanaryHeader: "true"}} }

func TestFirstMatch(t *testing.T) {
	catchAll := &networkingv1alpha3.HTTPRoute{Name: "primary"}
	tests := map[string]struct {
		http         []*networkingv1alpha3.HTTPRoute
		req          Request
		sourceLabels map[string]string
		want         int
	}{
		"a route without a match block takes every request": {
			http: []*networkingv1alpha3.HTTPRoute{catchAll},
			req:  Request{},
			want: 0,
		},
		"an exact header takes the canary": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")})}},
				catchAll,
			},
			req:  canary(),
			want: 0,
		},
		"an exact header lets a request without it fall through": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")})}},
				catchAll,
			},
			req:  Request{},
			want: 1,
		},
		"an exact header with another value does not match": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("false")})}},
			},
			req:  canary(),
			want: -1,
		},
		"a prefix header matches the start of the value": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: prefix("tr")})}},
			},
			req:  canary(),
			want: 0,
		},
		"a regex must match the whole value, as in Envoy": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: regex("tr")})}},
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: regex("t.*e")})}},
			},
			req:  canary(),
			want: 1,
		},
		"an empty string match only needs the header to be present": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: {}})}},
			},
			req:  Request{Headers: map[string]string{CanaryHeader: "anything"}},
			want: 0,
		},
		"header names match whatever their case in the VirtualService": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{"X-Faultline-Canary": exact("true")})}},
			},
			req:  canary(),
			want: 0,
		},
		"the entries of a match block are ORed": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{
					headerMatch(map[string]*networkingv1alpha3.StringMatch{"x-other": exact("1")}),
					headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")}),
				}},
			},
			req:  canary(),
			want: 0,
		},
		"the conditions of one entry are ANDed": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{headerMatch(map[string]*networkingv1alpha3.StringMatch{
					"x-other":    exact("1"),
					CanaryHeader: exact("true"),
				})}},
				catchAll,
			},
			req:  canary(),
			want: 1,
		},
		"withoutHeaders keeps the canary off the route": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{{WithoutHeaders: map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")}}}},
				catchAll,
			},
			req:  canary(),
			want: 1,
		},
		"withoutHeaders holds when the header is absent": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{{WithoutHeaders: map[string]*networkingv1alpha3.StringMatch{CanaryHeader: exact("true")}}}},
			},
			req:  Request{},
			want: 0,
		},
		"sourceLabels match the simulated caller's labels": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Match: []*networkingv1alpha3.HTTPMatchRequest{{SourceLabels: map[string]string{"app": "frontend"}}}},
				{Match: []*networkingv1alpha3.HTTPMatchRequest{{SourceLabels: map[string]string{"app": "trafficsim"}}}},
			},
			req:          Request{},
			sourceLabels: map[string]string{"app": "trafficsim"},
			want:         1,
		},
		"the first of several matching routes wins": {
			http: []*networkingv1alpha3.HTTPRoute{
				{Name: "first"},
				{Name: "second"},
			},
			req:  canary(),
			want: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			routes := mustCompile(t, tc.http...)
			if got := FirstMatch(routes, tc.req, tc.sourceLabels); got != tc.want {
				t.Errorf("FirstMatch = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCompileRoutes(t *testing.T) {
	tests := map[string]struct {
		route   *networkingv1alpha3.HTTPRoute
		want    *Fault
		wantErr bool
	}{
		"percentage sets the delayed and aborted shares": {
			route: &networkingv1alpha3.HTTPRoute{Fault: &networkingv1alpha3.HTTPFaultInjection{
				Delay: delayFault(2*time.Second, 25).Delay,
				Abort: abortFault(503, 10).Abort,
			}},
			want: &Fault{Delay: 2 * time.Second, DelayPercent: 25, AbortStatus: 503, AbortPercent: 10},
		},
		"the legacy integer percent still sets the delayed share": {
			route: &networkingv1alpha3.HTTPRoute{Fault: &networkingv1alpha3.HTTPFaultInjection{Delay: &networkingv1alpha3.HTTPFaultInjection_Delay{
				Percent:       40, //nolint:staticcheck // the legacy field is what this case exercises
				HttpDelayType: &networkingv1alpha3.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(time.Second)},
			}}},
			want: &Fault{Delay: time.Second, DelayPercent: 40},
		},
		"an abort without percentage aborts nothing": {
			route: &networkingv1alpha3.HTTPRoute{Fault: &networkingv1alpha3.HTTPFaultInjection{Abort: &networkingv1alpha3.HTTPFaultInjection_Abort{
				ErrorType: &networkingv1alpha3.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: 500},
			}}},
			want: &Fault{AbortStatus: 500},
		},
		"a percentage above 100 is clamped": {
			route: &networkingv1alpha3.HTTPRoute{Fault: abortFault(500, 250)},
			want:  &Fault{AbortStatus: 500, AbortPercent: 100},
		},
		"a gRPC abort is reported and not modelled": {
			route: &networkingv1alpha3.HTTPRoute{Fault: &networkingv1alpha3.HTTPFaultInjection{Abort: &networkingv1alpha3.HTTPFaultInjection_Abort{
				ErrorType:  &networkingv1alpha3.HTTPFaultInjection_Abort_GrpcStatus{GrpcStatus: "UNAVAILABLE"},
				Percentage: &networkingv1alpha3.Percent{Value: 100},
			}}},
			want:    &Fault{},
			wantErr: true,
		},
		"an invalid regex is reported and never matches": {
			route: &networkingv1alpha3.HTTPRoute{Match: []*networkingv1alpha3.HTTPMatchRequest{
				headerMatch(map[string]*networkingv1alpha3.StringMatch{CanaryHeader: regex("(")}),
			}},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			routes, err := CompileRoutes(&networkingv1alpha3.VirtualService{Http: []*networkingv1alpha3.HTTPRoute{tc.route}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(routes) != 1 {
				t.Fatalf("got %d routes, want 1 even when part of it is not modelled", len(routes))
			}
			got := routes[0].Fault
			switch {
			case tc.want == nil && got != nil:
				t.Errorf("fault = %+v, want none", *got)
			case tc.want != nil && (got == nil || *got != *tc.want):
				t.Errorf("fault = %+v, want %+v", got, *tc.want)
			}
			if len(tc.route.GetMatch()) > 0 && FirstMatch(routes, canary(), nil) != -1 {
				t.Errorf("a route with an invalid condition took a request")
			}
		})
	}
}
