package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultPolicyName is the name of the one ChaosPolicy the operator reads.
const DefaultPolicyName = "default"

// EnabledNamespaceLabel is the label that opts a namespace in to being targeted
// when the ChaosPolicy does not say otherwise.
const EnabledNamespaceLabel = "chaos.faultline.dev/enabled"

// BlackoutWindow is a recurring span of time in which no run may start.
type BlackoutWindow struct {
	TimeWindow `json:",inline"`

	// timeZone of the window, an IANA name. Defaults to UTC.
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`
}

// DrainScope says which pods a node drain may evict.
// +kubebuilder:validation:Enum=EnabledNamespaces;AllNamespaces
type DrainScope string

const (
	// DrainEnabledNamespaces evicts only pods of namespaces that may be
	// targeted (enabled and not protected); the others stay on the cordoned
	// node and are listed in the run's report.
	DrainEnabledNamespaces DrainScope = "EnabledNamespaces"
	// DrainAllNamespaces evicts every pod but the operator's own, as
	// `kubectl drain` would, protected namespaces included.
	DrainAllNamespaces DrainScope = "AllNamespaces"
)

// ChaosPolicySpec holds the cluster's guardrails.
type ChaosPolicySpec struct {
	// paused is the kill switch: every active run is aborted and its fault
	// reverted, and no run starts, while it is true.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// namespaceSelector picks the namespaces whose objects may be targeted.
	// Defaults to namespaces labelled chaos.faultline.dev/enabled=true.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// protectedNamespaces are never targeted, whatever their labels. The
	// operator's own namespace is always protected as well.
	// +optional
	// +listType=set
	// +kubebuilder:default={"kube-system"}
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	ProtectedNamespaces []string `json:"protectedNamespaces,omitempty"`

	// maxConcurrentRuns across the cluster; a run over the limit waits in Pending.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxConcurrentRuns *int32 `json:"maxConcurrentRuns,omitempty"`

	// maxWorkloadPercent caps the share of one workload's pods a single run may
	// target, 1 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxWorkloadPercent *int32 `json:"maxWorkloadPercent,omitempty"`

	// allowedProviderAddresses are the only metrics provider addresses an
	// Experiment may use. An address is allowed when its scheme, host and
	// port equal one of these and its path starts with that one's path.
	// Empty allows none: Experiments with Prometheus probes are refused.
	// Without a ChaosPolicy, none is allowed either.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=2048
	AllowedProviderAddresses []string `json:"allowedProviderAddresses,omitempty"`

	// drainScope says which pods a node drain may evict: EnabledNamespaces
	// (default) or AllNamespaces.
	// +optional
	// +kubebuilder:default=EnabledNamespaces
	DrainScope DrainScope `json:"drainScope,omitempty"`

	// blackoutWindows in which no run starts.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	BlackoutWindows []BlackoutWindow `json:"blackoutWindows,omitempty"`
}

// ChaosPolicyStatus reports the policy's effect.
type ChaosPolicyStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// activeRuns is the number of runs with a fault active or about to be.
	// +optional
	ActiveRuns int32 `json:"activeRuns,omitempty"`

	// killSwitch reports the effect of spec.paused.
	// +optional
	KillSwitch *KillSwitchStatus `json:"killSwitch,omitempty"`

	// conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// KillSwitchStatus confirms the kill switch: when it was engaged, and when
// every run it stopped had its fault reverted.
type KillSwitchStatus struct {
	// engagedAt is when the operator first saw spec.paused true.
	// +optional
	EngagedAt *metav1.MicroTime `json:"engagedAt,omitempty"`

	// allRevertedAt is when no run had a fault active any more after the
	// switch was engaged.
	// +optional
	AllRevertedAt *metav1.MicroTime `json:"allRevertedAt,omitempty"`

	// abortedRuns is how many runs the switch stopped.
	// +optional
	AbortedRuns int32 `json:"abortedRuns,omitempty"`
}

// ChaosPolicy holds the guardrails every run obeys. There is one, named default.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=chaospol,categories=chaos
// +kubebuilder:printcolumn:name="Paused",type=boolean,JSONPath=`.spec.paused`
// +kubebuilder:printcolumn:name="Max Runs",type=integer,JSONPath=`.spec.maxConcurrentRuns`
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.activeRuns`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="there is one ChaosPolicy and it must be named default"
type ChaosPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the guardrails.
	// +optional
	Spec ChaosPolicySpec `json:"spec,omitempty"`

	// status reports the policy's effect.
	// +optional
	Status ChaosPolicyStatus `json:"status,omitempty"`
}

// ChaosPolicyList is a list of ChaosPolicies.
//
// +kubebuilder:object:root=true
type ChaosPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChaosPolicy `json:"items"`
}
