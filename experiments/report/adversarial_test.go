package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// adversarial is text a run may carry in any field a person, a probe, a
// remote system or the API server fills: each line is one attack on one of
// the formats, and every format gets all of them. The reports are posted
// into pull requests and wikis, opened in browsers and printed on
// terminals, so none may turn into markup, a link, a row, a line of its own
// or a terminal command.
var adversarial = map[string]string{
	"script element":           `<script>alert(1)</script>`,
	"javascript link element":  `<a href="javascript:alert(1)">click</a>`,
	"image with a handler":     `<img src=x onerror=alert(1)>`,
	"svg with a handler":       `<svg onload=alert(1)>`,
	"attribute break-out":      `"><iframe src=//evil.example>`,
	"HTML comment":             `<!-- hidden --> shown`,
	"Markdown link":            `[click](javascript:alert(1))`,
	"Markdown image":           `![x](http://evil.example/x.png)`,
	"reference link":           "[x]: javascript:alert(1)",
	"autolink":                 `<http://evil.example>`,
	"code span break-out":      "`</code><script>alert(1)</script>`",
	"backtick runs":            "a`b``c```d",
	"pipes":                    `a | b || c \| d`,
	"newline, row and heading": "one\n| forged | row |\n# Passed\n- item\n> quote\n1. first",
	"carriage returns":         "Verdict Failed\rVerdict Passed\r\nagain",
	"leading heading":          "# Passed",
	"leading quote":            "> quote",
	"leading list mark":        "- item",
	"leading ordered mark":     "1. item",
	"rule":                     "---",
	"HTML entities":            "&lt;script&gt;alert(1)&lt;/script&gt; &#106;avascript:alert(1) &amp;",
	"emphasis and math":        "**bold** _it_ ~~strike~~ $\\color{red}{Passed}$",
	"attribute lists, macros":  "{: .x} {{7*7}} {html}<b>x</b>{html}",
	"backslashes":              `a\ b\\ c\`,
	"ANSI colour and title":    "\x1b[31mred\x1b[0m \x1b]0;owned\x07 \u009b2J",
	"C0 controls and DEL":      "nul\x00 bs\x08 ff\x0c vt\x0b del\x7f",
	"bidi override":            "invoice\u202Efdp.exe \u2066isolate\u2069",
	"CDATA end":                "]]><injected/>",
	"CDATA split":              "]]]]><![CDATA[>",
	"XML markup":               `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>&e;`,
	"JSON break-out":           `"},"verdict":"Passed","x":{"`,
	"line separators":          "a\u2028b\u2029c",
	"bytes that are not UTF-8": "bad \xff\xfe end",
	"noncharacters":            "\uFFFE\uFFFF",
	"bare javascript URL":      "javascript:alert(1)",
	"mention and references":   "@org/team #1 !2",
}

// placeholder stands for the hostile text in the same run with harmless
// text: what each format makes of it, with the placeholder replaced by the
// hostile text as that format shows it, is what the hostile run's report
// must be. Anything more (an element, a row, a line, a key) was injected.
const placeholder = "PLACEHOLDER"

// adversarialRun is a finished run with h in every free-text field a report
// shows: the run's, Experiment's and namespace's names, message, users,
// an objective, the detection alert, the notification and remediation,
// a target and a node's spared pod, a probe and a guard with their
// conditions, values and errors, the SLOs, the comparison and the abort.
// Enumerations the operator writes (phase, verdict, kinds, reasons) keep
// their values: the renderers branch on them.
func adversarialRun(h string) *chaosv1alpha1.ExperimentRun {
	r := comparedRun()
	r.Namespace, r.Name, r.Spec.ExperimentRef.Name = h, h, h
	st := &r.Status
	st.Message, st.RequestedBy = h, h
	st.Approval = &chaosv1alpha1.ApprovalStatus{ApprovedBy: h, ApprovedAt: at(started, -time.Minute)}

	spec := st.Experiment
	spec.Detection = &chaosv1alpha1.DetectionSpec{Alerts: []string{h}}
	spec.Objectives = &chaosv1alpha1.ObjectivesSpec{NotifyWithin: dur(time.Minute)}
	spec.SteadyState.Probes = append(spec.SteadyState.Probes, chaosv1alpha1.Probe{Name: h,
		Prometheus: &chaosv1alpha1.PrometheusQuery{Query: h}, Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: h}})
	spec.Abort.Guards = append(spec.Abort.Guards, chaosv1alpha1.Guard{Name: "guard " + h,
		Prometheus: chaosv1alpha1.PrometheusQuery{Query: h}, Condition: chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLess, Value: h}})
	spec.Comparison.Experiment = map[string]string{"canary": h}
	spec.Comparison.Alpha, spec.Comparison.Tolerance = h, h

	st.Timeline.AlertedAt = at(injected, 4*time.Second)
	st.Timeline.NotifiedAt = at(injected, 9*time.Second)
	st.Timeline.RemediationStartedAt = at(injected, time.Second)
	st.Notification = &chaosv1alpha1.NotificationStatus{Alert: h, Receiver: h, Unobserved: h}
	st.Remediation = &chaosv1alpha1.RemediationStatus{StartedBy: h, Rule: h}
	st.Result.TimeToNotify = dur(9 * time.Second)
	st.Result.Objectives = append(st.Result.Objectives, chaosv1alpha1.ObjectiveResult{Name: h,
		Target: metav1.Duration{Duration: time.Minute}, Measured: dur(90 * time.Second), Status: chaosv1alpha1.ObjectiveMissed})

	st.Targets = append(st.Targets,
		chaosv1alpha1.TargetStatus{Kind: chaosv1alpha1.TargetPod, Namespace: h, Name: h, Phase: chaosv1alpha1.TargetFailed, Message: h},
		chaosv1alpha1.TargetStatus{Kind: chaosv1alpha1.TargetNode, Name: "node " + h, Phase: chaosv1alpha1.TargetReverted,
			InjectedAt: at(injected, 0), RevertedAt: at(injected, time.Minute),
			Restore: &chaosv1alpha1.RestoreData{Node: &chaosv1alpha1.NodeRestore{SparedPods: []string{h}}}})
	st.Probes = append(st.Probes,
		chaosv1alpha1.ProbeStatus{Name: h, Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: h, Worst: h, Last: h, Samples: 3, Failures: 1, Errors: 1, LastError: h},
		chaosv1alpha1.ProbeStatus{Name: "guard " + h, Kind: chaosv1alpha1.ProbeKindGuard, Baseline: "1", Worst: "2", Last: "1", Samples: 3, Errors: 1, LastError: h})

	st.SLOs[0].Source, st.SLOs[0].Query, st.SLOs[0].Error = h, h, h
	st.SLOs[1].Objective, st.SLOs[1].ErrorBudgetRemaining = h, h
	st.Comparison.Message, st.Comparison.Experiment.Query, st.Comparison.RelativeDifference = h, h, h

	st.Abort = &chaosv1alpha1.AbortStatus{Reason: chaosv1alpha1.AbortSLOBreached, Guard: "guard " + h, Value: h,
		FirstBreachAt: at(injected, 10*time.Second), DecidedAt: at(injected, 20*time.Second), Message: h}
	return r
}

// renderRun renders run in format f.
func renderRun(t *testing.T, f Format, run *chaosv1alpha1.ExperimentRun) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, f, run); err != nil {
		t.Fatalf("rendering %s: %v", f, err)
	}
	return buf.Bytes()
}

// substitute is what a report of the harmless run says with the hostile
// text h in place of the placeholder, as show (the format's escaping)
// writes it. A comparison's label matchers quote their values as PromQL
// does, so the quoted placeholder stands for h quoted.
func substitute(benign, h string, show func(string) string) string {
	benign = strings.ReplaceAll(benign, strconv.Quote(placeholder), show(strconv.Quote(h)))
	return strings.ReplaceAll(benign, placeholder, show(h))
}

// spaces are runs of white space, which tables pad and renderers fold: the
// comparisons below read text with each run as one space.
var spaces = regexp.MustCompile(`\s+`)

func squeeze(s string) string { return strings.TrimSpace(spaces.ReplaceAllString(s, " ")) }

func TestEveryFormatShowsHostileTextAsText(t *testing.T) {
	for name, h := range adversarial {
		t.Run(name, func(t *testing.T) {
			t.Run("text", func(t *testing.T) { checkText(t, h) })
			t.Run("markdown", func(t *testing.T) { checkMarkdown(t, h) })
			t.Run("json", func(t *testing.T) { checkJSON(t, h) })
			t.Run("junit", func(t *testing.T) { checkJUnit(t, h) })
			t.Run("html", func(t *testing.T) { checkHTML(t, h) })
		})
	}
}

// checkText: the text report has the lines the harmless run's has, no
// character a terminal acts on, and the hostile text where the placeholder
// was, with its controls made visible.
func checkText(t *testing.T, h string) {
	got := string(renderRun(t, FormatText, adversarialRun(h)))
	benign := string(renderRun(t, FormatText, adversarialRun(placeholder)))
	if !utf8.ValidString(got) {
		t.Errorf("the text report is not UTF-8")
	}
	for _, r := range got {
		if (unicode.IsControl(r) && r != '\n') || bidiControl(r) {
			t.Fatalf("the text report carries %U, which a terminal acts on:\n%q", r, got)
		}
	}
	gotLines, benignLines := strings.Split(got, "\n"), strings.Split(benign, "\n")
	if len(gotLines) != len(benignLines) {
		t.Fatalf("the text report has %d lines, the harmless run's %d: the text made lines of its own\n%s", len(gotLines), len(benignLines), got)
	}
	for i := range gotLines {
		if want := squeeze(substitute(benignLines[i], h, terminalText)); squeeze(gotLines[i]) != want {
			t.Errorf("line %d is\n%q, want\n%q", i+1, squeeze(gotLines[i]), want)
		}
	}
}

// checkMarkdown renders the Markdown as GitHub does before sanitising it
// (raw HTML allowed) and requires the harmless run's elements, in order,
// and its text with the hostile text where the placeholder was. Autolinks
// are the one thing the text may add: a URL written out becomes a link to
// itself, as GitHub makes it, never to another address or scheme.
func checkMarkdown(t *testing.T, h string) {
	md := renderRun(t, FormatMarkdown, adversarialRun(h))
	page := markdownHTML(t, md)
	if m := rawMarkup.Find(page); m != nil {
		t.Fatalf("the rendered Markdown carries %q\n%s", m, page)
	}
	got, gotText, err := parseFragment(page)
	if err != nil {
		t.Fatalf("the rendered Markdown does not parse: %v", err)
	}
	benign, benignText, err := parseFragment(markdownHTML(t, renderRun(t, FormatMarkdown, adversarialRun(placeholder))))
	if err != nil {
		t.Fatal(err)
	}
	var links []fragmentElement
	got = slices.DeleteFunc(got, func(e fragmentElement) bool {
		if e.name == "a" {
			links = append(links, e)
			return true
		}
		return false
	})
	if names, want := elementNames(got), elementNames(benign); !slices.Equal(names, want) {
		t.Fatalf("the Markdown renders as the elements\n%v, the harmless run's as\n%v\n%s", names, want, md)
	}
	for i, e := range got {
		if !maps.Equal(attrNames(e), attrNames(benign[i])) {
			t.Errorf("<%s> has the attributes %v, the harmless run's %v", e.name, attrNames(e), attrNames(benign[i]))
		}
	}
	for _, a := range links {
		href, text := a.attrs["href"], strings.TrimSpace(a.text)
		if unescaped, err := url.PathUnescape(href); err == nil {
			href = unescaped // goldmark writes a quote in the URL as %22
		}
		if !slices.Contains([]string{text, "http://" + text, "mailto:" + text}, href) || !autolinkScheme.MatchString(href) {
			t.Errorf("the text became a link to %q reading %q, not an autolink of a URL it shows", href, text)
		}
	}
	if want := squeeze(substitute(benignText, h, terminalText)); squeeze(gotText) != want {
		t.Errorf("the rendered Markdown reads\n%q, want\n%q\n%s", squeeze(gotText), want, md)
	}
}

// rawMarkup is what rendered Markdown must never carry from the run: the
// elements that run or load something, and a URL that runs script. The
// report itself writes none of them.
var rawMarkup = regexp.MustCompile(`(?i)<(script|img|iframe|svg|style|object|embed|form|input|!--)|(href|src)\s*=\s*["']?\s*(javascript|data|vbscript):`)

// autolinkScheme is how an autolink's destination begins: GFM links only
// URLs written out with these, and www. names as http.
var autolinkScheme = regexp.MustCompile(`^(https?://|mailto:)`)

// checkJSON: the JSON report is valid, decodes and encodes back to the same
// bytes, and holds the harmless run's keys with the hostile text, as UTF-8,
// where the placeholder was.
func checkJSON(t *testing.T, h string) {
	out := renderRun(t, FormatJSON, adversarialRun(h))
	if !json.Valid(out) {
		t.Fatalf("not valid JSON:\n%s", out)
	}
	var s Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	var s2 Summary
	if err := json.Unmarshal(again.Bytes(), &s2); err != nil {
		t.Fatal(err)
	}
	// A byte that is not UTF-8 is written \ufffd the first time and as the
	// character itself the next: the same text, other bytes.
	if !reflect.DeepEqual(s, s2) || (utf8.ValidString(h) && !bytes.Equal(again.Bytes(), out)) {
		t.Errorf("the JSON report does not round-trip:\n%s\n---\n%s", out, again.Bytes())
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(renderRun(t, FormatJSON, adversarialRun(placeholder)), &want); err != nil {
		t.Fatal(err)
	}
	want = replaceStrings(want, func(s string) string { return substitute(s, h, jsonText) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the JSON report differs from the harmless run's with the text in place:\n%s", out)
	}
}

// jsonText is s as encoding/json writes it: each byte that is not UTF-8
// becomes U+FFFD.
func jsonText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// replaceStrings applies replace to every string of a decoded JSON value,
// keys included.
func replaceStrings(v any, replace func(string) string) any {
	switch v := v.(type) {
	case string:
		return replace(v)
	case []any:
		for i := range v {
			v[i] = replaceStrings(v[i], replace)
		}
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[replace(k)] = replaceStrings(e, replace)
		}
		return out
	}
	return v
}

// checkJUnit: the JUnit report is well-formed XML 1.0 (renderJUnit reads
// every token strictly), has the harmless run's elements and attributes in
// order, and the hostile text where the placeholder was: made valid XML
// (xmlText), and in the text report of the suite's system-out as the text
// report shows it.
func checkJUnit(t *testing.T, h string) {
	_, raw := renderJUnit(t, adversarialRun(h))
	_, benign := renderJUnit(t, adversarialRun(placeholder))
	got, want := xmlTokens(t, raw), xmlTokens(t, benign)
	if len(got) != len(want) {
		t.Fatalf("the JUnit report has %d tokens, the harmless run's %d: the text injected some\n%s", len(got), len(want), raw)
	}
	for i := range got {
		g, w := got[i], want[i]
		show := xmlText
		if w.path == "testsuites/testsuite/system-out" {
			// The text report, whose columns the text's length moves.
			show = func(s string) string { return xmlText(terminalText(s)) }
			g.text, w.text = squeeze(g.text), squeeze(substitute(w.text, h, show))
		} else {
			w.text = substitute(w.text, h, show)
		}
		for k, v := range w.attrs {
			w.attrs[k] = substitute(v, h, show)
		}
		if g.path != w.path || g.text != w.text || !reflect.DeepEqual(g.attrs, w.attrs) {
			t.Errorf("token %d is %+v, want %+v", i, g, w)
		}
	}
}

// xmlToken is one element or run of character data of an XML document.
type xmlToken struct {
	// path names the element and its ancestors: "testsuites/testsuite".
	path  string
	attrs map[string]string
	// text is the character data, CDATA included; empty for an element.
	text string
}

// xmlTokens reads a document's elements and character data in order,
// adjacent character data (a CDATA section split at "]]>") as one.
func xmlTokens(t *testing.T, doc string) []xmlToken {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	var out []xmlToken
	var path []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			path = append(path, tok.Name.Local)
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Name.Local] = a.Value
			}
			out = append(out, xmlToken{path: strings.Join(path, "/"), attrs: attrs})
		case xml.EndElement:
			path = path[:len(path)-1]
		case xml.CharData:
			if strings.TrimSpace(string(tok)) == "" {
				continue // indentation
			}
			p := strings.Join(path, "/")
			if n := len(out); n > 0 && out[n-1].attrs == nil && out[n-1].path == p {
				out[n-1].text += string(tok)
				continue
			}
			out = append(out, xmlToken{path: p, text: string(tok)})
		case xml.Comment, xml.Directive:
			t.Fatalf("the JUnit report carries %T %q", tok, tok)
		}
	}
}

// checkHTML: the page has the harmless run's elements and attributes in
// order, loads and runs nothing, and shows the hostile text, its
// controls replaced, as text. html/template escapes by context; this checks
// every field it is given.
func checkHTML(t *testing.T, h string) {
	raw := renderRun(t, FormatHTML, adversarialRun(h))
	got, text, err := parseFragment(raw)
	if err != nil {
		t.Fatalf("the page does not parse: %v", err)
	}
	benign, _, err := parseFragment(renderRun(t, FormatHTML, adversarialRun(placeholder)))
	if err != nil {
		t.Fatal(err)
	}
	if names, want := elementNames(got), elementNames(benign); !slices.Equal(names, want) {
		t.Fatalf("the page has the elements\n%v, the harmless run's\n%v", names, want)
	}
	for i, e := range got {
		if !maps.Equal(attrNames(e), attrNames(benign[i])) {
			t.Errorf("<%s> has the attributes %v, the harmless run's %v", e.name, attrNames(e), attrNames(benign[i]))
		}
		for _, k := range []string{"href", "src", "action", "formaction", "srcdoc", "style", "xlink:href"} {
			// Run text has no place in an attribute the browser loads,
			// runs or styles by.
			if v, ok := e.attrs[k]; ok && v != benign[i].attrs[k] {
				t.Errorf("<%s %s=%q> carries run text (the harmless run's is %q)", e.name, k, v, benign[i].attrs[k])
			}
		}
	}
	for _, r := range string(raw) {
		if r == 0x1b || r == 0x9b || r == 0 {
			t.Fatalf("the page carries the control %U", r)
		}
	}
	if shown := squeeze(fullLimits.clip(h)); !strings.Contains(squeeze(text), shown) {
		t.Errorf("the page does not show %q as text", shown)
	}
}

// elementNames lists the elements' names, in order.
func elementNames(es []fragmentElement) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out
}

// attrNames is the set of an element's attribute names.
func attrNames(e fragmentElement) map[string]bool {
	out := map[string]bool{}
	for k := range e.attrs {
		out[k] = true
	}
	return out
}

// FuzzReportsShowRunTextAsText puts arbitrary text where the table above
// puts its attacks, and holds the text and Markdown reports to the same
// checks: the escaping is written against CommonMark's rules, and a fuzzer
// finds the corners of those rules a list of attacks leaves out.
func FuzzReportsShowRunTextAsText(f *testing.F) {
	for _, h := range adversarial {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if h == "" || strings.Contains(h, placeholder) || strings.HasSuffix(h, "%") {
			// An empty field is shown as absent, a condition ending in %
			// is relative to the baseline and described as such, and the
			// placeholder inside the text would be taken for one.
			t.Skip()
		}
		checkText(t, h)
		checkMarkdown(t, h)
	})
}
