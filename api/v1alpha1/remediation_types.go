package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RemediationSpec declares what counts as the start of automatic
// remediation (timeline.remediationStartedAt): a replacement pod created, a
// rollback started.
//
// Without matchers each fault has its default: for podKill, a pod of a
// killed pod's workload created after the kill (its ReplicaSet,
// StatefulSet or DaemonSet replacing it); for nodeDrain, a pod of an
// evicted pod's workload scheduled onto another node; for istio, none (the
// figure is absent). Matchers replace the default. They look only in the
// namespaces of the run's targets (for nodeDrain, of the evicted pods),
// where the run's requester was checked to act.
type RemediationSpec struct {
	// matchers say what starts remediation: the first Event or object
	// creation after the injection that matches any of them. At most 8.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Matchers []RemediationMatcher `json:"matchers,omitempty"`
}

// RemediationMatcher matches a Kubernetes Event or the creation of an
// object: exactly one of event or created.
// +kubebuilder:validation:XValidation:rule="has(self.event) != has(self.created)",message="a remediation matcher sets exactly one of event or created, such as {event: {reason: SuccessfulCreate, involvedKind: ReplicaSet}} or {created: {kind: Pod, selector: {matchLabels: {app: checkout}}}}"
type RemediationMatcher struct {
	// event matches a Kubernetes Event (core/v1) by reason, kind and name
	// of its object; the Event's own time (eventTime, else firstTimestamp)
	// is the instant.
	// +optional
	Event *RemediationEvent `json:"event,omitempty"`

	// created matches the creation of an object of a kind with a label
	// selector; its creationTimestamp is the instant.
	// +optional
	Created *RemediationCreated `json:"created,omitempty"`
}

// RemediationEvent matches a Kubernetes Event.
type RemediationEvent struct {
	// reason of the Event, as its controller writes it, such as
	// SuccessfulCreate (a ReplicaSet created a pod) or ScalingReplicaSet
	// (a Deployment scaled a ReplicaSet).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9]*$')",message="remediation event reason must be an Event reason in CamelCase (letters and digits), such as \"SuccessfulCreate\""
	Reason string `json:"reason"`

	// involvedKind is the kind of the Event's object, such as ReplicaSet,
	// Deployment or Rollout. Empty matches any kind.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z][A-Za-z0-9]*$')",message="remediation event involvedKind must be a Kubernetes kind, such as \"ReplicaSet\""
	InvolvedKind string `json:"involvedKind,omitempty"`

	// namePattern is the name of the Event's object, where * stands for
	// any characters, such as "checkout-*". Empty matches any name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$')",message="remediation event namePattern must be an object name where * stands for any characters (lowercase letters, digits, '-', '.' and '*'), such as \"checkout-*\""
	NamePattern string `json:"namePattern,omitempty"`
}

// RemediationCreatedKind is a kind of object whose creation can start
// remediation.
// +kubebuilder:validation:Enum=Pod;ReplicaSet;Job
type RemediationCreatedKind string

const (
	// RemediationCreatedPod is a core/v1 Pod.
	RemediationCreatedPod RemediationCreatedKind = "Pod"
	// RemediationCreatedReplicaSet is an apps/v1 ReplicaSet (a rollout or
	// rollback creating one).
	RemediationCreatedReplicaSet RemediationCreatedKind = "ReplicaSet"
	// RemediationCreatedJob is a batch/v1 Job (a remediation job).
	RemediationCreatedJob RemediationCreatedKind = "Job"
)

// RemediationCreated matches the creation of an object.
type RemediationCreated struct {
	// kind of the object: Pod, ReplicaSet or Job.
	// +required
	Kind RemediationCreatedKind `json:"kind"`

	// selector the object's labels must match. It must say something: an
	// empty selector would count any new object as remediation. The schema
	// bounds its size; the admission webhook checks its keys, values and
	// operators (per-element rules here would exceed the API server's
	// validation cost budget, inside a list of matchers).
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="remediation created.selector needs matchLabels or matchExpressions, such as {matchLabels: {app: checkout}}: an empty selector would count any new object"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || size(self.matchLabels) <= 16",message="remediation created.selector.matchLabels may have at most 16 labels"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || size(self.matchExpressions) <= 16",message="remediation created.selector.matchExpressions may have at most 16 expressions"
	Selector metav1.LabelSelector `json:"selector"`
}

// RemediationStatus says what started remediation, or why none was seen.
type RemediationStatus struct {
	// startedBy says what began it, such as "ReplicaSet shop/checkout-7d9
	// created pod checkout-7d9-x2k".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	StartedBy string `json:"startedBy,omitempty"`

	// rule is what made it count: "default for podKill", "default for
	// nodeDrain", or "remediation.matchers[i]".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Rule string `json:"rule,omitempty"`

	// notObserved says what was looked for and not seen, once the run
	// finished without remediation; or that none was declared.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	NotObserved string `json:"notObserved,omitempty"`
}
