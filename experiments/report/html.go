package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// HTML writes the report of run as one self-contained HTML page: the verdict
// and figures, an SVG timeline of the run's instants and spans, each probe's
// recorded values against its threshold, the targets and the probes. The
// page loads nothing (no scripts, fonts, images or style sheets from
// elsewhere), so it can be attached to a pipeline, mailed or archived and
// still open years later.
//
// Every string from the run is escaped by html/template, control characters
// are replaced, and long lists and texts are cut at fixed bounds (cut
// further if the page would still be too large), so a run with thousands of
// targets or a megabyte of error text still gives a page of at most
// maxHTMLBytes.
func HTML(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	var buf bytes.Buffer
	for _, lim := range []htmlLimits{fullLimits, compactLimits} {
		buf.Reset()
		if err := htmlTemplate.Execute(&buf, htmlPageOf(run, lim)); err != nil {
			return fmt.Errorf("rendering the HTML report: %w", err)
		}
		if buf.Len() <= maxHTMLBytes {
			break
		}
		// Text that escapes to many bytes (quotes, angle brackets) can take
		// a page of full-size lists past the bound: cut more. The compact
		// limits keep any run far below it.
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// htmlLimits bound what the page shows. The API bounds most lists already;
// these cap what it does not (targets, free text), so the page stays small
// enough to attach to a pipeline run whatever the run holds.
type htmlLimits struct {
	// targets is how many targets the page lists; the rest are counted.
	targets int
	// probes is how many probes, guards and alerts the page draws.
	probes int
	// text is how many characters of one free text (a message, an error,
	// a name) the page shows.
	text int
	// samples is how many values of each comparison group the page draws.
	samples int
	// compact says the page was cut further to stay within maxHTMLBytes.
	compact bool
}

var (
	// fullLimits show every run the operator writes in practice whole.
	fullLimits = htmlLimits{targets: 50, probes: 64, text: 512, samples: 512}
	// compactLimits are for a run the full limits would take past
	// maxHTMLBytes.
	compactLimits = htmlLimits{targets: 10, probes: 16, text: 64, samples: 64, compact: true}
)

const (
	// maxHTMLGaps is how many gaps the page shades; the API keeps 20.
	maxHTMLGaps = 20
	// maxHTMLBytes bounds the whole page, whatever the run holds.
	maxHTMLBytes = 512 << 10
)

// Colours the page uses, named so the Chromium test can look for them in a
// screenshot: a banner of the verdict's colour shows the CSS was applied,
// and the fault window's colour shows the SVG was drawn. templates/report.css
// writes the same values out.
const (
	colourPassed       = "#15803d"
	colourFailed       = "#b91c1c"
	colourAborted      = "#c2410c"
	colourInconclusive = "#4b5563"
	colourError        = "#7e22ce"
	colourInProgress   = "#1d4ed8"
	colourFault        = "#f59e0b"
	colourFailing      = "#ef4444"
	colourPassing      = "#86efac"
)

// verdictColours maps a verdict to its banner colour; an empty verdict is a
// run in progress.
var verdictColours = map[string]string{
	string(chaosv1alpha1.VerdictPassed):       colourPassed,
	string(chaosv1alpha1.VerdictFailed):       colourFailed,
	string(chaosv1alpha1.VerdictAborted):      colourAborted,
	string(chaosv1alpha1.VerdictInconclusive): colourInconclusive,
	string(chaosv1alpha1.VerdictError):        colourError,
	"":                                        colourInProgress,
}

// verdictClass is the CSS class of the banner. A verdict the report does not
// know (from a newer operator) gets the in-progress colour rather than a
// class named after free text.
func verdictClass(verdict string) string {
	if _, ok := verdictColours[verdict]; ok && verdict != "" {
		return "verdict-" + strings.ToLower(verdict)
	}
	return "verdict-none"
}

// htmlPage is what the template renders; every field is already cut to its
// bound.
type htmlPage struct {
	Title        string
	Run          string
	Headline     string
	VerdictClass string
	Verdict      string
	Facts        []htmlFact
	Figures      []htmlFigure
	Objectives   []htmlObjective
	Resolutions  []htmlFact
	Timeline     *timelineSVG
	Values       *valuesSVG
	Targets      []Target
	TargetsMore  int
	Probes       []Probe
	ProbesMore   int
	Abort        []htmlFact
	SLOs         []htmlSLO
	Comparison   *htmlComparison
	Origin       string
	Compact      bool
	CSS          template.CSS
}

type htmlFact struct{ Label, Value string }

// htmlFigure is a figure with the objective it is judged against, coloured
// by whether it was met.
type htmlFigure struct{ Label, Value, Judgement, Class string }

type htmlObjective struct {
	Name, Target, Measured, Status, Class string
}

func htmlPageOf(run *chaosv1alpha1.ExperimentRun, lim htmlLimits) htmlPage {
	s := Summarize(run)
	clipSummary(&s, lim)
	p := htmlPage{
		Title:        "Faultline run " + runName(s) + ": " + headline(s),
		Run:          runName(s),
		Headline:     headline(s),
		VerdictClass: verdictClass(s.Verdict),
		Verdict:      verdictText(s),
		Origin:       s.Timeline.Origin,
		CSS:          template.CSS(pageCSS),
	}
	for _, f := range figures(s) {
		class := ""
		if i := strings.LastIndex(f.judgement, ": "); i >= 0 {
			class = "objective-" + objectiveClass(f.judgement[i+2:])
		}
		p.Figures = append(p.Figures, htmlFigure{Label: f.label, Value: f.value, Judgement: f.judgement, Class: class})
	}
	p.Facts = []htmlFact{
		{"Experiment", experimentText(s)},
		{"Phase", phaseText(s)},
		{"Message", orNone(s.Message)},
		{"Requested by", orNone(s.RequestedBy)},
		{"Approved by", approvalText(s.Approval)},
	}
	if s.Notification != nil {
		p.Facts = append(p.Facts, htmlFact{"Notification", s.Notification.Text})
	}
	if s.Remediation != nil {
		p.Facts = append(p.Facts, htmlFact{"Remediation", s.Remediation.Text})
	}
	for _, o := range s.Result.Objectives {
		p.Objectives = append(p.Objectives, htmlObjective{
			Name: o.Name, Target: o.Target.Text, Measured: durationText(o.Measured), Status: o.Status,
			Class: "objective-" + objectiveClass(o.Status),
		})
	}
	for _, r := range s.Result.Resolutions {
		p.Resolutions = append(p.Resolutions, htmlFact{r.Figure, r.Text})
	}
	p.Timeline = newTimelineSVG(run, s, lim)
	p.Values = newValuesSVG(run, s, lim)
	p.SLOs = htmlSLOsOf(s, lim)
	p.Comparison = htmlComparisonOf(s, lim)
	p.Compact = lim.compact
	p.Targets, p.TargetsMore = s.Targets, 0
	if len(s.Targets) > lim.targets {
		p.Targets, p.TargetsMore = s.Targets[:lim.targets], len(s.Targets)-lim.targets
	}
	p.Probes, p.ProbesMore = s.Probes, 0
	if len(s.Probes) > lim.probes {
		p.Probes, p.ProbesMore = s.Probes[:lim.probes], len(s.Probes)-lim.probes
	}
	if a := s.Abort; a != nil {
		p.Abort = []htmlFact{
			{"Reason", a.Reason},
			{"Guard", guardText(a)},
			{"First breach", firstBreachText(a)},
		}
		if a.FirstError != nil {
			p.Abort = append(p.Abort, htmlFact{"First unanswered", instantText(a.FirstError)})
		}
		p.Abort = append(p.Abort,
			htmlFact{"Decided", instantText(a.Decided)},
			htmlFact{"Reverted", instantText(a.Reverted)},
			htmlFact{"Breach to decision", breachToDecisionText(s)},
			htmlFact{"Abort latency", abortLatencyText(s)},
			htmlFact{"Message", orNone(a.Message)},
		)
	}
	return p
}

// objectiveClass is the CSS class suffix of an objective's status.
func objectiveClass(status string) string {
	switch status {
	case string(chaosv1alpha1.ObjectiveMet):
		return "met"
	case string(chaosv1alpha1.ObjectiveMissed):
		return "missed"
	}
	return "unjudged"
}

// clipSummary cuts every free text of s to lim.text characters and
// replaces control characters, so one enormous or hostile message neither
// bloats the page nor garbles it. Lists are cut where they are rendered.
func clipSummary(s *Summary, lim htmlLimits) {
	for _, p := range []*string{&s.Namespace, &s.Name, &s.Experiment, &s.Message, &s.RequestedBy} {
		*p = lim.clip(*p)
	}
	if s.Approval != nil {
		s.Approval.ApprovedBy = lim.clip(s.Approval.ApprovedBy)
	}
	if s.Notification != nil {
		s.Notification.Text = lim.clip(s.Notification.Text)
	}
	if s.Remediation != nil {
		s.Remediation.Text = lim.clip(s.Remediation.Text)
	}
	if s.Abort != nil {
		s.Abort.Guard, s.Abort.Value, s.Abort.Message = lim.clip(s.Abort.Guard), lim.clip(s.Abort.Value), lim.clip(s.Abort.Message)
	}
	for i := range s.Result.Objectives {
		s.Result.Objectives[i].Name = lim.clip(s.Result.Objectives[i].Name)
	}
	for i := range s.Result.Resolutions {
		s.Result.Resolutions[i].Text = lim.clip(s.Result.Resolutions[i].Text)
	}
	for i := range s.Targets[:min(len(s.Targets), lim.targets)] {
		t := &s.Targets[i]
		t.Namespace, t.Name, t.Message = lim.clip(t.Namespace), lim.clip(t.Name), lim.clip(t.Message)
		t.Spared = nil // the text and Markdown reports list them; the page counts targets only
	}
	for i := range s.Probes[:min(len(s.Probes), lim.probes)] {
		p := &s.Probes[i]
		p.Name, p.Condition, p.LastError = lim.clip(p.Name), lim.clip(p.Condition), lim.clip(p.LastError)
		p.ResolvedCondition, p.BaselineMean, p.Threshold = lim.clip(p.ResolvedCondition), lim.clip(p.BaselineMean), lim.clip(p.Threshold)
		p.Baseline, p.Worst, p.Last = lim.clip(p.Baseline), lim.clip(p.Worst), lim.clip(p.Last)
	}
}

// clip replaces characters a page must not carry (C0 and C1 controls other
// than tab and newline, noncharacters, invalid UTF-8) with U+FFFD, so the
// reader sees that something was there, and cuts the text to lim.text
// characters.
func (lim htmlLimits) clip(s string) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if n == lim.text {
			fmt.Fprintf(&b, "… (%d more bytes)", len(s)-i)
			break
		}
		n++
		switch {
		case r == utf8.RuneError, r < 0x20 && r != '\t' && r != '\n', r >= 0x7f && r < 0xa0,
			r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The SVG geometry, in CSS pixels. The page is laid out for a window 1200
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

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// px writes an SVG coordinate.
func px(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// laneNameChars is how much of a name fits left of the plot; the whole name
// is the label's tooltip.
const laneNameChars = 26

// short cuts a name to the room left of the plot, so a long probe name is
// not written over the lanes.
func short(name string) string {
	if utf8.RuneCountInString(name) <= laneNameChars {
		return name
	}
	return string([]rune(name)[:laneNameChars-1]) + "…"
}

// htmlSource is the page. html/template escapes every value by its context
// (text, attribute), including inside the SVG.
//
//go:embed templates/report.html.tmpl
var htmlSource string

// pageCSS is the page's style sheet, written into its <style> element so the
// page loads nothing. Its colours are the named colours above, written out:
// TestPageCSSUsesTheNamedColours fails when the two drift apart, which would
// let the Chromium test look for a colour the page no longer paints.
//
//go:embed templates/report.css
var pageCSS string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"px":        px,
	"short":     short,
	"offset":    offsetText,
	"condition": conditionText,
	"add":       func(a, b float64) float64 { return a + b },
	"sub":       func(a, b float64) float64 { return a - b },
}).Parse(htmlSource))
