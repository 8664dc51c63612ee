package v1alpha1

// The steady-state checks: what is measured, and what must hold of it.

// ConditionOperator compares a measured value with a threshold.
// +kubebuilder:validation:Enum=">";">=";"<";"<=";"==";"!="
type ConditionOperator string

const (
	// OpGreater holds when value > threshold.
	OpGreater ConditionOperator = ">"
	// OpGreaterEqual holds when value >= threshold.
	OpGreaterEqual ConditionOperator = ">="
	// OpLess holds when value < threshold.
	OpLess ConditionOperator = "<"
	// OpLessEqual holds when value <= threshold.
	OpLessEqual ConditionOperator = "<="
	// OpEqual holds when value == threshold.
	OpEqual ConditionOperator = "=="
	// OpNotEqual holds when value != threshold.
	OpNotEqual ConditionOperator = "!="
)

// Hypothesis is what must hold of a measured value: value op threshold.
type Hypothesis struct {
	// op compares the measured value with value: >, >=, <, <=, == or !=.
	// +required
	Op ConditionOperator `json:"op"`

	// value is the threshold, a decimal number written as a string, such as
	// "0.99". It must be finite: the exponent has at most two digits, so
	// "1e400", which no float64 holds, is refused rather than read as +Inf.
	//
	// A steady-state probe's value may instead be relative to what the
	// baseline measured, a signed percentage such as "+10%" or "-5%": the
	// threshold is the mean of the probe's baseline samples times (1 +
	// percentage), fixed when the baseline ends, so one hypothesis holds
	// across clusters and hours of the day. The percentage must be above
	// -100%. During the baseline itself such a probe only has to answer
	// with a number.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]{1,2})?$') || self.matches('^[-+][0-9]{1,4}([.][0-9]{1,4})?%$')",message="condition.value must be a number written as a string, such as \"0.99\" or \"250\", with an exponent of at most two digits, or a signed percentage of the baseline, such as \"+10%\" or \"-5%\""
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[-+][0-9]{1,4}([.][0-9]{1,4})?%$') || double(self.replace('%', '')) > -100.0",message="condition.value relative to the baseline must be above -100%: -100% or less puts the threshold at zero or beyond it, which says nothing about the baseline; write a share such as \"-50%\", or an absolute value such as \"0\""
	Value string `json:"value"`
}

// PrometheusQuery is a PromQL expression that must return exactly one sample.
type PrometheusQuery struct {
	// query in PromQL, at most 4096 characters; it must evaluate to a single
	// sample.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`
}

// WorkloadKind is a kind of workload whose readiness a probe checks.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type WorkloadKind string

const (
	// WorkloadDeployment is an apps/v1 Deployment.
	WorkloadDeployment WorkloadKind = "Deployment"
	// WorkloadStatefulSet is an apps/v1 StatefulSet.
	WorkloadStatefulSet WorkloadKind = "StatefulSet"
	// WorkloadDaemonSet is an apps/v1 DaemonSet.
	WorkloadDaemonSet WorkloadKind = "DaemonSet"
)

// WorkloadProbe passes when enough of a workload's desired replicas are ready.
type WorkloadProbe struct {
	// kind of the workload: Deployment, StatefulSet or DaemonSet.
	// +required
	Kind WorkloadKind `json:"kind"`

	// name of the workload.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="workload.name must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), such as \"checkout\""
	Name string `json:"name"`

	// namespace of the workload. Defaults to the Experiment's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="workload.namespace must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as \"shop\""
	Namespace string `json:"namespace,omitempty"`

	// minReadyPercent of the desired replicas that must be ready, 1 to 100.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinReadyPercent int32 `json:"minReadyPercent,omitempty"`
}

// Probe is one steady-state check: a Prometheus query with a condition, the
// readiness of a workload, or the indicator of an SLO the team keeps.
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.workload), has(self.slo)].filter(x, x).size() == 1",message="a probe must set exactly one of prometheus, workload or slo"
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.workload), has(self.slo)].filter(x, x).size() != 1 || !has(self.prometheus) || has(self.condition)",message="a prometheus probe needs a condition, such as {op: \">=\", value: \"0.99\"}"
// +kubebuilder:validation:XValidation:rule="[has(self.prometheus), has(self.workload), has(self.slo)].filter(x, x).size() != 1 || !has(self.workload) || !has(self.condition)",message="a workload probe takes minReadyPercent, not a condition"
type Probe struct {
	// name of the probe, unique within the Experiment, as a DNS-1123 label.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="probe name must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as \"success-rate\""
	Name string `json:"name"`

	// prometheus queries the Experiment's Prometheus provider.
	// +optional
	Prometheus *PrometheusQuery `json:"prometheus,omitempty"`

	// workload checks a workload's ready replicas.
	// +optional
	Workload *WorkloadProbe `json:"workload,omitempty"`

	// slo samples the error ratio of an SLO's indicator (Sloth, Pyrra or
	// OpenSLO); without a condition the SLO's objective is the hypothesis.
	// +optional
	SLO *SLOProbe `json:"slo,omitempty"`

	// condition the query's value must meet. For an slo probe, the value is
	// the error ratio, and the condition is optional.
	// +optional
	Condition *Hypothesis `json:"condition,omitempty"`
}
