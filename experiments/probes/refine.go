package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// A sample sees a Prometheus probe cross its condition up to one interval
// (or a whole gap) after it did. After the fact, Prometheus can evaluate
// the probe's query at every step of the window the crossing lies in, and
// say at which evaluation it crossed: Refine does that for the crossings
// the run engine asks about.

// DefaultRefineStep is the step at which Refine re-evaluates probes: much
// finer than any scrape interval, so the first evaluation that sees the
// scrape which carried a crossing comes at most 25ms after it, wherever the
// scrapes fall. (A step of one scrape interval, aligned to the run's
// samples, would place a crossing up to a whole step after Prometheus had
// the data.) A crossing is as fresh as Prometheus' data: it may lag the
// system by up to one scrape interval.
const DefaultRefineStep = 25 * time.Millisecond

// MaxRefinePoints bounds the evaluations of one range query; a longer
// window is evaluated at a coarser step. Prometheus itself refuses more
// than 11,000 points per series.
const MaxRefinePoints = 11000

// ErrNoCrossing means the re-evaluation did not see the crossing inside
// its window (the data changed since the sample, or lacks the points), so
// it cannot place it.
var ErrNoCrossing = errors.New("the re-evaluation did not see the crossing in its window")

// CrossingKind says which way the steady state crossed.
type CrossingKind string

const (
	// CrossingDeviation is the steady state failing: the first evaluation
	// at which any of the probes failed.
	CrossingDeviation CrossingKind = "Deviation"
	// CrossingRecovery is the steady state returning: the evaluation after
	// the last one at which any of the probes failed.
	CrossingRecovery CrossingKind = "Recovery"
)

// Crossing is an instant the run placed at a sample, which re-evaluating
// its Prometheus probes may place more sharply.
type Crossing struct {
	// Instant names the timeline instant: deviatedAt or recoveredAt.
	Instant string
	// Kind says which way the probes crossed.
	Kind CrossingKind
	// Probes names the Prometheus steady-state probes whose crossing made it.
	Probes []string
	// From is the earliest the crossing can be: the injection.
	From time.Time
	// To is the latest it can be: the sample that placed it.
	To time.Time
}

// Refined is a Crossing placed by re-evaluation.
type Refined struct {
	// Instant names the timeline instant, as the Crossing did.
	Instant string
	// At is the first evaluation that crossed, when Err is nil.
	At time.Time
	// Within is how long before At the crossing may have happened: the
	// space back to the evaluation before it, the step when none was missing.
	Within time.Duration
	// Err says why the crossing could not be placed.
	Err error
}

// Point is one evaluation of a query.
type Point struct {
	At    time.Time
	Value float64
}

// RangeProvider evaluates a query at every step of a range.
type RangeProvider interface {
	// QueryRange evaluates query at start, start+step, ... up to end, and
	// returns the points of its one series in time order; no series wraps
	// ErrNoData, several wrap ErrMultipleSeries.
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Point, error)
}

// Refine places each crossing at the first evaluation, at step (zero means
// DefaultRefineStep, made coarser past MaxRefinePoints), of its probes'
// queries that crossed. The evaluations are aligned to end at the crossing's
// sample and start at least one step before its From, so the evaluation
// before the injection is seen. A crossing that cannot be placed (no range
// provider, a query that fails or has no data, a crossing not seen) has
// Err set; Refine itself never fails.
func Refine(ctx context.Context, m MetricsProvider, spec *chaosv1alpha1.ExperimentSpec, crossings []Crossing, step time.Duration) []Refined {
	out := make([]Refined, len(crossings))
	rp, _ := m.(RangeProvider)
	var wg sync.WaitGroup
	for i, c := range crossings {
		out[i].Instant = c.Instant
		if rp == nil {
			out[i].Err = errors.New("the metrics provider cannot evaluate a range")
			continue
		}
		wg.Go(func() { refineOne(ctx, rp, spec, c, step, &out[i]) })
	}
	wg.Wait()
	return out
}

// refineStep is step, or coarser so the window [from-step, to] holds at
// most MaxRefinePoints evaluations.
func refineStep(from, to time.Time, step time.Duration) time.Duration {
	if step <= 0 {
		step = DefaultRefineStep
	}
	// The grid holds ceil((to-from)/step) + 2 evaluations (see refineOne).
	if evaluations := (to.Sub(from)+step-1)/step + 2; evaluations > MaxRefinePoints {
		span := to.Sub(from) + step
		step = (span + MaxRefinePoints - 2) / (MaxRefinePoints - 1)
		// Whole milliseconds, rounded up: the API takes the step in
		// seconds, and rounding down could pass the bound again.
		step = (step + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	}
	return step
}

func refineOne(ctx context.Context, rp RangeProvider, spec *chaosv1alpha1.ExperimentSpec, c Crossing, step time.Duration, out *Refined) {
	if !c.To.After(c.From) {
		out.Err = fmt.Errorf("the crossing's window %s to %s is empty", c.From, c.To)
		return
	}
	step = refineStep(c.From, c.To, step)
	// The grid ends at the sample, so the evaluation at the sample's own
	// instant is one of them.
	steps := (c.To.Sub(c.From) + step - 1) / step
	start := c.To.Add(-time.Duration(steps+1) * step)

	type found struct {
		at, prev time.Time
		err      error
	}
	results := make([]found, len(c.Probes))
	var wg sync.WaitGroup
	for i, name := range c.Probes {
		probe := prometheusProbe(spec, name)
		if probe == nil {
			results[i].err = fmt.Errorf("probe %q is not a Prometheus probe with a condition", name)
			continue
		}
		wg.Go(func() {
			points, err := rp.QueryRange(ctx, probe.Prometheus.Query, start, c.To, step)
			if err != nil {
				results[i].err = err
				return
			}
			results[i].at, results[i].prev, results[i].err = crossingIn(points, *probe.Condition, c, start)
		})
	}
	wg.Wait()

	var chosen *found
	for i := range results {
		r := &results[i]
		if errors.Is(r.err, ErrNoCrossing) {
			// This probe did not cross in the window: the others place
			// the crossing.
			continue
		}
		if r.err != nil {
			out.Err = fmt.Errorf("probe %s: %w", c.Probes[i], r.err)
			return
		}
		// The steady state deviates when the first probe fails, and
		// returns when the last one passes again.
		if chosen == nil || (c.Kind == CrossingDeviation && r.at.Before(chosen.at)) || (c.Kind == CrossingRecovery && r.at.After(chosen.at)) {
			chosen = r
		}
	}
	if chosen == nil {
		out.Err = ErrNoCrossing
		return
	}
	out.At, out.Within = chosen.at, chosen.at.Sub(chosen.prev)
}

// crossingIn finds the crossing of kind c.Kind in points: for a
// deviation, the first failing evaluation from c.From on; for a recovery,
// the passing evaluation right after the last failing one, which must come
// no later than c.To. It also returns the evaluation before (start, when
// none is).
func crossingIn(points []Point, cond chaosv1alpha1.Hypothesis, c Crossing, start time.Time) (at, prev time.Time, err error) {
	failing := func(p Point) bool {
		pass, err := Evaluate(p.Value, cond)
		return err != nil || !pass
	}
	prev = start
	switch c.Kind {
	case CrossingDeviation:
		for _, p := range points {
			if !p.At.Before(c.From) && !p.At.After(c.To) && failing(p) {
				return p.At, prev, nil
			}
			prev = p.At
		}
	case CrossingRecovery:
		last := -1
		for i, p := range points {
			if !p.At.After(c.To) && failing(p) {
				last = i
			}
		}
		if last >= 0 && last+1 < len(points) && !points[last+1].At.After(c.To) {
			return points[last+1].At, points[last].At, nil
		}
	}
	return time.Time{}, time.Time{}, ErrNoCrossing
}

// prometheusProbe is the steady-state probe named name, when it is a
// Prometheus probe with a condition.
func prometheusProbe(spec *chaosv1alpha1.ExperimentSpec, name string) *chaosv1alpha1.Probe {
	if spec == nil {
		return nil
	}
	for i, p := range spec.SteadyState.Probes {
		if p.Name == name && p.Prometheus != nil && p.Condition != nil {
			return &spec.SteadyState.Probes[i]
		}
	}
	return nil
}
