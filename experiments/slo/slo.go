// Package slo turns the SLOs teams already keep (Sloth PrometheusServiceLevels,
// Pyrra ServiceLevelObjectives, OpenSLO v1 documents) into what a run
// samples: the indicator's error ratio over a window, the multi-window burn
// rate, and the share of the error budget left. It is pure: the objects are
// handed to it already read (package providers reads them), and it returns
// PromQL text and conditions, so every derivation is checked in a table test.
package slo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/probes"
)

// DefaultSlothPeriod is the period of a Sloth SLO: Sloth's Kubernetes objects
// carry none, and Sloth itself counts the error budget over 30 days unless
// started with another default.
const DefaultSlothPeriod = 30 * 24 * time.Hour

// MaxQueryLength bounds each query an SLO object contributes. The derived
// queries land in the run's status and are sent to Prometheus at every
// sample; an indicator longer than this belongs in a recording rule.
const MaxQueryLength = 4096

// ErrNotFound marks the error of an object that holds no SLO of the name
// asked for, as opposed to one whose SLO cannot be used.
var ErrNotFound = errors.New("no SLO of that name")

// ErrUnreadable marks the error of OpenSLO data that is not YAML at all, such
// as another key of the same ConfigMap.
var ErrUnreadable = errors.New("not YAML")

// markedError carries a message of its own and matches mark under errors.Is.
type markedError struct {
	mark error
	msg  string
}

func (e markedError) Error() string        { return e.msg }
func (e markedError) Is(target error) bool { return target == e.mark }

// windowMark stands for the window in an SLI's error-ratio template. A NUL
// byte cannot be typed into any query Faultline accepts (inputs holding one
// are refused), so substituting it never touches the user's own text.
const windowMark = "\x00window\x00"

// SLI is what Faultline derives from one SLO: where it came from, its
// objective and period, and how to compute its error ratio over any window.
// Build one with FromSloth, FromPyrra or FromOpenSLO.
type SLI struct {
	// Source names the object, such as "sloth.slok.dev/v1
	// PrometheusServiceLevel shop/checkout, slo requests-availability".
	Source string
	// Objective is the share of good events promised, between 0 and 1
	// (exclusive), such as 0.999.
	Objective float64
	// Period is the span the error budget is counted over, such as 30 days.
	Period time.Duration

	// errorRatio is a PromQL expression returning the share of bad events
	// (0 to 1) with windowMark wherever the window goes.
	errorRatio string
}

// Budget is the error budget as a ratio of events, 1 - Objective, rounded
// to the six significant digits every derived query and condition uses, so
// that 0.999 gives 0.001 rather than 0.0010000000000000009.
func (s SLI) Budget() string {
	return probes.FormatValue(1 - s.Objective)
}

// ErrorRatioQuery is the indicator's error ratio (bad events over all
// events, 0 to 1) over window. It returns NaN when the window saw no events
// at all (0/0), which no condition passes: a service that serves nothing is
// not healthy.
func (s SLI) ErrorRatioQuery(window time.Duration) string {
	return strings.ReplaceAll(s.errorRatio, windowMark, PromDuration(window))
}

// BurnRateQuery is the lower of the two burn rates (error ratio over the
// error budget) over long and short, in one sample: a guard on it breaches
// only when both windows burn faster than its factor, as a multi-window
// burn-rate alert does. It is
//
//	clamp_max((ratio over long) / budget, scalar((ratio over short) / budget))
//
// so it has no sample when the long window has no series (the probe reports
// no data), and is NaN when either window saw no events, or the short window
// has no series or several (scalar answers NaN): a guard fails on NaN rather
// than vouch for a window it cannot see.
func (s SLI) BurnRateQuery(long, short time.Duration) string {
	budget := s.Budget()
	return fmt.Sprintf("clamp_max((%s) / %s, scalar((%s) / %s))",
		s.ErrorRatioQuery(long), budget, s.ErrorRatioQuery(short), budget)
}

// BudgetRemainingQuery is the share of the period's error budget left:
// 1 - (error ratio over the period) / budget. It is 1 with no errors, 0
// with the budget spent, negative beyond; NaN when the period saw no events.
func (s SLI) BudgetRemainingQuery() string {
	return fmt.Sprintf("1 - (%s) / %s", s.ErrorRatioQuery(s.Period), s.Budget())
}

// ProbeCondition is the hypothesis an slo probe without a condition of its
// own is judged by: the error ratio stays within the budget,
// <= 1 - objective.
func (s SLI) ProbeCondition() chaosv1alpha1.Hypothesis {
	return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: s.Budget()}
}

// GuardCondition is the hypothesis an slo guard is judged by: the burn rate
// of BurnRateQuery stays below factor, such as "14.4".
func GuardCondition(factor string) chaosv1alpha1.Hypothesis {
	return chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLess, Value: strings.TrimSpace(factor)}
}

// PromDuration writes d as Prometheus writes durations, such as "5m",
// "1h30m" or "30d", so a window reads in a query as its author wrote it.
// Sub-millisecond parts are dropped: Prometheus has no unit for them.
func PromDuration(d time.Duration) string {
	return model.Duration(d).String()
}

// promQL parses the queries SLO objects contribute, to refuse those
// Prometheus would refuse when the run starts rather than at every sample.
// Experimental functions are accepted: whether they work is the server's
// setting.
var promQL = parser.NewParser(parser.Options{EnableExperimentalFunctions: true})

// fromPercent turns a percentage into a ratio without the rounding error of
// dividing by 100 (99.9 / 100 is 0.9990000000000001): the shortest decimal
// of p, shifted two places, is parsed back.
func fromPercent(p float64) float64 {
	text := strconv.FormatFloat(p, 'f', -1, 64)
	if r, err := strconv.ParseFloat(text+"e-2", 64); err == nil {
		return r
	}
	return p / 100
}

// newSLI checks what every source produced and returns the SLI: an objective
// with an error budget, a period, and an error ratio that parses.
func newSLI(source string, objective float64, period time.Duration, errorRatio string) (SLI, error) {
	if !(objective > 0 && objective < 1) {
		return SLI{}, fmt.Errorf("%s: objective %v is not between 0%% and 100%% exclusive; write one such as 99.9%%, which leaves a 0.1%% error budget", source, objective)
	}
	if period <= 0 {
		return SLI{}, fmt.Errorf("%s: the period is not a positive duration; write one such as 30d", source)
	}
	s := SLI{Source: source, Objective: objective, Period: period, errorRatio: errorRatio}
	probe := s.ErrorRatioQuery(time.Minute)
	expr, err := promQL.ParseExpr(probe)
	if err != nil {
		return SLI{}, fmt.Errorf("%s: the error ratio %s does not parse: %s", source, probe, firstParseError(err))
	}
	// A scalar would do for a probe, but not inside the burn rate's
	// clamp_max, which takes an instant vector.
	if expr.Type() != parser.ValueTypeVector {
		return SLI{}, fmt.Errorf("%s: the error ratio %s returns a %s, not an instant vector of one series: write it over series, such as sum(rate(errors[5m])) / sum(rate(requests[5m]))", source, probe, expr.Type())
	}
	return s, nil
}

// checkQuery refuses what cannot be a query of an SLO's indicator: empty,
// too long, or holding a NUL byte.
func checkQuery(source, field, query string) error {
	switch {
	case strings.TrimSpace(query) == "":
		return fmt.Errorf("%s: %s is empty; write a PromQL query, such as http_requests_total{job=\"checkout\"}", source, field)
	case len(query) > MaxQueryLength:
		return fmt.Errorf("%s: %s is %d characters long, more than the %d Faultline reads; record it with a Prometheus recording rule and use the rule's series", source, field, len(query), MaxQueryLength)
	case strings.ContainsRune(query, 0):
		return fmt.Errorf("%s: %s holds a NUL byte; write plain PromQL", source, field)
	}
	return nil
}

// selector parses query as one series selector, such as
// http_requests_total{code=~"5.."}, the form Pyrra requires of its metrics.
func selector(source, field, query string) (string, error) {
	if err := checkQuery(source, field, query); err != nil {
		return "", err
	}
	query = strings.TrimSpace(query)
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		return "", fmt.Errorf("%s: %s %s does not parse: %s; write a series selector such as http_requests_total{job=\"checkout\"}", source, field, query, firstParseError(err))
	}
	if _, ok := expr.(*parser.VectorSelector); !ok {
		return "", fmt.Errorf("%s: %s %s is not a series selector; write the metric and its labels only, such as http_requests_total{job=\"checkout\"}, without functions, ranges or aggregations", source, field, query)
	}
	return query, nil
}

// isSelector reports whether query is one series selector.
func isSelector(query string) bool {
	expr, err := promQL.ParseExpr(query)
	if err != nil {
		return false
	}
	_, ok := expr.(*parser.VectorSelector)
	return ok
}

// firstParseError returns the parser's first message, with its position.
func firstParseError(err error) string {
	var errs parser.ParseErrors
	if errors.As(err, &errs) && len(errs) > 0 {
		return errs[0].Error()
	}
	return err.Error()
}

// names lists what an object holds, for an error saying what could have
// been meant; at most 20, then how many more.
func names(all []string) string {
	if len(all) == 0 {
		return "none"
	}
	const most = 20
	if len(all) <= most {
		return strings.Join(all, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(all[:most], ", "), len(all)-most)
}
