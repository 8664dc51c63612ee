package sim

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// endpoint builds an endpoint of pod name at addr; ready nil leaves the
// condition unset.
func endpoint(name, addr string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{addr},
		Conditions: discoveryv1.EndpointConditions{Ready: ready},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: name},
	}
}

func slice(name, svc string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: "shop",
			Labels:    map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

// readySlice returns a slice of svc with n ready endpoints.
func readySlice(name, svc string, n int) *discoveryv1.EndpointSlice {
	s := slice(name, svc)
	for i := range n {
		s.Endpoints = append(s.Endpoints, endpoint(fmt.Sprintf("%s-%d", svc, i), fmt.Sprintf("10.0.0.%d", i+1), new(true)))
	}
	return s
}

func TestCountReady(t *testing.T) {
	tests := map[string]struct {
		slices []*discoveryv1.EndpointSlice
		want   int
	}{
		"no slices, no endpoints": {want: 0},
		"an unset ready condition counts as ready": {
			slices: []*discoveryv1.EndpointSlice{slice("a", "cart", endpoint("p1", "10.0.0.1", nil))},
			want:   1,
		},
		"a not-ready endpoint is left out": {
			slices: []*discoveryv1.EndpointSlice{slice("a", "cart",
				endpoint("p1", "10.0.0.1", new(true)),
				endpoint("p2", "10.0.0.2", new(false)),
			)},
			want: 1,
		},
		"endpoints add up across slices": {
			slices: []*discoveryv1.EndpointSlice{
				slice("a", "cart", endpoint("p1", "10.0.0.1", nil)),
				slice("b", "cart", endpoint("p2", "10.0.0.2", nil)),
			},
			want: 2,
		},
		"a dual-stack pod listed in two slices counts once": {
			slices: []*discoveryv1.EndpointSlice{
				slice("v4", "cart", endpoint("p1", "10.0.0.1", nil)),
				slice("v6", "cart", endpoint("p1", "fd00::1", nil)),
			},
			want: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := CountReady(tc.slices); got != tc.want {
				t.Errorf("CountReady = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseServices(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []ServiceRef
		wantErr bool
	}{
		"the default list parses in order": {
			in:   "shop/checkout,shop/cart, shop/payments",
			want: []ServiceRef{{"shop", "checkout"}, {"shop", "cart"}, {"shop", "payments"}},
		},
		"a name without namespace is refused": {in: "checkout", wantErr: true},
		"a service listed twice is refused":   {in: "shop/cart,shop/cart", wantErr: true},
		"an empty list is refused":            {in: " , ", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseServices(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
