package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// JUnit writes the report of run as JUnit XML, the format CD systems (GitLab,
// Jenkins, GitHub Actions reporters, Azure Pipelines) show as test results.
//
// The run is one testsuite named after its Experiment, so a CI system's
// history groups the runs of one Experiment. It holds one testcase per
// objective, one named "steady state recovered" and one named "not aborted":
//   - a met objective, a recovery and the absence of an abort pass;
//   - a missed objective, no recovery after injection, or an abort is a
//     failure whose message says what was measured against what;
//   - an objective the run could not measure, or any testcase of an
//     Inconclusive run (nothing was injected: the hypothesis was not tested)
//     or of a run still in progress, is skipped;
//   - every testcase of a run whose verdict is Error carries an error element,
//     since the run could not be carried out at all.
//
// Each testcase's time is the figure it judges, in seconds; the suite's is
// the run's duration. The text report is attached as the suite's system-out,
// so the whole report is one click away in the CI system.
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
		},
		SystemOut: &junitCDATA{Text: text.String()},
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

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
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
	for _, o := range s.Result.Objectives {
		c := junitCase{Name: objectiveCaseName(o), Time: seconds(measured(o.Measured))}
		switch o.Status {
		case string(chaosv1alpha1.ObjectiveMet):
		case string(chaosv1alpha1.ObjectiveMissed):
			c.Failure = &junitProblem{Type: "ObjectiveMissed", Message: missedMessage(o), Body: s.Message}
		default:
			c.Skipped = &junitSkipped{Message: notMeasuredMessage(s)}
		}
		cases = append(cases, c)
	}

	recovered := junitCase{Name: caseRecovered, Time: seconds(measured(s.Result.TimeToRecover))}
	switch {
	case s.DryRun || !s.Timeline.has("injectedAt"):
		recovered.Skipped = &junitSkipped{Message: "nothing was injected, so there was nothing to recover from"}
	case s.Result.TimeToRecover != nil:
	default:
		recovered.Failure = &junitProblem{Type: "NotRecovered",
			Message: "the steady state did not return after the fault was injected", Body: s.Message}
	}
	cases = append(cases, recovered)

	notAborted := junitCase{Name: caseNotAborted, Time: seconds(measured(s.Result.AbortLatency))}
	if s.Abort != nil || s.Verdict == string(chaosv1alpha1.VerdictAborted) {
		notAborted.Failure = &junitProblem{Type: "Aborted", Message: abortMessage(s), Body: s.Message}
	}
	cases = append(cases, notAborted)

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

// objectiveCaseName reads as the hypothesis: "detected within 1m0s".
func objectiveCaseName(o Objective) string {
	switch o.Name {
	case objectiveDetect:
		return "detected within " + o.Target.Text
	case objectiveRecover:
		return "recovered within " + o.Target.Text
	}
	return o.Name + " " + o.Target.Text
}

func missedMessage(o Objective) string {
	what := map[string]string{objectiveDetect: "time to detect", objectiveRecover: "time to recover"}[o.Name]
	if what == "" {
		what = o.Name
	}
	if o.Measured == nil {
		never := map[string]string{objectiveDetect: "the fault was never detected", objectiveRecover: "the steady state never returned"}[o.Name]
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
