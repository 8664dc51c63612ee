package webhooks

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// readTimeout bounds each read the webhooks make: the API server gives a
// webhook timeoutSeconds in all, and a slow read must end in a clear
// "try again" rather than in the API server's own timeout.
const readTimeout = 3 * time.Second

// malformedError means the stored ChaosPolicy exists but cannot be decoded
// into its Go type (it was stored before the schema or the webhook refused
// what it holds). Experiments use stored.MalformedError.
type malformedError struct {
	kind string
	key  client.ObjectKey
	err  error
}

func (e *malformedError) Error() string {
	return fmt.Sprintf("stored %s %s cannot be read: %v", e.kind, e.key, e.err)
}

func (e *malformedError) Unwrap() error { return e.err }

// getStored reads the object key of kind live from the API server as
// unstructured and converts it to out. Reading unstructured keeps a
// malformed object a *malformedError about that object instead of a
// decoding failure inside the client.
func getStored(ctx context.Context, r client.Reader, kind string, key client.ObjectKey, out any) error {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind(kind))
	if err := r.Get(ctx, key, u); err != nil {
		return err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return &malformedError{kind: kind, key: key, err: err}
	}
	return nil
}

// getExperiment reads an Experiment live, as unstructured, so one that
// cannot be decoded is a *stored.MalformedError about that object.
func getExperiment(ctx context.Context, r client.Reader, key client.ObjectKey) (*chaosv1alpha1.Experiment, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return stored.GetExperiment(ctx, r, key)
}

// getPolicy reads the ChaosPolicy named default live; see getStored.
func getPolicy(ctx context.Context, r client.Reader) (*chaosv1alpha1.ChaosPolicy, error) {
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := getStored(ctx, r, "ChaosPolicy", client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
		return nil, err
	}
	return p, nil
}
