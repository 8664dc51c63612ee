// Package probes holds what a steady-state check is and how its answer is
// judged: results and samples, the hypotheses' evaluation, and placing a
// crossing from a range of evaluations. It does no I/O: the providers that
// fetch the numbers are in experiments/providers, so the run engine, which
// imports this package, decides from what it is handed.
package probes

import (
	"context"
	"errors"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ErrNoData means the query returned no sample at all: the series is absent,
// which is not the same as a bad value.
var ErrNoData = errors.New("query returned no data")

// ErrMultipleSeries means the query returned more than one sample, so there
// is no single value to judge; the query must aggregate.
var ErrMultipleSeries = errors.New("query returned more than one series; aggregate it (for example with sum) to one")

// MetricsProvider evaluates a query to exactly one number at an instant.
type MetricsProvider interface {
	Query(ctx context.Context, query string, at time.Time) (float64, error)
}

// Result is one probe, guard or alert check of one sample.
type Result struct {
	// Name of the probe, guard, or alert.
	Name string
	// Kind tells probes, guards and alerts apart.
	Kind chaosv1alpha1.ProbeKind
	// Value measured, when Err is nil. For alerts, 1 when firing, else 0.
	Value float64
	// Pass is whether the hypothesis held (for alerts: whether it was not firing).
	Pass bool
	// Err is set when the value could not be measured.
	Err error
	// Condition is the hypothesis Value was judged by: the spec's condition,
	// WorkloadHypothesis for workload probes, AlertHypothesis for alerts. It is
	// here so a caller ranking values with Worse need not re-derive it per kind.
	Condition chaosv1alpha1.Hypothesis
	// Since is when the check's current pass/fail state began, when the
	// provider saw it begin (a watch event on a probed workload); zero when
	// unknown. The run places a deviation or recovery at it rather than at
	// the sample, when it falls between the previous sample and this one.
	// For an alert, it is when Prometheus' alert state says the alert
	// started firing (see AlertStates).
	Since time.Time
	// SinceWithin is how long before Since the change it dates may have
	// begun: for an alert, Prometheus' rule evaluation interval, zero when
	// Prometheus did not say; zero for a watch event, which is exact.
	SinceWithin time.Duration
}

// Sample is every check taken at one instant.
type Sample struct {
	// At is when the sample was taken, from the run's clock.
	At time.Time
	// Results, probes first, then guards, then alerts.
	Results []Result
	// Groups are the comparison's values when Set.Groups asked for them:
	// the experiment group's, then control's. Their Pass is not set: they
	// are judged together at the end, never one by one.
	Groups []Result
}

// Set says which checks a sample takes.
type Set struct {
	// Probes: the steady-state probes.
	Probes bool
	// Guards: the abort guards.
	Guards bool
	// Alerts: the detection alerts.
	Alerts bool
	// Groups, when set, are the comparison's two queries, one per slice of
	// traffic, sampled as well.
	Groups *GroupQueries
}

// GroupQueries are the queries of a comparison's two groups.
type GroupQueries struct {
	// Experiment selects the faulted slice.
	Experiment string
	// Control selects the rest.
	Control string
}
