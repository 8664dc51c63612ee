package providers

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// ErrWorkloadNotFound means the workload a probe names does not exist, which
// is a mistake in the Experiment (or a deleted workload), not a readiness of 0%.
var ErrWorkloadNotFound = errors.New("workload does not exist")

// WorkloadReadiness returns the percentage, 0 to 100, of w's desired replicas
// that are ready. w.Namespace defaults to namespace. Whether that is enough
// (minReadyPercent) is the Sampler's call, through WorkloadHypothesis.
//
//   - Deployment and StatefulSet: status.readyReplicas of spec.replicas
//     (nil replicas counts as 1, the API's default).
//   - DaemonSet: status.numberReady of status.desiredNumberScheduled.
//
// No desired replicas is 100%: nothing is missing.
//
// The figure is computed even while status.observedGeneration lags the
// generation (the controller has not caught up with a spec change): the
// ready count is still true, and the desired count comes from the spec, so a
// scale-up reads low until the new pods are ready. A lag can thus only make
// the probe fail early, never pass a workload that is short of pods, and a
// probe that answered "unknown" instead would stall runs during every
// rollout. The result is capped at 100% because a rollout's surge pods, or a
// scale-down in progress, can put more ready pods than desired.
func WorkloadReadiness(ctx context.Context, c client.Reader, namespace string, w chaosv1alpha1.WorkloadProbe) (float64, error) {
	if w.Namespace != "" {
		namespace = w.Namespace
	}
	key := types.NamespacedName{Namespace: namespace, Name: w.Name}

	var ready, desired int32
	switch w.Kind {
	case chaosv1alpha1.WorkloadDeployment:
		var deployment appsv1.Deployment
		if err := getWorkload(ctx, c, w.Kind, key, &deployment); err != nil {
			return 0, err
		}
		ready, desired = deployment.Status.ReadyReplicas, replicasOrDefault(deployment.Spec.Replicas)
	case chaosv1alpha1.WorkloadStatefulSet:
		var statefulSet appsv1.StatefulSet
		if err := getWorkload(ctx, c, w.Kind, key, &statefulSet); err != nil {
			return 0, err
		}
		ready, desired = statefulSet.Status.ReadyReplicas, replicasOrDefault(statefulSet.Spec.Replicas)
	case chaosv1alpha1.WorkloadDaemonSet:
		var daemonSet appsv1.DaemonSet
		if err := getWorkload(ctx, c, w.Kind, key, &daemonSet); err != nil {
			return 0, err
		}
		ready, desired = daemonSet.Status.NumberReady, daemonSet.Status.DesiredNumberScheduled
	default:
		return 0, fmt.Errorf("workload kind %q is not Deployment, StatefulSet or DaemonSet", w.Kind)
	}
	return readyPercent(ready, desired), nil
}

func getWorkload(ctx context.Context, c client.Reader, kind chaosv1alpha1.WorkloadKind, key types.NamespacedName, obj client.Object) error {
	err := c.Get(ctx, key, obj)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s %s", ErrWorkloadNotFound, kind, key)
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", kind, key, err)
	}
	return nil
}

func replicasOrDefault(replicas *int32) int32 {
	if replicas == nil {
		return 1
	}
	return *replicas
}

func readyPercent(ready, desired int32) float64 {
	if desired <= 0 {
		return 100
	}
	return min(100, 100*float64(ready)/float64(desired))
}
