package faults

// Route resolution: which http routes of a VirtualService a run hurts, found
// by name, and the narrowed copy a scoped fault inserts ahead of each.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	istionetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/klog/v2"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// resolveRoutes returns the names of the routes to hurt: names, each of which
// must name exactly one http route, or every http route when names is empty.
// Routes are found by name so that revert finds the same route however others
// reorder the list; an unnamed route could not be found again.
func resolveRoutes(vs *networkingv1.VirtualService, http []*istionetworking.HTTPRoute, names []string) ([]string, error) {
	if len(http) == 0 {
		if len(vs.Spec.GetTcp()) > 0 || len(vs.Spec.GetTls()) > 0 {
			return nil, fmt.Errorf("VirtualService %s has no http routes, only tcp or tls ones; an Istio fault can only delay or abort http routes", klog.KObj(vs))
		}
		return nil, fmt.Errorf("VirtualService %s has no http routes to delay or abort", klog.KObj(vs))
	}
	count := map[string]int{}
	var have []string
	for i, route := range http {
		if route.GetName() == "" {
			if len(names) == 0 {
				return nil, fmt.Errorf("VirtualService %s: http route #%d has no name; Faultline finds routes by name to revert exactly what it changed, so name every http route or list the ones to hurt in fault.istio.routes", klog.KObj(vs), i)
			}
			continue
		}
		if count[route.GetName()] == 0 {
			have = append(have, route.GetName())
		}
		count[route.GetName()]++
	}
	if len(names) == 0 {
		names = have
	}
	for _, name := range names {
		switch count[name] {
		case 0:
			return nil, fmt.Errorf("VirtualService %s has no http route named %q; it has: %s", klog.KObj(vs), name, strings.Join(have, ", "))
		case 1:
		default:
			return nil, fmt.Errorf("VirtualService %s has %d http routes named %q; Faultline cannot tell which one it would revert", klog.KObj(vs), count[name], name)
		}
	}
	return names, nil
}

// insertedRouteName names the copy a scoped fault inserts ahead of route.
// It is derived from the run, so Prepare after a restart names it the same,
// and runs never collide on it.
func insertedRouteName(route, run string) string {
	sum := sha256.Sum256([]byte(run))
	return "faultline-" + route + "-" + hex.EncodeToString(sum[:])[:8]
}

// scopedRoute returns a copy of route named name, with fault set and match
// ANDed into each of its match blocks (Istio ORs blocks and ANDs conditions
// within one), so the copy matches a subset of what route matches and sends
// it to the same destinations. A route without match blocks matches
// everything; its copy gets one block with just match.
//
// A block that already requires a header or source label to be something
// else is refused: replacing that condition would widen the copy beyond the
// original route and hurt traffic that the route never carried.
func scopedRoute(route *istionetworking.HTTPRoute, match *chaosv1alpha1.IstioMatch, name string, fault *istionetworking.HTTPFaultInjection) (*istionetworking.HTTPRoute, error) {
	scoped := proto.Clone(route).(*istionetworking.HTTPRoute)
	scoped.Name = name
	scoped.Fault = proto.Clone(fault).(*istionetworking.HTTPFaultInjection)
	if len(scoped.Match) == 0 {
		scoped.Match = []*istionetworking.HTTPMatchRequest{{}}
	}
	headers := sortedKeys(match.Headers)
	labels := sortedKeys(match.SourceLabels)
	for b, block := range scoped.Match {
		for _, key := range headers {
			// Header names are case-insensitive in HTTP, and Istio's
			// validation rejects upper-case ones.
			header, want := strings.ToLower(key), match.Headers[key]
			if existing, ok := block.Headers[header]; ok {
				if _, exact := existing.GetMatchType().(*istionetworking.StringMatch_Exact); !exact || existing.GetExact() != want {
					return nil, fmt.Errorf("http route %q match #%d already matches header %q with another condition; a scoped fault can only narrow a route", route.GetName(), b, header)
				}
				continue
			}
			if block.Headers == nil {
				block.Headers = map[string]*istionetworking.StringMatch{}
			}
			block.Headers[header] = &istionetworking.StringMatch{MatchType: &istionetworking.StringMatch_Exact{Exact: want}}
		}
		for _, key := range labels {
			want := match.SourceLabels[key]
			if existing, ok := block.SourceLabels[key]; ok {
				if existing != want {
					return nil, fmt.Errorf("http route %q match #%d already requires source label %s=%s; a scoped fault can only narrow a route", route.GetName(), b, key, existing)
				}
				continue
			}
			if block.SourceLabels == nil {
				block.SourceLabels = map[string]string{}
			}
			block.SourceLabels[key] = want
		}
	}
	return scoped, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
