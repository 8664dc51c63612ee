package faults

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// What a drain records of a node, kept within the bounds the run's status
// has room for.

// recordEvicted adds pod to r's evicted pods, once.
func recordEvicted(r *chaosv1alpha1.NodeRestore, pod *corev1.Pod) {
	if slices.ContainsFunc(r.EvictedPods, func(e chaosv1alpha1.EvictedPod) bool {
		return e.Namespace == pod.Namespace && e.Name == pod.Name
	}) {
		return
	}
	if len(r.EvictedPods) >= chaosv1alpha1.MaxRecordedEvictedPods {
		// The status has room for so many; the rest are counted, so a
		// drain of a node running thousands of pods still records.
		r.EvictedPodsOmitted++
		return
	}
	evicted := chaosv1alpha1.EvictedPod{Namespace: pod.Namespace, Name: pod.Name}
	if owner := metav1.GetControllerOf(pod); owner != nil {
		evicted.OwnerKind, evicted.OwnerName = owner.Kind, owner.Name
	}
	r.EvictedPods = append(r.EvictedPods, evicted)
}

// capNames keeps the first max names and counts the rest.
func capNames(names []string, limit int) ([]string, int32) {
	if len(names) <= limit {
		return names, 0
	}
	return names[:limit], int32(len(names) - limit) //nolint:gosec // bounded by the pods on one node
}
