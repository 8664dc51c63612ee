package webhooks

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// readTimeout bounds each read the webhooks make: the API server gives a
// webhook timeoutSeconds in all, and a slow read must end in a clear
// "try again" rather than in the API server's own timeout.
const readTimeout = 3 * time.Second

// getExperiment reads an Experiment live, as unstructured, so one that
// cannot be decoded is a *stored.MalformedError about that object.
func getExperiment(ctx context.Context, r client.Reader, key client.ObjectKey) (*chaosv1alpha1.Experiment, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return stored.GetExperiment(ctx, r, key)
}

// getPolicy reads the ChaosPolicy named default live, by the one reader
// (stored.GetPolicy): nil when there is none, a *stored.MalformedError when
// it cannot be decoded.
func getPolicy(ctx context.Context, r client.Reader) (*chaosv1alpha1.ChaosPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return stored.GetPolicy(ctx, r)
}
