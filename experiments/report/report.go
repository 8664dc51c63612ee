// Package report renders the report of one ExperimentRun for the people and
// tools that read it: Text for a terminal, Markdown for a pull-request comment
// or a wiki, JSON (a stable, documented schema: Summary) for scripts, JUnit
// XML for CD pipelines, and HTML (one self-contained page with an SVG
// timeline) for a browser.
//
// Every renderer is pure: it reads the run it is given and writes to an
// io.Writer, so the kubectl plugin, the operator and tests share them. They
// accept a run in any state, from just created (no status) to completed, and
// show what is known; a missing field is never an error.
package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Format is an output format of a report.
type Format string

const (
	// FormatText is for terminals: aligned sections and tables.
	FormatText Format = "text"
	// FormatMarkdown is for pull-request comments and wikis: the same content as tables.
	FormatMarkdown Format = "markdown"
	// FormatJSON is the Summary as JSON, for scripts.
	FormatJSON Format = "json"
	// FormatJUnit is JUnit XML, for CD pipelines that show test results.
	FormatJUnit Format = "junit"
	// FormatHTML is one self-contained HTML page with an SVG timeline, to
	// open in a browser or attach to a pipeline run.
	FormatHTML Format = "html"
)

// Formats lists every format, in the order help texts show them.
var Formats = []Format{FormatText, FormatMarkdown, FormatJSON, FormatJUnit, FormatHTML}

// ParseFormat returns the Format named s, or an error listing the valid ones.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if f == "md" {
		return FormatMarkdown, nil
	}
	if slices.Contains(Formats, f) {
		return f, nil
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown output format %q: use one of %s", s, strings.Join(names, ", "))
}

// Render writes the report of run to w in format f.
func Render(w io.Writer, f Format, run *chaosv1alpha1.ExperimentRun) error {
	switch f {
	case FormatText:
		return Text(w, run)
	case FormatMarkdown:
		return Markdown(w, run)
	case FormatJSON:
		return JSON(w, run)
	case FormatJUnit:
		return JUnit(w, run)
	case FormatHTML:
		return HTML(w, run)
	}
	return fmt.Errorf("unknown output format %q", f)
}

// timeLayout writes instants in UTC with a fixed six-digit fraction: the
// timeline is recorded to the microsecond, and a fixed width keeps columns
// aligned.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// none stands for a value that is absent: not measured, not yet known.
const none = "-"

// orNone returns s, or none when s is empty.
func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// verdictText says what the verdict is, or why there is none yet.
func verdictText(s Summary) string {
	if s.Verdict != "" {
		return s.Verdict
	}
	return "(none yet: the run is in progress)"
}

// phaseText names the phase; a run the operator has not seen yet has none.
func phaseText(s Summary) string {
	if s.Phase == "" {
		return "(not started: the operator has not picked the run up yet)"
	}
	return s.Phase
}

// runName is namespace/name, or name alone when the namespace is unknown.
func runName(s Summary) string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "/" + s.Name
}

// experimentText names the Experiment and the generation the run used, since
// a later edit of the Experiment does not change what this run tested.
func experimentText(s Summary) string {
	e := orNone(s.Experiment)
	if s.ExperimentGeneration != 0 {
		e += fmt.Sprintf(" (generation %d)", s.ExperimentGeneration)
	}
	if s.DryRun {
		e += ", dry run: nothing injected by design"
	}
	return e
}

// objective returns the judged objective named name, if the run has one.
func (s Summary) objective(name string) *Objective {
	for i := range s.Result.Objectives {
		if s.Result.Objectives[i].Name == name {
			return &s.Result.Objectives[i]
		}
	}
	return nil
}

// Names of the objectives the operator judges, as ObjectiveResult.Name spells them.
const (
	objectiveDetect  = "detectWithin"
	objectiveRecover = "recoverWithin"
)

// figure is one line of the figures section.
type figure struct {
	label string
	value string
	// judgement is the objective the figure is judged against and its status,
	// such as "detectWithin 1m0s: Met"; empty when there is none.
	judgement string
}

// figures lists the run's figures with the objectives they are judged
// against, so a reader sees the measurement and its limit side by side.
// Objectives with other names than the two the operator judges today are
// listed after them rather than dropped.
func figures(s Summary) []figure {
	r := s.Result
	detect := durationText(r.TimeToDetect)
	if r.TimeToDetect != nil && r.DetectedBy != "" {
		detect += " (by " + r.DetectedBy + ")"
	}
	detect += resolutionText(s, "timeToDetect")
	recovered := durationText(r.TimeToRecover)
	if r.TimeToRecover != nil && r.TimeToRecover.Seconds == 0 && s.Timeline.has("injectedAt") && !s.Timeline.has("deviatedAt") {
		if s.Comparison != nil && s.Comparison.Outcome == string(chaosv1alpha1.ComparisonHarm) {
			recovered += " (the steady state's thresholds never broke; the comparison found harm)"
		} else {
			recovered += " (the steady state never deviated: the system absorbed the fault)"
		}
	}
	recovered += resolutionText(s, "timeToRecover")
	out := []figure{
		{"Time to detect", detect, judgement(s.objective(objectiveDetect))},
		{"Time to recover", recovered, judgement(s.objective(objectiveRecover))},
		{"Resolution", durationText(r.Resolution), ""},
		{"Abort latency", abortLatencyText(s), ""},
		{"Breach to decision", breachToDecisionText(s), ""},
	}
	if r.TimeToNotify != nil || s.Notification != nil || s.objective(objectiveNotify) != nil {
		// Only runs that declare alerts have this figure; the others'
		// reports keep their shape.
		out = slices.Insert(out, 2, figure{"Time to notify", durationText(r.TimeToNotify), judgement(s.objective(objectiveNotify))})
	}
	if r.TimeToRemediate != nil || s.objective(objectiveRemediate) != nil {
		// Runs without remediation to time keep their report's shape.
		at := slices.IndexFunc(out, func(f figure) bool { return f.label == "Time to recover" })
		out = slices.Insert(out, at, figure{"Time to remediate", durationText(r.TimeToRemediate), judgement(s.objective(objectiveRemediate))})
	}
	for _, o := range r.Objectives {
		if o.Name == objectiveRemediate {
			continue // its figure is listed above
		}
		if o.Name != objectiveDetect && o.Name != objectiveRecover && o.Name != objectiveNotify {
			out = append(out, figure{"Objective " + o.Name, durationText(o.Measured), judgement(&o)})
		}
	}
	return out
}

// judgement describes an objective as "name target: status".
func judgement(o *Objective) string {
	if o == nil {
		return ""
	}
	return fmt.Sprintf("%s %s: %s", o.Name, o.Target.Text, o.Status)
}

func durationText(d *Duration) string {
	if d == nil {
		return none
	}
	return d.Text
}

// has reports whether the timeline recorded the named instant.
func (tl Timeline) has(name string) bool {
	for _, e := range tl.Events {
		if e.Name == name {
			return true
		}
	}
	return false
}

// offsetText is the instant's offset from the timeline origin, or none.
func offsetText(in *Instant) string {
	if in == nil || in.Offset == nil {
		return none
	}
	return in.Offset.Text
}

// instantText is the offset and the absolute time, for single values such as
// an abort's first breach.
func instantText(in *Instant) string {
	if in == nil {
		return none
	}
	if in.Offset == nil {
		return in.At.Format(timeLayout)
	}
	return in.Offset.Text + " (" + in.At.Format(timeLayout) + ")"
}

// hasTargetMessages reports whether any target has a message, so the tables
// grow a message column only when there is something to put in it.
func hasTargetMessages(ts []Target) bool {
	for _, t := range ts {
		if t.Message != "" {
			return true
		}
	}
	return false
}

// hasProbeErrors reports whether any probe has a last error worth a column.
func hasProbeErrors(ps []Probe) bool {
	for _, p := range ps {
		if p.LastError != "" {
			return true
		}
	}
	return false
}

// firstBreachText is a guard's first breaching sample; for an abort no
// sample caused it says so, rather than leave the reader to wonder.
func firstBreachText(a *Abort) string {
	switch {
	case a.FirstBreach != nil:
		return instantText(a.FirstBreach)
	case a.FirstError == nil:
		return none + " (no sample caused this abort)"
	}
	return none
}

// guardText describes the guard that fired and the value that breached it.
func guardText(a *Abort) string {
	if a.Guard == "" {
		return none
	}
	if a.Value == "" {
		return a.Guard
	}
	return a.Guard + " (value " + a.Value + ")"
}

// abortLatencyText is the abort latency and what it is measured from:
// "16ms after the kill switch was seen".
func abortLatencyText(s Summary) string {
	d := s.Result.AbortLatency
	if d == nil || s.Abort == nil {
		return durationText(d)
	}
	return d.Text + " after " + s.Abort.Trigger
}

// breachToDecisionText is the span from the first bad sample behind an abort
// to the decision, and which sample that was.
func breachToDecisionText(s Summary) string {
	d := s.Result.BreachToDecision
	switch {
	case d == nil || s.Abort == nil:
		return durationText(d)
	case s.Abort.FirstBreach != nil:
		return d.Text + " from the guard's first breaching sample" + resolutionText(s, "breachToDecision")
	}
	return d.Text + " from the first unanswered sample" + resolutionText(s, "breachToDecision")
}

// resolutionText says how precisely figure is known, " (±5s: probe
// interval)", or nothing when the run did not record it.
func resolutionText(s Summary, figure string) string {
	if text := resolutionOf(s, figure); text != "" {
		return " (" + text + ")"
	}
	return ""
}

// resolutionOf is how precisely figure is known, in words; empty when the
// run did not record it.
func resolutionOf(s Summary, figure string) string {
	for _, fr := range s.Result.Resolutions {
		if fr.Figure == figure {
			return fr.Text
		}
	}
	return ""
}

// gapText describes a gap on one line: "+2m16s to +2m31.2s (15.2s): no
// sample was taken".
func gapText(g Gap) string {
	cause := "no sample was taken"
	if g.Cause == "ProbeErrors" {
		cause = fmt.Sprintf("the probes did not answer (%d samples)", g.UnansweredSamples)
	}
	return fmt.Sprintf("%s to %s (%s): %s", offsetText(&g.From), offsetText(&g.To), g.Length.Text, cause)
}
