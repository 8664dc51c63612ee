package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Text writes the report of run for a terminal: a header, the figures with
// their objectives, the timeline (each instant as its offset from the
// failure onset and in UTC), the targets, the probes, and the abort when
// there was one.
func Text(w io.Writer, run *chaosv1alpha1.ExperimentRun) error {
	return writeText(w, Summarize(run))
}

func writeText(w io.Writer, s Summary) error {
	p := &printer{w: w}

	tw := p.table()
	p.row(tw, "Run", runName(s))
	p.row(tw, "Experiment", experimentText(s))
	p.row(tw, "Verdict", verdictText(s))
	p.row(tw, "Phase", phaseText(s))
	p.row(tw, "Message", orNone(s.Message))
	p.row(tw, "Requested by", orNone(s.RequestedBy))
	p.row(tw, "Approved by", approvalText(s.Approval))
	p.flush(tw)

	p.line("")
	p.line("Figures")
	tw = p.table()
	for _, f := range figures(s) {
		if f.judgement == "" {
			p.row(tw, "  "+f.label, f.value)
		} else {
			p.row(tw, "  "+f.label, f.value, f.judgement)
		}
	}
	p.flush(tw)
	if s.Notification != nil {
		p.line("Notification: " + s.Notification.Text)
	}
	if s.Remediation != nil {
		p.line("Remediation: " + s.Remediation.Text)
	}

	p.line("")
	switch {
	case len(s.Timeline.Events) == 0:
		p.line("Timeline: nothing recorded yet")
	case s.Timeline.Origin == "":
		p.line("Timeline")
	default:
		p.line("Timeline (offsets from " + s.Timeline.Origin + ")")
	}
	tw = p.table()
	for _, e := range s.Timeline.Events {
		p.row(tw, "  "+offsetText(&e.Instant), e.At.Format(timeLayout), e.Name)
	}
	p.flush(tw)
	if len(s.Timeline.Gaps) > 0 {
		p.line("")
		p.line("Gaps (the operator saw nothing; a figure inside one is known only to its length)")
		for _, g := range s.Timeline.Gaps {
			p.line("  " + gapText(g))
		}
		if s.Timeline.GapsOmitted > 0 {
			p.line(fmt.Sprintf("  and %d more, not listed", s.Timeline.GapsOmitted))
		}
	}

	p.line("")
	if len(s.Targets) == 0 {
		p.line("Targets: none selected yet")
	} else {
		p.line("Targets")
		withMessage := hasTargetMessages(s.Targets)
		tw = p.table()
		header := []string{"  KIND", "NAMESPACE", "NAME", "PHASE", "INJECTED", "REVERTED"}
		if withMessage {
			header = append(header, "MESSAGE")
		}
		p.row(tw, header...)
		for _, t := range s.Targets {
			cells := []string{"  " + t.Kind, orNone(t.Namespace), t.Name, t.Phase, offsetText(t.Injected), offsetText(t.Reverted)}
			if withMessage {
				cells = append(cells, orNone(t.Message))
			}
			p.row(tw, cells...)
		}
		p.flush(tw)
	}

	p.line("")
	if len(s.Probes) == 0 {
		p.line("Probes: no samples yet")
	} else {
		p.line("Probes")
		withErrors := hasProbeErrors(s.Probes)
		tw = p.table()
		header := []string{"  NAME", "KIND", "CONDITION", "BASELINE", "WORST", "LAST", "SAMPLES", "FAILURES", "ERRORS"}
		if withErrors {
			header = append(header, "LAST ERROR")
		}
		p.row(tw, header...)
		for _, pr := range s.Probes {
			cells := []string{"  " + pr.Name, pr.Kind, conditionText(pr), orNone(pr.Baseline), orNone(pr.Worst), orNone(pr.Last),
				strconv.Itoa(int(pr.Samples)), strconv.Itoa(int(pr.Failures)), strconv.Itoa(int(pr.Errors))}
			if withErrors {
				cells = append(cells, orNone(pr.LastError))
			}
			p.row(tw, cells...)
		}
		p.flush(tw)
	}
	p.writeSLOsText(s)
	p.writeComparisonText(s)

	if spared := sparedPods(s.Targets); len(spared) > 0 {
		p.line("")
		p.line(fmt.Sprintf("Spared by the drain (namespace may not be targeted): %d pods", len(spared)))
		for _, sp := range spared {
			p.line("  " + sp)
		}
	}

	if a := s.Abort; a != nil {
		p.line("")
		p.line("Aborted")
		tw = p.table()
		p.row(tw, "  Reason", a.Reason)
		p.row(tw, "  Guard", guardText(a))
		p.row(tw, "  First breach", firstBreachText(a))
		if a.FirstError != nil {
			p.row(tw, "  First unanswered", instantText(a.FirstError))
		}
		p.row(tw, "  Decided", instantText(a.Decided))
		p.row(tw, "  Reverted", instantText(a.Reverted))
		p.row(tw, "  Breach to decision", breachToDecisionText(s))
		p.row(tw, "  Abort latency", abortLatencyText(s))
		p.row(tw, "  Message", orNone(a.Message))
		p.flush(tw)
	}
	return p.err
}

// printer writes lines and tab-aligned tables, keeping the first write error
// so the renderer reads as a straight sequence of sections.
type printer struct {
	w   io.Writer
	err error
}

// line writes s as one line. Every line passes through terminalText: the
// renderers write their own text on one line and without control
// characters, so this only ever changes what a run supplied.
func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, terminalText(s))
	}
}

// table starts an aligned block; two spaces between columns, as kubectl does.
func (p *printer) table() *tabwriter.Writer {
	return tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
}

func (p *printer) row(tw *tabwriter.Writer, cells ...string) {
	if p.err != nil {
		return
	}
	for i, c := range cells {
		if i > 0 {
			if _, p.err = io.WriteString(tw, "\t"); p.err != nil {
				return
			}
		}
		// A message with a tab or a newline would break the columns, and
		// the tabwriter takes a form feed or a vertical tab as a cell's end.
		if _, p.err = io.WriteString(tw, terminalText(c)); p.err != nil {
			return
		}
	}
	_, p.err = io.WriteString(tw, "\n")
}

// terminalText returns s as one line that a terminal shows as it is. Line
// breaks and tabs become spaces: a newline in a probe error would start a
// line that reads like one of the report's own ("Verdict  Passed"), and a
// carriage return would overwrite the line before it. Every other control
// character is written as a visible escape, \x1b for ESC, the way the JUnit
// report writes them: ESC starts the ANSI sequences that recolour text, move
// the cursor, retitle the window or hide what follows, and the 8-bit CSI
// (U+009B) does the same on some terminals. So are the bidirectional
// embeddings, overrides and isolates (\u202E): they reorder what a reviewer
// reads without changing what is there. So are noncharacters (\uFFFE),
// which are no text to show and which XML and other tools refuse. A byte
// that is not UTF-8 becomes U+FFFD, as in any UTF-8 decoder.
func terminalText(s string) string {
	if !needsTerminalEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
			b.WriteByte(' ')
			size = 2
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		case bidiControl(r) || nonCharacter(r):
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsTerminalEscape reports whether terminalText would change s, so the
// text of an ordinary run is not copied.
func needsTerminalEscape(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || bidiControl(r) || nonCharacter(r) {
			return true
		}
	}
	return false
}

// bidiControl reports whether r is one of the Unicode controls that embed,
// override or isolate the direction of the text after it (U+202A..U+202E,
// U+2066..U+2069). The marks U+200E and U+200F only nudge neutral
// characters and are left as they are.
func bidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

func (p *printer) flush(tw *tabwriter.Writer) {
	if p.err == nil {
		p.err = tw.Flush()
	}
}

// approvalText says who approved a run and when, or "-".
func approvalText(a *Approval) string {
	if a == nil {
		return orNone("")
	}
	if a.ApprovedAt == nil {
		return a.ApprovedBy
	}
	return a.ApprovedBy + " at " + a.ApprovedAt.At.Format(timeLayout)
}

// sparedPods lists, node by node, the pods drains left in place.
func sparedPods(targets []Target) []string {
	var out []string
	for _, t := range targets {
		for _, p := range t.Spared {
			out = append(out, p+" (on "+t.Name+")")
		}
	}
	return out
}

// nonCharacter reports whether r is one of Unicode's 66 noncharacters:
// U+FDD0..U+FDEF and the last two code points of every plane.
func nonCharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}
