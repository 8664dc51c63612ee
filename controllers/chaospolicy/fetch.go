package chaospolicy

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// Get returns the ChaosPolicy the operator obeys, or nil when there is none,
// by the one reader (stored.GetPolicy, which says what absence means). A
// stored policy that cannot be decoded reads as one whose kill switch is
// on, with the reason in its pause-reason annotation: it may be holding
// the kill switch, so nothing starts and every active run is reverted until
// it is fixed.
func Get(ctx context.Context, c client.Reader) (*chaosv1alpha1.ChaosPolicy, error) {
	p, note, err := stored.PolicyOrHold(ctx, c)
	if err != nil || note == "" {
		return p, err
	}
	p.Annotations = map[string]string{chaosv1alpha1.PauseReasonAnnotation: note}
	return p, nil
}
