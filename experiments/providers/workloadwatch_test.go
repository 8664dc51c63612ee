package providers_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// watchClient returns a client that can watch the envtest API server, or
// skips t without one.
func watchClient(t *testing.T) client.WithWatch {
	t.Helper()
	if apiConfig == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver, and do not pass -short")
	}
	c, err := client.NewWithWatch(apiConfig, client.Options{Scheme: apiScheme})
	if err != nil {
		t.Fatalf("creating the watch client: %v", err)
	}
	return c
}

// webDeployment creates a namespace and a 3-replica Deployment "web" in
// it, all ready.
func webDeployment(t *testing.T, c client.Client) string {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "watch-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatalf("creating deployment: %v", err)
	}
	setReadyReplicas(t, c, ns.Name, 3)
	return ns.Name
}

// setReadyReplicas writes the Deployment's ready replicas through the
// status subresource, as the Deployment controller would, and returns the
// instants just before and just after the write.
func setReadyReplicas(t *testing.T, c client.Client, namespace string, ready int32) (before, after time.Time) {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: "web"}, dep); err != nil {
		t.Fatalf("reading deployment: %v", err)
	}
	dep.Status.Replicas, dep.Status.ReadyReplicas, dep.Status.AvailableReplicas = 3, ready, ready
	before = time.Now()
	if err := c.Status().Update(t.Context(), dep); err != nil {
		t.Fatalf("setting ready replicas to %d: %v", ready, err)
	}
	return before, time.Now()
}

var webProbe = chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web", MinReadyPercent: 100}

// waitForReadiness polls until the watches answer want, and returns when
// they say its pass/fail state began.
func waitForReadiness(t *testing.T, ws *providers.WorkloadWatches, namespace string, want float64) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		v, since, err := ws.Readiness(t.Context(), namespace, webProbe)
		if err == nil && fmt.Sprintf("%.1f", v) == fmt.Sprintf("%.1f", want) {
			return since
		}
		lastErr = err
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the watches never answered %.1f%% ready (last error %v)", want, lastErr)
	return time.Time{}
}

// within checks that a dated change lies between the write that made it
// and 50ms after that write returned.
func within(t *testing.T, what string, since, before, after time.Time) {
	t.Helper()
	if since.IsZero() || since.Before(before) || since.After(after.Add(50*time.Millisecond)) {
		t.Errorf("%s dated %s after the write began (the write took %s), want within it and 50ms after", what, since.Sub(before), after.Sub(before))
	}
}

// TestWorkloadWatchesDateReadinessChanges: the watch dates each change of
// the probe's pass/fail state by the moment the API server reported it.
func TestWorkloadWatchesDateReadinessChanges(t *testing.T) {
	c := watchClient(t)
	ns := webDeployment(t, c)
	goroutines := runtime.NumGoroutine()
	ws := providers.NewWorkloadWatches(c, clock.RealClock{})

	if since := waitForReadiness(t, ws, ns, 100); !since.IsZero() {
		t.Errorf("the state seen by the first list is dated %s; it began before the watch, so it must be undated", since)
	}

	before, after := setReadyReplicas(t, c, ns, 2)
	notReady := waitForReadiness(t, ws, ns, 200.0/3)
	within(t, "not ready", notReady, before, after)

	// Still failing: the state began at the first failing change, not this one.
	setReadyReplicas(t, c, ns, 1)
	if since := waitForReadiness(t, ws, ns, 100.0/3); !since.Equal(notReady) {
		t.Errorf("a further drop re-dated the failing state: %s, want %s", since.Sub(notReady), time.Duration(0))
	}

	time.Sleep(300 * time.Millisecond)
	before, after = setReadyReplicas(t, c, ns, 3)
	ready := waitForReadiness(t, ws, ns, 100)
	within(t, "ready again", ready, before, after)
	t.Logf("not ready for %s by the watch", ready.Sub(notReady))

	closeWithin(t, ws)
	if _, _, err := ws.Readiness(t.Context(), ns, webProbe); err == nil {
		t.Error("closed watches still answer")
	}
	// Close waits for its goroutines; nothing else may be left running.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after Close, %d before the watches started", n, goroutines)
	}
}

func closeWithin(t *testing.T, ws *providers.WorkloadWatches) {
	t.Helper()
	done := make(chan struct{})
	go func() { ws.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: a watch goroutine is still running")
	}
}

// failingWatches fails the first watches it is asked for: one with an
// error, one that reports an error event and ends.
type failingWatches struct {
	client.WithWatch
	calls atomic.Int32
}

func (f *failingWatches) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	switch f.calls.Add(1) {
	case 1:
		return nil, errors.New("connection reset by peer")
	case 2:
		w := watch.NewFakeWithChanSize(1, false)
		w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 500, Reason: metav1.StatusReasonInternalError, Message: "etcd leader changed"})
		w.Stop()
		return w, nil
	}
	return f.WithWatch.Watch(ctx, list, opts...)
}

// TestWorkloadWatchesReconnectAfterErrors: a watch that fails, or ends on
// an error event, lists and watches again, and dates the changes after.
func TestWorkloadWatchesReconnectAfterErrors(t *testing.T) {
	c := watchClient(t)
	ns := webDeployment(t, c)
	flaky := &failingWatches{WithWatch: c}
	ws := providers.NewWorkloadWatches(flaky, clock.RealClock{})
	defer closeWithin(t, ws)

	waitForReadiness(t, ws, ns, 100)
	// Wait until the third watch, the first that works, is open.
	deadline := time.Now().Add(10 * time.Second)
	for flaky.calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := flaky.calls.Load(); n < 3 {
		t.Fatalf("%d watches opened, want a third after the two failures", n)
	}
	time.Sleep(100 * time.Millisecond)
	before, after := setReadyReplicas(t, c, ns, 1)
	within(t, "not ready after reconnecting", waitForReadiness(t, ws, ns, 100.0/3), before, after)
}
