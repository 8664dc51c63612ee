package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// junitDoc is the part of a JUnit report the tests below read back.
type junitDoc struct {
	Time   string `xml:"time,attr"`
	Suites []struct {
		Name       string `xml:"name,attr"`
		Time       string `xml:"time,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases     []junitCaseDoc `xml:"testcase"`
		SystemOut string         `xml:"system-out"`
	} `xml:"testsuite"`
}

// junitCaseDoc is one testcase of a junitDoc.
type junitCaseDoc struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Time      string `xml:"time,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Body    string `xml:",chardata"`
	} `xml:"failure"`
	Error *struct {
		Message string `xml:"message,attr"`
	} `xml:"error"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	SystemOut string `xml:"system-out"`
}

// renderJUnit renders run, checks that every token of the document passes a
// strict XML 1.0 decoder (which rejects the characters XML forbids, in text
// and attributes alike, and malformed CDATA), and decodes it.
func renderJUnit(t *testing.T, run *chaosv1alpha1.ExperimentRun) (junitDoc, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := JUnit(&buf, run); err != nil {
		t.Fatalf("rendering: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML 1.0: %v\n%q", err, buf.String())
		}
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("decoding: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d testsuites, want one per run", len(doc.Suites))
	}
	return doc, buf.String()
}

// hostile is text a probe or an apiserver could hand back: an ESC colour
// sequence, NUL, a noncharacter, a byte that is not UTF-8, and the sequence
// that ends a CDATA section.
const hostile = "\x1b[31mboom\x1b[0m \x00 \uFFFE \xff ]]> end"

// hostileEscaped is hostile as the report shows it.
const hostileEscaped = `\x1b[31mboom\x1b[0m \x00 \uFFFE ` + "\uFFFD" + ` ]]> end`

// hostileRun is a failed run whose free text, probe error and names all
// carry hostile.
func hostileRun() *chaosv1alpha1.ExperimentRun {
	r := failedRun()
	r.Name = "checkout-pod-kill-q9w4z" + hostile
	r.Spec.ExperimentRef.Name = "checkout" + hostile
	r.Status.Message = "Failed: " + hostile
	r.Status.RequestedBy = "alice" + hostile
	r.Status.Probes[0].Name = "success-rate" + hostile
	r.Status.Probes[0].Errors = 2
	r.Status.Probes[0].LastError = "query failed: " + hostile
	r.Status.Result.Objectives[1].Name = "recoverWithin" + hostile
	return r
}

func TestJUnitIsValidXMLWhateverTheRunSays(t *testing.T) {
	tests := map[string]struct {
		run func() *chaosv1alpha1.ExperimentRun
	}{
		"a failed run whose texts carry controls, noncharacters, bad UTF-8 and ]]>": {run: hostileRun},
		"an aborted run whose abort message carries them": {run: func() *chaosv1alpha1.ExperimentRun {
			r := abortedRun()
			r.Status.Abort.Message = hostile
			r.Status.Message = hostile
			return r
		}},
		"a run in error whose message carries them": {run: func() *chaosv1alpha1.ExperimentRun {
			r := errorRun()
			r.Status.Message = hostile
			return r
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, raw := renderJUnit(t, tc.run())
			if !strings.Contains(doc.Suites[0].SystemOut, hostileEscaped) {
				t.Errorf("system-out does not show the escaped text %q:\n%s", hostileEscaped, doc.Suites[0].SystemOut)
			}
			if !strings.Contains(raw, "]]]]><![CDATA[>") {
				t.Errorf("]]> in the text report was not split across CDATA sections:\n%s", raw)
			}
			var problems []string
			for _, c := range doc.Suites[0].Cases {
				switch {
				case c.Failure != nil:
					problems = append(problems, c.Failure.Message, c.Failure.Body)
				case c.Error != nil:
					problems = append(problems, c.Error.Message)
				}
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, hostileEscaped) }) {
				t.Errorf("no failure or error shows the escaped text %q: %q", hostileEscaped, problems)
			}
		})
	}
}

func TestJUnitEscapesNamesAndProbeErrors(t *testing.T) {
	doc, _ := renderJUnit(t, hostileRun())
	suite := doc.Suites[0]
	if want := "faultline shop/checkout" + hostileEscaped; suite.Name != want {
		t.Errorf("suite name = %q, want %q", suite.Name, want)
	}
	if want := "faultline.shop.checkout" + hostileEscaped; suite.Cases[0].Classname != want {
		t.Errorf("classname = %q, want %q", suite.Cases[0].Classname, want)
	}
	props := map[string]string{}
	for _, p := range suite.Properties {
		props[p.Name] = p.Value
	}
	if want := "shop/checkout-pod-kill-q9w4z" + hostileEscaped; props["run"] != want {
		t.Errorf("run property = %q, want %q", props["run"], want)
	}
	if want := "alice" + hostileEscaped; props["requestedBy"] != want {
		t.Errorf("requestedBy property = %q, want %q", props["requestedBy"], want)
	}
	if want := "recoverWithin" + hostileEscaped; !slices.ContainsFunc(suite.Cases, func(c junitCaseDoc) bool {
		return c.Name == want
	}) {
		t.Errorf("no testcase named %q", want)
	}
	for _, want := range []string{"success-rate" + hostileEscaped, "query failed: " + hostileEscaped} {
		if !strings.Contains(suite.SystemOut, want) {
			t.Errorf("system-out does not show %q:\n%s", want, suite.SystemOut)
		}
	}
}

func TestXMLText(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"plain text is kept":                        {in: "value 0.93 (>= 0.95)", want: "value 0.93 (>= 0.95)"},
		"tab, newline and carriage return are kept": {in: "a\tb\nc\rd", want: "a\tb\nc\rd"},
		"non-ASCII text and U+FFFD itself are kept": {in: "café 🚀 \uFFFD", want: "café 🚀 \uFFFD"},
		"C0 controls become hex escapes":            {in: "\x00\x01\x1b\x1f", want: `\x00\x01\x1b\x1f`},
		"U+FFFE and U+FFFF become \\u escapes":      {in: "\uFFFE\uFFFF", want: `\uFFFE\uFFFF`},
		"a byte that is not UTF-8 becomes U+FFFD":   {in: "a\xffb\xc3", want: "a\uFFFDb\uFFFD"},
		"an encoded surrogate is not UTF-8 either":  {in: "\xed\xa0\x80", want: "\uFFFD\uFFFD\uFFFD"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := xmlText(tc.in); got != tc.want {
				t.Errorf("xmlText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestJUnitTestcaseNamesOmitThresholds changes every objective's threshold
// and expects the same testcase names: CI systems key a testcase's history on
// its name.
func TestJUnitTestcaseNamesOmitThresholds(t *testing.T) {
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			before, _ := renderJUnit(t, sc.run())
			tuned := sc.run()
			if spec := tuned.Status.Experiment; spec != nil && spec.Objectives != nil {
				spec.Objectives.DetectWithin = dur(7 * time.Minute)
				spec.Objectives.RecoverWithin = dur(9 * time.Minute)
			}
			if tuned.Status.Result != nil {
				for i := range tuned.Status.Result.Objectives {
					tuned.Status.Result.Objectives[i].Target = metav1.Duration{Duration: 11 * time.Minute}
				}
			}
			after, _ := renderJUnit(t, tuned)
			names := func(d junitDoc) []string {
				var n []string
				for _, c := range d.Suites[0].Cases {
					n = append(n, c.Name)
				}
				return n
			}
			if !slices.Equal(names(before), names(after)) {
				t.Errorf("testcase names changed with the thresholds: %q, then %q", names(before), names(after))
			}
			for _, n := range names(after) {
				if strings.ContainsAny(n, "0123456789") {
					t.Errorf("testcase name %q carries a figure", n)
				}
			}
		})
	}
}

func TestJUnitShowsThresholdsOutsideNames(t *testing.T) {
	doc, _ := renderJUnit(t, failedRun())
	suite := doc.Suites[0]
	props := map[string]string{}
	for _, p := range suite.Properties {
		props[p.Name] = p.Value
	}
	if props["detectWithin"] != "1m0s" || props["recoverWithin"] != "2m0s" {
		t.Errorf("objective properties = detectWithin %q, recoverWithin %q; want 1m0s and 2m0s", props["detectWithin"], props["recoverWithin"])
	}
	want := map[string]string{
		"detectWithin":  "detectWithin 1m0s: measured 15.002s (±5s: probe interval), Met",
		"recoverWithin": "recoverWithin 2m0s: measured 2m31.2s (±15.2s: the operator was not sampling from +2m16s to +2m31.2s), Missed",
	}
	for _, c := range suite.Cases {
		if w, ok := want[c.Name]; ok && c.SystemOut != w {
			t.Errorf("testcase %s system-out = %q, want %q", c.Name, c.SystemOut, w)
		}
		if c.Name == "recoverWithin" && (c.Failure == nil || !strings.Contains(c.Failure.Message, "objective 2m0s")) {
			t.Errorf("recoverWithin failure %+v does not name the objective's threshold", c.Failure)
		}
	}
}

// TestJUnitTestcaseTimesFitTheRun checks what CI systems do with the times:
// add them up. The sum must not exceed the run, whatever the run.
func TestJUnitTestcaseTimesFitTheRun(t *testing.T) {
	runs := map[string]func() *chaosv1alpha1.ExperimentRun{"a run whose texts are hostile": hostileRun}
	for name, sc := range scenarios {
		runs[name] = sc.run
	}
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			doc, _ := renderJUnit(t, run())
			suiteTime := parseSeconds(t, doc.Suites[0].Time)
			if doc.Time != doc.Suites[0].Time {
				t.Errorf("testsuites time %s, testsuite time %s; want the same", doc.Time, doc.Suites[0].Time)
			}
			var sum time.Duration
			for _, c := range doc.Suites[0].Cases {
				d := parseSeconds(t, c.Time)
				if d < 0 {
					t.Errorf("testcase %s has negative time %s", c.Name, c.Time)
				}
				sum += d
			}
			if sum > suiteTime {
				t.Errorf("testcase times add up to %s, more than the run's %s", sum, suiteTime)
			}
		})
	}
}

func TestJUnitTestcaseTimes(t *testing.T) {
	tests := map[string]struct {
		run  func() *chaosv1alpha1.ExperimentRun
		want map[string]time.Duration
	}{
		"detection, then the rest of the recovery, which the recovery testcase does not count again": {
			run: failedRun,
			want: map[string]time.Duration{
				"detectWithin":  15*time.Second + 2*time.Millisecond,
				"recoverWithin": 2*time.Minute + 31200*time.Millisecond - (15*time.Second + 2*time.Millisecond),
				caseRecovered:   0,
				caseNotAborted:  0,
			},
		},
		"an abort counts from the first breach to the revert": {
			run: abortedRun,
			want: map[string]time.Duration{
				"detectWithin":  0,
				"recoverWithin": 0,
				caseRecovered:   0,
				caseNotAborted:  10*time.Second + 499*time.Millisecond,
			},
		},
		"a figure reaching past the end of the run is cut at the end": {
			run: func() *chaosv1alpha1.ExperimentRun {
				r := passedRun()
				r.Status.Result.TimeToRecover = dur(time.Hour)
				return r
			},
			want: map[string]time.Duration{
				"detectWithin":  15*time.Second + 2*time.Millisecond,
				"recoverWithin": 45*time.Second + 3*time.Millisecond - (15*time.Second + 2*time.Millisecond),
				// finishedAt is 1m0.01s after injection.
				caseRecovered:  time.Minute + 10*time.Millisecond - (45*time.Second + 3*time.Millisecond),
				caseNotAborted: 0,
			},
		},
		"a run in progress has no duration yet, so neither have its testcases": {
			run: inProgressRun,
			want: map[string]time.Duration{
				"detectWithin": 0, "recoverWithin": 0, caseRecovered: 0, caseNotAborted: 0,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc, _ := renderJUnit(t, tc.run())
			got := map[string]time.Duration{}
			for _, c := range doc.Suites[0].Cases {
				got[c.Name] = parseSeconds(t, c.Time)
			}
			for n, w := range tc.want {
				if g, ok := got[n]; !ok || g != w {
					t.Errorf("testcase %s time = %s (present %t), want %s", n, g, ok, w)
				}
			}
		})
	}
}

func parseSeconds(t *testing.T, s string) time.Duration {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("time %q is not decimal seconds: %v", s, err)
	}
	return time.Duration(f*1e6+0.5) * time.Microsecond
}
