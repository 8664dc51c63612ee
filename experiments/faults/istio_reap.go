package faults

// The reaper's entry: reverting an overdue Istio fault from the marks on the
// VirtualService alone.

import (
	"context"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ReapIstio reverts the fault on vs from its annotations alone, for the
// reaper (safety invariant 2, the dead-man switch): it finds VirtualServices
// marked by a run that is gone or whose expiry has passed, and has no status
// to read restore data from. Deciding that the fault is overdue is the
// caller's; ReapIstio reverts unconditionally.
//
// vs is the object as the reaper saw it. The fresh object is reverted only if
// it is still the same object marked by the same run: if another run took it
// over since, its fault is alive and not the reaper's to revert. changed
// reports whether anything was written. Routes another writer changed are
// left as they wrote them and reported in a *ConflictError; the marks are
// removed either way, so the reaper does not come back for them.
func ReapIstio(ctx context.Context, c versioned.Interface, vs *networkingv1.VirtualService) (changed bool, err error) {
	if vs == nil {
		return false, nil
	}
	run := vs.GetAnnotations()[chaosv1alpha1.RunAnnotation]
	if run == "" {
		return false, nil
	}
	return revertIstio(ctx, c, istioRevert{namespace: vs.Namespace, name: vs.Name, uid: vs.UID, run: run, needRestore: true})
}
