package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Markdown writes the report of run as GitHub-flavoured Markdown, for a
// pull-request comment or a wiki page: the same content as Text, as tables.
func Markdown(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	return writeMarkdown(w, Summarize(run))
}

func writeMarkdown(w io.Writer, s Summary) error {
	p := &printer{w: w}

	p.line(fmt.Sprintf("### Faultline run `%s`: %s", runName(s), headline(s)))
	p.line("")
	p.line("| | |")
	p.line("|---|---|")
	p.mdRow("Experiment", experimentText(s))
	p.mdRow("Verdict", "**"+verdictText(s)+"**")
	p.mdRow("Phase", phaseText(s))
	p.mdRow("Message", orNone(s.Message))
	p.mdRow("Requested by", orNone(s.RequestedBy))
	p.mdRow("Approved by", approvalText(s.Approval))

	p.line("")
	p.line("#### Figures")
	p.line("")
	p.line("| Figure | Value | Objective |")
	p.line("|---|---|---|")
	for _, f := range figures(s) {
		p.mdRow(f.label, f.value, orNone(f.judgement))
	}
	if s.Notification != nil {
		p.line("")
		p.line("Notification: " + mdEscape.Replace(s.Notification.Text))
	}
	if s.Remediation != nil {
		p.line("")
		p.line("Remediation: " + mdEscape.Replace(s.Remediation.Text))
	}

	p.line("")
	p.line("#### Timeline")
	p.line("")
	if len(s.Timeline.Events) == 0 {
		p.line("Nothing recorded yet.")
	} else {
		offsetHeader := "Offset"
		if s.Timeline.Origin != "" {
			offsetHeader = "Offset from " + s.Timeline.Origin
		}
		p.line("| " + offsetHeader + " | Time (UTC) | Event |")
		p.line("|--:|---|---|")
		for _, e := range s.Timeline.Events {
			p.mdRow(offsetText(&e.Instant), e.At.Format(timeLayout), e.Name)
		}
	}
	if len(s.Timeline.Gaps) > 0 {
		p.line("")
		p.line("Gaps, when the operator saw nothing (a figure inside one is known only to its length):")
		p.line("")
		for _, g := range s.Timeline.Gaps {
			p.line("- " + mdEscape.Replace(gapText(g)))
		}
		if s.Timeline.GapsOmitted > 0 {
			p.line(fmt.Sprintf("- and %d more, not listed", s.Timeline.GapsOmitted))
		}
	}

	p.line("")
	p.line("#### Targets")
	p.line("")
	if len(s.Targets) == 0 {
		p.line("None selected yet.")
	} else {
		withMessage := hasTargetMessages(s.Targets)
		header, rule := "| Kind | Namespace | Name | Phase | Injected | Reverted |", "|---|---|---|---|--:|--:|"
		if withMessage {
			header, rule = header+" Message |", rule+"---|"
		}
		p.line(header)
		p.line(rule)
		for _, t := range s.Targets {
			cells := []string{t.Kind, orNone(t.Namespace), t.Name, t.Phase, offsetText(t.Injected), offsetText(t.Reverted)}
			if withMessage {
				cells = append(cells, orNone(t.Message))
			}
			p.mdRow(cells...)
		}
	}

	if spared := sparedPods(s.Targets); len(spared) > 0 {
		p.line("")
		p.line(fmt.Sprintf("Spared by the drain (namespace may not be targeted): %d pods: %s", len(spared), strings.Join(spared, ", ")))
	}

	p.line("")
	p.line("#### Probes")
	p.line("")
	if len(s.Probes) == 0 {
		p.line("No samples yet.")
	} else {
		withErrors := hasProbeErrors(s.Probes)
		header, rule := "| Name | Kind | Condition | Baseline | Worst | Last | Samples | Failures | Errors |", "|---|---|---|--:|--:|--:|--:|--:|--:|"
		if withErrors {
			header, rule = header+" Last error |", rule+"---|"
		}
		p.line(header)
		p.line(rule)
		for _, pr := range s.Probes {
			cells := []string{pr.Name, pr.Kind, conditionText(pr), orNone(pr.Baseline), orNone(pr.Worst), orNone(pr.Last),
				strconv.Itoa(int(pr.Samples)), strconv.Itoa(int(pr.Failures)), strconv.Itoa(int(pr.Errors))}
			if withErrors {
				cells = append(cells, orNone(pr.LastError))
			}
			p.mdRow(cells...)
		}
	}
	p.writeSLOsMarkdown(s)
	p.writeComparisonMarkdown(s)

	if a := s.Abort; a != nil {
		p.line("")
		p.line("#### Aborted")
		p.line("")
		p.line("| | |")
		p.line("|---|---|")
		p.mdRow("Reason", a.Reason)
		p.mdRow("Guard", guardText(a))
		p.mdRow("First breach", firstBreachText(a))
		if a.FirstError != nil {
			p.mdRow("First unanswered", instantText(a.FirstError))
		}
		p.mdRow("Decided", instantText(a.Decided))
		p.mdRow("Reverted", instantText(a.Reverted))
		p.mdRow("Breach to decision", breachToDecisionText(s))
		p.mdRow("Abort latency", abortLatencyText(s))
		p.mdRow("Message", orNone(a.Message))
	}
	return p.err
}

// headline is the verdict, or the phase of a run still in progress, for the
// heading a reviewer scans first.
func headline(s Summary) string {
	switch {
	case s.Verdict != "":
		return s.Verdict
	case s.Phase != "":
		return "in progress (" + s.Phase + ")"
	}
	return "not started"
}

// mdRow writes one table row. Cells are escaped: a "|" in a message or a
// PromQL label matcher would otherwise split the cell, and a newline would
// end the table.
func (p *printer) mdRow(cells ...string) {
	for i, c := range cells {
		cells[i] = mdEscape.Replace(c)
	}
	p.line("| " + strings.Join(cells, " | ") + " |")
}

var mdEscape = strings.NewReplacer("|", `\|`, "\r\n", "<br>", "\n", "<br>")
