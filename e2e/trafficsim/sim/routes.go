package sim

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// Route is an http route of a VirtualService, reduced to what the model needs
// and with its regular expressions compiled once per VirtualService change
// rather than once per request.
type Route struct {
	// Name is the route's name; kept for logs only, since Istio's standard
	// metrics carry no route label.
	Name string
	// Matches are ORed, as in Istio: a request takes the route if any entry
	// holds. No entries means the route takes every request.
	Matches []Match
	// Fault is nil when the route injects nothing.
	Fault *Fault
}

// Match is one HTTPMatchRequest: all of its conditions must hold.
//
// Only the conditions a simulated request can carry are modelled: headers,
// withoutHeaders and sourceLabels. Conditions on the URI, method, port,
// authority, query parameters and so on are ignored (they hold), because a
// simulated request has no such properties and Faultline only scopes faults
// with headers and source labels.
type Match struct {
	// Headers maps lower-case header names to the condition their value
	// must meet.
	Headers map[string]StringMatcher
	// WithoutHeaders maps lower-case header names to a condition that must
	// not hold; an absent header satisfies it.
	WithoutHeaders map[string]StringMatcher
	// SourceLabels must all be carried by the calling workload.
	SourceLabels map[string]string
}

// StringMatcher is a compiled Istio StringMatch.
type StringMatcher struct {
	kind  matchKind
	value string
	re    *regexp.Regexp
}

type matchKind int

const (
	// matchPresent is what Istio does with an empty StringMatch on a
	// header: the header only has to be there.
	matchPresent matchKind = iota
	matchExact
	matchPrefix
	matchRegex
	// matchNever stands for a condition that cannot be evaluated, such as
	// an invalid regex; Istio's validation would have refused it, so no
	// request should take that branch.
	matchNever
)

// Fault is a route's fault injection with the percentages resolved.
type Fault struct {
	// DelayPercent is the share of requests delayed, 0 to 100.
	DelayPercent float64
	// Delay is the fixed delay added to a delayed request.
	Delay time.Duration
	// AbortPercent is the share of requests aborted, 0 to 100.
	AbortPercent float64
	// AbortStatus is the HTTP status of an aborted request; 0 means the
	// route has no HTTP abort.
	AbortStatus int
}

// Request is one simulated request as the route matcher sees it.
type Request struct {
	// Headers uses lower-case names, as Envoy lowercases them before
	// matching.
	Headers map[string]string
}

// Matches reports whether the string matcher holds for value; present says
// whether the header was on the request at all.
func (m StringMatcher) Matches(value string, present bool) bool {
	if !present {
		return false
	}
	switch m.kind {
	case matchPresent:
		return true
	case matchExact:
		return value == m.value
	case matchPrefix:
		return strings.HasPrefix(value, m.value)
	case matchRegex:
		return m.re.MatchString(value)
	default:
		return false
	}
}

// Holds reports whether every condition of the match holds for req sent by a
// workload carrying sourceLabels.
func (m Match) Holds(req Request, sourceLabels map[string]string) bool {
	for name, sm := range m.Headers {
		v, ok := req.Headers[name]
		if !sm.Matches(v, ok) {
			return false
		}
	}
	for name, sm := range m.WithoutHeaders {
		v, ok := req.Headers[name]
		if sm.Matches(v, ok) {
			return false
		}
	}
	for k, want := range m.SourceLabels {
		if got, ok := sourceLabels[k]; !ok || got != want {
			return false
		}
	}
	return true
}

// Takes reports whether the route takes req.
func (r Route) Takes(req Request, sourceLabels map[string]string) bool {
	if len(r.Matches) == 0 {
		return true
	}
	for _, m := range r.Matches {
		if m.Holds(req, sourceLabels) {
			return true
		}
	}
	return false
}

// FirstMatch returns the index of the first route that takes req, as Istio
// evaluates http routes in order, or -1 when none does.
func FirstMatch(routes []Route, req Request, sourceLabels map[string]string) int {
	for i, r := range routes {
		if r.Takes(req, sourceLabels) {
			return i
		}
	}
	return -1
}

// CompileRoutes turns the http routes of a VirtualService spec into Routes.
// It always returns the routes it could build; the error lists the conditions
// that could not be compiled (those never match) and the faults that are not
// modelled, so the caller can log them.
func CompileRoutes(spec *networkingv1alpha3.VirtualService) ([]Route, error) {
	var errs []error
	routes := make([]Route, 0, len(spec.GetHttp()))
	for i, hr := range spec.GetHttp() {
		r := Route{Name: hr.GetName()}
		for _, mr := range hr.GetMatch() {
			m := Match{SourceLabels: mr.GetSourceLabels()}
			m.Headers, errs = compileHeaders(mr.GetHeaders(), i, errs)
			m.WithoutHeaders, errs = compileHeaders(mr.GetWithoutHeaders(), i, errs)
			r.Matches = append(r.Matches, m)
		}
		r.Fault, errs = compileFault(hr.GetFault(), i, errs)
		routes = append(routes, r)
	}
	return routes, errors.Join(errs...)
}

func compileHeaders(in map[string]*networkingv1alpha3.StringMatch, route int, errs []error) (map[string]StringMatcher, []error) {
	if len(in) == 0 {
		return nil, errs
	}
	out := make(map[string]StringMatcher, len(in))
	for name, sm := range in {
		m, err := compileStringMatch(sm)
		if err != nil {
			errs = append(errs, fmt.Errorf("http[%d] header %q: %w", route, name, err))
		}
		out[strings.ToLower(name)] = m
	}
	return out, errs
}

func compileStringMatch(sm *networkingv1alpha3.StringMatch) (StringMatcher, error) {
	switch t := sm.GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		return StringMatcher{kind: matchExact, value: t.Exact}, nil
	case *networkingv1alpha3.StringMatch_Prefix:
		return StringMatcher{kind: matchPrefix, value: t.Prefix}, nil
	case *networkingv1alpha3.StringMatch_Regex:
		// Envoy's safe_regex must match the whole value, unlike Go's
		// MatchString, hence the anchors.
		re, err := regexp.Compile(`^(?:` + t.Regex + `)$`)
		if err != nil {
			return StringMatcher{kind: matchNever}, err
		}
		return StringMatcher{kind: matchRegex, value: t.Regex, re: re}, nil
	default:
		return StringMatcher{kind: matchPresent}, nil
	}
}

func compileFault(in *networkingv1alpha3.HTTPFaultInjection, route int, errs []error) (*Fault, []error) {
	if in == nil {
		return nil, errs
	}
	f := &Fault{}
	if d := in.GetDelay(); d != nil {
		if fd := d.GetFixedDelay(); fd != nil {
			f.Delay = fd.AsDuration()
			// Istio prefers percentage and falls back to the deprecated
			// integer percent; with neither, nothing is delayed.
			if d.GetPercentage() != nil {
				f.DelayPercent = clampPercent(d.GetPercentage().GetValue())
			} else {
				f.DelayPercent = clampPercent(float64(d.GetPercent())) //nolint:staticcheck // the legacy field is still served and must be honoured
			}
		} else if d.GetExponentialDelay() != nil {
			errs = append(errs, fmt.Errorf("http[%d]: exponentialDelay is not modelled (Istio does not implement it either)", route))
		}
	}
	if a := in.GetAbort(); a != nil {
		switch {
		case a.GetHttpStatus() != 0:
			f.AbortStatus = int(a.GetHttpStatus())
			// Abort has no legacy percent field: without percentage no
			// request is aborted, as Istio documents.
			f.AbortPercent = clampPercent(a.GetPercentage().GetValue())
		case a.GetGrpcStatus() != "" || a.GetHttp2Error() != "":
			errs = append(errs, fmt.Errorf("http[%d]: only httpStatus aborts are modelled", route))
		}
	}
	return f, errs
}

func clampPercent(p float64) float64 {
	return min(max(p, 0), 100)
}
