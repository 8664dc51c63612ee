package slo

import (
	"fmt"
	"regexp"
	"strings"

	slothv1 "github.com/slok/sloth/pkg/kubernetes/api/sloth/v1"
)

// slothWindow matches Sloth's window template variable, spaced or not:
// {{.window}}, {{ .window }}.
var slothWindow = regexp.MustCompile(`\{\{-?\s*\.window\s*-?\}\}`)

// FromSloth derives the SLI of the SLO named sloName in a Sloth
// PrometheusServiceLevel. Events SLIs become (errorQuery) / (totalQuery),
// raw SLIs (errorRatioQuery), each with {{.window}} replaced by the window;
// plugin SLIs are refused, since their queries live in Sloth's plugins.
// The objective is Sloth's percentage over 100; the period is
// DefaultSlothPeriod, Sloth's own default, since the object carries none.
//
// The queries are substituted as text rather than executed as Go templates:
// {{.window}} is the only variable Sloth gives them, and executing a
// template written by whoever may create the object could run loops of any
// length.
func FromSloth(obj *slothv1.PrometheusServiceLevel, sloName string) (SLI, error) {
	what := fmt.Sprintf("PrometheusServiceLevel %s/%s", obj.Namespace, obj.Name)
	var slo *slothv1.SLO
	all := make([]string, 0, len(obj.Spec.SLOs))
	for i := range obj.Spec.SLOs {
		all = append(all, obj.Spec.SLOs[i].Name)
		if obj.Spec.SLOs[i].Name == sloName && slo == nil {
			slo = &obj.Spec.SLOs[i]
		}
	}
	if slo == nil {
		return SLI{}, markedError{ErrNotFound, fmt.Sprintf("%s has no SLO named %q; it has: %s", what, sloName, names(all))}
	}
	where := fmt.Sprintf("%s, slo %s", what, sloName)
	source := SlothKind.GroupVersion().String() + " " + where

	var errorRatio string
	sli := slo.SLI
	switch {
	case sli.Events != nil:
		errorQuery, err := slothTemplate(where, "sli.events.errorQuery", sli.Events.ErrorQuery)
		if err != nil {
			return SLI{}, err
		}
		totalQuery, err := slothTemplate(where, "sli.events.totalQuery", sli.Events.TotalQuery)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("(%s) / (%s)", errorQuery, totalQuery)
	case sli.Raw != nil:
		raw, err := slothTemplate(where, "sli.raw.errorRatioQuery", sli.Raw.ErrorRatioQuery)
		if err != nil {
			return SLI{}, err
		}
		errorRatio = fmt.Sprintf("(%s)", raw)
	case sli.Plugin != nil:
		return SLI{}, fmt.Errorf("%s uses the SLI plugin %q, whose queries only Sloth can build; give the SLO an events SLI (errorQuery and totalQuery) or a raw one (errorRatioQuery)", where, sli.Plugin.ID)
	default:
		return SLI{}, fmt.Errorf("%s has no SLI; write sli.events (errorQuery and totalQuery) or sli.raw (errorRatioQuery)", where)
	}
	return newSLI(source, fromPercent(slo.Objective), DefaultSlothPeriod, errorRatio)
}

// slothTemplate checks one of Sloth's query templates and marks its window.
// Sloth requires {{.window}} in every query, and without it the window
// Faultline asks for would silently be ignored.
func slothTemplate(where, field, query string) (string, error) {
	if err := checkQuery(where, field, query); err != nil {
		return "", err
	}
	query = strings.TrimSpace(query)
	if !slothWindow.MatchString(query) {
		return "", fmt.Errorf("%s: %s %s has no {{.window}}; write the range as [{{.window}}], such as sum(rate(http_requests_total[{{.window}}]))", where, field, query)
	}
	marked := slothWindow.ReplaceAllLiteralString(query, windowMark)
	if i := strings.Index(marked, "{{"); i >= 0 {
		end := strings.Index(marked[i:], "}}")
		action := marked[i:]
		if end >= 0 {
			action = marked[i : i+end+2]
		}
		return "", fmt.Errorf("%s: %s uses the template action %s; Faultline substitutes only {{.window}}: write the rest as plain PromQL", where, field, action)
	}
	return marked, nil
}
