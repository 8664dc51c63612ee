package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The faults an Experiment may inject, one per Experiment.

// PodKillMethod says how a pod is killed.
// +kubebuilder:validation:Enum=Delete;Evict
type PodKillMethod string

const (
	// PodKillDelete deletes the pod, ignoring PodDisruptionBudgets.
	PodKillDelete PodKillMethod = "Delete"
	// PodKillEvict evicts the pod through the Eviction API, which respects
	// PodDisruptionBudgets: a blocked eviction is reported, never forced.
	PodKillEvict PodKillMethod = "Evict"
)

// PodKillFault kills the target pods once; their controllers replace them.
type PodKillFault struct {
	// gracePeriodSeconds given to each pod, 0 to 3600. Defaults to the pod's own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// method is Delete (default) or Evict (through the Eviction API, respecting
	// PodDisruptionBudgets).
	// +optional
	// +kubebuilder:default=Delete
	Method PodKillMethod `json:"method,omitempty"`
}

// IstioDelay delays a share of requests.
type IstioDelay struct {
	// fixedDelay added to each affected request, 1ms to 1h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1ms') && duration(self) <= duration('1h')",message="fault.istio.delay.fixedDelay must be a duration between 1ms and 1h, such as \"2s\""
	FixedDelay metav1.Duration `json:"fixedDelay"`

	// percent of requests delayed, 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
}

// IstioAbort fails a share of requests with an HTTP status.
type IstioAbort struct {
	// httpStatus returned to affected requests.
	// +required
	// +kubebuilder:validation:Minimum=200
	// +kubebuilder:validation:Maximum=599
	HTTPStatus int32 `json:"httpStatus"`

	// percent of requests aborted, 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
}

// IstioMatch narrows an Istio fault to a slice of traffic. Faultline inserts
// a copy of each targeted route, with this match added and the fault set,
// ahead of the original, so only the slice is hurt.
// +kubebuilder:validation:XValidation:rule="(has(self.headers) && size(self.headers) > 0) || (has(self.sourceLabels) && size(self.sourceLabels) > 0)",message="fault.istio.match needs headers or sourceLabels, such as {headers: {x-chaos: \"true\"}}"
type IstioMatch struct {
	// headers that a request must carry, with exact values: names of 1 to
	// 256 characters, values of at most 1024.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() > 0 && k.size() <= 256 && self[k].size() <= 1024)",message="fault.istio.match.headers names must be 1 to 256 characters and values at most 1024, such as {x-chaos: \"true\"}"
	Headers map[string]string `json:"headers,omitempty"`

	// sourceLabels that the calling workload must carry, as label keys and
	// values.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$') && self[k].size() <= 63)",message="fault.istio.match.sourceLabels must be label keys with values of at most 63 characters, such as {app: frontend}"
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
}

// IstioFault sets a delay and/or abort on http routes of VirtualServices.
// +kubebuilder:validation:XValidation:rule="has(self.delay) || has(self.abort)",message="fault.istio needs a delay, an abort or both"
type IstioFault struct {
	// routes are the names of the http routes to hurt. Empty means every http route.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Routes []string `json:"routes,omitempty"`

	// delay added to a share of requests.
	// +optional
	Delay *IstioDelay `json:"delay,omitempty"`

	// abort fails a share of requests.
	// +optional
	Abort *IstioAbort `json:"abort,omitempty"`

	// match narrows the fault to a slice of traffic.
	// +optional
	Match *IstioMatch `json:"match,omitempty"`
}

// EmptyDirPolicy says what a node drain does with pods that use emptyDir
// volumes, whose data is lost on eviction.
// +kubebuilder:validation:Enum=Skip;Evict
type EmptyDirPolicy string

const (
	// EmptyDirSkip leaves pods with emptyDir volumes on the node.
	EmptyDirSkip EmptyDirPolicy = "Skip"
	// EmptyDirEvict evicts them too, losing their emptyDir data.
	EmptyDirEvict EmptyDirPolicy = "Evict"
)

// NodeDrainFault cordons the target nodes and evicts their pods, then
// uncordons the nodes after the experiment's duration.
type NodeDrainFault struct {
	// gracePeriodSeconds given to each evicted pod, 0 to 3600. Defaults to the
	// pod's own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// timeout for evictions blocked by PodDisruptionBudgets; when it passes,
	// the drain stops and the run reports what blocked it. 1s to 24h.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}([.][0-9]{1,9})?h|[0-9]{1,7}([.][0-9]{1,9})?m|[0-9]{1,7}([.][0-9]{1,9})?s|[0-9]{1,10}([.][0-9]{1,9})?(ms|us|µs|μs|ns))+)$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="fault.nodeDrain.timeout must be a duration between 1s and 24h, such as \"5m\""
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// emptyDir says whether pods with emptyDir volumes are evicted (Evict) or
	// left in place (Skip, the default).
	// +optional
	// +kubebuilder:default=Skip
	EmptyDir EmptyDirPolicy `json:"emptyDir,omitempty"`
}

// FaultSpec is the one fault a run injects.
// +kubebuilder:validation:XValidation:rule="[has(self.podKill), has(self.istio), has(self.nodeDrain)].filter(x, x).size() == 1",message="fault must set exactly one of podKill, istio or nodeDrain"
type FaultSpec struct {
	// podKill kills pods.
	// +optional
	PodKill *PodKillFault `json:"podKill,omitempty"`

	// istio injects delay and abort into VirtualService http routes.
	// +optional
	Istio *IstioFault `json:"istio,omitempty"`

	// nodeDrain cordons and drains nodes.
	// +optional
	NodeDrain *NodeDrainFault `json:"nodeDrain,omitempty"`
}
