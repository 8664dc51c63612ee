package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// SLO is what a run derived from one SLO a probe or guard references, when
// the run started.
type SLO struct {
	// Name of the probe or guard.
	Name string `json:"name"`
	// Kind is Probe or Guard.
	Kind string `json:"kind"`
	// Source names the object the SLO came from, such as
	// "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo requests-availability".
	Source string `json:"source,omitempty"`
	// Objective of the SLO, as a ratio such as "0.999".
	Objective string `json:"objective,omitempty"`
	// Period the SLO's error budget is counted over.
	Period *Duration `json:"period,omitempty"`
	// Query is the PromQL the run sampled for the probe or guard.
	Query string `json:"query,omitempty"`
	// Condition the query's value was judged by, such as "<= 0.001".
	Condition string `json:"condition,omitempty"`
	// ErrorBudgetRemaining is the share of the period's error budget left
	// when the run started, such as "63.2%"; negative when it was spent.
	ErrorBudgetRemaining string `json:"errorBudgetRemaining,omitempty"`
	// Error says why the SLO could not be used.
	Error string `json:"error,omitempty"`
}

// Comparison is the faulted slice of traffic compared with the rest while
// the fault was active.
type Comparison struct {
	// Probe is the steady-state probe whose query was compared.
	Probe string `json:"probe"`
	// Test is the statistical test, MannWhitney (one-sided: is the faulted
	// slice worse?).
	Test string `json:"test"`
	// Alpha is the test's significance level, such as "0.05".
	Alpha string `json:"alpha"`
	// Tolerance is how much worse than control's median the faulted slice's
	// may be, relative to it, before it counts as harm, such as "2%".
	Tolerance string `json:"tolerance"`
	// MinSamples each group needs for a judgement.
	MinSamples int32 `json:"minSamples"`
	// Experiment is the faulted slice.
	Experiment ComparisonGroup `json:"experiment"`
	// Control is the rest of the traffic.
	Control ComparisonGroup `json:"control"`
	// Outcome is Harm, NoHarm or Insufficient; empty until judged.
	Outcome string `json:"outcome,omitempty"`
	// U is the Mann-Whitney U of the faulted slice: the pairs where its
	// sample is worse than control's, ties counting one half.
	U string `json:"u,omitempty"`
	// PValue of the one-sided test.
	PValue string `json:"pValue,omitempty"`
	// EffectSize is the probability that a sample of the faulted slice is
	// worse than one of control (0.5 is no effect).
	EffectSize string `json:"effectSize,omitempty"`
	// RelativeDifference of the faulted slice's median from control's,
	// positive when worse, such as "+2.7%"; absent when control's median
	// is 0 and no relative difference exists.
	RelativeDifference string `json:"relativeDifference,omitempty"`
	// Message says what the comparison found, in a sentence.
	Message string `json:"message,omitempty"`
}

// ComparisonGroup is one group of a comparison.
type ComparisonGroup struct {
	// Matchers select the group, as PromQL label matchers such as
	// `canary="true"`.
	Matchers string `json:"matchers,omitempty"`
	// Query the group was sampled with.
	Query string `json:"query,omitempty"`
	// Samples counts the values sampled, kept or not.
	Samples int32 `json:"samples"`
	// Values are the kept values, oldest first, one per sample at the
	// run's interval while the fault was active (at most 512).
	Values []string `json:"values,omitempty"`
	// Dropped counts values beyond the 512 kept.
	Dropped int32 `json:"dropped,omitempty"`
	// Errors counts samples the group's query did not answer.
	Errors int32 `json:"errors,omitempty"`
	// Median of the values.
	Median string `json:"median,omitempty"`
}

// slosOf copies what the run derived from its SLOs.
func slosOf(st *chaosv1alpha1.ExperimentRunStatus) []SLO {
	var out []SLO
	for _, s := range st.SLOs {
		out = append(out, SLO{
			Name: s.Name, Kind: string(s.Kind), Source: s.Source, Objective: s.Objective, Period: span(s.Period),
			Query: s.Query, Condition: hypothesisText(s.Condition), ErrorBudgetRemaining: s.ErrorBudgetRemaining, Error: s.Error,
		})
	}
	return out
}

func hypothesisText(h *chaosv1alpha1.Hypothesis) string {
	if h == nil || h.Op == "" {
		return ""
	}
	return string(h.Op) + " " + h.Value
}

// comparisonOf reads the comparison from status, and the settings it was
// judged with from the run's snapshot of its Experiment, with the API's
// defaults where the snapshot leaves them out.
func comparisonOf(st *chaosv1alpha1.ExperimentRunStatus) *Comparison {
	var spec *chaosv1alpha1.ComparisonSpec
	if st.Experiment != nil {
		spec = st.Experiment.Comparison
	}
	c := st.Comparison
	if c == nil && spec == nil {
		return nil
	}
	out := &Comparison{Test: string(chaosv1alpha1.ComparisonMannWhitney), Alpha: "0.05", Tolerance: "0%", MinSamples: 10}
	if spec != nil {
		out.Probe = spec.Probe
		out.Experiment.Matchers, out.Control.Matchers = matchersText(spec.Experiment), matchersText(spec.Control)
		if spec.Test != "" {
			out.Test = string(spec.Test)
		}
		if spec.Alpha != "" {
			out.Alpha = spec.Alpha
		}
		if spec.Tolerance != "" {
			out.Tolerance = spec.Tolerance
		}
		if spec.MinSamples != 0 {
			out.MinSamples = spec.MinSamples
		}
	}
	if c == nil {
		return out
	}
	if c.Probe != "" {
		out.Probe = c.Probe
	}
	out.Experiment = groupOf(c.Experiment, out.Experiment.Matchers)
	out.Control = groupOf(c.Control, out.Control.Matchers)
	out.Outcome, out.U, out.PValue, out.EffectSize = string(c.Outcome), c.U, c.PValue, c.EffectSize
	out.RelativeDifference, out.Message = c.RelativeDifference, c.Message
	return out
}

func groupOf(g chaosv1alpha1.ComparisonGroup, matchers string) ComparisonGroup {
	return ComparisonGroup{
		Matchers: matchers, Query: g.Query, Samples: int32(len(g.Values)) + g.Dropped + g.Errors,
		Values: g.Values, Dropped: g.Dropped, Errors: g.Errors, Median: g.Median,
	}
}

// matchersText writes label matchers as PromQL does, in label order:
// canary="true", slice="b".
func matchersText(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(parts, ", ")
}

// groupText describes a group on one line: `canary="true": 30 samples (2
// unanswered), median 0.968`.
func groupText(g ComparisonGroup) string {
	var b strings.Builder
	if g.Matchers != "" {
		b.WriteString(g.Matchers + ": ")
	}
	fmt.Fprintf(&b, "%d samples", g.Samples)
	var notes []string
	if g.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d unanswered", g.Errors))
	}
	if g.Dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d beyond the 512 kept", g.Dropped))
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}
	b.WriteString(", median " + orNone(g.Median))
	return b.String()
}

// comparisonFacts are the comparison's lines, in the order every format
// shows them.
func comparisonFacts(c *Comparison) []figure {
	outcome := c.Outcome
	if outcome == "" {
		outcome = "(not judged yet)"
	}
	relative := orNone(c.RelativeDifference)
	if c.RelativeDifference == "" && c.U != "" {
		relative = "none (control's median is 0; see the message)"
	}
	return []figure{
		{label: "Probe", value: orNone(c.Probe)},
		{label: "Outcome", value: outcome},
		{label: "Message", value: orNone(c.Message)},
		{label: "Faulted slice", value: groupText(c.Experiment)},
		{label: "Control", value: groupText(c.Control)},
		{label: "Test", value: c.Test + ", one-sided: does the faulted slice tend to be worse?"},
		{label: "U", value: orNone(c.U)},
		{label: "p-value", value: orNone(c.PValue) + " (alpha " + c.Alpha + ")"},
		{label: "Effect size", value: orNone(c.EffectSize) + " (P(faulted sample worse); 0.5 is no effect)"},
		{label: "Relative difference", value: relative + " (tolerance " + c.Tolerance + ")"},
		{label: "Min samples", value: strconv.Itoa(int(c.MinSamples)) + " per group"},
		{label: "Query, faulted slice", value: orNone(c.Experiment.Query)},
		{label: "Query, control", value: orNone(c.Control.Query)},
	}
}

// sloFacts are one SLO's lines.
func sloFacts(s SLO) []figure {
	objective := orNone(s.Objective)
	if s.Period != nil {
		objective += " over " + s.Period.Text
	}
	out := []figure{
		{label: "Source", value: orNone(s.Source)},
		{label: "Objective", value: objective},
		{label: "Error budget left", value: orNone(s.ErrorBudgetRemaining)},
		{label: "Condition", value: orNone(s.Condition)},
		{label: "Query", value: orNone(s.Query)},
	}
	if s.Error != "" {
		out = append(out, figure{label: "Error", value: s.Error})
	}
	return out
}

// conditionText is a probe's condition as written and, for one relative to
// the baseline, what it resolved to: "<= +10% of baseline 0.0123 → <= 0.01353".
func conditionText(p Probe) string {
	switch {
	case p.Threshold != "":
		return p.Condition + " of baseline " + orNone(p.BaselineMean) + " → " + p.ResolvedCondition
	case relativeCondition(p.Condition):
		return p.Condition + " of the baseline mean (not measured yet)"
	}
	return orNone(p.Condition)
}

// relativeCondition reports whether a condition's value is a percentage of
// the baseline, such as "<= +10%".
func relativeCondition(c string) bool {
	return strings.HasSuffix(c, "%") && !strings.HasSuffix(c, "% ready")
}

// resolvedCondition is the operator of a relative condition with the
// threshold it resolved to, "<= 0.01353"; empty before the baseline ended.
func resolvedCondition(condition, threshold string) string {
	op, _, ok := strings.Cut(condition, " ")
	if threshold == "" || !ok || !relativeCondition(condition) {
		return ""
	}
	return op + " " + threshold
}

// writeSLOsText writes the SLO section of the text report.
func (p *printer) writeSLOsText(s Summary) {
	if len(s.SLOs) == 0 {
		return
	}
	p.line("")
	p.line("SLOs (derived when the run started)")
	for _, slo := range s.SLOs {
		p.line("  " + slo.Name + " (" + slo.Kind + ")")
		tw := p.table()
		for _, f := range sloFacts(slo) {
			p.row(tw, "    "+f.label, f.value)
		}
		p.flush(tw)
	}
}

// writeComparisonText writes the comparison section of the text report.
func (p *printer) writeComparisonText(s Summary) {
	if s.Comparison == nil {
		return
	}
	p.line("")
	p.line("Comparison: the faulted slice against control while the fault was active")
	tw := p.table()
	for _, f := range comparisonFacts(s.Comparison) {
		p.row(tw, "  "+f.label, f.value)
	}
	p.flush(tw)
}

// writeSLOs writes the SLO section of the Markdown report.
func (p *mdPrinter) writeSLOs(s Summary) {
	if len(s.SLOs) == 0 {
		return
	}
	p.line("")
	p.line("#### SLOs")
	p.line("")
	p.line("Derived when the run started.")
	p.line("")
	p.line("| Name | Kind | Source | Objective | Error budget left | Condition | Query | Error |")
	p.line("|---|---|---|---|--:|---|---|---|")
	for _, slo := range s.SLOs {
		f := sloFacts(slo)
		p.row(mdInline(slo.Name), mdInline(slo.Kind), mdInline(f[0].value), mdInline(f[1].value), mdInline(f[2].value), mdInline(f[3].value),
			mdCodeCell(slo.Query), mdInline(orNone(slo.Error)))
	}
}

// writeComparison writes the comparison section of the Markdown report.
func (p *mdPrinter) writeComparison(s Summary) {
	if s.Comparison == nil {
		return
	}
	p.line("")
	p.line("#### Comparison")
	p.line("")
	p.line("The faulted slice against control while the fault was active.")
	p.line("")
	p.line("| | |")
	p.line("|---|---|")
	// The queries are code, and decided by the query itself: a fact's
	// value "-" may be none or a query that reads "-".
	queries := map[string]string{"Query, faulted slice": s.Comparison.Experiment.Query, "Query, control": s.Comparison.Control.Query}
	for _, f := range comparisonFacts(s.Comparison) {
		value := mdInline(f.value)
		if q, ok := queries[f.label]; ok {
			value = mdCodeCell(q)
		} else if f.label == "Outcome" {
			value = mdBold(f.value)
		}
		p.row(mdInline(f.label), value)
	}
}

// comparisonCasePrefix starts the name of the comparison's testcase,
// followed by the probe's name alone: like every testcase name it carries
// no threshold, so tuning the tolerance keeps its CI history.
const comparisonCasePrefix = "comparison "

// comparisonCase judges the comparison as a JUnit testcase: harm fails it,
// too few samples skips it, and so does a comparison not judged yet.
func comparisonCase(c *Comparison) junitCase {
	tc := junitCase{Name: comparisonCasePrefix + c.Probe}
	var out strings.Builder
	for _, f := range comparisonFacts(c) {
		out.WriteString(f.label + ": " + f.value + "\n")
	}
	tc.SystemOut = out.String()
	switch chaosv1alpha1.ComparisonOutcome(c.Outcome) {
	case chaosv1alpha1.ComparisonHarm:
		tc.Failure = &junitProblem{Type: chaosv1alpha1.ReasonHarmFound, Message: c.Message,
			Body: "p-value " + orNone(c.PValue) + " below alpha " + c.Alpha + ", medians " + orNone(c.RelativeDifference) + " apart, beyond the tolerance " + c.Tolerance}
	case chaosv1alpha1.ComparisonNoHarm:
	case chaosv1alpha1.ComparisonInsufficient:
		tc.Skipped = &junitSkipped{Message: "too few samples to judge: " + orNone(c.Message)}
	default:
		tc.Skipped = &junitSkipped{Message: "the comparison was not judged: the fault was not held to the end"}
	}
	return tc
}

// sloProperties are the suite's properties for the SLOs and the
// comparison: the figures a pipeline may gate on.
func sloProperties(s Summary) []junitProperty {
	var out []junitProperty
	for _, slo := range s.SLOs {
		prefix := "slo." + slo.Name + "."
		out = append(out,
			junitProperty{prefix + "source", orNone(slo.Source)},
			junitProperty{prefix + "objective", orNone(slo.Objective)},
			junitProperty{prefix + "errorBudgetRemaining", orNone(slo.ErrorBudgetRemaining)},
			junitProperty{prefix + "condition", orNone(slo.Condition)},
			junitProperty{prefix + "query", orNone(slo.Query)})
		if slo.Error != "" {
			out = append(out, junitProperty{prefix + "error", slo.Error})
		}
	}
	if c := s.Comparison; c != nil {
		out = append(out,
			junitProperty{"comparison.probe", orNone(c.Probe)},
			junitProperty{"comparison.outcome", orNone(c.Outcome)},
			junitProperty{"comparison.u", orNone(c.U)},
			junitProperty{"comparison.pValue", orNone(c.PValue)},
			junitProperty{"comparison.effectSize", orNone(c.EffectSize)},
			junitProperty{"comparison.relativeDifference", orNone(c.RelativeDifference)},
			junitProperty{"comparison.alpha", c.Alpha},
			junitProperty{"comparison.tolerance", c.Tolerance},
			junitProperty{"comparison.minSamples", strconv.Itoa(int(c.MinSamples))},
			junitProperty{"comparison.experimentMedian", orNone(c.Experiment.Median)},
			junitProperty{"comparison.controlMedian", orNone(c.Control.Median)})
	}
	return out
}
