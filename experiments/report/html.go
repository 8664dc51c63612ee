package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
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

// abs is |f|, for distances between points on a scale.
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
