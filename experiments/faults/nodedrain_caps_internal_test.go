package faults

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestADrainedNodesRecordStaysWithinItsBounds(t *testing.T) {
	r := &chaosv1alpha1.NodeRestore{}
	extra := 7
	for i := range chaosv1alpha1.MaxRecordedEvictedPods + extra {
		recordEvicted(r, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i)}})
	}
	if len(r.EvictedPods) != chaosv1alpha1.MaxRecordedEvictedPods || r.EvictedPodsOmitted != int32(extra) {
		t.Errorf("evicted %d listed, %d omitted; want %d and %d", len(r.EvictedPods), r.EvictedPodsOmitted, chaosv1alpha1.MaxRecordedEvictedPods, extra)
	}

	names := make([]string, chaosv1alpha1.MaxRecordedNodePods+extra)
	for i := range names {
		names[i] = fmt.Sprintf("shop/web-%d", i)
	}
	kept, omitted := capNames(names, chaosv1alpha1.MaxRecordedNodePods)
	if len(kept) != chaosv1alpha1.MaxRecordedNodePods || omitted != int32(extra) || kept[0] != "shop/web-0" {
		t.Errorf("kept %d (first %q), omitted %d; want the first %d and %d", len(kept), kept[0], omitted, chaosv1alpha1.MaxRecordedNodePods, extra)
	}
	if kept, omitted := capNames(names[:3], chaosv1alpha1.MaxRecordedNodePods); len(kept) != 3 || omitted != 0 {
		t.Errorf("3 names: kept %d, omitted %d; want all and none", len(kept), omitted)
	}
}
