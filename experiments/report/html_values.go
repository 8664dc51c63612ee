package report

import (
	"fmt"
	"strconv"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// valuesSVG draws, per probe, the values status keeps (baseline, worst,
// last) on the probe's own scale, with its threshold and failing side.
type valuesSVG struct {
	Width, Height         int
	ScaleLeft, ScaleRight float64
	Rows                  []valueRow
	Caption               string
}

type valueRow struct {
	Name        string
	Kind        string
	Y           float64
	Counts      string
	Note        string
	Threshold   *svgTick
	FailingFrom float64 // the failing side, as a band from FailingFrom...
	FailingTo   float64 // ...to FailingTo; equal when there is none
	Points      []valuePoint
	ScaleLo     string
	ScaleHi     string
}

type valuePoint struct {
	Which string // baseline, worst or last
	Label string
	X     float64
	Value string
}

// threshold is what a probe's value is judged against.
type threshold struct {
	op    chaosv1alpha1.ConditionOperator
	value float64
	text  string
}

// probeThresholds reads each probe's threshold from the run's snapshot of
// its Experiment, and from what the run derived: the threshold a condition
// relative to the baseline resolved to, and the condition of a probe or
// guard on an SLO.
func probeThresholds(st *chaosv1alpha1.ExperimentRunStatus) map[probeKey]threshold {
	out := map[probeKey]threshold{}
	spec := st.Experiment
	if spec == nil {
		return out
	}
	add := func(k probeKey, op chaosv1alpha1.ConditionOperator, value, text string) {
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[k] = threshold{op: op, value: v, text: text}
		}
	}
	for _, slo := range st.SLOs {
		if c := slo.Condition; c != nil {
			add(probeKey{slo.Kind, slo.Name}, c.Op, c.Value, string(c.Op)+" "+c.Value)
		}
	}
	resolved := map[string]string{}
	for _, p := range st.Probes {
		if p.Kind == chaosv1alpha1.ProbeKindSteadyState && p.Threshold != "" {
			resolved[p.Name] = p.Threshold
		}
	}
	for _, p := range spec.SteadyState.Probes {
		if c := p.Condition; c != nil && resolved[p.Name] != "" {
			add(probeKey{chaosv1alpha1.ProbeKindSteadyState, p.Name}, c.Op, resolved[p.Name],
				string(c.Op)+" "+c.Value+" → "+string(c.Op)+" "+resolved[p.Name])
		}
	}
	for _, p := range spec.SteadyState.Probes {
		k := probeKey{chaosv1alpha1.ProbeKindSteadyState, p.Name}
		switch {
		case p.Condition != nil:
			add(k, p.Condition.Op, p.Condition.Value, string(p.Condition.Op)+" "+p.Condition.Value)
		case p.Workload != nil:
			minReady := p.Workload.MinReadyPercent
			if minReady == 0 {
				minReady = 100 // the CRD default
			}
			add(k, chaosv1alpha1.OpGreaterEqual, strconv.Itoa(int(minReady)), ">= "+strconv.Itoa(int(minReady))+"% ready")
		}
	}
	if spec.Abort != nil {
		for _, g := range spec.Abort.Guards {
			add(probeKey{chaosv1alpha1.ProbeKindGuard, g.Name}, g.Condition.Op, g.Condition.Value, string(g.Condition.Op)+" "+g.Condition.Value)
		}
	}
	if spec.Detection != nil {
		for _, a := range spec.Detection.Alerts {
			// An alert's value is 1 while it fires, and firing is what the
			// run looks for.
			add(probeKey{chaosv1alpha1.ProbeKindAlert, a}, chaosv1alpha1.OpLess, "1", "firing at 1")
		}
	}
	return out
}

const (
	// valuesLabelClearance is how far apart two points must be for each
	// to carry its own label.
	valuesLabelClearance = 12
	valuesRowHeight      = 34
	valuesScaleLeft      = svgPlotLeft + 40
	valuesScaleRt        = svgPlotRight - 190
)

func newValuesSVG(run *chaosv1alpha1.ExperimentRun, s Summary, lim htmlLimits) *valuesSVG {
	if len(s.Probes) == 0 {
		return nil
	}
	thresholds := probeThresholds(&run.Status)
	v := &valuesSVG{Width: svgWidth, ScaleLeft: valuesScaleLeft, ScaleRight: valuesScaleRt}
	for i, p := range s.Probes[:min(len(s.Probes), lim.probes)] {
		row := valueRow{
			Name: p.Name, Kind: p.Kind, Y: float64(i)*valuesRowHeight + 20,
			Counts: fmt.Sprintf("%d samples, %d failing, %d errors", p.Samples, p.Failures, p.Errors),
		}
		// Status holds the raw names; the summary's are cut, so look the
		// threshold up by the probe's place in status.
		var th *threshold
		if i < len(run.Status.Probes) {
			if t, ok := thresholds[probeKey{run.Status.Probes[i].Kind, run.Status.Probes[i].Name}]; ok {
				th = &t
			}
		}
		type raw struct {
			which, label, text string
		}
		var values []float64
		var points []raw
		for _, r := range []raw{{"baseline", "B", p.Baseline}, {"worst", "W", p.Worst}, {"last", "L", p.Last}} {
			if f, err := strconv.ParseFloat(r.text, 64); err == nil {
				values = append(values, f)
				points = append(points, r)
			}
		}
		if th != nil {
			values = append(values, th.value)
		}
		if len(values) == 0 {
			row.Note = "no value recorded"
			v.Rows = append(v.Rows, row)
			continue
		}
		lo, hi := values[0], values[0]
		for _, f := range values {
			lo, hi = min(lo, f), max(hi, f)
		}
		if hi == lo {
			d := max(abs(lo)*0.1, 1)
			lo, hi = lo-d, hi+d
		}
		pad := (hi - lo) / 10
		lo, hi = lo-pad, hi+pad
		x := func(f float64) float64 { return valuesScaleLeft + (f-lo)/(hi-lo)*(valuesScaleRt-valuesScaleLeft) }
		row.ScaleLo, row.ScaleHi = strconv.FormatFloat(lo, 'g', 4, 64), strconv.FormatFloat(hi, 'g', 4, 64)
		if th != nil {
			row.Threshold = &svgTick{X: x(th.value), Label: lim.clip(th.text)}
			switch th.op {
			case chaosv1alpha1.OpGreater, chaosv1alpha1.OpGreaterEqual:
				row.FailingFrom, row.FailingTo = valuesScaleLeft, x(th.value)
			case chaosv1alpha1.OpLess, chaosv1alpha1.OpLessEqual:
				row.FailingFrom, row.FailingTo = x(th.value), valuesScaleRt
			}
		}
		for _, r := range points {
			f, _ := strconv.ParseFloat(r.text, 64)
			pt := valuePoint{Which: r.which, Label: r.label, X: x(f), Value: r.text}
			// Points that coincide share one label ("W/L"), which would
			// otherwise be printed over each other.
			for i := range row.Points {
				if q := &row.Points[i]; q.Label != "" && abs(q.X-pt.X) < valuesLabelClearance {
					q.Label += "/" + pt.Label
					pt.Label = ""
					break
				}
			}
			row.Points = append(row.Points, pt)
		}
		v.Rows = append(v.Rows, row)
	}
	v.Height = len(v.Rows)*valuesRowHeight + 20
	v.Caption = "The run's status keeps, for each probe, guard and alert, its baseline (B), worst (W) and last (L) values " +
		"and its sample counts, not every sample. They are drawn on each probe's own scale against its threshold " +
		"(the red side fails), not in time; the timeline above draws the spans the run recorded."
	if len(s.Probes) > lim.probes {
		v.Caption += fmt.Sprintf(" %d more probes are not drawn.", len(s.Probes)-lim.probes)
	}
	return v
}
