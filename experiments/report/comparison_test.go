package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"html"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/compare"
)

// sampledValues are n success ratios around centre, as a group's query
// answers them sample after sample.
func sampledValues(n int, centre, spread float64, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed*7+1))
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.FormatFloat(centre+spread*(rng.Float64()-0.5), 'f', 4, 64)
	}
	return out
}

func floats(values []string) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i], _ = strconv.ParseFloat(v, 64)
	}
	return out
}

// comparedRun aborted 100% of the requests of the slice carrying x-chaos
// for two minutes. Its success-rate probe is relative to the baseline, it
// has a probe and a guard on a Sloth SLO, and its comparison of the slice
// with the rest found harm. The comparison's figures are what the compare
// package makes of the values, as the operator records them.
func comparedRun() *chaosv1alpha1.ExperimentRun {
	r := newRun("checkout-canary-abort-5hx7d")
	r.Spec.ExperimentRef.Name = "checkout-canary-abort"
	slo := chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests-availability"}}
	spec := &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetVirtualService},
		Fault: chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{
			Abort: &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: 5},
			Match: &chaosv1alpha1.IstioMatch{Headers: map[string]string{"x-chaos": "true"}},
		}},
		Duration: dur(2 * time.Minute),
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval:           metav1.Duration{Duration: 5 * time.Second},
			Baseline:           metav1.Duration{Duration: 30 * time.Second},
			RequireErrorBudget: "20%",
			Probes: []chaosv1alpha1.Probe{
				{
					Name:       "success-rate",
					Prometheus: &chaosv1alpha1.PrometheusQuery{Query: `sum(rate(istio_requests_total{destination_service_name="checkout",response_code!~"5.."}[30s])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[30s]))`},
					Condition:  &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "-2%"},
				},
				{Name: "checkout-availability", SLO: &chaosv1alpha1.SLOProbe{SLORef: slo}},
			},
		},
		Abort: &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{Name: "checkout-burn", SLO: &chaosv1alpha1.SLOGuard{SLORef: slo}}}},
		Comparison: &chaosv1alpha1.ComparisonSpec{
			Probe:      "success-rate",
			Experiment: map[string]string{"canary": "true"},
			Control:    map[string]string{"canary": "false"},
			Tolerance:  "2%",
			MinSamples: 10,
		},
	}
	experiment := sampledValues(24, 0.968, 0.04, 1)
	control := sampledValues(24, 0.993, 0.012, 2)
	res := compare.Judge(floats(experiment), floats(control), compare.Config{HigherIsWorse: false, Tolerance: 0.02, MinSamples: 10})
	reverted := 2*time.Minute + 180*time.Millisecond
	const sloQuery = `sum(rate(istio_requests_total{destination_service_name="checkout",response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service_name="checkout"}[1m]))`
	r.Status = chaosv1alpha1.ExperimentRunStatus{
		Phase:      chaosv1alpha1.PhaseCompleted,
		Verdict:    chaosv1alpha1.VerdictFailed,
		Message:    "Failed (HarmFound): " + res.Message,
		Experiment: spec,
		Targets: []chaosv1alpha1.TargetStatus{{Kind: chaosv1alpha1.TargetVirtualService, Namespace: "shop", Name: "checkout", UID: "u1",
			Phase: chaosv1alpha1.TargetReverted, InjectedAt: at(injected, 0), RevertedAt: at(injected, reverted)}},
		Timeline: chaosv1alpha1.Timeline{
			StartedAt:          at(started, 0),
			BaselineVerifiedAt: at(started, 30*time.Second+4*time.Millisecond),
			InjectedAt:         at(injected, 0),
			RevertedAt:         at(injected, reverted),
			FinishedAt:         at(injected, reverted+15*time.Second),
		},
		Result: &chaosv1alpha1.RunResult{TimeToRecover: dur(0)},
		Probes: []chaosv1alpha1.ProbeStatus{
			{Name: "success-rate", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.9953", Worst: "0.9902", Last: "0.9948", Samples: 31,
				BaselineMean: "0.9951", BaselineSamples: 7, Threshold: "0.975198"},
			{Name: "checkout-availability", Kind: chaosv1alpha1.ProbeKindSteadyState, Baseline: "0.0004", Worst: "0.0009", Last: "0.0005", Samples: 31},
			{Name: "checkout-burn", Kind: chaosv1alpha1.ProbeKindGuard, Baseline: "0.4", Worst: "2.1", Last: "0.6", Samples: 24},
		},
		SLOs: []chaosv1alpha1.SLOStatus{
			{Name: "checkout-availability", Kind: chaosv1alpha1.ProbeKindSteadyState,
				Source: "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo requests-availability", Objective: "0.999",
				Period: dur(30 * 24 * time.Hour), Query: sloQuery,
				Condition:            &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLessEqual, Value: "0.001"},
				ErrorBudgetRemaining: "63.2%"},
			{Name: "checkout-burn", Kind: chaosv1alpha1.ProbeKindGuard,
				Source: "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo requests-availability", Objective: "0.999",
				Period: dur(30 * 24 * time.Hour), Query: "min(vector(0))",
				Condition:            &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpLess, Value: "14.4"},
				ErrorBudgetRemaining: "63.2%"},
		},
		Comparison: &chaosv1alpha1.ComparisonStatus{
			Probe: "success-rate",
			Experiment: chaosv1alpha1.ComparisonGroup{Query: `sum(rate(istio_requests_total{canary="true",response_code!~"5.."}[5s])) / sum(rate(istio_requests_total{canary="true"}[5s]))`,
				Values: experiment, Errors: 1, Median: strconv.FormatFloat(res.ExperimentMedian, 'g', -1, 64)},
			Control: chaosv1alpha1.ComparisonGroup{Query: `sum(rate(istio_requests_total{canary="false",response_code!~"5.."}[5s])) / sum(rate(istio_requests_total{canary="false"}[5s]))`,
				Values: control, Median: strconv.FormatFloat(res.ControlMedian, 'g', -1, 64)},
			Outcome:            chaosv1alpha1.ComparisonOutcome(res.Outcome),
			U:                  strconv.FormatFloat(res.Test.U, 'g', -1, 64),
			PValue:             strconv.FormatFloat(res.Test.PValue, 'g', 4, 64),
			EffectSize:         strconv.FormatFloat(res.Test.EffectSize, 'g', 4, 64),
			RelativeDifference: res.RelativeText(),
			Message:            res.Message,
		},
	}
	return r
}

func render(t *testing.T, f Format, run *chaosv1alpha1.ExperimentRun) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, f, run); err != nil {
		t.Fatalf("rendering %s: %v", f, err)
	}
	return renderedText(f, buf.Bytes())
}

func TestComparedRunFixtureFoundHarm(t *testing.T) {
	// The fixture stands for the case the reports must show best; if the
	// statistics ever stopped finding harm in it, the tests below would
	// check a different story.
	if got := comparedRun().Status.Comparison.Outcome; got != chaosv1alpha1.ComparisonHarm {
		t.Fatalf("the fixture's comparison found %s, want Harm", got)
	}
}

func TestEveryFormatShowsSLOsRelativeConditionsAndTheComparison(t *testing.T) {
	run := comparedRun()
	st := run.Status
	c := st.Comparison
	var want []string
	for _, slo := range st.SLOs {
		want = append(want, slo.Source, slo.Objective+" over "+slo.Period.Duration.String(), slo.ErrorBudgetRemaining,
			string(slo.Condition.Op)+" "+slo.Condition.Value, slo.Query)
	}
	p := st.Probes[0]
	want = append(want,
		// The relative condition as written and what it resolved to.
		">= -2% of baseline "+p.BaselineMean+" → >= "+p.Threshold,
		c.Message, c.U, c.PValue, c.EffectSize, c.RelativeDifference, c.Experiment.Median, c.Control.Median,
		c.Experiment.Query, c.Control.Query, `canary="true"`, `canary="false"`, "tolerance 2%", "alpha 0.05",
		strconv.Itoa(len(c.Experiment.Values)+int(c.Experiment.Errors))+" samples (1 unanswered)")
	for _, f := range []Format{FormatText, FormatMarkdown, FormatJUnit, FormatHTML} {
		t.Run(string(f), func(t *testing.T) {
			out := render(t, f, run)
			if f == FormatJUnit {
				out = html.UnescapeString(out) // attribute values are escaped
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("the %s report lacks %q", f, w)
				}
			}
		})
	}
}

func TestJSONCarriesSLOsRelativeConditionsAndTheComparison(t *testing.T) {
	run := comparedRun()
	var s Summary
	if err := json.Unmarshal([]byte(render(t, FormatJSON, run)), &s); err != nil {
		t.Fatal(err)
	}
	st := run.Status
	if len(s.SLOs) != len(st.SLOs) {
		t.Fatalf("%d SLOs, want %d", len(s.SLOs), len(st.SLOs))
	}
	for i, slo := range s.SLOs {
		in := st.SLOs[i]
		if slo.Name != in.Name || slo.Query != in.Query || slo.ErrorBudgetRemaining != in.ErrorBudgetRemaining ||
			slo.Objective != in.Objective || slo.Period == nil || slo.Period.Seconds != in.Period.Seconds() {
			t.Errorf("SLO %d is %+v, status has %+v", i, slo, in)
		}
	}
	p := s.Probes[0]
	if p.Condition != ">= -2%" || p.ResolvedCondition != ">= "+st.Probes[0].Threshold || p.BaselineMean != st.Probes[0].BaselineMean ||
		p.BaselineSamples != st.Probes[0].BaselineSamples {
		t.Errorf("relative probe %+v", p)
	}
	for _, pr := range s.Probes {
		if pr.Name == "checkout-burn" && pr.Condition != "< 14.4" {
			t.Errorf("the SLO guard's condition is %q, want the derived %q", pr.Condition, "< 14.4")
		}
	}
	c, in := s.Comparison, st.Comparison
	if c == nil {
		t.Fatal("no comparison")
	}
	if c.Outcome != string(in.Outcome) || c.U != in.U || c.PValue != in.PValue || c.EffectSize != in.EffectSize ||
		c.RelativeDifference != in.RelativeDifference || c.Tolerance != "2%" || c.Alpha != "0.05" || c.MinSamples != 10 ||
		len(c.Experiment.Values) != len(in.Experiment.Values) || c.Experiment.Samples != int32(len(in.Experiment.Values))+in.Experiment.Errors ||
		c.Control.Median != in.Control.Median || c.Experiment.Matchers != `canary="true"` {
		t.Errorf("comparison %+v does not match status %+v", c, in)
	}
}

func TestJUnitJudgesTheComparison(t *testing.T) {
	tests := map[string]struct {
		edit        func(*chaosv1alpha1.ExperimentRun)
		wantFailure string
		wantSkipped bool
	}{
		"harm fails the testcase": {edit: func(*chaosv1alpha1.ExperimentRun) {}, wantFailure: chaosv1alpha1.ReasonHarmFound},
		"no harm passes it": {edit: func(r *chaosv1alpha1.ExperimentRun) {
			r.Status.Comparison.Outcome = chaosv1alpha1.ComparisonNoHarm
			r.Status.Verdict = chaosv1alpha1.VerdictPassed
		}},
		"too few samples skips it": {edit: func(r *chaosv1alpha1.ExperimentRun) {
			r.Status.Comparison.Outcome = chaosv1alpha1.ComparisonInsufficient
			r.Status.Verdict = chaosv1alpha1.VerdictPassed
		}, wantSkipped: true},
		"not judged yet skips it": {edit: func(r *chaosv1alpha1.ExperimentRun) {
			r.Status.Comparison.Outcome = ""
			r.Status.Verdict = chaosv1alpha1.VerdictPassed
		}, wantSkipped: true},
		"a tuned tolerance keeps the name": {edit: func(r *chaosv1alpha1.ExperimentRun) {
			r.Status.Experiment.Comparison.Tolerance = "5%"
		}, wantFailure: chaosv1alpha1.ReasonHarmFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			run := comparedRun()
			tc.edit(run)
			var doc struct {
				Cases []struct {
					Name    string `xml:"name,attr"`
					Failure *struct {
						Type    string `xml:"type,attr"`
						Message string `xml:"message,attr"`
					} `xml:"failure"`
					Skipped *struct{} `xml:"skipped"`
				} `xml:"testsuite>testcase"`
			}
			if err := xml.Unmarshal([]byte(render(t, FormatJUnit, run)), &doc); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, c := range doc.Cases {
				if c.Name != "comparison success-rate" {
					continue
				}
				found = true
				switch {
				case tc.wantFailure != "":
					if c.Failure == nil || c.Failure.Type != tc.wantFailure || c.Failure.Message != run.Status.Comparison.Message {
						t.Errorf("failure %+v, want type %s with the comparison's message", c.Failure, tc.wantFailure)
					}
				case tc.wantSkipped:
					if c.Skipped == nil || c.Failure != nil {
						t.Errorf("want the testcase skipped, got failure %+v", c.Failure)
					}
				default:
					if c.Skipped != nil || c.Failure != nil {
						t.Errorf("want the testcase passed")
					}
				}
			}
			if !found {
				t.Errorf("no testcase named %q", "comparison success-rate")
			}
		})
	}
}

func TestHTMLDrawsTheComparison(t *testing.T) {
	run := comparedRun()
	c := run.Status.Comparison
	page := parseHTMLPage(t, renderHTML(t, run))

	circles := func(n *htmlNode) int {
		return len(n.all(func(n *htmlNode) bool { return n.name == "circle" }))
	}
	// The timeline: one lane per group, a dot per kept value (the fixture's
	// fault was held long enough for every one of them).
	for name, values := range map[string][]string{"Faulted slice": c.Experiment.Values, "Control": c.Control.Values} {
		lanes := page.all(func(n *htmlNode) bool { return n.attrs["data-lane"] == name })
		if len(lanes) != 1 {
			t.Fatalf("%d timeline lanes named %q, want 1", len(lanes), name)
		}
		if got := circles(lanes[0]); got != len(values) {
			t.Errorf("timeline lane %q has %d dots, want %d", name, got, len(values))
		}
	}

	// The strip plot: every value, a box and a median for each group; the
	// faulted slice's median lies left of control's, as its values are lower.
	section := page.all(byID("comparison"))
	if len(section) != 1 {
		t.Fatal("no comparison section")
	}
	medians := map[string]float64{}
	for _, g := range section[0].all(byAttr("data-group")) {
		name := g.attrs["data-group"]
		want := map[string]int{"Faulted slice": len(c.Experiment.Values), "Control": len(c.Control.Values)}[name]
		if got := circles(g); got != want {
			t.Errorf("strip plot %q has %d dots, want %d", name, got, want)
		}
		lines := g.all(func(n *htmlNode) bool { return n.attrs["class"] == "median" })
		boxes := g.all(func(n *htmlNode) bool { return n.attrs["class"] == "box" })
		if len(lines) != 1 || len(boxes) != 1 {
			t.Fatalf("strip plot %q has %d medians and %d boxes", name, len(lines), len(boxes))
		}
		m, from := attrFloat(t, lines[0], "x1"), attrFloat(t, boxes[0], "x")
		if m < from || m > from+attrFloat(t, boxes[0], "width") {
			t.Errorf("strip plot %q: median at %v outside its box", name, m)
		}
		medians[name] = m
	}
	e, _ := strconv.ParseFloat(c.Experiment.Median, 64)
	k, _ := strconv.ParseFloat(c.Control.Median, 64)
	if (medians["Faulted slice"] < medians["Control"]) != (e < k) {
		t.Errorf("medians drawn at %v, values %s and %s", medians, c.Experiment.Median, c.Control.Median)
	}
	text := section[0].textContent()
	for _, w := range []string{c.Message, string(c.Outcome), c.PValue} {
		if !strings.Contains(text, w) {
			t.Errorf("the comparison section lacks %q", w)
		}
	}
	slos := page.all(byID("slos"))
	if len(slos) != 1 || !strings.Contains(slos[0].textContent(), run.Status.SLOs[0].Source) {
		t.Errorf("no SLO section naming %q", run.Status.SLOs[0].Source)
	}
}

func TestHTMLEscapesTheComparison(t *testing.T) {
	run := comparedRun()
	const hostile = `"><script>alert(1)</script>`
	run.Status.Comparison.Message = hostile
	run.Status.Comparison.Experiment.Query = hostile
	run.Status.Experiment.Comparison.Experiment = map[string]string{"canary": hostile}
	run.Status.SLOs[0].Source = hostile
	page := renderHTML(t, run)
	if bytes.Contains(page, []byte("<script")) {
		t.Errorf("a hostile comparison reached the page unescaped")
	}
	if !strings.Contains(html.UnescapeString(string(page)), hostile) {
		t.Errorf("the hostile text should be shown, escaped")
	}
}

func TestSLOGuardConditionComesFromTheSLO(t *testing.T) {
	// An SLO guard has no condition in the Experiment: the text report must
	// not show an empty one, but the one derived from the SLO.
	out := render(t, FormatText, comparedRun())
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "checkout-burn") && strings.Contains(line, "Guard") {
			if !strings.Contains(line, "< 14.4") {
				t.Errorf("guard row %q lacks the derived condition", line)
			}
			return
		}
	}
	t.Errorf("no row for the guard in\n%s", out)
}

func TestHTMLIsBoundedWithAFullComparison(t *testing.T) {
	// The API keeps at most 512 values per group and 48 SLOs; with every
	// one of them and long texts throughout, the page stays within its
	// bound and still draws the comparison.
	run := comparedRun()
	huge := strings.Repeat(`"<`, maxHTMLBytes)
	st := &run.Status
	st.Message = huge
	st.Comparison.Message = huge
	st.Comparison.Experiment.Query, st.Comparison.Control.Query = huge, huge
	st.Comparison.Experiment.Values = sampledValues(512, 0.968, 0.04, 3)
	st.Comparison.Control.Values = sampledValues(512, 0.993, 0.012, 4)
	st.Timeline.RevertedAt = at(injected, 512*5*time.Second)
	st.Timeline.FinishedAt = at(injected, 513*5*time.Second)
	slo := st.SLOs[0]
	st.SLOs = nil
	for i := range 48 {
		s := slo
		s.Name = strconv.Itoa(i) + huge[:1000]
		s.Query, s.Source, s.Error = huge, huge, huge
		st.SLOs = append(st.SLOs, s)
	}
	raw := renderHTML(t, run)
	if len(raw) > maxHTMLBytes {
		t.Errorf("the page is %d bytes, more than its bound of %d", len(raw), maxHTMLBytes)
	}
	page := parseHTMLPage(t, raw)
	if len(page.all(byID("comparison"))) != 1 || len(page.all(byAttr("data-group"))) != 2 {
		t.Errorf("the comparison is not drawn")
	}
	dots := page.all(func(n *htmlNode) bool { return n.name == "circle" })
	if len(dots) == 0 {
		t.Errorf("no value drawn")
	}
}
