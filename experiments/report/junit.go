package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// JUnit writes the report of run as JUnit XML, the format CD systems (GitLab,
// Jenkins, GitHub Actions reporters, Azure Pipelines) show as test results.
//
// The run is one testsuite named after its Experiment, so a CI system's
// history groups the runs of one Experiment. It holds one testcase per
// objective, named after the objective alone ("detectWithin",
// "recoverWithin"), one named "steady state recovered", one named "not
// aborted" and, when the Experiment compares the faulted slice of traffic
// with control, one named "comparison <probe>" that harm fails and too few
// samples skip. Names never carry a threshold or a measurement: CI systems key a
// testcase's history on its name, and a name that changed with the objective
// would start a new history every time someone tuned it. The threshold is in
// the suite's properties, the testcase's system-out and any failure message.
//   - a met objective, a recovery and the absence of an abort pass;
//   - a missed objective, no recovery after injection, or an abort is a
//     failure whose message says what was measured against what;
//   - an objective the run could not measure, or any testcase of an
//     Inconclusive run (nothing was injected: the hypothesis was not tested)
//     or of a run still in progress, is skipped;
//   - every testcase of a run whose verdict is Error carries an error element,
//     since the run could not be carried out at all.
//
// The suite's time is the run's duration. A testcase's time is the stretch
// of the run it judges (from injection to detection, to recovery; from the
// first breach to the revert) less what an earlier testcase already counts,
// so the times never overlap and never add up to more than the run: CI
// systems sum them, and a sum longer than the run misleads whoever reads it.
// The figure itself is in the message and the testcase's system-out.
//
// Every string is made valid XML 1.0 first: a probe error is free text from a
// remote system, and one control character in it would make the whole file
// unreadable to every consumer. The text report is attached as the suite's
// system-out, so the whole report is one click away in the CI system.
func JUnit(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	s := Summarize(run)
	var text bytes.Buffer
	if err := writeText(&text, s); err != nil {
		return err
	}

	suite := junitSuite{
		Name:      "faultline " + orNone(s.Namespace) + "/" + orNone(s.Experiment),
		Time:      seconds(runDuration(run)),
		Timestamp: timestamp(run),
		Properties: []junitProperty{
			{"run", runName(s)},
			{"experiment", s.Experiment},
			{"phase", orNone(s.Phase)},
			{"verdict", orNone(s.Verdict)},
			{"dryRun", strconv.FormatBool(s.DryRun)},
			{"requestedBy", orNone(s.RequestedBy)},
			{"approvedBy", approvalText(s.Approval)},
			{"timeToDetect", durationText(s.Result.TimeToDetect)},
			{"detectedBy", orNone(s.Result.DetectedBy)},
			{"timeToRecover", durationText(s.Result.TimeToRecover)},
			{"resolution", durationText(s.Result.Resolution)},
			{"abortLatency", durationText(s.Result.AbortLatency)},
			{"breachToDecision", durationText(s.Result.BreachToDecision)},
			{"timeToDetectResolution", orNone(resolutionOf(s, "timeToDetect"))},
			{"timeToRecoverResolution", orNone(resolutionOf(s, "timeToRecover"))},
			{"gaps", strconv.Itoa(len(s.Timeline.Gaps) + int(s.Timeline.GapsOmitted))},
		},
		SystemOut: &junitCDATA{Text: text.String()},
	}
	if s.Notification != nil || s.Result.TimeToNotify != nil {
		suite.Properties = append(suite.Properties,
			junitProperty{"timeToNotify", durationText(s.Result.TimeToNotify)},
			junitProperty{"notification", notificationText(s)})
	}
	if s.Remediation != nil || s.Result.TimeToRemediate != nil {
		suite.Properties = append(suite.Properties,
			junitProperty{"timeToRemediate", durationText(s.Result.TimeToRemediate)},
			junitProperty{"remediation", remediationText(s)})
	}
	suite.Properties = append(suite.Properties, sloProperties(s)...)
	// The thresholds live here rather than in the testcase names, which
	// must not change when an objective is tuned.
	for _, o := range s.Result.Objectives {
		suite.Properties = append(suite.Properties, junitProperty{o.Name, o.Target.Text})
	}
	classname := "faultline." + orNone(s.Namespace) + "." + orNone(s.Experiment)
	for _, c := range testcases(s) {
		c.Classname = classname
		suite.Cases = append(suite.Cases, c)
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{
		Name:     "faultline",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Errors:   suite.Errors,
		Skipped:  suite.Skipped,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
	sanitizeStrings(reflect.ValueOf(&doc).Elem())

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encoding the JUnit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Testcase names that are not objectives. Pipelines and CI history key on
// them: they are part of the format.
const (
	caseRecovered  = "steady state recovered"
	caseNotAborted = "not aborted"
)

// testcases judges the run.
func testcases(s Summary) []junitCase {
	var cases []junitCase
	var judged []interval
	injectedAt, injected := instantOf(s.Timeline, "injectedAt")
	for _, o := range s.Result.Objectives {
		c := junitCase{Name: o.Name, SystemOut: objectiveText(o, resolutionText(s, objectiveFigure(o.Name)))}
		switch o.Status {
		case string(chaosv1alpha1.ObjectiveMet):
		case string(chaosv1alpha1.ObjectiveMissed):
			c.Failure = &junitProblem{Type: "ObjectiveMissed", Message: missedMessage(o) + resolutionText(s, objectiveFigure(o.Name)), Body: s.Message}
		default:
			c.Skipped = &junitSkipped{Message: notMeasuredMessage(s)}
		}
		cases = append(cases, c)
		judged = append(judged, after(injectedAt, injected, o.Measured))
	}

	recovered := junitCase{Name: caseRecovered}
	switch {
	case s.DryRun || !injected:
		recovered.Skipped = &junitSkipped{Message: "nothing was injected, so there was nothing to recover from"}
	case s.Result.TimeToRecover != nil:
	default:
		recovered.Failure = &junitProblem{Type: "NotRecovered",
			Message: "the steady state did not return after the fault was injected", Body: s.Message}
	}
	cases = append(cases, recovered)
	judged = append(judged, after(injectedAt, injected, s.Result.TimeToRecover))

	notAborted := junitCase{Name: caseNotAborted}
	if s.Abort != nil || s.Verdict == string(chaosv1alpha1.VerdictAborted) {
		notAborted.Failure = &junitProblem{Type: "Aborted", Message: abortMessage(s), Body: s.Message}
	}
	cases = append(cases, notAborted)
	judged = append(judged, abortInterval(s.Abort))

	if c := s.Comparison; c != nil {
		cases = append(cases, comparisonCase(c))
		// The comparison judges the samples taken while the fault was held.
		revertedAt, reverted := instantOf(s.Timeline, "revertedAt")
		if injected && reverted {
			judged = append(judged, interval{injectedAt, revertedAt})
		} else {
			judged = append(judged, interval{})
		}
	}

	startedAt, hasStart := instantOf(s.Timeline, "startedAt")
	finishedAt, hasFinish := instantOf(s.Timeline, "finishedAt")
	var run interval
	if hasStart && hasFinish {
		run = interval{startedAt, finishedAt}
	}
	for i, d := range exclusiveTimes(run, judged) {
		cases[i].Time = seconds(d)
	}

	// The verdict overrides the per-case judgement when the run as a whole
	// says the hypothesis was not tested: a pipeline must not read "passed"
	// into a run that did not run.
	for i := range cases {
		c := &cases[i]
		switch {
		case !s.Finished:
			c.Failure, c.Skipped = nil, &junitSkipped{Message: "the run is still in progress (phase " + orNone(s.Phase) + ")"}
		case s.Verdict == string(chaosv1alpha1.VerdictInconclusive):
			c.Failure, c.Skipped = nil, &junitSkipped{Message: "inconclusive, the hypothesis was not tested: " + orNone(s.Message)}
		case s.Verdict == string(chaosv1alpha1.VerdictError):
			c.Failure, c.Skipped = nil, nil
			c.Error = &junitProblem{Type: "Error", Message: "the run could not be carried out: " + orNone(s.Message)}
		}
	}
	return cases
}

// abortInterval is the stretch an abort judges: from the first bad sample
// behind it (or, when none caused it, the decision) to the revert it caused;
// empty when either end is unknown.
func abortInterval(a *Abort) interval {
	if a == nil || a.Reverted == nil {
		return interval{}
	}
	for _, from := range []*Instant{a.FirstBreach, a.FirstError, a.Decided} {
		if from != nil {
			return interval{from.At, a.Reverted.At}
		}
	}
	return interval{}
}

// objectiveFigure names the figure an objective judges.
func objectiveFigure(objective string) string {
	return map[string]string{objectiveDetect: "timeToDetect", objectiveRecover: "timeToRecover", objectiveNotify: "timeToNotify"}[objective]
}

// objectiveText says what an objective asked and what was measured, so the
// threshold a testcase judged is next to it in the CI system even when it
// passed, and how precisely the figure is known:
// "recoverWithin 2m0s: measured 45.003s (±5s: probe interval), Met".
func objectiveText(o Objective, resolution string) string {
	return fmt.Sprintf("%s %s: measured %s%s, %s", o.Name, o.Target.Text, durationText(o.Measured), resolution, o.Status)
}

// instantOf is when the timeline recorded the named instant, if it did.
func instantOf(tl Timeline, name string) (time.Time, bool) {
	for _, e := range tl.Events {
		if e.Name == name {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// interval is a stretch of a run; one that does not end after it starts,
// such as the zero interval, is empty.
type interval struct{ from, to time.Time }

// after is the interval of length d from start; empty when start is unknown
// or d was not measured.
func after(start time.Time, known bool, d *Duration) interval {
	if !known || d == nil {
		return interval{}
	}
	return interval{start, start.Add(measured(d))}
}

// exclusiveTimes gives each interval the time it covers within run that no
// earlier interval covers. Two testcases often judge overlapping stretches
// (the steady state returning is both the recovery and the end of
// recoverWithin; recovery is measured from injection, like detection), and
// giving both the whole stretch would count it twice. The times add up to
// the length of the union of the intervals within run, never more than run.
func exclusiveTimes(run interval, judged []interval) []time.Duration {
	times := make([]time.Duration, len(judged))
	var covered []interval
	var before time.Duration
	for i, in := range judged {
		if in.from.Before(run.from) {
			in.from = run.from
		}
		if in.to.After(run.to) {
			in.to = run.to
		}
		if in.to.After(in.from) {
			covered = append(covered, in)
		}
		total := unionLength(covered)
		times[i] = total - before
		before = total
	}
	return times
}

// unionLength is the time covered by at least one of the non-empty
// intervals.
func unionLength(intervals []interval) time.Duration {
	sorted := slices.Clone(intervals)
	slices.SortFunc(sorted, func(a, b interval) int { return a.from.Compare(b.from) })
	var total time.Duration
	var end time.Time
	for i, in := range sorted {
		switch {
		case i == 0 || !in.from.Before(end):
			total += in.to.Sub(in.from)
			end = in.to
		case in.to.After(end):
			total += in.to.Sub(end)
			end = in.to
		}
	}
	return total
}

func missedMessage(o Objective) string {
	what := map[string]string{objectiveDetect: "time to detect", objectiveRecover: "time to recover", objectiveNotify: "time to notify"}[o.Name]
	if what == "" {
		what = o.Name
	}
	if o.Measured == nil {
		never := map[string]string{objectiveDetect: "the fault was never detected", objectiveRecover: "the steady state never returned",
			objectiveNotify: "no notification of the declared alerts reached the operator's receiver"}[o.Name]
		if never == "" {
			never = what + " was never reached"
		}
		return fmt.Sprintf("%s (objective %s)", never, o.Target.Text)
	}
	return fmt.Sprintf("%s %s exceeds the objective %s", what, o.Measured.Text, o.Target.Text)
}

func notMeasuredMessage(s Summary) string {
	switch {
	case s.Abort != nil:
		return "not measured: the run was aborted (" + s.Abort.Reason + ") before it could be"
	case s.DryRun:
		return "not measured: dry run, nothing was injected"
	}
	return "not measured: the run ended before the figure could be measured"
}

func abortMessage(s Summary) string {
	if s.Abort == nil {
		return "aborted: " + orNone(s.Message)
	}
	m := "aborted (" + s.Abort.Reason + ")"
	if s.Abort.Message != "" {
		m += ": " + s.Abort.Message
	}
	if s.Result.AbortLatency != nil {
		m += "; fault reverted " + abortLatencyText(s)
	}
	return m
}

// measured is d as a time.Duration, zero when absent. It parses Text rather
// than converting Seconds, which as a float may lose the last nanosecond.
func measured(d *Duration) time.Duration {
	if d == nil {
		return 0
	}
	v, err := time.ParseDuration(d.Text)
	if err != nil {
		return time.Duration(d.Seconds * float64(time.Second))
	}
	return v
}

// runDuration is finishedAt minus startedAt; zero until both are known.
func runDuration(run *chaosv1alpha1.ExperimentRun) time.Duration {
	tl := run.Status.Timeline
	if tl.StartedAt == nil || tl.FinishedAt == nil {
		return 0
	}
	return tl.FinishedAt.Sub(tl.StartedAt.Time)
}

// timestamp is when the run started, in the JUnit schema's zone-less ISO 8601
// (read as UTC); the creation time stands in for a run not started yet.
func timestamp(run *chaosv1alpha1.ExperimentRun) string {
	const layout = "2006-01-02T15:04:05"
	switch {
	case run.Status.Timeline.StartedAt != nil:
		return run.Status.Timeline.StartedAt.UTC().Format(layout)
	case !run.CreationTimestamp.IsZero():
		return run.CreationTimestamp.UTC().Format(layout)
	}
	return ""
}

// seconds writes a duration as JUnit's decimal seconds, to the microsecond
// the timeline is recorded with.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 6, 64)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitCDATA     `xml:"system-out,omitempty"`
}

// junitCDATA keeps the text report readable in the XML: as character data
// every newline would be escaped as &#xA;.
type junitCDATA struct {
	Text string `xml:",cdata"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	// SystemOut comes last: the JUnit schemas Jenkins and Surefire validate
	// against require it after the result elements.
	SystemOut string `xml:"system-out,omitempty"`
}

// junitProblem is a failure or an error element.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// sanitizeStrings makes every string reachable from v valid XML 1.0 text, in
// place. It walks the whole document rather than a list of fields so a field
// added later cannot slip through unsanitised: encoding/xml writes CDATA
// sections as they are, and replaces the characters XML forbids in other
// text with U+FFFD, which hides what the character was.
func sanitizeStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(xmlText(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			sanitizeStrings(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			sanitizeStrings(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			sanitizeStrings(v.Index(i))
		}
	}
}

// xmlText returns s with every character XML 1.0 forbids replaced by a
// visible escape, so the text stays readable and says what was there: a C0
// control as \x1b, a noncharacter as \uFFFE. A byte that is not UTF-8
// becomes U+FFFD, as it would in any UTF-8 decoder. "]]>" needs no care here:
// the encoder splits it across two CDATA sections, and escapes ">" elsewhere.
func xmlText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !xmlChar(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case xmlChar(r):
			b.WriteString(s[i : i+size])
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04X", r)
		}
		i += size
	}
	return b.String()
}

// xmlChar reports whether r is a Char of XML 1.0 (production [2]).
func xmlChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= utf8.MaxRune:
		return true
	}
	return false
}
