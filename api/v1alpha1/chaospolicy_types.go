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

	// timeZone of the window, an IANA name. Defaults to UTC. The admission
	// webhook checks that the zone exists.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-A-Za-z0-9_+/]+$')",message="timeZone must be an IANA time zone name, such as \"Asia/Seoul\" or \"UTC\""
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
	// Defaults to namespaces labelled chaos.faultline.dev/enabled=true. An
	// empty selector ({}) opts every namespace in. The schema checks
	// operators, value counts and sizes; the admission webhook checks the
	// syntax of every key and value.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || size(self.matchLabels) <= 64",message="namespaceSelector.matchLabels may have at most 64 labels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || size(self.matchExpressions) <= 32",message="namespaceSelector.matchExpressions may have at most 32 expressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="namespaceSelector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['In', 'NotIn']) || (has(e.values) && size(e.values) > 0))",message="namespaceSelector.matchExpressions with operator In or NotIn need at least one value, such as {key: app, operator: In, values: [checkout]}"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !(e.operator in ['Exists', 'DoesNotExist']) || !has(e.values) || size(e.values) == 0)",message="namespaceSelector.matchExpressions with operator Exists or DoesNotExist take no values; remove values"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || size(e.values) <= 64)",message="namespaceSelector.matchExpressions may list at most 64 values each"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.size() > 0 && e.key.size() <= 317)",message="namespaceSelector.matchExpressions key must be a label key, such as \"app\" or \"app.kubernetes.io/name\""
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))",message="namespaceSelector.matchLabels keys must be label keys, such as \"app\" or \"app.kubernetes.io/name\""
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.size() <= 317 && self.matchLabels[k].size() <= 63)",message="namespaceSelector.matchLabels values must be label values of at most 63 characters, with keys of at most 317, such as {app: checkout}"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// protectedNamespaces are never targeted, whatever their labels. The
	// operator's own namespace is always protected as well.
	// +optional
	// +listType=set
	// +kubebuilder:default={"kube-system"}
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="protectedNamespaces must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), such as \"kube-system\""
	ProtectedNamespaces []string `json:"protectedNamespaces,omitempty"`

	// maxConcurrentRuns across the cluster, 1 to 1000; a run over the limit
	// waits in Pending.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxConcurrentRuns *int32 `json:"maxConcurrentRuns,omitempty"`

	// maxWorkloadPercent caps the share of one workload's pods a single run may
	// target, 1 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxWorkloadPercent *int32 `json:"maxWorkloadPercent,omitempty"`

	// allowedProviderAddresses are the only metrics provider addresses an
	// Experiment may use. An address is allowed when its scheme, host and
	// port equal one of these and its path starts with that one's path, on
	// a segment boundary. Both are compared normalised: scheme and host in
	// any case, a default port (:80, :443) as no port, encoded unreserved
	// characters decoded, doubled slashes as one and dot segments resolved
	// (RFC 3986), so "/prometheus/team-a/../team-b" is not below
	// "/prometheus/team-a". An entry names its server exactly: no wildcard
	// host, dot segment, user or password, query or fragment.
	// Empty allows none: Experiments with Prometheus probes are refused.
	// Without a ChaosPolicy, none is allowed either.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=2048
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^https?://[^/?#]+')",message="allowedProviderAddresses must be http:// or https:// URLs with a host, such as \"http://prometheus.monitoring:9090\""
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

	// approvers names who may approve runs that require approval, beyond
	// holding the approve verb on experimentruns. Absent: any user with the
	// approve right who is not a ServiceAccount. Present: only the users,
	// members of the groups and ServiceAccounts it lists. A ServiceAccount
	// may approve only when listed by name in serviceAccounts, so a
	// namespace admin cannot mint a second identity to approve their own
	// run.
	// +optional
	Approvers *Approvers `json:"approvers,omitempty"`
}

// Approvers lists who may approve runs.
// +kubebuilder:validation:XValidation:rule="has(self.users) || has(self.groups) || has(self.serviceAccounts)",message="approvers must list at least one user, group or serviceAccount; remove approvers to let any user with the approve right who is not a ServiceAccount approve"
type Approvers struct {
	// users may approve, by user name as the API server authenticates them,
	// such as "alice@example.com". ServiceAccount user names
	// (system:serviceaccount:...) belong in serviceAccounts.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule="!self.startsWith('system:serviceaccount:')",message="users must not name ServiceAccounts; list them in serviceAccounts as namespace/name"
	Users []string `json:"users,omitempty"`

	// groups whose members may approve, such as "sre-oncall". Groups that
	// every ServiceAccount or every user belongs to (system:serviceaccounts,
	// system:serviceaccounts:NAMESPACE, system:authenticated) are refused:
	// they would let anyone approve.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule="!self.startsWith('system:serviceaccounts') && self != 'system:authenticated' && self != 'system:unauthenticated'",message="groups must not be system:authenticated, system:unauthenticated or system:serviceaccounts[:NAMESPACE]: they would let any user or ServiceAccount approve; name the approvers' own group"
	Groups []string `json:"groups,omitempty"`

	// serviceAccounts that may approve, as namespace/name, such as
	// "ci/release-approver".
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=317
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="serviceAccounts must be namespace/name, such as \"ci/release-approver\""
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// ChaosPolicyStatus reports the policy's effect.
type ChaosPolicyStatus struct {
	// conditions are Ready and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// activeRuns is the number of runs with a fault active or about to be.
	// +optional
	ActiveRuns int32 `json:"activeRuns,omitempty"`

	// killSwitch reports the effect of spec.paused.
	// +optional
	KillSwitch *KillSwitchStatus `json:"killSwitch,omitempty"`
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
	// metadata is the object's standard metadata.
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
