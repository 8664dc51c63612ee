package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Colours of the comparison's two groups, in the timeline and the strip plot.
const (
	colourExperimentGroup = "#db2777"
	colourControlGroup    = "#0891b2"
)

// svgDot is one sampled value drawn as a small circle.
type svgDot struct {
	X, Y  float64
	Title string
}

// htmlSLO is one SLO's section of the page.
type htmlSLO struct {
	Name, Kind string
	Facts      []htmlFact
}

// htmlComparison is the comparison's section of the page.
type htmlComparison struct {
	Outcome string
	Class   string
	Facts   []htmlFact
	Plot    *groupsSVG
}

// groupsSVG is a strip plot of the two groups on one scale: every kept value
// as a dot, with the box from the first to the third quartile and the
// median.
type groupsSVG struct {
	Width, Height         int
	ScaleLeft, ScaleRight float64
	ScaleLo, ScaleHi      string
	ScaleLabelY           float64
	Rows                  []groupRow
	Caption               string
}

type groupRow struct {
	Name, Class, Summary string
	Y                    float64
	BoxFrom, BoxTo       float64
	MedianX              float64
	HasBox               bool
	Dots                 []svgDot
}

// comparisonGroups pairs each group with its name and colour class.
func comparisonGroups(c *Comparison) []struct {
	name, class string
	group       ComparisonGroup
} {
	return []struct {
		name, class string
		group       ComparisonGroup
	}{
		{"Faulted slice", "group-experiment", c.Experiment},
		{"Control", "group-control", c.Control},
	}
}

// groupValues parses a group's kept values, at most limit of them; values
// that do not parse (the API keeps strings) are left out.
func groupValues(g ComparisonGroup, limit int) []float64 {
	var out []float64
	for _, v := range g.Values[:min(len(g.Values), limit)] {
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	return out
}

// valueScale is the range both groups are drawn on, padded a little, so the
// two are compared on one scale.
func valueScale(groups ...[]float64) (lo, hi float64, ok bool) {
	first := true
	for _, g := range groups {
		for _, f := range g {
			if first {
				lo, hi, first = f, f, false
			}
			lo, hi = min(lo, f), max(hi, f)
		}
	}
	if first {
		return 0, 0, false
	}
	if hi == lo {
		d := max(abs(lo)*0.1, 1e-3)
		lo, hi = lo-d, hi+d
	}
	pad := (hi - lo) / 20
	return lo - pad, hi + pad, true
}

func htmlComparisonOf(s Summary, lim htmlLimits) *htmlComparison {
	c := s.Comparison
	if c == nil {
		return nil
	}
	out := &htmlComparison{Outcome: lim.clip(orNone(c.Outcome)), Class: "outcome-" + outcomeClass(c.Outcome)}
	for _, f := range comparisonFacts(c) {
		out.Facts = append(out.Facts, htmlFact{f.label, lim.clip(f.value)})
	}
	out.Plot = newGroupsSVG(c, lim)
	return out
}

func outcomeClass(outcome string) string {
	switch chaosv1alpha1.ComparisonOutcome(outcome) {
	case chaosv1alpha1.ComparisonHarm:
		return "harm"
	case chaosv1alpha1.ComparisonNoHarm:
		return "noharm"
	}
	return "unjudged"
}

const (
	groupsRowHeight = 40
	groupsScaleLeft = svgPlotLeft
	groupsScaleRt   = svgPlotRight - 220
)

func newGroupsSVG(c *Comparison, lim htmlLimits) *groupsSVG {
	x, y := groupValues(c.Experiment, lim.samples), groupValues(c.Control, lim.samples)
	lo, hi, ok := valueScale(x, y)
	if !ok {
		return nil
	}
	at := func(f float64) float64 { return groupsScaleLeft + (f-lo)/(hi-lo)*(groupsScaleRt-groupsScaleLeft) }
	plot := &groupsSVG{
		Width: svgWidth, ScaleLeft: groupsScaleLeft, ScaleRight: groupsScaleRt,
		ScaleLo: strconv.FormatFloat(lo, 'g', 4, 64), ScaleHi: strconv.FormatFloat(hi, 'g', 4, 64),
	}
	for i, g := range comparisonGroups(c) {
		values := [][]float64{x, y}[i]
		row := groupRow{Name: g.name, Class: g.class, Y: float64(i)*groupsRowHeight + 24,
			Summary: fmt.Sprintf("median %s, %d values", orNone(g.group.Median), len(values))}
		if len(values) > 0 {
			sorted := slices.Sorted(slices.Values(values))
			row.HasBox = true
			row.BoxFrom, row.BoxTo, row.MedianX = at(quantile(sorted, 0.25)), at(quantile(sorted, 0.75)), at(quantile(sorted, 0.5))
		}
		for j, f := range values {
			// A small vertical spread by sample order keeps equal values
			// from hiding each other.
			row.Dots = append(row.Dots, svgDot{X: at(f), Y: row.Y - 6 + float64(j%5)*3,
				Title: fmt.Sprintf("%s sample %d: %s", g.name, j+1, strconv.FormatFloat(f, 'g', -1, 64))})
		}
		plot.Rows = append(plot.Rows, row)
	}
	plot.Height = len(plot.Rows)*groupsRowHeight + 24
	plot.ScaleLabelY = float64(plot.Height) - 4
	plot.Caption = "Every value each group kept, on one scale; the box runs from the first to the third quartile, " +
		"the bar inside it is the median. The test compares the ranks of these values, not their means."
	if len(c.Experiment.Values) > lim.samples || len(c.Control.Values) > lim.samples {
		plot.Caption += fmt.Sprintf(" Only the first %d values of each group are drawn.", lim.samples)
	}
	return plot
}

// quantile of sorted values by linear interpolation between closest ranks.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// comparisonLanes are the timeline's lanes of the two groups' sampled
// values, starting at y.
//
// Status keeps the values, not when each was sampled. They are placed one
// sampling interval apart from injectedAt, the i-th at injectedAt +
// i*interval, which is where the run samples while the fault is held; a
// sample the run took late, or one a group did not answer (counted, not
// kept), shifts the later ones, so the placement is approximate and the
// caption says so. Values that would fall after the latest recorded instant
// are not drawn.
func comparisonLanes(run *chaosv1alpha1.ExperimentRun, s Summary, ax timeAxis, end time.Time, y float64, lim htmlLimits) ([]svgLane, string) {
	c := s.Comparison
	st := &run.Status
	if c == nil || st.Timeline.InjectedAt == nil || st.Experiment == nil || st.Experiment.SteadyState.Interval.Duration <= 0 {
		return nil, ""
	}
	x, yv := groupValues(c.Experiment, lim.samples), groupValues(c.Control, lim.samples)
	lo, hi, ok := valueScale(x, yv)
	if !ok {
		return nil, ""
	}
	interval := st.Experiment.SteadyState.Interval.Duration
	from := st.Timeline.InjectedAt.UTC()
	var lanes []svgLane
	hidden := 0
	for i, g := range comparisonGroups(c) {
		lane := svgLane{Name: g.name, Y: y, Class: g.class}
		for j, f := range [][]float64{x, yv}[i] {
			t := from.Add(time.Duration(j+1) * interval)
			if t.After(end) {
				hidden++
				continue
			}
			lane.Dots = append(lane.Dots, svgDot{
				X: ax.x(t), Y: y + 17 - 14*(f-lo)/(hi-lo),
				Title: fmt.Sprintf("%s sample %d (about %s): %s", g.name, j+1, ax.offset(t), strconv.FormatFloat(f, 'g', -1, 64)),
			})
		}
		lanes = append(lanes, lane)
		y += svgLaneRow
	}
	caption := fmt.Sprintf(" The faulted slice's and control's lanes draw each kept value of the comparison, higher values higher, "+
		"on one scale from %s to %s; status keeps the values but not their instants, so each is placed one sampling interval (%s) "+
		"after the one before it, from injectedAt: an approximation.",
		strconv.FormatFloat(lo, 'g', 4, 64), strconv.FormatFloat(hi, 'g', 4, 64), interval)
	if hidden > 0 {
		caption += fmt.Sprintf(" %d values fall after the latest recorded instant and are not drawn.", hidden)
	}
	return lanes, caption
}

// htmlSLOsOf are the page's SLO sections.
func htmlSLOsOf(s Summary, lim htmlLimits) []htmlSLO {
	var out []htmlSLO
	for _, slo := range s.SLOs[:min(len(s.SLOs), lim.probes)] {
		h := htmlSLO{Name: lim.clip(slo.Name), Kind: lim.clip(slo.Kind)}
		for _, f := range sloFacts(slo) {
			h.Facts = append(h.Facts, htmlFact{f.label, lim.clip(f.value)})
		}
		out = append(out, h)
	}
	return out
}
