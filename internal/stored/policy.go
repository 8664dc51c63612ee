package stored

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// PolicyGVK is the ChaosPolicy's kind.
var PolicyGVK = chaosv1alpha1.GroupVersion.WithKind("ChaosPolicy")

// NewPolicy is an empty unstructured ChaosPolicy, for watching and reading
// it without the typed informer, which one undecodable policy would stop.
func NewPolicy() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(PolicyGVK)
	return u
}

// GetPolicy reads the ChaosPolicy Faultline obeys, the one named default,
// through r as unstructured, and is the one reader of it: the admission
// webhooks and every controller ask here, so what a missing or unreadable
// policy means is decided once.
//
//   - absent: (nil, nil). The defaults of experiments/policy apply: no
//     provider address is allowed (so no Prometheus probe can run), only
//     namespaces labelled chaos.faultline.dev/enabled=true are targeted,
//     kube-system and the operator's namespace are protected, and there is
//     no kill switch to honour. A cluster that means to run chaos creates
//     one (the Helm chart does).
//   - stored but not decodable (written before the schema checked what it
//     holds): a *MalformedError naming the field. Callers treat it as
//     allowing nothing: admission allows no provider, runs are held and
//     active ones aborted (PolicyOrHold), since a policy that cannot be read
//     may be holding the kill switch.
//   - any other read error is returned as r gave it, for a retry.
func GetPolicy(ctx context.Context, r client.Reader) (*chaosv1alpha1.ChaosPolicy, error) {
	p, err := get[chaosv1alpha1.ChaosPolicy](ctx, r, PolicyGVK, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return p, err
}

// PolicyOrHold is GetPolicy for the controllers: a policy that cannot be
// decoded reads as one whose kill switch is on, so no run starts and every
// active run is aborted and reverted until an administrator fixes it; the
// returned note says why, for run messages.
func PolicyOrHold(ctx context.Context, r client.Reader) (p *chaosv1alpha1.ChaosPolicy, note string, err error) {
	p, err = GetPolicy(ctx, r)
	if malformed, ok := errors.AsType[*MalformedError](err); ok {
		held := &chaosv1alpha1.ChaosPolicy{Spec: chaosv1alpha1.ChaosPolicySpec{Paused: true}}
		held.Name = chaosv1alpha1.DefaultPolicyName
		return held, fmt.Sprintf("the ChaosPolicy %s cannot be read (%v), so Faultline holds every run as if its kill switch were on: fix that field", chaosv1alpha1.DefaultPolicyName, malformed.Err), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading ChaosPolicy %s: %w", chaosv1alpha1.DefaultPolicyName, err)
	}
	return p, "", nil
}
