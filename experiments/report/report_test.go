package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the renderers' output")

// scenarios are the kinds of run a reader meets, each with the file stem of
// its golden files.
var scenarios = map[string]struct {
	file string
	run  func() *chaosv1alpha1.ExperimentRun
}{
	"a run that met every objective":                     {"passed", passedRun},
	"a run that missed its recover objective":            {"failed", failedRun},
	"a run aborted by its guard":                         {"aborted", abortedRun},
	"a run stopped by the kill switch":                   {"killswitch", killSwitchRun},
	"a run whose baseline did not hold":                  {"inconclusive", inconclusiveRun},
	"a run still observing its fault":                    {"in-progress", inProgressRun},
	"a run that could not be carried out":                {"error", errorRun},
	"a run the operator has not picked up, no status":    {"new", newRunOnly},
	"a run that compared its faulted slice with control": {"compared", comparedRun},
}

var extensions = map[Format]string{
	FormatText:     "txt",
	FormatMarkdown: "md",
	FormatJSON:     "json",
	FormatJUnit:    "xml",
}

func TestRenderersMatchGoldenFiles(t *testing.T) {
	for name, sc := range scenarios {
		for _, f := range Formats {
			if f == FormatHTML {
				// The page is checked by its structure (html_test.go) and in
				// Chromium; its one golden file is docs/report-example.html.
				continue
			}
			t.Run(name+" as "+string(f), func(t *testing.T) {
				run := sc.run()
				before := run.DeepCopy()
				var buf bytes.Buffer
				if err := Render(&buf, f, run); err != nil {
					t.Fatalf("rendering: %v", err)
				}
				if !equalRuns(before, run) {
					t.Fatal("the renderer modified the run it reports on")
				}
				golden(t, filepath.Join("testdata", sc.file+"."+extensions[f]+".golden"), buf.Bytes())
			})
		}
	}
}

func equalRuns(a, b *chaosv1alpha1.ExperimentRun) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestJUnitJudgesEachRun reads the JUnit back as a CI system would and checks
// the counts a pipeline gates on, independently of the golden files.
func TestJUnitJudgesEachRun(t *testing.T) {
	type counts struct{ tests, failures, errors, skipped int }
	tests := map[string]struct {
		run          *chaosv1alpha1.ExperimentRun
		want         counts
		wantFailures []string // testcase names expected to fail
	}{
		"a passed run passes every testcase": {
			run:  passedRun(),
			want: counts{tests: 4},
		},
		"a missed recover objective fails that objective only": {
			run:          failedRun(),
			want:         counts{tests: 4, failures: 1},
			wantFailures: []string{"recoverWithin"},
		},
		"an aborted run fails not-aborted and recovery, and skips what it could not measure": {
			run:          abortedRun(),
			want:         counts{tests: 4, failures: 2, skipped: 2},
			wantFailures: []string{caseRecovered, caseNotAborted},
		},
		"a kill-switch abort fails not-aborted and recovery": {
			run:          killSwitchRun(),
			want:         counts{tests: 4, failures: 2, skipped: 2},
			wantFailures: []string{caseRecovered, caseNotAborted},
		},
		"an inconclusive run skips everything: the hypothesis was not tested": {
			run:  inconclusiveRun(),
			want: counts{tests: 4, skipped: 4},
		},
		"a run in progress skips everything": {
			run:  inProgressRun(),
			want: counts{tests: 4, skipped: 4},
		},
		"a run in error reports errors, not failures": {
			run:  errorRun(),
			want: counts{tests: 2, errors: 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := JUnit(&buf, tc.run); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Tests    int `xml:"tests,attr"`
				Failures int `xml:"failures,attr"`
				Errors   int `xml:"errors,attr"`
				Skipped  int `xml:"skipped,attr"`
				Suites   []struct {
					Time  string `xml:"time,attr"`
					Cases []struct {
						Name    string    `xml:"name,attr"`
						Time    string    `xml:"time,attr"`
						Failure *struct{} `xml:"failure"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
			}
			got := counts{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}
			if got != tc.want {
				t.Errorf("counts = %+v, want %+v", got, tc.want)
			}
			if len(doc.Suites) != 1 {
				t.Fatalf("%d testsuites, want one per run", len(doc.Suites))
			}
			var failed []string
			for _, c := range doc.Suites[0].Cases {
				if c.Time == "" {
					t.Errorf("testcase %q has no time attribute", c.Name)
				}
				if c.Failure != nil {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.wantFailures, ",") {
				t.Errorf("failed testcases = %q, want %q", failed, tc.wantFailures)
			}
		})
	}
}

func TestJSONIsTheSummarySchema(t *testing.T) {
	var buf bytes.Buffer
	if err := JSON(&buf, failedRun()); err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != SchemaVersion {
		t.Errorf("schema = %q, want %q", s.Schema, SchemaVersion)
	}
	if s.Result.TimeToRecover == nil || s.Result.TimeToRecover.Seconds != 151.2 || s.Result.TimeToRecover.Text != "2m31.2s" {
		t.Errorf("timeToRecover = %+v, want 2m31.2s = 151.2 seconds", s.Result.TimeToRecover)
	}
	if s.Timeline.Origin != "injectedAt" {
		t.Errorf("timeline origin = %q, want injectedAt", s.Timeline.Origin)
	}
	for i := 1; i < len(s.Timeline.Events); i++ {
		if s.Timeline.Events[i].At.Before(s.Timeline.Events[i-1].At) {
			t.Errorf("timeline not chronological: %s before %s", s.Timeline.Events[i-1].Name, s.Timeline.Events[i].Name)
		}
	}
}

func TestParseFormat(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Format
		wantErr bool
	}{
		"text is accepted":                   {in: "text", want: FormatText},
		"case and spaces do not matter":      {in: " JUnit ", want: FormatJUnit},
		"md is short for markdown":           {in: "md", want: FormatMarkdown},
		"an unknown format names the others": {in: "yaml", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "text, markdown, json, junit") {
					t.Fatalf("err = %v, want one listing the formats", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseFormat(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestAbortFiguresNameTheirOrigin: every format says what the abort latency
// is measured from, and an abort no sample caused never claims a bad sample.
func TestAbortFiguresNameTheirOrigin(t *testing.T) {
	tests := map[string]struct {
		run         *chaosv1alpha1.ExperimentRun
		want        []string
		wantMissing []string
	}{
		"a guard's abort separates the window from the revert": {
			run:  abortedRun(),
			want: []string{"498ms after the guard's breach outlasted its window", "10.001s from the guard's first breaching sample"},
		},
		"a kill-switch abort names the kill switch and no first breach": {
			run:         killSwitchRun(),
			want:        []string{"16ms after the kill switch was seen"},
			wantMissing: []string{"bad sample", "breaching sample", "firstBreach"},
		},
	}
	for name, tc := range tests {
		for _, f := range Formats {
			t.Run(name+" as "+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, f, tc.run); err != nil {
					t.Fatal(err)
				}
				out := renderedText(f, buf.Bytes())
				if f == FormatJSON {
					// JSON carries the figures and the trigger as fields.
					var s Summary
					if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
						t.Fatal(err)
					}
					out = s.Result.AbortLatency.Text + " after " + s.Abort.Trigger
					if s.Result.BreachToDecision != nil {
						out += " " + s.Result.BreachToDecision.Text + " from the guard's first breaching sample"
					}
					if s.Abort.FirstBreach != nil {
						out += " firstBreach"
					}
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s report lacks %q:\n%s", f, w, out)
					}
				}
				for _, w := range tc.wantMissing {
					if strings.Contains(out, w) {
						t.Errorf("%s report says %q:\n%s", f, w, out)
					}
				}
			})
		}
	}
}

// TestFiguresStateTheirResolution: every format says how precisely each
// figure is known, and names the gap a figure fell in.
func TestFiguresStateTheirResolution(t *testing.T) {
	tests := map[string]struct {
		run  *chaosv1alpha1.ExperimentRun
		want []string
	}{
		"a recovery seen after an operator restart is known to the restart's length": {
			run:  failedRun(),
			want: []string{"±15.2s: the operator was not sampling from +2m16s to +2m31.2s", "±5s: probe interval"},
		},
		"a recovery dated by a watch event says so": {
			run:  passedRun(),
			want: []string{"event-driven", "±5s: probe interval"},
		},
		"a detection dated by Prometheus' alert state and a recovery refined by a range query say so": {
			run: func() *chaosv1alpha1.ExperimentRun {
				run := passedRun()
				run.Status.Result.Resolutions = []chaosv1alpha1.FigureResolution{
					{Figure: "timeToDetect", Resolution: chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionAlert, Within: *dur(15 * time.Second)}},
					{Figure: "timeToRecover", Resolution: chaosv1alpha1.Resolution{Source: chaosv1alpha1.ResolutionRangeQuery, Within: *dur(time.Second)}},
				}
				return run
			}(),
			want: []string{"±15s: Prometheus' alert state dated it (rule evaluation interval)", "±1s: a range query re-evaluated the probes at that step"},
		},
	}
	for name, tc := range tests {
		for _, f := range Formats {
			t.Run(name+" as "+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, f, tc.run); err != nil {
					t.Fatal(err)
				}
				out := renderedText(f, buf.Bytes())
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s report lacks %q:\n%s", f, w, out)
					}
				}
			})
		}
	}
}
