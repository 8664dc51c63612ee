package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SLORef names a service level objective a team already keeps, so a probe or
// guard can use its indicator and objective instead of a hand-written query.
// Exactly one of sloth, pyrra and openSLO is set. The object is read when a
// run starts, from the Experiment's namespace unless namespace says
// otherwise; admission checks that whoever writes the Experiment may read it.
// +kubebuilder:validation:XValidation:rule="[has(self.sloth), has(self.pyrra), has(self.openSLO)].filter(x, x).size() == 1",message="an slo reference sets exactly one of sloth, pyrra or openSLO, such as sloth: {name: checkout, slo: requests-availability}"
type SLORef struct {
	// sloth names a Sloth PrometheusServiceLevel (sloth.slok.dev/v1) and one
	// of its SLOs.
	// +optional
	Sloth *SlothSLORef `json:"sloth,omitempty"`

	// pyrra names a Pyrra ServiceLevelObjective (pyrra.dev/v1alpha1).
	// +optional
	Pyrra *PyrraSLORef `json:"pyrra,omitempty"`

	// openSLO names an OpenSLO v1 SLO document kept in a ConfigMap.
	// +optional
	OpenSLO *OpenSLORef `json:"openSLO,omitempty"`
}

// SlothSLORef names one SLO of a Sloth PrometheusServiceLevel.
type SlothSLORef struct {
	// name of the PrometheusServiceLevel.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="slo.sloth.name must be a DNS-1123 subdomain, the name of a PrometheusServiceLevel such as \"checkout\""
	Name string `json:"name"`

	// namespace of the PrometheusServiceLevel; defaults to the Experiment's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="slo.sloth.namespace must be a DNS-1123 label, such as \"shop\""
	Namespace string `json:"namespace,omitempty"`

	// slo is the name of one entry of the PrometheusServiceLevel's
	// spec.slos.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="slo.sloth.slo must be the name of one of the PrometheusServiceLevel's slos, of letters, digits, '-', '_' and '.', starting and ending with a letter or digit, such as \"requests-availability\""
	SLO string `json:"slo"`
}

// PyrraSLORef names a Pyrra ServiceLevelObjective.
type PyrraSLORef struct {
	// name of the ServiceLevelObjective.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="slo.pyrra.name must be a DNS-1123 subdomain, the name of a ServiceLevelObjective such as \"checkout-availability\""
	Name string `json:"name"`

	// namespace of the ServiceLevelObjective; defaults to the Experiment's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="slo.pyrra.namespace must be a DNS-1123 label, such as \"shop\""
	Namespace string `json:"namespace,omitempty"`
}

// OpenSLORef names an OpenSLO v1 SLO document kept in a ConfigMap.
type OpenSLORef struct {
	// configMap holding the document.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="slo.openSLO.configMap must be a DNS-1123 subdomain, the name of a ConfigMap such as \"checkout-slos\""
	ConfigMap string `json:"configMap"`

	// namespace of the ConfigMap; defaults to the Experiment's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="slo.openSLO.namespace must be a DNS-1123 label, such as \"shop\""
	Namespace string `json:"namespace,omitempty"`

	// key of the ConfigMap's data holding the YAML; absent, every key is
	// searched for the SLO.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="slo.openSLO.key must be a ConfigMap key (letters, digits, '-', '_' and '.'), such as \"slos.yaml\""
	Key string `json:"key,omitempty"`

	// name is the metadata.name of the SLO document (kind: SLO).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="slo.openSLO.name must be the metadata.name of an SLO document, of letters, digits, '-', '_' and '.', starting and ending with a letter or digit, such as \"web-availability\""
	Name string `json:"name"`
}

// SLOProbe is a steady-state probe on an SLO's indicator. The probe's value
// is the indicator's error ratio (errors over all events, 0 to 1) over
// window; absent a condition, the hypothesis is the objective itself: error
// ratio <= 1 - objective.
type SLOProbe struct {
	SLORef `json:",inline"`

	// window the error ratio is computed over at each sample, 10s to 1h.
	// Defaults to 1m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('10s') && duration(self) <= duration('1h')",message="slo.window must be a duration between 10s and 1h, such as \"1m\""
	Window *metav1.Duration `json:"window,omitempty"`
}

// SLOGuard aborts a run when an SLO's error budget burns too fast: the
// burn rate (error ratio over the budget, 1 - objective) exceeds factor over
// both the long and the short window, as in a multi-window burn-rate alert.
// The guard's value is the lower of the two burn rates; its condition is
// value < factor.
type SLOGuard struct {
	SLORef `json:",inline"`

	// burnRate is the window pair and the factor. Defaults to the fast-burn
	// page of the SRE workbook: long 1h, short 5m, factor 14.4.
	// +optional
	BurnRate *BurnRate `json:"burnRate,omitempty"`
}

// BurnRate is one multi-window burn-rate rule.
// +kubebuilder:validation:XValidation:rule="duration(self.short) < duration(self.long)",message="burnRate.short must be shorter than burnRate.long, such as long: 1h, short: 5m"
type BurnRate struct {
	// long window, 10s to 30d.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('10s') && duration(self) <= duration('720h')",message="burnRate.long must be a duration between 10s and 720h, such as \"1h\""
	Long metav1.Duration `json:"long"`

	// short window, 5s to 1d, shorter than long.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('5s') && duration(self) <= duration('24h')",message="burnRate.short must be a duration between 5s and 24h, such as \"5m\""
	Short metav1.Duration `json:"short"`

	// factor the burn rate must stay below, a decimal number greater than 0
	// such as "14.4".
	// +required
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]*)?|[.][0-9]+)$') && double(self) > 0.0",message="burnRate.factor must be a positive decimal number written as a string, such as \"14.4\""
	Factor string `json:"factor"`
}

// SLOStatus is what a run derived from a referenced SLO when it started.
type SLOStatus struct {
	// name of the probe or guard.
	// +required
	Name string `json:"name"`

	// kind is Probe or Guard.
	// +required
	Kind ProbeKind `json:"kind"`

	// source says which object the SLO came from, such as
	// "sloth.slok.dev/v1 PrometheusServiceLevel shop/checkout, slo requests-availability".
	// +optional
	Source string `json:"source,omitempty"`

	// objective of the SLO, as a ratio such as "0.999".
	// +optional
	Objective string `json:"objective,omitempty"`

	// period of the SLO, over which its error budget is counted.
	// +optional
	Period *metav1.Duration `json:"period,omitempty"`

	// query is the PromQL the run samples for this probe or guard.
	// +optional
	Query string `json:"query,omitempty"`

	// condition the query's value is judged by.
	// +optional
	Condition *Hypothesis `json:"condition,omitempty"`

	// errorBudgetRemaining is the share of the period's error budget left
	// when the run started, such as "63.2%"; negative when it is spent.
	// +optional
	ErrorBudgetRemaining string `json:"errorBudgetRemaining,omitempty"`

	// error says why the SLO could not be used.
	// +optional
	Error string `json:"error,omitempty"`
}
