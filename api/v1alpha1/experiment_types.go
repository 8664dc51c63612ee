package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every duration field carries one CEL rule of two parts. A regular
// expression first admits only what Go's time.ParseDuration reads without
// overflow: no sign, units h, m, s, ms, us, µs and ns, at most 5 digits of
// hours, 7 of minutes or seconds and 10 of smaller units, in at most 32
// characters. The bounds are checked after it, with duration(). CEL's && does
// not report the error of a side it need not evaluate, so "1y" or "500 ms"
// gets the field's own message instead of an evaluation error, and never
// reaches storage, where one such value made typed decoding of every
// Experiment fail and stopped the operator. µs is admitted because Go writes
// sub-millisecond durations with it when the operator snapshots a spec into
// a run's status.

// TargetKind is the kind of object a fault acts on.
// +kubebuilder:validation:Enum=Pod;Node;VirtualService
type TargetKind string

const (
	// TargetPod selects Pods.
	TargetPod TargetKind = "Pod"
	// TargetNode selects Nodes.
	TargetNode TargetKind = "Node"
	// TargetVirtualService selects Istio VirtualServices.
	TargetVirtualService TargetKind = "VirtualService"
)

// SelectionMode says how many of the eligible objects become targets.
// +kubebuilder:validation:Enum=One;Count;Percent;All
type SelectionMode string

const (
	// SelectOne picks one eligible object at random.
	SelectOne SelectionMode = "One"
	// SelectCount picks value eligible objects at random.
	SelectCount SelectionMode = "Count"
	// SelectPercent picks value percent of the eligible objects, rounded down, at least one.
	SelectPercent SelectionMode = "Percent"
	// SelectAll picks every eligible object.
	SelectAll SelectionMode = "All"
)

// TargetSpec is the blast radius: which objects a run may hurt.
// +kubebuilder:validation:XValidation:rule="!(self.mode in ['Count','Percent']) || has(self.value)",message="target.value is required when target.mode is Count or Percent"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Percent' || !has(self.value) || (self.value >= 1 && self.value <= 100)",message="target.value must be between 1 and 100 when target.mode is Percent"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Count' || !has(self.value) || self.value >= 1",message="target.value must be at least 1 when target.mode is Count"
// +kubebuilder:validation:XValidation:rule="self.mode in ['Count','Percent'] || !has(self.value)",message="target.value is only used with target.mode Count or Percent; remove it or change the mode"
// +kubebuilder:validation:XValidation:rule="(has(self.selector) && ((has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0))) || (has(self.names) && size(self.names) > 0)",message="target needs a selector with matchLabels or matchExpressions, or names: an empty blast radius would match everything"
type TargetSpec struct {
	// kind of the objects to target: Pod, Node or VirtualService.
	// +required
	Kind TargetKind `json:"kind"`

	// namespaces to select from. Defaults to the Experiment's namespace.
	// Ignored for Nodes, which are cluster-scoped.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="target.namespaces must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as \"shop\""
	Namespaces []string `json:"namespaces,omitempty"`

	// selector picks objects by label. It must say something: a selector
	// without matchLabels or matchExpressions would match every object.
	// The schema checks operators, value counts and sizes; the admission
	// webhook checks the syntax of every key and value.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || size(self.matchLabels) <= 64",message="target.selector.matchLabels may have at most 64 labels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || size(self.matchExpressions) <= 32",message="target.selector.matchExpressions may have at most 32 expressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="target.selector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="target.selector.matchExpressions with operator In or NotIn need at least one value, such as {key: app, operator: In, values: [checkout]}"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="target.selector.matchExpressions with operator Exists or DoesNotExist take no values; remove values"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || size(e.values) <= 64)",message="target.selector.matchExpressions may list at most 64 values each"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.size() > 0 && e.key.size() <= 317)",message="target.selector.matchExpressions key must be a label key, such as \"app\" or \"app.kubernetes.io/name\""
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))",message="target.selector.matchLabels keys must be label keys, such as \"app\" or \"app.kubernetes.io/name\""
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.size() <= 317 && self.matchLabels[k].size() <= 63)",message="target.selector.matchLabels values must be label values of at most 63 characters, with keys of at most 317, such as {app: checkout}"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// names picks objects by name (within namespaces). With a selector, an
	// object must match both.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="target.names must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), such as \"checkout-7d9f\""
	Names []string `json:"names,omitempty"`

	// mode says how many eligible objects become targets.
	// +optional
	// +kubebuilder:default=One
	Mode SelectionMode `json:"mode,omitempty"`

	// value is the count (mode Count, at most 2000, the most targets a run
	// records) or percentage (mode Percent).
	// +optional
	// +kubebuilder:validation:Maximum=2000
	Value *int32 `json:"value,omitempty"`

	// maxTargets is a hard cap on the number of targets, enforced after mode,
	// 1 to 2000 (MaxRunTargets, the most a run records).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2000
	MaxTargets *int32 `json:"maxTargets,omitempty"`
}

// AuthType says how Faultline authenticates to a Prometheus server.
// +kubebuilder:validation:Enum=Bearer;Basic
type AuthType string

const (
	// AuthBearer sends the Secret's "token" key as a bearer token.
	AuthBearer AuthType = "Bearer"
	// AuthBasic sends the Secret's "username" and "password" keys.
	AuthBasic AuthType = "Basic"
)

// PrometheusAuth points at a Secret in the Experiment's namespace.
type PrometheusAuth struct {
	// type of authentication: Bearer or Basic.
	// +required
	Type AuthType `json:"type"`

	// secretName of a Secret in the Experiment's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="provider.prometheus.auth.secretName must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), such as \"prometheus-token\""
	SecretName string `json:"secretName"`
}

// PrometheusProvider is the Prometheus server probes and guards query.
type PrometheusProvider struct {
	// address of the Prometheus HTTP API, such as http://prometheus.monitoring:9090.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/?#]+')",message="provider.prometheus.address must be an http:// or https:// URL with a host, such as \"http://prometheus.monitoring:9090\""
	Address string `json:"address"`

	// timeout of one query, 100ms to 5m. Defaults to 5s; there is no
	// "no deadline": a query that never answers must not hold a run.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('100ms') && duration(self) <= duration('5m')",message="provider.prometheus.timeout must be a duration between 100ms and 5m, such as \"5s\"; omit timeout for the default 5s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// auth for the server.
	// +optional
	Auth *PrometheusAuth `json:"auth,omitempty"`
}

// ProviderSpec holds the metrics providers of an Experiment.
type ProviderSpec struct {
	// prometheus is the server Prometheus probes, guards and detection alerts use.
	// +optional
	Prometheus *PrometheusProvider `json:"prometheus,omitempty"`
}

// SteadyStateSpec is the hypothesis of what healthy looks like.
type SteadyStateSpec struct {
	// interval between probe samples during the run, 1s to 1h.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('1h')",message="steadyState.interval must be a duration between 1s and 1h, such as \"5s\""
	Interval metav1.Duration `json:"interval,omitzero"`

	// baseline is how long every probe must pass before the fault is injected.
	// If it does not hold, the run ends Inconclusive and nothing is touched.
	// 0s to 1h.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="steadyState.baseline must be a duration between 0s and 1h, such as \"30s\""
	Baseline metav1.Duration `json:"baseline,omitzero"`

	// stabilization is the number of consecutive all-passing samples that count
	// as recovered, 1 to 100.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Stabilization int32 `json:"stabilization,omitempty"`

	// recoveryTimeout is how long after the fault is reverted the run waits for
	// the steady state to return before it ends Failed. 1s to 24h.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="steadyState.recoveryTimeout must be a duration between 1s and 24h, such as \"5m\""
	RecoveryTimeout metav1.Duration `json:"recoveryTimeout,omitzero"`

	// requireErrorBudget refuses to inject while any SLO the probes and
	// guards reference has less than this share of its period's error
	// budget left, such as "20%": the run ends Inconclusive with the figure,
	// having touched nothing.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,3}([.][0-9]{1,4})?)%$') && double(self.replace('%', '')) <= 100.0",message="steadyState.requireErrorBudget must be a percentage from 0% to 100%, such as \"20%\""
	RequireErrorBudget string `json:"requireErrorBudget,omitempty"`

	// probes that must all pass for the system to be healthy.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	Probes []Probe `json:"probes"`
}

// DetectionSpec names the team's own alerts; time-to-detect is measured to
// the first of them firing.
type DetectionSpec struct {
	// alerts are Prometheus alert names; detection is the first sample where
	// ALERTS{alertname=<name>, alertstate="firing"} exists for any of them.
	// A name is written as in its rule's alert: field, of letters, digits,
	// '_', ':', '-' and '.', starting with a letter, '_' or ':', such as
	// CheckoutAvailabilityLow; the admission webhook checks it.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="!self.matches('^[[:space:]]|[[:space:]]$')",message="detection.alerts names must not begin or end with whitespace; write the alertname exactly as in the alerting rule, such as \"CheckoutAvailabilityLow\""
	Alerts []string `json:"alerts,omitempty"`
}

// ObjectivesSpec are the targets a run is judged against.
type ObjectivesSpec struct {
	// detectWithin is the longest acceptable time from injection to
	// detection, 1s to 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="objectives.detectWithin must be a duration between 1s and 24h, such as \"1m\""
	DetectWithin *metav1.Duration `json:"detectWithin,omitempty"`

	// notifyWithin is the longest acceptable time from injection to
	// Alertmanager's notification of a detection alert reaching the
	// operator's webhook receiver, 1s to 24h. It needs detection.alerts, and
	// Alertmanager routing those alerts to the receiver as well (a route
	// with continue: true).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="objectives.notifyWithin must be a duration between 1s and 24h, such as \"2m\""
	NotifyWithin *metav1.Duration `json:"notifyWithin,omitempty"`

	// recoverWithin is the longest acceptable time from injection to
	// recovery, 1s to 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="objectives.recoverWithin must be a duration between 1s and 24h, such as \"2m\""
	RecoverWithin *metav1.Duration `json:"recoverWithin,omitempty"`

	// remediateWithin is the longest acceptable time from injection to the
	// start of automatic remediation (timeline.remediationStartedAt), 1s to
	// 24h. An istio fault has no remediation by default: it needs
	// remediation.matchers.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="objectives.remediateWithin must be a duration between 1s and 24h, such as \"30s\""
	RemediateWithin *metav1.Duration `json:"remediateWithin,omitempty"`
}

// ProbeErrorPolicy says what a run does when it cannot measure.
// +kubebuilder:validation:Enum=Abort;Continue
type ProbeErrorPolicy string

const (
	// ProbeErrorAbort reverts the fault when probes keep failing to answer:
	// Faultline stops hurting a system it cannot see.
	ProbeErrorAbort ProbeErrorPolicy = "Abort"
	// ProbeErrorContinue counts probe errors as failing samples and goes on.
	ProbeErrorContinue ProbeErrorPolicy = "Continue"
)

// Guard is a guard SLO: while the fault is active, a breach for longer than
// for aborts the run and reverts the fault at once. It is a Prometheus query
// with a condition, or the burn rate of an SLO the team keeps.
// +kubebuilder:validation:XValidation:rule="has(self.prometheus) != has(self.slo)",message="a guard sets exactly one of prometheus (with a condition) or slo"
// +kubebuilder:validation:XValidation:rule="!has(self.prometheus) || has(self.condition)",message="a prometheus guard needs a condition, such as {op: \">=\", value: \"0.95\"}"
// +kubebuilder:validation:XValidation:rule="!has(self.slo) || !has(self.condition)",message="an slo guard takes its condition from slo.burnRate.factor; remove condition"
// +kubebuilder:validation:XValidation:rule="!has(self.condition) || !self.condition.value.endsWith('%')",message="a guard's condition must be an absolute number, such as \"0.95\": guards are not sampled during the baseline, so a percentage of it has nothing to refer to"
type Guard struct {
	// name of the guard, unique within the Experiment, as a DNS-1123 label.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="guard name must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as \"error-budget\""
	Name string `json:"name"`

	// prometheus query whose value is checked.
	// +optional
	Prometheus PrometheusQuery `json:"prometheus,omitzero"`

	// condition that must hold; the guard is breached while it does not.
	// Required with prometheus.
	// +optional
	Condition Hypothesis `json:"condition,omitzero"`

	// slo aborts when the SLO's error budget burns faster than
	// burnRate.factor over both of its windows.
	// +optional
	SLO *SLOGuard `json:"slo,omitempty"`

	// for is how long the breach must last before the run aborts, 0s to 1h.
	// Zero aborts on the first breaching sample.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="abort.guards[].for must be a duration between 0s and 1h, such as \"10s\"; 0s aborts on the first breaching sample"
	For *metav1.Duration `json:"for,omitempty"`
}

// AbortSpec holds the guards and the fail-safe behaviour of a run.
type AbortSpec struct {
	// guards are checked every interval while the fault is active.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Guards []Guard `json:"guards,omitempty"`

	// onProbeError is Abort (default) or Continue.
	// +optional
	// +kubebuilder:default=Abort
	OnProbeError ProbeErrorPolicy `json:"onProbeError,omitempty"`

	// probeErrorThreshold is the number of consecutive samples with a probe
	// error that abort the run under onProbeError Abort, 1 to 100.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	ProbeErrorThreshold int32 `json:"probeErrorThreshold,omitempty"`
}

// ExperimentSpec defines a chaos experiment: a hypothesis, a blast radius,
// one fault and objectives, optionally on a schedule.
//
// The rules that fit the fault to the target kind and to spec.duration apply
// only once exactly one fault is set, so an empty or doubled fault is told
// that, and not about a kind or duration it never chose.
// +kubebuilder:validation:XValidation:rule="[has(self.fault.podKill), has(self.fault.istio), has(self.fault.nodeDrain)].filter(x, x).size() != 1 || !has(self.fault.podKill) || self.target.kind == 'Pod'",message="fault.podKill needs target.kind Pod"
// +kubebuilder:validation:XValidation:rule="[has(self.fault.podKill), has(self.fault.istio), has(self.fault.nodeDrain)].filter(x, x).size() != 1 || !has(self.fault.nodeDrain) || self.target.kind == 'Node'",message="fault.nodeDrain needs target.kind Node"
// +kubebuilder:validation:XValidation:rule="[has(self.fault.podKill), has(self.fault.istio), has(self.fault.nodeDrain)].filter(x, x).size() != 1 || !has(self.fault.istio) || self.target.kind == 'VirtualService'",message="fault.istio needs target.kind VirtualService"
// +kubebuilder:validation:XValidation:rule="[has(self.fault.podKill), has(self.fault.istio), has(self.fault.nodeDrain)].filter(x, x).size() != 1 || has(self.fault.podKill) || has(self.duration)",message="istio and nodeDrain faults are held for spec.duration: set it, such as \"2m\""
// +kubebuilder:validation:XValidation:rule="(self.steadyState.probes.all(p, !has(p.prometheus)) && (!has(self.abort) || !has(self.abort.guards) || size(self.abort.guards) == 0) && (!has(self.detection) || !has(self.detection.alerts) || size(self.detection.alerts) == 0)) || (has(self.provider) && has(self.provider.prometheus))",message="prometheus probes, guards and detection alerts need provider.prometheus.address"
// +kubebuilder:validation:XValidation:rule="!has(self.objectives) || !has(self.objectives.notifyWithin) || (has(self.detection) && has(self.detection.alerts) && size(self.detection.alerts) > 0)",message="objectives.notifyWithin times the notification of detection.alerts: name the alerts, such as detection.alerts: [CheckoutAvailabilityLow], or remove notifyWithin"
// +kubebuilder:validation:XValidation:rule="!has(self.objectives) || !has(self.objectives.remediateWithin) || !has(self.fault.istio) || (has(self.remediation) && has(self.remediation.matchers) && size(self.remediation.matchers) > 0)",message="objectives.remediateWithin needs remediation.matchers for an istio fault, which has no automatic remediation by default: declare what starts it, such as remediation: {matchers: [{event: {reason: RolloutAborted, involvedKind: Rollout}}]}, or remove remediateWithin"
// +kubebuilder:validation:XValidation:rule="(self.steadyState.probes.all(p, !has(p.slo)) && (!has(self.abort) || !has(self.abort.guards) || self.abort.guards.all(g, !has(g.slo)))) || (has(self.provider) && has(self.provider.prometheus))",message="slo probes and guards are sampled from Prometheus: set provider.prometheus.address"
// +kubebuilder:validation:XValidation:rule="!has(self.steadyState.requireErrorBudget) || self.steadyState.probes.exists(p, has(p.slo)) || (has(self.abort) && has(self.abort.guards) && self.abort.guards.exists(g, has(g.slo)))",message="steadyState.requireErrorBudget needs an slo probe or guard whose budget it checks; reference one, or remove requireErrorBudget"
// +kubebuilder:validation:XValidation:rule="self.steadyState.probes.all(p, !has(p.condition) || !p.condition.value.endsWith('%')) || !has(self.steadyState.baseline) || duration(self.steadyState.baseline) > duration('0s')",message="a condition relative to the baseline (such as \"+10%\") needs a baseline to measure: set steadyState.baseline, such as \"30s\", or write an absolute value"
// +kubebuilder:validation:XValidation:rule="!has(self.comparison) || has(self.fault.istio)",message="comparison compares the faulted slice of traffic with the rest, so it needs an istio fault scoped by match.headers or a percent below 100"
// +kubebuilder:validation:XValidation:rule="!has(self.comparison) || self.steadyState.probes.exists(p, p.name == self.comparison.probe && (has(p.prometheus) || has(p.slo)))",message="comparison.probe must name a prometheus or slo probe of steadyState.probes"
type ExperimentSpec struct {
	// schedule in cron syntax (robfig/cron standard five fields, or
	// descriptors such as @hourly and "@every 30m"), at most 256 characters.
	// Absent: runs start only on demand. The admission webhook checks the syntax.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Schedule string `json:"schedule,omitempty"`

	// timeZone of the schedule and windows, an IANA name such as Asia/Seoul.
	// Defaults to UTC. The admission webhook checks that the zone exists.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-A-Za-z0-9_+/]+$')",message="timeZone must be an IANA time zone name, such as \"Asia/Seoul\" or \"UTC\""
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops scheduled runs from starting. Runs already started go on.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// concurrencyPolicy is Forbid (default) or Replace.
	// +optional
	// +kubebuilder:default=Forbid
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`

	// startingDeadlineSeconds is how late a scheduled run may start: one
	// that could not start within this many seconds of its time is skipped
	// and counted as missed. 0 to 86400.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`

	// runHistoryLimit is how many finished runs are kept, 0 to 100.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	RunHistoryLimit *int32 `json:"runHistoryLimit,omitempty"`

	// windows restrict when runs may start: inside one of them, in timeZone.
	// Empty means any time.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Windows []TimeWindow `json:"windows,omitempty"`

	// approval makes runs wait for a person before injecting.
	// +optional
	Approval *ApprovalSpec `json:"approval,omitempty"`

	// target is the blast radius.
	// +required
	Target TargetSpec `json:"target"`

	// fault is the one failure the run injects.
	// +required
	Fault FaultSpec `json:"fault"`

	// duration a sustained fault (istio, nodeDrain) is held. Required for them;
	// unused by podKill, whose kill is instant. 1s to 24h.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="spec.duration must be a duration between 1s and 24h, such as \"2m\""
	Duration *metav1.Duration `json:"duration,omitempty"`

	// provider holds the metrics servers the probes query.
	// +optional
	Provider *ProviderSpec `json:"provider,omitempty"`

	// steadyState is the hypothesis: what healthy looks like.
	// +required
	SteadyState SteadyStateSpec `json:"steadyState"`

	// detection names the team's own alerts.
	// +optional
	Detection *DetectionSpec `json:"detection,omitempty"`

	// objectives the run is judged against.
	// +optional
	Objectives *ObjectivesSpec `json:"objectives,omitempty"`

	// abort holds the guard SLOs and the fail-safe for probe errors.
	// +optional
	Abort *AbortSpec `json:"abort,omitempty"`

	// remediation declares what counts as the start of automatic
	// remediation; absent, the fault's default applies.
	// +optional
	Remediation *RemediationSpec `json:"remediation,omitempty"`

	// comparison judges the fault by comparing the faulted slice of
	// traffic with the rest while it is active.
	// +optional
	Comparison *ComparisonSpec `json:"comparison,omitempty"`
}

// RunSummary is the short record of one finished run, for trends.
type RunSummary struct {
	// name of the ExperimentRun.
	// +required
	Name string `json:"name"`

	// verdict of the run.
	// +optional
	Verdict Verdict `json:"verdict,omitempty"`

	// startedAt is when the run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when the run finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// timeToDetect measured by the run.
	// +optional
	TimeToDetect *metav1.Duration `json:"timeToDetect,omitempty"`

	// timeToRecover measured by the run.
	// +optional
	TimeToRecover *metav1.Duration `json:"timeToRecover,omitempty"`
}

// ExperimentStatus is what the scheduler and the runs report about an Experiment.
type ExperimentStatus struct {
	// conditions are Ready and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last fully reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastScheduleTime is the last time a run was scheduled.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// nextScheduleTime is when the next scheduled run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// active runs of this Experiment.
	// +optional
	// +listType=atomic
	Active []string `json:"active,omitempty"`

	// recent finished runs, newest first, for trends; recent[0] is the
	// newest finished run, which `kubectl get experiments` shows.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Recent []RunSummary `json:"recent,omitempty"`
}

// Experiment declares a chaos experiment as a hypothesis test.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp;chaosexp,categories=chaos
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Last Verdict",type=string,JSONPath=`.status.recent[0].verdict`
// +kubebuilder:printcolumn:name="Last Recover",type=string,JSONPath=`.status.recent[0].timeToRecover`
// +kubebuilder:printcolumn:name="Next Run",type=date,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Experiment struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec defines the experiment.
	// +required
	Spec ExperimentSpec `json:"spec"`

	// status reports its schedule and recent results.
	// +optional
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}
