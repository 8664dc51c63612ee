package harness

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// Create creates obj and deletes it when the test ends.
func (t *Testbed) Create(tt testing.TB, obj client.Object) {
	tt.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := t.Client.Create(ctx, obj); err != nil {
		tt.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	tt.Cleanup(func() {
		// The test's context is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := t.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			tt.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// StartRun creates an ExperimentRun of exp (named after it) and returns it.
func (t *Testbed) StartRun(tt testing.TB, exp *chaosv1alpha1.Experiment) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, GenerateName: exp.Name + "-"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
	}
	t.Create(tt, run)
	return run
}

// WaitRunCompleted waits until run reaches phase Completed and returns it as
// it is then, with its verdict and report. The test fails on timeout,
// showing the phase and message the run was stuck at.
func (t *Testbed) WaitRunCompleted(tt testing.TB, run *chaosv1alpha1.ExperimentRun, timeout time.Duration) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	got := &chaosv1alpha1.ExperimentRun{}
	WaitFor(tt, timeout, "run "+run.Name+" to complete", func(ctx context.Context) (bool, error) {
		if err := t.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		if got.Status.Phase != chaosv1alpha1.PhaseCompleted {
			return false, fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
		}
		return true, nil
	})
	return got
}

// RunExperiment creates exp (deleted when the test ends), runs it once and
// returns the completed run.
func (t *Testbed) RunExperiment(tt testing.TB, exp *chaosv1alpha1.Experiment, timeout time.Duration) *chaosv1alpha1.ExperimentRun {
	tt.Helper()
	t.Create(tt, exp)
	return t.WaitRunCompleted(tt, t.StartRun(tt, exp), timeout)
}

// Within reports whether got is within tolerance of want.
func Within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance
}

// IsNotFound is apierrors.IsNotFound, shorter in conditions.
func IsNotFound(err error) bool { return apierrors.IsNotFound(err) }
