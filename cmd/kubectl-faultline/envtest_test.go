package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// apiServer is a real etcd and kube-apiserver with Faultline's CRDs, and no
// operator: the test plays the operator. Nil without KUBEBUILDER_ASSETS.
var apiServer struct {
	client     client.Client
	kubeconfig []byte
}

// TestMain starts envtest once for the package when KUBEBUILDER_ASSETS names
// the control-plane binaries (make envtest sets it); the other tests use the
// fake client and run either way.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		apiServer.client = e.Client
		// The plugin connects through a kubeconfig file, as it does for
		// users, so the test covers --kubeconfig and -n too.
		user, err := e.Environment.AddUser(envtest.User{Name: "pipeline", Groups: []string{"system:masters"}}, e.Config)
		if err != nil {
			return fmt.Errorf("adding a user: %w", err)
		}
		if apiServer.kubeconfig, err = user.KubeConfig(); err != nil {
			return fmt.Errorf("writing a kubeconfig: %w", err)
		}
		return nil
	}))
}

func needAPIServer(t *testing.T) client.Client {
	t.Helper()
	if apiServer.client == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (make envtest does), and do not pass -short")
	}
	return apiServer.client
}

// TestRunWaitAgainstAnAPIServer is what a CD pipeline does: `run --wait`
// against a real API server, through a kubeconfig, while the operator (here,
// the test) drives the run to a Passed verdict.
func TestRunWaitAgainstAnAPIServer(t *testing.T) {
	c := needAPIServer(t)
	ctx := t.Context()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pipeline-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "chaos_v1alpha1_experiment_podkill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var exp chaosv1alpha1.Experiment
	if err := yaml.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	exp.Namespace = ns.Name
	if err := c.Create(ctx, &exp); err != nil {
		t.Fatalf("creating the sample Experiment: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, apiServer.kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	junitFile := filepath.Join(t.TempDir(), "faultline.xml")

	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	a := newApp(stdout, stderr, make(chan os.Signal))
	done := make(chan int, 1)
	go func() {
		done <- a.execute(ctx, []string{"run", exp.Name, "--wait", "--timeout", "1m",
			"--kubeconfig", kubeconfig, "-n", ns.Name, "--junit-file", junitFile})
	}()

	// Play the operator: find the run, then move it through its phases.
	var run chaosv1alpha1.ExperimentRun
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list chaosv1alpha1.ExperimentRunList
		if err := c.List(ctx, &list, client.InNamespace(ns.Name)); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			run = list.Items[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run was created\nstderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if run.Spec.ExperimentRef.Name != exp.Name || run.Labels[chaosv1alpha1.ExperimentLabel] != exp.Name {
		t.Errorf("run %s refers to %q with label %q, want %q", run.Name, run.Spec.ExperimentRef.Name, run.Labels[chaosv1alpha1.ExperimentLabel], exp.Name)
	}
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	steps := []chaosv1alpha1.ExperimentRunStatus{
		{Phase: chaosv1alpha1.PhaseBaseline, Message: "verifying the steady state before touching anything",
			Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0)}},
		{Phase: chaosv1alpha1.PhaseObserving, Message: "fault injected into 1 target(s); observing",
			Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0), InjectedAt: micro(t0.Add(5 * time.Second))}},
		{Phase: chaosv1alpha1.PhaseCompleted, Verdict: chaosv1alpha1.VerdictPassed, Message: "Passed: recovered 7.5s after injection",
			Timeline: chaosv1alpha1.Timeline{StartedAt: micro(t0), InjectedAt: micro(t0.Add(5 * time.Second)),
				DeviatedAt: micro(t0.Add(6 * time.Second)), RecoveredAt: micro(t0.Add(12500 * time.Millisecond)), FinishedAt: micro(t0.Add(15 * time.Second))},
			Result: &chaosv1alpha1.RunResult{
				TimeToDetect:  &metav1.Duration{Duration: time.Second},
				DetectedBy:    chaosv1alpha1.DetectedByProbe,
				TimeToRecover: &metav1.Duration{Duration: 7500 * time.Millisecond},
				Objectives: []chaosv1alpha1.ObjectiveResult{
					{Name: "detectWithin", Target: metav1.Duration{Duration: 10 * time.Second}, Measured: &metav1.Duration{Duration: time.Second}, Status: chaosv1alpha1.ObjectiveMet},
					{Name: "recoverWithin", Target: metav1.Duration{Duration: 30 * time.Second}, Measured: &metav1.Duration{Duration: 7500 * time.Millisecond}, Status: chaosv1alpha1.ObjectiveMet},
				},
			}},
	}
	for _, st := range steps {
		// A moment between steps, as between reconciles: the plugin must
		// follow the run as it changes, not just read its final state.
		time.Sleep(200 * time.Millisecond)
		if err := c.Get(ctx, client.ObjectKeyFromObject(&run), &run); err != nil {
			t.Fatal(err)
		}
		run.Status = st
		if err := c.Status().Update(ctx, &run); err != nil {
			t.Fatalf("writing status %s: %v", st.Phase, err)
		}
	}

	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("run --wait did not return after the run completed\nstderr:\n%s", stderr.String())
	}
	if code != exitPassed {
		t.Fatalf("exit code %d, want 0\nstderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"Baseline    verifying", "Observing   fault injected", "Completed   Passed: recovered 7.5s"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress does not show %q:\n%s", want, stderr.String())
		}
	}
	for _, want := range []string{"Run           " + ns.Name + "/" + run.Name, "Verdict       Passed", "Time to recover     7.5s"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report does not contain %q:\n%s", want, stdout.String())
		}
	}
	if data, err := os.ReadFile(junitFile); err != nil || !strings.Contains(string(data), `failures="0"`) {
		t.Errorf("JUnit file missing or not passing (%v):\n%s", err, data)
	}
}
