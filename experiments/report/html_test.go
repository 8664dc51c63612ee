package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// htmlNode is one element of a parsed page.
type htmlNode struct {
	name     string
	attrs    map[string]string
	children []*htmlNode
	text     string // the text directly inside it
}

// parseHTMLPage parses a page with encoding/xml in its HTML mode (void
// elements closed, HTML entities known), which reads both the report as
// written and Chromium's serialisation of its DOM.
func parseHTMLPage(t *testing.T, page []byte) *htmlNode {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &htmlNode{name: "#document"}
	stack := []*htmlNode{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the page does not parse: %v", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &htmlNode{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			top.text += string(tok)
		}
	}
	return root
}

// all returns the elements under n, n included, for which match holds.
func (n *htmlNode) all(match func(*htmlNode) bool) []*htmlNode {
	var out []*htmlNode
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.children {
		out = append(out, c.all(match)...)
	}
	return out
}

// textContent is all the text under n.
func (n *htmlNode) textContent() string {
	var b strings.Builder
	b.WriteString(n.text)
	for _, c := range n.children {
		b.WriteString(c.textContent())
	}
	return b.String()
}

func byAttr(name string) func(*htmlNode) bool {
	return func(n *htmlNode) bool { _, ok := n.attrs[name]; return ok }
}

func byID(id string) func(*htmlNode) bool {
	return func(n *htmlNode) bool { return n.attrs["id"] == id }
}

// renderedText is a report as a reader sees it: the HTML page's text with
// its character references resolved ("&#43;" is "+"), the Markdown's text
// once rendered (escapes and entities resolved), other formats as written.
func renderedText(f Format, out []byte) string {
	switch f {
	case FormatHTML:
		return html.UnescapeString(string(out))
	case FormatMarkdown:
		return markdownText(out)
	}
	return string(out)
}

func renderHTML(t *testing.T, run *chaosv1alpha1.ExperimentRun) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, FormatHTML, run); err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return buf.Bytes()
}

// exampleRun is the run of docs/report-example.html: it missed its recover
// objective, was notified, saw remediation begin, and has a gap in which it
// recovered, so the page shows every kind of mark a finished run has.
func exampleRun() *chaosv1alpha1.ExperimentRun {
	r := failedRun()
	st := &r.Status
	st.Timeline.NotifiedAt = at(injected, 45*time.Second+120*time.Millisecond)
	st.Timeline.RemediationStartedAt = at(injected, 1*time.Second+300*time.Millisecond)
	st.Notification = &chaosv1alpha1.NotificationStatus{Alert: "CheckoutAvailabilityLow", Receiver: "faultline", GroupWait: dur(30 * time.Second)}
	st.Remediation = &chaosv1alpha1.RemediationStatus{StartedBy: "ReplicaSet shop/checkout-7d9f8c created pod checkout-7d9f8c-p4c2d", Rule: "default for podKill"}
	st.Result.TimeToNotify = dur(45*time.Second + 120*time.Millisecond)
	st.Result.TimeToRemediate = dur(1*time.Second + 300*time.Millisecond)
	return r
}

// markedInstants is what the timeline must mark for run: every instant its
// summary records, and the latest sample of a run in progress.
func markedInstants(run *chaosv1alpha1.ExperimentRun) []string {
	s := Summarize(run)
	var want []string
	for _, e := range s.Timeline.Events {
		want = append(want, e.Name)
	}
	if !s.Finished && run.Status.Progress.LastSampleAt != nil {
		want = append(want, "lastSampleAt")
	}
	return want
}

func TestHTMLMarksEveryRecordedInstant(t *testing.T) {
	runs := map[string]func() *chaosv1alpha1.ExperimentRun{
		"a run notified and remediated, recovered in a gap": exampleRun,
		"a run in progress, with its latest sample": func() *chaosv1alpha1.ExperimentRun {
			r := inProgressRun()
			r.Status.Progress.LastSampleAt = at(injected, 40*time.Second)
			return r
		},
	}
	for name, sc := range scenarios {
		runs[name] = sc.run
	}
	for name, newRun := range runs {
		t.Run(name, func(t *testing.T) {
			run := newRun()
			before := run.DeepCopy()
			page := parseHTMLPage(t, renderHTML(t, run))
			if !equalRuns(before, run) {
				t.Fatal("the renderer modified the run it reports on")
			}
			s := Summarize(run)

			banner := page.all(byID("verdict"))
			if len(banner) != 1 || !strings.Contains(banner[0].textContent(), headline(s)) {
				t.Errorf("the banner does not say %q", headline(s))
			}

			var got []string
			for _, m := range page.all(byAttr("data-mark")) {
				got = append(got, m.attrs["data-mark"])
				if !strings.Contains(m.textContent(), markLabels[m.attrs["data-mark"]]) {
					t.Errorf("mark %s is not labelled %q", m.attrs["data-mark"], markLabels[m.attrs["data-mark"]])
				}
			}
			if want := markedInstants(run); !slices.Equal(got, want) {
				t.Errorf("marks = %v, want one per recorded instant, in order: %v", got, want)
			}

			faults := page.all(func(n *htmlNode) bool { return n.name == "rect" && strings.HasPrefix(n.attrs["class"], "fault") })
			if injectedRun := run.Status.Timeline.InjectedAt != nil; injectedRun != (len(faults) == 1) {
				t.Errorf("%d fault windows drawn for a run with injectedAt %v", len(faults), run.Status.Timeline.InjectedAt)
			}
			if gaps := page.all(byAttr("data-gap")); len(gaps) != len(run.Status.Timeline.Gaps) {
				t.Errorf("%d gaps shaded, the run recorded %d", len(gaps), len(run.Status.Timeline.Gaps))
			}
			failing := page.all(func(n *htmlNode) bool {
				return n.name == "rect" && strings.Fields(n.attrs["class"] + " -")[0] == "failing"
			})
			if deviated := run.Status.Timeline.DeviatedAt != nil; deviated != (len(failing) == 1) {
				t.Errorf("%d failing spans drawn for a run with deviatedAt %v", len(failing), run.Status.Timeline.DeviatedAt)
			}
		})
	}
}

// The fault window spans injectedAt to revertedAt, and a mark sits where its
// instant is: checked against the positions of the marks, not by numbers.
func TestHTMLFaultWindowLiesBetweenItsMarks(t *testing.T) {
	page := parseHTMLPage(t, renderHTML(t, abortedRun()))
	markX := map[string]float64{}
	for _, m := range page.all(byAttr("data-mark")) {
		line := m.all(func(n *htmlNode) bool { return n.name == "line" })
		markX[m.attrs["data-mark"]] = attrFloat(t, line[0], "x1")
	}
	for i := 1; i < len(markedInstants(abortedRun())); i++ {
		prev, cur := markedInstants(abortedRun())[i-1], markedInstants(abortedRun())[i]
		if markX[prev] > markX[cur] {
			t.Errorf("mark %s (x %v) is drawn after %s (x %v)", prev, markX[prev], cur, markX[cur])
		}
	}
	fault := page.all(func(n *htmlNode) bool { return n.name == "rect" && n.attrs["class"] == "fault" })
	if len(fault) != 1 {
		t.Fatalf("%d fault windows, want 1", len(fault))
	}
	from := attrFloat(t, fault[0], "x")
	to := from + attrFloat(t, fault[0], "width")
	if abs(from-markX["injectedAt"]) > 0.1 || abs(to-markX["revertedAt"]) > 0.1 {
		t.Errorf("fault window %v..%v, want from the injectedAt mark %v to the revertedAt mark %v", from, to, markX["injectedAt"], markX["revertedAt"])
	}
	breach := page.all(func(n *htmlNode) bool { return n.name == "rect" && n.attrs["class"] == "breach" })
	if len(breach) != 1 || attrFloat(t, breach[0], "x")+attrFloat(t, breach[0], "width")-markX["abortedAt"] > 0.1 {
		t.Errorf("the guard's breach is not drawn up to the abort decision")
	}
}

// Each probe's recorded values are drawn against its threshold, on the side
// the run judged them: a worst value that failed lies on the failing side.
func TestHTMLDrawsProbeValuesAgainstThresholds(t *testing.T) {
	run := passedRun()
	page := parseHTMLPage(t, renderHTML(t, run))
	rows := page.all(byAttr("data-probe"))
	if len(rows) != len(run.Status.Probes) {
		t.Fatalf("%d probe rows, want one per probe (%d)", len(rows), len(run.Status.Probes))
	}
	for i, row := range rows {
		p := run.Status.Probes[i]
		if row.attrs["data-probe"] != p.Name {
			t.Errorf("row %d is %q, want %q", i, row.attrs["data-probe"], p.Name)
		}
		points := map[string]float64{}
		for _, pt := range row.all(byAttr("data-point")) {
			c := pt.all(func(n *htmlNode) bool { return n.name == "circle" })
			points[pt.attrs["data-point"]] = attrFloat(t, c[0], "cx")
		}
		if len(points) != 3 {
			t.Errorf("probe %s: points %v, want baseline, worst and last", p.Name, points)
		}
		th := row.all(func(n *htmlNode) bool { return n.name == "line" && n.attrs["class"] == "threshold" })
		if len(th) != 1 {
			t.Errorf("probe %s: %d thresholds drawn, want 1", p.Name, len(th))
			continue
		}
		band := row.all(func(n *htmlNode) bool { return n.attrs["class"] == "failing-side" })
		if len(band) != 1 {
			t.Errorf("probe %s: no failing side drawn", p.Name)
			continue
		}
		lo := attrFloat(t, band[0], "x")
		hi := lo + attrFloat(t, band[0], "width")
		worstFailed := p.Failures > 0
		if inBand := points["worst"] >= lo && points["worst"] <= hi; inBand != worstFailed {
			t.Errorf("probe %s: worst value %s at x %v, failing side %v..%v; the run counted %d failures",
				p.Name, p.Worst, points["worst"], lo, hi, p.Failures)
		}
		if baseline := points["baseline"]; baseline > lo && baseline < hi {
			t.Errorf("probe %s: the baseline that held is drawn on the failing side", p.Name)
		}
	}
	caption := page.all(byID("values"))[0].textContent()
	if !strings.Contains(caption, "not every sample") {
		t.Errorf("the values caption does not say that samples are not kept:\n%s", caption)
	}
}

// hostileText carries markup, an attribute break-out, a control character
// and a CDATA end: none may reach the page as anything but text.
const hostileText = `<script>alert(1)</script>"><img src=x onerror=alert(2)>` + "\x1b[31m ]]> & end"

func hostileHTMLRun() *chaosv1alpha1.ExperimentRun {
	r := abortedRun()
	r.Name = "checkout-pod-kill" + hostileText
	r.Status.Message = "Aborted: " + hostileText
	r.Status.Probes[0].Name = "success-rate" + hostileText
	r.Status.Probes[0].LastError = "query failed: " + hostileText
	r.Status.Probes[2].Name = "error-budget" + hostileText
	r.Status.Abort.Guard = r.Status.Probes[2].Name
	r.Status.Abort.Message = hostileText
	r.Status.Targets[1].Message = hostileText
	r.Status.Result.Objectives[0].Name = "detectWithin" + hostileText
	return r
}

func TestHTMLEscapesHostileText(t *testing.T) {
	raw := renderHTML(t, hostileHTMLRun())
	if bytes.ContainsRune(raw, 0x1b) {
		t.Error("a control character reached the page")
	}
	page := parseHTMLPage(t, raw)
	if n := page.all(func(n *htmlNode) bool { return n.name == "script" || n.name == "img" }); len(n) > 0 {
		t.Fatalf("hostile text became %d elements (%s)", len(n), n[0].name)
	}
	for _, n := range page.all(func(*htmlNode) bool { return true }) {
		for k := range n.attrs {
			if strings.HasPrefix(k, "on") {
				t.Errorf("hostile text became an attribute %s on <%s>", k, n.name)
			}
		}
	}
	shown := strings.ReplaceAll(hostileText, "\x1b", "\uFFFD")
	text := page.textContent()
	if c := strings.Count(text, shown); c < 6 {
		t.Errorf("the hostile text is shown %d times as text, want it in the title, banner, message, probes, abort and targets", c)
	}
	rows := page.all(byAttr("data-probe"))
	if rows[0].attrs["data-probe"] != "success-rate"+shown {
		t.Errorf("the probe row is named %q, want the probe's name as text", rows[0].attrs["data-probe"])
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			page := parseHTMLPage(t, renderHTML(t, sc.run()))
			for _, n := range page.all(func(*htmlNode) bool { return true }) {
				if slices.Contains([]string{"script", "link", "img", "iframe", "object", "embed"}, n.name) {
					t.Errorf("the page loads or runs something: <%s>", n.name)
				}
				for _, a := range []string{"src", "href"} {
					if v, ok := n.attrs[a]; ok {
						t.Errorf("<%s %s=%q> refers outside the page", n.name, a, v)
					}
				}
			}
			css := page.all(func(n *htmlNode) bool { return n.name == "style" })
			if len(css) != 1 {
				t.Fatalf("%d style elements, want the inline one", len(css))
			}
			for _, u := range strings.Split(css[0].text, "url(")[1:] {
				if !strings.HasPrefix(u, "#") {
					t.Errorf("the style refers outside the page: url(%s", u[:min(len(u), 40)])
				}
			}
			if strings.Contains(css[0].text, "@import") || strings.Contains(css[0].text, "@font-face") {
				t.Error("the style imports something")
			}
		})
	}
}

// A run with more targets, probes and text than any page should carry still
// gives a bounded page, which says what it left out.
func TestHTMLIsBoundedForHugeRuns(t *testing.T) {
	tests := map[string]struct {
		char string // what the huge texts are made of
		lim  htmlLimits
	}{
		"plain text is cut to the full limits":                         {char: "x", lim: fullLimits},
		"text that escapes to many bytes is cut to the compact limits": {char: `"<`, lim: compactLimits},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			run := passedRun()
			huge := strings.Repeat(tc.char, 4*maxHTMLBytes)
			run.Status.Message = huge
			target := run.Status.Targets[0]
			targets := 20 * fullLimits.targets
			run.Status.Targets = nil
			for i := range targets {
				tg := target
				tg.Name = fmt.Sprintf("checkout-%d-%s", i, huge[:1000])
				tg.Message = huge
				run.Status.Targets = append(run.Status.Targets, tg)
			}
			probe := run.Status.Probes[0]
			probes := 4 * fullLimits.probes
			run.Status.Probes = nil
			for i := range probes {
				p := probe
				p.Name = fmt.Sprintf("probe-%d-%s", i, huge[:1000])
				p.LastError = huge
				run.Status.Probes = append(run.Status.Probes, p)
			}
			raw := renderHTML(t, run)
			if len(raw) > maxHTMLBytes {
				t.Errorf("the page is %d bytes, more than its bound of %d", len(raw), maxHTMLBytes)
			}
			page := parseHTMLPage(t, raw)
			text := page.textContent()
			if want := fmt.Sprintf("and %d more targets, not listed", targets-tc.lim.targets); !strings.Contains(text, want) {
				t.Errorf("the page does not say %q", want)
			}
			if want := fmt.Sprintf("and %d more probes, not listed", probes-tc.lim.probes); !strings.Contains(text, want) {
				t.Errorf("the page does not say %q", want)
			}
			if rows := page.all(byAttr("data-probe")); len(rows) != tc.lim.probes {
				t.Errorf("%d probes drawn, want the first %d", len(rows), tc.lim.probes)
			}
			if compact := len(page.all(byID("compact"))) == 1; compact != tc.lim.compact {
				t.Errorf("the page says it was cut shorter than usual: %v, want %v", compact, tc.lim.compact)
			}
		})
	}
}

func TestHTMLClip(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"plain text is kept":                          {in: "a < b & c", want: "a < b & c"},
		"tabs and newlines are kept":                  {in: "a\tb\nc", want: "a\tb\nc"},
		"controls and invalid UTF-8 are replaced":     {in: "a\x1bb\x00c\xffd\u0085e", want: "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"},
		"noncharacters are replaced":                  {in: "a\uFFFEb\uFDD0c", want: "a\uFFFDb\uFFFDc"},
		"a long text is cut, saying how much is left": {in: strings.Repeat("é", fullLimits.text+3), want: strings.Repeat("é", fullLimits.text) + "… (6 more bytes)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := fullLimits.clip(tc.in); got != tc.want {
				t.Errorf("clip(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// docs/report-example.html is the page of exampleRun; -update rewrites it.
func TestHTMLExampleIsCurrent(t *testing.T) {
	golden(t, filepath.Join("..", "..", "docs", "report-example.html"), renderHTML(t, exampleRun()))
}

func attrFloat(t *testing.T, n *htmlNode, name string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(n.attrs[name], 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.name, name, n.attrs[name], err)
	}
	return f
}

func TestHTMLTimeAxisTicks(t *testing.T) {
	origin := injected
	tests := map[string]struct {
		from, to time.Duration // the axis, from the origin
	}{
		"a run of a few minutes around its injection": {from: -35 * time.Second, to: 2*time.Minute + 46*time.Second},
		"a pod kill reverted within a second":         {from: -10 * time.Millisecond, to: 201 * time.Millisecond},
		"a run held up for weeks":                     {from: -time.Minute, to: 40 * 24 * time.Hour},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lo, hi := origin.Add(tc.from), origin.Add(tc.to)
			ax := timeAxis{lo: lo, hi: hi, origin: origin, hasOrig: true, left: svgPlotLeft, rt: svgPlotRight}
			got := ticks(lo, hi, ax)
			if len(got) < 2 || len(got) > maxTicks+1 {
				t.Fatalf("%d ticks, want between 2 and %d", len(got), maxTicks+1)
			}
			if !slices.ContainsFunc(got, func(tk svgTick) bool { return tk.Label == "+0s" }) {
				t.Errorf("no tick at the origin: %v", got)
			}
			for i, tk := range got {
				if tk.X < svgPlotLeft || tk.X > svgPlotRight {
					t.Errorf("tick %s at x %v is off the axis", tk.Label, tk.X)
				}
				if i > 0 && tk.X <= got[i-1].X {
					t.Errorf("tick %s is not after %s", tk.Label, got[i-1].Label)
				}
			}
			// The ticks cover the axis: none missing at the end.
			step := got[1].X - got[0].X
			if svgPlotRight-got[len(got)-1].X > step+0.1 {
				t.Errorf("the last tick %s leaves more than a step of the axis bare", got[len(got)-1].Label)
			}
		})
	}
}

// TestPageCSSUsesTheNamedColours ties templates/report.css to the colour
// constants. The Chromium test looks for those colours in a screenshot, so
// a colour changed in the style sheet alone would have it look for one the
// page no longer paints, and the banner could show any colour unnoticed.
func TestPageCSSUsesTheNamedColours(t *testing.T) {
	rules := map[string]string{}
	for _, line := range strings.Split(pageCSS, "\n") {
		if selector, body, ok := strings.Cut(line, " { "); ok {
			rules[selector] = strings.TrimSuffix(body, " }")
		}
	}
	want := map[string]string{
		".objective-met":             "color: " + colourPassed,
		".objective-missed":          "color: " + colourFailed,
		"svg .fault":                 "fill: " + colourFault,
		"svg .failing":               "fill: " + colourFailing,
		"svg .passing":               "fill: " + colourPassing,
		"svg .breach":                "fill: " + colourAborted,
		"svg .point-worst":           "fill: " + colourFailed,
		"svg .threshold":             "stroke: " + colourFailed,
		".outcome-harm":              "color: " + colourFailed,
		".outcome-noharm":            "color: " + colourPassed,
		"svg .mark-recoveredAt line": "stroke: " + colourPassed,
		"svg .group-experiment circle, svg .group-experiment .box": "fill: " + colourExperimentGroup,
		"svg .group-control circle, svg .group-control .box":       "fill: " + colourControlGroup,
	}
	for verdict, colour := range verdictColours {
		want["."+verdictClass(verdict)] = "background: " + colour
	}
	for selector, declaration := range want {
		body, ok := rules[selector]
		if !ok {
			t.Errorf("report.css has no rule for %q", selector)
			continue
		}
		if !strings.Contains(" "+body, " "+declaration+";") {
			t.Errorf("report.css: %s { %s }, want %s", selector, body, declaration)
		}
	}
}
