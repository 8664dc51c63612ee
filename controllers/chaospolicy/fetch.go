package chaospolicy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Get returns the ChaosPolicy the operator obeys, or nil when there is none.
// Every controller and the target selector read it here, so "which policy,
// and what does its absence mean" is decided once: absent means the
// defaults of experiments/policy, never "no rules".
func Get(ctx context.Context, c client.Reader) (*chaosv1alpha1.ChaosPolicy, error) {
	p := &chaosv1alpha1.ChaosPolicy{}
	err := c.Get(ctx, client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ChaosPolicy %s: %w", chaosv1alpha1.DefaultPolicyName, err)
	}
	return p, nil
}
