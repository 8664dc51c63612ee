package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A run's targets: what it acts on, and what revert needs to undo, written
// to status before anything is injected.

// TargetPhase is the state of one target.
// +kubebuilder:validation:Enum=Selected;Injected;Reverted;Failed;Conflict
type TargetPhase string

const (
	// TargetSelected means recorded, the fault not yet applied.
	TargetSelected TargetPhase = "Selected"
	// TargetInjected means the fault is applied.
	TargetInjected TargetPhase = "Injected"
	// TargetReverted means the fault is undone (or needed no undoing).
	TargetReverted TargetPhase = "Reverted"
	// TargetFailed means the fault could not be applied; nothing is left to undo.
	TargetFailed TargetPhase = "Failed"
	// TargetConflict means another writer changed what Faultline set; it was left
	// as they wrote it.
	TargetConflict TargetPhase = "Conflict"
)

// IstioRouteRestore is what Faultline changed in one http route, and how to undo it.
type IstioRouteRestore struct {
	// name of the targeted http route.
	// +required
	Name string `json:"name"`

	// insertedRoute is the name of the route Faultline inserted ahead of the
	// original (scoped faults); removing it undoes the fault.
	// +optional
	InsertedRoute string `json:"insertedRoute,omitempty"`

	// originalFault is the route's fault before injection, as JSON; empty when
	// it had none.
	// +optional
	OriginalFault string `json:"originalFault,omitempty"`

	// injectedFault is the fault Faultline set, as JSON; revert only restores
	// the route while its fault is still exactly this.
	// +optional
	InjectedFault string `json:"injectedFault,omitempty"`
}

// IstioRestore records the routes a fault changed in one VirtualService.
type IstioRestore struct {
	// routes changed.
	// +optional
	// +listType=atomic
	Routes []IstioRouteRestore `json:"routes,omitempty"`
}

// EvictedPod is a pod a node drain evicted.
type EvictedPod struct {
	// namespace of the pod.
	// +required
	Namespace string `json:"namespace"`
	// name of the pod.
	// +required
	Name string `json:"name"`
	// ownerKind is the kind of the pod's controller, such as ReplicaSet.
	// +optional
	OwnerKind string `json:"ownerKind,omitempty"`
	// ownerName is the name of the pod's controller.
	// +optional
	OwnerName string `json:"ownerName,omitempty"`
}

// NodeRestore records what a drain changed on one node.
type NodeRestore struct {
	// wasUnschedulable records whether the node was already cordoned; such a
	// node is left cordoned.
	// +optional
	WasUnschedulable bool `json:"wasUnschedulable,omitempty"`

	// evictedPods are the pods the drain evicted, at most
	// MaxRecordedEvictedPods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	EvictedPods []EvictedPod `json:"evictedPods,omitempty"`

	// evictedPodsOmitted counts the evicted pods beyond evictedPods.
	// +optional
	EvictedPodsOmitted int32 `json:"evictedPodsOmitted,omitempty"`

	// sparedPods are pods the drain left on the cordoned node because their
	// namespace may not be targeted (protected or not enabled), as
	// namespace/name, at most MaxRecordedNodePods. The ChaosPolicy's
	// drainScope AllNamespaces evicts them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:MaxLength=317
	SparedPods []string `json:"sparedPods,omitempty"`

	// sparedPodsOmitted counts the spared pods beyond sparedPods.
	// +optional
	SparedPodsOmitted int32 `json:"sparedPodsOmitted,omitempty"`

	// blockedPods are pods whose eviction a PodDisruptionBudget kept refusing
	// until the drain timed out, as namespace/name, at most
	// MaxRecordedNodePods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:MaxLength=317
	BlockedPods []string `json:"blockedPods,omitempty"`

	// blockedPodsOmitted counts the blocked pods beyond blockedPods.
	// +optional
	BlockedPodsOmitted int32 `json:"blockedPodsOmitted,omitempty"`
}

// RestoreData is what revert needs to undo the fault on one target. It is
// written to status before the fault is applied.
type RestoreData struct {
	// istio records changed routes.
	// +optional
	Istio *IstioRestore `json:"istio,omitempty"`

	// node records a drained node.
	// +optional
	Node *NodeRestore `json:"node,omitempty"`
}

// TargetStatus is one object the run acts on.
type TargetStatus struct {
	// kind of the target.
	// +required
	Kind TargetKind `json:"kind"`

	// namespace of the target; empty for Nodes.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// name of the target.
	// +required
	Name string `json:"name"`

	// uid of the target when it was selected.
	// +optional
	UID types.UID `json:"uid,omitempty"`

	// resourceVersion of the target when it was selected. A pod kill acts
	// only on that version in one request; a pod that changed since (one
	// that began terminating, say) is read again before it is killed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ResourceVersion string `json:"resourceVersion,omitempty"`

	// ownerKind is the kind of a pod target's workload: its controller, or
	// the Deployment of its ReplicaSet. Empty for a bare pod. A replacement
	// pod of the same workload starts remediation.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	OwnerKind string `json:"ownerKind,omitempty"`

	// ownerName is the name of that workload.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	OwnerName string `json:"ownerName,omitempty"`

	// phase of the target.
	// +required
	Phase TargetPhase `json:"phase"`

	// injectedAt is when the fault was applied to it.
	// +optional
	InjectedAt *metav1.MicroTime `json:"injectedAt,omitempty"`

	// revertedAt is when the fault was undone on it.
	// +optional
	RevertedAt *metav1.MicroTime `json:"revertedAt,omitempty"`

	// message explains a failure or conflict.
	// +optional
	Message string `json:"message,omitempty"`

	// restore is what revert needs.
	// +optional
	Restore *RestoreData `json:"restore,omitempty"`
}
