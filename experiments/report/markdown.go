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
//
// Every string the run supplied (names, reasons, messages, queries, probe
// and alert names, users) is escaped for where it stands, so it shows as the
// text it is on GitHub, GitLab, Confluence and any other CommonMark renderer:
// it cannot add HTML, a link, an image, a heading or a list, end a table
// cell or row, or leave a code span. The report is posted where others read
// it, and a run's texts come from probes, remote systems and whoever may
// write the run's status.
func Markdown(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	return writeMarkdown(w, Summarize(run))
}

func writeMarkdown(w io.Writer, s Summary) error {
	p := &mdPrinter{printer{w: w}}

	p.line("### Faultline run " + mdCode(runName(s)) + ": " + mdInline(headline(s)))
	p.line("")
	p.line("| | |")
	p.line("|---|---|")
	p.row("Experiment", mdInline(experimentText(s)))
	p.row("Verdict", mdBold(verdictText(s)))
	p.row("Phase", mdInline(phaseText(s)))
	p.row("Message", mdInline(orNone(s.Message)))
	p.row("Requested by", mdInline(orNone(s.RequestedBy)))
	p.row("Approved by", mdInline(approvalText(s.Approval)))

	p.line("")
	p.line("#### Figures")
	p.line("")
	p.line("| Figure | Value | Objective |")
	p.line("|---|---|---|")
	for _, f := range figures(s) {
		p.row(mdInline(f.label), mdInline(f.value), mdInline(orNone(f.judgement)))
	}
	if s.Notification != nil {
		p.line("")
		p.line("Notification: " + mdInline(s.Notification.Text))
	}
	if s.Remediation != nil {
		p.line("")
		p.line("Remediation: " + mdInline(s.Remediation.Text))
	}

	p.line("")
	p.line("#### Timeline")
	p.line("")
	if len(s.Timeline.Events) == 0 {
		p.line("Nothing recorded yet.")
	} else {
		offsetHeader := markdown("Offset")
		if s.Timeline.Origin != "" {
			offsetHeader = "Offset from " + mdInline(s.Timeline.Origin)
		}
		p.line("| " + offsetHeader + " | Time (UTC) | Event |")
		p.line("|--:|---|---|")
		for _, e := range s.Timeline.Events {
			p.row(mdInline(offsetText(&e.Instant)), mdInline(e.At.Format(timeLayout)), mdInline(e.Name))
		}
	}
	if len(s.Timeline.Gaps) > 0 {
		p.line("")
		p.line("Gaps, when the operator saw nothing (a figure inside one is known only to its length):")
		p.line("")
		for _, g := range s.Timeline.Gaps {
			p.line("- " + mdBlock(gapText(g)))
		}
		if s.Timeline.GapsOmitted > 0 {
			p.line(markdown(fmt.Sprintf("- and %d more, not listed", s.Timeline.GapsOmitted)))
		}
	}

	p.line("")
	p.line("#### Targets")
	p.line("")
	if len(s.Targets) == 0 {
		p.line("None selected yet.")
	} else {
		withMessage := hasTargetMessages(s.Targets)
		header, rule := markdown("| Kind | Namespace | Name | Phase | Injected | Reverted |"), markdown("|---|---|---|---|--:|--:|")
		if withMessage {
			header, rule = header+" Message |", rule+"---|"
		}
		p.line(header)
		p.line(rule)
		for _, t := range s.Targets {
			cells := []markdown{mdInline(t.Kind), mdInline(orNone(t.Namespace)), mdInline(t.Name), mdInline(t.Phase),
				mdInline(offsetText(t.Injected)), mdInline(offsetText(t.Reverted))}
			if withMessage {
				cells = append(cells, mdInline(orNone(t.Message)))
			}
			p.row(cells...)
		}
	}

	if spared := sparedPods(s.Targets); len(spared) > 0 {
		p.line("")
		p.line(markdown(fmt.Sprintf("Spared by the drain (namespace may not be targeted): %d pods: ", len(spared))) + mdInline(strings.Join(spared, ", ")))
	}

	p.line("")
	p.line("#### Probes")
	p.line("")
	if len(s.Probes) == 0 {
		p.line("No samples yet.")
	} else {
		withErrors := hasProbeErrors(s.Probes)
		header, rule := markdown("| Name | Kind | Condition | Baseline | Worst | Last | Samples | Failures | Errors |"), markdown("|---|---|---|--:|--:|--:|--:|--:|--:|")
		if withErrors {
			header, rule = header+" Last error |", rule+"---|"
		}
		p.line(header)
		p.line(rule)
		for _, pr := range s.Probes {
			cells := []markdown{mdInline(pr.Name), mdInline(pr.Kind), mdInline(conditionText(pr)), mdInline(orNone(pr.Baseline)), mdInline(orNone(pr.Worst)), mdInline(orNone(pr.Last)),
				mdInline(strconv.Itoa(int(pr.Samples))), mdInline(strconv.Itoa(int(pr.Failures))), mdInline(strconv.Itoa(int(pr.Errors)))}
			if withErrors {
				cells = append(cells, mdInline(orNone(pr.LastError)))
			}
			p.row(cells...)
		}
	}
	p.writeSLOs(s)
	p.writeComparison(s)

	if a := s.Abort; a != nil {
		p.line("")
		p.line("#### Aborted")
		p.line("")
		p.line("| | |")
		p.line("|---|---|")
		p.row("Reason", mdInline(a.Reason))
		p.row("Guard", mdInline(guardText(a)))
		p.row("First breach", mdInline(firstBreachText(a)))
		if a.FirstError != nil {
			p.row("First unanswered", mdInline(instantText(a.FirstError)))
		}
		p.row("Decided", mdInline(instantText(a.Decided)))
		p.row("Reverted", mdInline(instantText(a.Reverted)))
		p.row("Breach to decision", mdInline(breachToDecisionText(s)))
		p.row("Abort latency", mdInline(abortLatencyText(s)))
		p.row("Message", mdInline(orNone(a.Message)))
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

// markdown is Markdown the report may carry as it is: syntax the renderer
// wrote (a string constant converts to it), or text that mdInline, mdBlock,
// mdCode or mdCodeCell escaped. The Markdown printer takes nothing else, so
// a string the run supplied cannot reach the report unescaped by mistake:
// passing one where markdown is wanted does not compile.
type markdown string

// mdPrinter writes the Markdown report: lines and table rows of markdown only.
type mdPrinter struct {
	printer
}

func (p *mdPrinter) line(m markdown) {
	p.printer.line(string(m))
}

// row writes one table row of cells already escaped for a cell.
func (p *mdPrinter) row(cells ...markdown) {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + string(c) + " |")
	}
	p.line(markdown(b.String()))
}

// mdInline escapes text the run supplied for a table cell or the rest of a
// line the renderer began ("Notification: ..."). Nothing there can start a
// block (a GFM cell holds inlines only), so a leading "-" or "1." stays as
// it is.
func mdInline(s string) markdown {
	return markdown(escapeMarkdown(s, false))
}

// mdBlock escapes text the run supplied that begins a block, such as a list
// item's text after the renderer's "- ": as mdInline, and the marks that
// begin a list, a heading or a rule at the start of a line ("- ", "+ ",
// "1. ", "---") are escaped too, since a list item's text is parsed as if it
// began the line.
func mdBlock(s string) markdown {
	return markdown(escapeMarkdown(s, true))
}

// mdBold writes text the run supplied in bold. Spaces at either end are
// dropped: "**Passed **" is no emphasis to CommonMark, and the stars would
// show.
func mdBold(s string) markdown {
	return "**" + mdInline(strings.TrimSpace(terminalText(s))) + "**"
}

// escapeMarkdown is the one escaping of run-supplied text for the Markdown
// report's plain text. It first makes the text one line without controls
// (terminalText): a newline would end a table row or start a block, and a
// lone carriage return is a line ending to CommonMark. Then:
//   - "<", ">" and "&" become the entities &lt; &gt; &amp;, so no HTML tag,
//     comment or autolink (<http://x>) can start, and an entity in the text
//     (&lt;) shows as written instead of as the character it names. An
//     entity, unlike a backslash escape, means the same to renderers that
//     do not follow CommonMark.
//   - The punctuation that opens or closes inline markup is backslash-escaped,
//     which CommonMark allows for any ASCII punctuation: \ ` * _ [ ] ! for
//     code spans, emphasis, links and images; | for table cells (GFM splits
//     a row at an unescaped pipe before anything else); ~ for
//     strikethrough; $ for GitHub's math, which can restyle the text around
//     it; { } for the attribute lists of kramdown and Pandoc; # for GitLab's
//     references and headings.
//   - "(" and ")" are markup only as a link's destination right after "]",
//     which never stands unescaped, and "-", "+", "." and "=" only at the
//     start of a line: escaping them elsewhere would change nothing a reader
//     sees and make every duration and name in the source harder to read.
func escapeMarkdown(s string, lineStart bool) string {
	s = terminalText(s)
	var b strings.Builder
	b.Grow(len(s))
	if lineStart {
		s = escapeBlockStart(&b, s)
	}
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '!', '|', '~', '$', '{', '}', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeBlockStart writes s's leading list, heading or rule mark, escaped,
// to b, and returns the rest of s. A mark counts only as CommonMark reads
// one: "-", "+" or "=" followed by a space, another such mark or the end
// ("- item", "---", "==="), and digits followed by "." or ")" and then a
// space or the end ("1. item"). An offset such as "+2m16s" or "-30s" starts
// no block and is left alone. Leading spaces are dropped.
func escapeBlockStart(b *strings.Builder, s string) string {
	// Up to three spaces may stand before a mark, and more make an indented
	// code block; a paragraph shows leading spaces as nothing anyway.
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return s
	}
	switch s[0] {
	case '-', '+', '=':
		if len(s) == 1 || strings.ContainsRune(" -+=", rune(s[1])) {
			b.WriteByte('\\')
			b.WriteByte(s[0])
			return s[1:]
		}
		return s
	}
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits > 9 || digits == len(s) || (s[digits] != '.' && s[digits] != ')') {
		return s
	}
	if digits+1 < len(s) && s[digits+1] != ' ' {
		return s
	}
	b.WriteString(s[:digits] + `\` + s[digits:digits+1])
	return s[digits+1:]
}

// mdCode writes text the run supplied, such as a run's name or PromQL, as
// inline code outside a table; mdCodeCell writes it in a cell. Inside a code
// span nothing is markup, so no escape is needed or possible (a backslash
// there is a backslash): the text is made one line without controls, and the
// fence is one backtick longer than the longest run of them inside, so a
// backtick in the text cannot end the span early. A backtick or a space at
// either end of the text is padded with a space inside the fences, which
// CommonMark strips again: the backtick would otherwise join the fence, and
// the space be stripped.
func mdCode(s string) markdown {
	if s == "" {
		return none
	}
	s = terminalText(s)
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		return markdown(fence + " " + s + " " + fence)
	}
	return markdown(fence + s + fence)
}

// mdCodeCell is mdCode for a table cell. GFM splits a row at every pipe not
// preceded by a backslash before it parses any code span, and removes that
// backslash inside a code span too, so each "|" is escaped even there; the
// query `a|b` shows as a|b.
func mdCodeCell(s string) markdown {
	return markdown(strings.ReplaceAll(string(mdCode(s)), "|", `\|`))
}
