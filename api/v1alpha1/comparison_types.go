package v1alpha1

// The comparison of spec.comparison (ComparisonSpec) and of a run's
// status.comparison (ComparisonStatus): the faulted slice of traffic against
// the rest, judged by a statistical test.

// MaxComparisonValues is how many samples of each comparison group a run
// keeps in status (ComparisonGroup.values); later samples are only counted.
// comparison.minSamples may ask for no more, or every run would end
// Inconclusive. The markers on both fields repeat the number.
const MaxComparisonValues = 512

// ComparisonTest is the statistical test a comparison uses.
// +kubebuilder:validation:Enum=MannWhitney
type ComparisonTest string

const (
	// ComparisonMannWhitney is the one-sided Mann-Whitney U test (Wilcoxon
	// rank-sum): does the experiment group tend to be worse than control?
	ComparisonMannWhitney ComparisonTest = "MannWhitney"
)

// ComparisonSpec compares the faulted slice of traffic with the rest while
// the fault is active, as a controlled experiment: the probe's query is
// evaluated once per group, each with the group's label matchers added to
// every selector, and the two series of samples are compared with a rank
// test and a relative tolerance. It needs an istio fault scoped to a slice
// of traffic (match.headers, or a percent below 100), and metrics that carry
// the label telling the slices apart (with Istio, a Telemetry tag override
// taken from the request header).
//
// Every range window of the query is set to the sampling interval, so that
// consecutive samples cover disjoint spans of time: a rank test assumes
// independent samples, which overlapping windows are not.
// +kubebuilder:validation:XValidation:rule="self.experiment != self.control",message="comparison.experiment and comparison.control must select different slices of traffic"
type ComparisonSpec struct {
	// probe is the name of the steady-state probe (prometheus or slo) whose
	// query is compared.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Probe string `json:"probe"`

	// experiment are the label matchers (label: value) selecting the faulted
	// slice, such as {canary: "true"}.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$') && size(k) <= 128 && size(self[k]) <= 256)",message="comparison.experiment keys must be Prometheus label names (letters, digits and '_', not starting with a digit), values at most 256 characters, such as {canary: \"true\"}"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) > 0)",message="comparison.experiment values must not be empty: an empty value matches every series without the label, not one slice of traffic; write the value that marks the slice, such as {canary: \"true\"}"
	Experiment map[string]string `json:"experiment"`

	// control are the label matchers selecting the rest of the traffic,
	// such as {canary: "false"}.
	// +required
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-zA-Z_][a-zA-Z0-9_]*$') && size(k) <= 128 && size(self[k]) <= 256)",message="comparison.control keys must be Prometheus label names (letters, digits and '_', not starting with a digit), values at most 256 characters, such as {canary: \"false\"}"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) > 0)",message="comparison.control values must not be empty: an empty value matches every series without the label, not one slice of traffic; write the value that marks the slice, such as {canary: \"false\"}"
	Control map[string]string `json:"control"`

	// test is MannWhitney, the only one so far.
	// +optional
	// +kubebuilder:default=MannWhitney
	Test ComparisonTest `json:"test,omitempty"`

	// tolerance is how much worse than control the experiment group's
	// median may be, relative to control's median, before it counts as
	// harm, such as "2%". Defaults to "0%": any significant difference.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,3}([.][0-9]{1,4})?)%$') && double(self.replace('%', '')) <= 100.0",message="comparison.tolerance must be a percentage from 0% to 100%, such as \"2%\""
	Tolerance string `json:"tolerance,omitempty"`

	// alpha is the significance level of the one-sided test, such as
	// "0.05" (the default); 0.0001 to 0.2.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^0?[.][0-9]{1,6}$') && double(self) >= 0.0001 && double(self) <= 0.2",message="comparison.alpha must be a decimal between 0.0001 and 0.2, such as \"0.05\""
	Alpha string `json:"alpha,omitempty"`

	// minSamples each group needs while the fault is active; with fewer the
	// run ends Inconclusive rather than judge. 5 to 512 (MaxComparisonValues,
	// the samples a run keeps of each group), default 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=512
	MinSamples int32 `json:"minSamples,omitempty"`
}

// ComparisonOutcome is what the comparison of the two groups found.
type ComparisonOutcome string

const (
	// ComparisonHarm means the experiment group was significantly worse than
	// control, by more than the tolerance.
	ComparisonHarm ComparisonOutcome = "Harm"
	// ComparisonNoHarm means no significant harm beyond the tolerance was
	// found.
	ComparisonNoHarm ComparisonOutcome = "NoHarm"
	// ComparisonInsufficient means a group had fewer samples than
	// minSamples: no judgement.
	ComparisonInsufficient ComparisonOutcome = "Insufficient"
)

// ComparisonGroup is one group's samples and their summary.
type ComparisonGroup struct {
	// query the group was sampled with.
	// +optional
	Query string `json:"query,omitempty"`

	// values sampled while the fault was active, oldest first, at most 512
	// (later samples are counted in dropped).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=512
	Values []string `json:"values,omitempty"`

	// dropped counts samples beyond the 512 kept.
	// +optional
	Dropped int32 `json:"dropped,omitempty"`

	// errors counts samples the group's query did not answer (or answered
	// NaN).
	// +optional
	Errors int32 `json:"errors,omitempty"`

	// median of the values.
	// +optional
	Median string `json:"median,omitempty"`
}

// ComparisonStatus records the control-versus-experiment comparison.
type ComparisonStatus struct {
	// probe compared.
	// +optional
	Probe string `json:"probe,omitempty"`

	// experiment is the faulted slice.
	// +optional
	Experiment ComparisonGroup `json:"experiment,omitzero"`

	// control is the rest of the traffic.
	// +optional
	Control ComparisonGroup `json:"control,omitzero"`

	// outcome of the comparison, once judged.
	// +optional
	Outcome ComparisonOutcome `json:"outcome,omitempty"`

	// u is the Mann-Whitney U statistic of the experiment group (the number
	// of experiment-control pairs where the experiment sample is worse,
	// ties counting one half).
	// +optional
	U string `json:"u,omitempty"`

	// pValue of the one-sided test that the experiment group tends to be
	// worse.
	// +optional
	PValue string `json:"pValue,omitempty"`

	// effectSize is the probability that an experiment sample is worse than
	// a control sample (U over the number of pairs; 0.5 is no effect).
	// +optional
	EffectSize string `json:"effectSize,omitempty"`

	// relativeDifference of the experiment median from the control median,
	// signed so that positive is worse, such as "+2.7%".
	// +optional
	RelativeDifference string `json:"relativeDifference,omitempty"`

	// message says what the comparison found, in a sentence.
	// +optional
	Message string `json:"message,omitempty"`
}
