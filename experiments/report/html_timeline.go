package report

import (
	"fmt"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The SVG geometry, in CSS pixels, shared by the timeline, the probe values
// and the comparison's strip plot. The page is laid out for a window 1200
// pixels wide; the SVGs scale down with it (viewBox).
const (
	svgWidth     = 1100
	svgPlotLeft  = 190
	svgPlotRight = 1080
	svgLabelRow  = 15
	svgLaneRow   = 26
	svgCharWidth = 6.6 // of the 11px sans-serif labels, for placing them apart
)

// timelineSVG is the run drawn in time: lanes of spans, gaps shaded, and a
// mark for every recorded instant.
type timelineSVG struct {
	Width, Height    int
	PlotLeft         float64
	PlotRight        float64
	PlotTop, AxisY   float64
	Ticks            []svgTick
	AxisTitle        string
	Lanes            []svgLane
	Gaps             []svgSpan
	Marks            []svgMark
	Caption          string
	MarkLabelsHeight float64
}

type svgTick struct {
	X     float64
	Label string
}

type svgLane struct {
	Name  string
	Y     float64
	Note  string
	Spans []svgSpan
	// Class and Dots draw sampled values in the lane, for the comparison's
	// groups.
	Class string
	Dots  []svgDot
}

type svgSpan struct {
	X, Width float64
	Class    string
	Title    string
}

type svgMark struct {
	Name   string // the timeline field, such as injectedAt
	Label  string
	X      float64
	LabelX float64
	LabelY float64
	Anchor string
	Title  string
}

// markLabels are the words a mark carries on the timeline, per timeline field.
var markLabels = map[string]string{
	"startedAt":            "started",
	"baselineVerifiedAt":   "baseline held",
	"injectedAt":           "injected",
	"deviatedAt":           "detected",
	"alertedAt":            "alerted",
	"notifiedAt":           "notified",
	"remediationStartedAt": "remediation started",
	"abortedAt":            "aborted",
	"revertedAt":           "reverted",
	"recoveredAt":          "recovered",
	"finishedAt":           "finished",
	"lastSampleAt":         "last sample",
}

// markMeanings say what each mark is, for its tooltip.
var markMeanings = map[string]string{
	"startedAt":            "the run started",
	"baselineVerifiedAt":   "the steady state had held for the baseline",
	"injectedAt":           "the fault was applied: the failure onset",
	"deviatedAt":           "a steady-state probe first failed after the injection",
	"alertedAt":            "a detection alert started firing",
	"notifiedAt":           "Alertmanager's notification reached the operator",
	"remediationStartedAt": "automatic remediation began",
	"abortedAt":            "the run decided to abort",
	"revertedAt":           "the fault was undone on every target",
	"recoveredAt":          "the first stable all-passing window began",
	"finishedAt":           "the verdict was reached",
	"lastSampleAt":         "the latest sample of a run still in progress",
}

// timeAxis maps instants to x.
type timeAxis struct {
	lo, hi   time.Time
	origin   time.Time
	hasOrig  bool
	left, rt float64
}

func (a timeAxis) x(t time.Time) float64 {
	f := float64(t.Sub(a.lo)) / float64(a.hi.Sub(a.lo))
	return a.left + f*(a.rt-a.left)
}

// span is the rectangle from..to on the axis, at least a pixel wide so an
// instant-long span stays visible.
func (a timeAxis) span(from, to time.Time, class, title string) svgSpan {
	x1, x2 := a.x(from), a.x(to)
	return svgSpan{X: x1, Width: max(x2-x1, 1), Class: class, Title: title}
}

// offset writes t as an offset from the origin, "+15.002s", or in UTC when
// the run has no origin.
func (a timeAxis) offset(t time.Time) string {
	if !a.hasOrig {
		return t.UTC().Format(timeLayout)
	}
	return signed(t.Sub(a.origin))
}

func newTimelineSVG(run *chaosv1alpha1.ExperimentRun, s Summary, lim htmlLimits) *timelineSVG {
	st := &run.Status
	var instants []time.Time
	for _, e := range s.Timeline.Events {
		instants = append(instants, e.At)
	}
	gaps := s.Timeline.Gaps[:min(len(s.Timeline.Gaps), maxHTMLGaps)]
	for _, g := range gaps {
		instants = append(instants, g.From.At, g.To.At)
	}
	var lastSample *time.Time
	if !s.Finished && st.Progress.LastSampleAt != nil {
		t := st.Progress.LastSampleAt.UTC()
		lastSample = &t
		instants = append(instants, t)
	}
	var baselineFrom *time.Time
	if bv := st.Timeline.BaselineVerifiedAt; bv != nil && st.Experiment != nil && st.Experiment.SteadyState.Baseline.Duration > 0 {
		t := bv.Add(-st.Experiment.SteadyState.Baseline.Duration).UTC()
		if st.Timeline.StartedAt == nil || !t.Before(st.Timeline.StartedAt.Time) {
			baselineFrom = &t
			instants = append(instants, t)
		}
	}
	breaches := guardBreaches(st, lim)
	for _, b := range breaches {
		instants = append(instants, b.from)
	}
	if len(instants) == 0 {
		return nil
	}
	lo, hi := instants[0], instants[0]
	for _, t := range instants {
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	if !hi.After(lo) {
		hi = lo.Add(time.Second)
	}
	// A margin on both sides keeps marks at the ends off the lane labels.
	pad := hi.Sub(lo) / 50
	lo, hi = lo.Add(-pad), hi.Add(pad)
	ax := timeAxis{lo: lo, hi: hi, left: svgPlotLeft, rt: svgPlotRight}
	if st.Timeline.InjectedAt != nil {
		ax.origin, ax.hasOrig = st.Timeline.InjectedAt.UTC(), true
	} else if st.Timeline.StartedAt != nil {
		ax.origin, ax.hasOrig = st.Timeline.StartedAt.UTC(), true
	}
	end := hi.Add(-pad) // the latest recorded instant

	tl := &timelineSVG{Width: svgWidth, PlotLeft: svgPlotLeft, PlotRight: svgPlotRight}

	// Marks first: their labels decide how much room the top needs.
	type markAt struct {
		name string
		at   time.Time
	}
	var marks []markAt
	for _, e := range s.Timeline.Events {
		marks = append(marks, markAt{e.Name, e.At})
	}
	if lastSample != nil {
		marks = append(marks, markAt{"lastSampleAt", *lastSample})
	}
	var rowEnds []float64
	for _, m := range marks {
		label := markLabels[m.name]
		if label == "" {
			label = m.name
		}
		x := ax.x(m.at)
		width := float64(len(label))*svgCharWidth + 6
		labelX, anchor, left := x+3, "start", x
		if x+width > svgWidth {
			labelX, anchor, left = x-3, "end", x-width
		}
		row := 0
		for row < len(rowEnds) && rowEnds[row] > left {
			row++
		}
		if row == len(rowEnds) {
			rowEnds = append(rowEnds, 0)
		}
		rowEnds[row] = left + width
		tl.Marks = append(tl.Marks, svgMark{
			Name: m.name, Label: label, X: x, LabelX: labelX, Anchor: anchor,
			LabelY: float64(row+1) * svgLabelRow,
			Title:  fmt.Sprintf("%s %s (%s): %s", m.name, ax.offset(m.at), m.at.UTC().Format(timeLayout), markMeanings[m.name]),
		})
	}
	tl.MarkLabelsHeight = float64(len(rowEnds))*svgLabelRow + 6
	tl.PlotTop = tl.MarkLabelsHeight

	y := tl.PlotTop + 6
	lane := func(name, note string, spans ...svgSpan) {
		tl.Lanes = append(tl.Lanes, svgLane{Name: name, Y: y, Note: note, Spans: spans})
		y += svgLaneRow
	}

	// The fault window: injected to reverted, or open at the latest instant.
	tlst := st.Timeline
	switch {
	case tlst.InjectedAt != nil && tlst.RevertedAt != nil && !tlst.RevertedAt.Before(tlst.InjectedAt):
		lane("Fault", "", ax.span(tlst.InjectedAt.Time, tlst.RevertedAt.Time, "fault",
			"fault active from "+ax.offset(tlst.InjectedAt.Time)+" to "+ax.offset(tlst.RevertedAt.Time)))
	case tlst.InjectedAt != nil:
		lane("Fault", "", ax.span(tlst.InjectedAt.Time, end, "fault fault-open",
			"fault active from "+ax.offset(tlst.InjectedAt.Time)+", not reverted at the latest recorded instant"))
	case run.Spec.DryRun:
		lane("Fault", "dry run: nothing injected by design")
	default:
		lane("Fault", "nothing injected")
	}

	// The steady state: what the run recorded of it, and nothing more.
	var steady []svgSpan
	if baselineFrom != nil {
		steady = append(steady, ax.span(*baselineFrom, tlst.BaselineVerifiedAt.Time, "passing",
			"the steady state held for the baseline, "+ax.offset(*baselineFrom)+" to "+ax.offset(tlst.BaselineVerifiedAt.Time)))
	}
	if tlst.InjectedAt != nil && tlst.DeviatedAt != nil && tlst.DeviatedAt.After(tlst.InjectedAt.Time) {
		steady = append(steady, ax.span(tlst.InjectedAt.Time, tlst.DeviatedAt.Time, "passing",
			"no steady-state probe failed from the injection until "+ax.offset(tlst.DeviatedAt.Time)))
	}
	if tlst.DeviatedAt != nil {
		switch {
		case tlst.RecoveredAt != nil:
			steady = append(steady, ax.span(tlst.DeviatedAt.Time, tlst.RecoveredAt.Time, "failing",
				"the steady state failed from "+ax.offset(tlst.DeviatedAt.Time)+" until it recovered at "+ax.offset(tlst.RecoveredAt.Time)))
		case s.Finished:
			steady = append(steady, ax.span(tlst.DeviatedAt.Time, end, "failing failing-open",
				"the steady state failed from "+ax.offset(tlst.DeviatedAt.Time)+" and had not recovered when the run ended"))
		default:
			steady = append(steady, ax.span(tlst.DeviatedAt.Time, end, "failing failing-open",
				"the steady state failed from "+ax.offset(tlst.DeviatedAt.Time)+" and has not recovered yet"))
		}
	}
	if tlst.RecoveredAt != nil {
		steady = append(steady, ax.span(tlst.RecoveredAt.Time, end, "passing",
			"the stable all-passing window that counts as recovered began at "+ax.offset(tlst.RecoveredAt.Time)))
	}
	steadyNote := ""
	if len(steady) == 0 {
		steadyNote = "no span recorded"
	}
	lane("Steady state", steadyNote, steady...)

	// Guards: the breach the run recorded, up to the abort it caused or the
	// latest instant.
	for _, b := range breaches {
		to := end
		title := "guard " + b.guard + " breached from " + ax.offset(b.from)
		if b.decided != nil {
			to = *b.decided
			title += " until the run decided to abort at " + ax.offset(to)
		}
		lane("Guard "+b.guard, "", ax.span(b.from, to, "breach", title))
	}

	groupLanes, groupsCaption := comparisonLanes(run, s, ax, end, y, lim)
	tl.Lanes = append(tl.Lanes, groupLanes...)
	y += float64(len(groupLanes)) * svgLaneRow

	for _, g := range gaps {
		sp := ax.span(g.From.At, g.To.At, "gap", "gap: "+gapText(g))
		tl.Gaps = append(tl.Gaps, sp)
	}
	tl.AxisY = y + 4
	tl.Ticks = ticks(lo, hi, ax)
	tl.AxisTitle = "time, as the offset from " + s.Timeline.Origin
	if s.Timeline.Origin == "" {
		tl.AxisTitle = "time (UTC)"
	}
	tl.Height = int(tl.AxisY) + 34
	tl.Caption = timelineCaption(len(s.Timeline.Gaps)-len(gaps)+int(s.Timeline.GapsOmitted)) + groupsCaption
	return tl
}

// timelineCaption says what the timeline draws and where it comes from, so
// no one reads a span the run did not record into it.
func timelineCaption(gapsNotShown int) string {
	c := "Marks are the instants the run recorded; the fault window runs from injectedAt to revertedAt. " +
		"The steady-state lane shows what the run recorded: the baseline that held, the span before the first failure, " +
		"and the span from the deviation (deviatedAt) to the recovery (recoveredAt). " +
		"Hatched stretches are gaps, when the operator saw nothing."
	if gapsNotShown > 0 {
		c += fmt.Sprintf(" %d more gaps are not listed by the run, and not shaded.", gapsNotShown)
	}
	return c
}

// guardBreach is a guard's recorded breach.
type guardBreach struct {
	guard   string
	from    time.Time
	decided *time.Time
}

// guardBreaches lists the breaches status records: the guard that aborted
// the run from its first breaching sample to the decision, and any other
// guard in breach since breachedSince.
func guardBreaches(st *chaosv1alpha1.ExperimentRunStatus, lim htmlLimits) []guardBreach {
	var out []guardBreach
	for _, p := range st.Probes[:min(len(st.Probes), lim.probes)] {
		if p.Kind != chaosv1alpha1.ProbeKindGuard {
			continue
		}
		b := guardBreach{guard: lim.clip(p.Name)}
		a := st.Abort
		switch {
		case a != nil && a.Guard == p.Name && a.FirstBreachAt != nil:
			b.from = a.FirstBreachAt.UTC()
			if a.DecidedAt != nil {
				t := a.DecidedAt.UTC()
				b.decided = &t
			}
		case p.BreachedSince != nil:
			b.from = p.BreachedSince.UTC()
		default:
			continue
		}
		out = append(out, b)
	}
	return out
}

// tickSteps are the spacings the time axis picks from.
var tickSteps = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
	10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour,
}

// maxTicks is how many labelled ticks fit the axis without crowding.
const maxTicks = 10

// ticks places labelled ticks at whole multiples of a step from the origin,
// so "+0s" (the injection) is one of them.
func ticks(lo, hi time.Time, ax timeAxis) []svgTick {
	span := hi.Sub(lo)
	// Beyond the longest step (a run held up for weeks), whole days.
	day := 24 * time.Hour
	step := (span/maxTicks + day - 1) / day * day
	for _, st := range tickSteps {
		if span/st <= maxTicks {
			step = st
			break
		}
	}
	origin := lo
	if ax.hasOrig {
		origin = ax.origin
	}
	// The first multiple of step from origin at or after lo.
	k := lo.Sub(origin) / step
	if origin.Add(k * step).Before(lo) {
		k++
	}
	var out []svgTick
	for t := origin.Add(k * step); !t.After(hi) && len(out) <= maxTicks+1; t = t.Add(step) {
		label := signed(t.Sub(origin))
		if !ax.hasOrig {
			label = t.UTC().Format("15:04:05")
		}
		out = append(out, svgTick{X: ax.x(t), Label: label})
	}
	return out
}
