package gitops

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// apiServer is a real etcd and kube-apiserver with Faultline's CRDs and no
// operator: the tests write run statuses the way the operator does. Its
// client is nil without KUBEBUILDER_ASSETS.
var apiServer struct {
	client     client.Client
	kubeconfig []byte
}

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		apiServer.client = e.Client
		user, err := e.Environment.AddUser(envtest.User{Name: "pipeline", Groups: []string{"system:masters"}}, e.Config)
		if err != nil {
			return err
		}
		apiServer.kubeconfig, err = user.KubeConfig()
		return err
	}))
}

func needAPIServer(t *testing.T) client.Client {
	t.Helper()
	if apiServer.client == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (hack/tools.sh --print-k8s-dir), and do not pass -short")
	}
	return apiServer.client
}

// namespace creates a namespace of the test's own.
func namespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gitops-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// createRun creates a run and, unless st is nil, writes st as its status
// through the status subresource, as the operator does.
func createRun(t *testing.T, c client.Client, ns, name string, st *chaosv1alpha1.ExperimentRunStatus) *chaosv1alpha1.ExperimentRun {
	t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
	}
	if err := c.Create(t.Context(), run); err != nil {
		t.Fatalf("creating run %s: %v", name, err)
	}
	if st != nil {
		writeStatus(t, c, run, st)
	}
	return run
}

func writeStatus(t *testing.T, c client.Client, run *chaosv1alpha1.ExperimentRun, st *chaosv1alpha1.ExperimentRunStatus) {
	t.Helper()
	run.Status = *st.DeepCopy()
	run.Status.ObservedGeneration = run.Generation
	if err := c.Status().Update(t.Context(), run); err != nil {
		t.Fatalf("writing the status of run %s: %v", run.Name, err)
	}
}

// TestHealthOfRunsServedByTheAPIServer judges runs as the API server serves
// them, CRD defaults and serialization included: a run the operator has not
// seen must read as in progress to every tool, not as current.
func TestHealthOfRunsServedByTheAPIServer(t *testing.T) {
	c := needAPIServer(t)
	ns := namespace(t, c)
	argo := loadArgoCDHealth(t)
	flux := loadFluxHealth(t)
	for i, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			run := createRun(t, c, ns, "run-"+string(rune('a'+i)), f.status)
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentRun"))
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(run), u); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); !ok {
				t.Errorf("the API server serves the run without status.observedGeneration: %v", u.Object["status"])
			}
			if got := kstatusOf(t, u.Object); got != f.want.kstatus {
				t.Errorf("kstatus = %s, want %s", got, f.want.kstatus)
			}
			if got, _ := argo(t, u.Object); got != f.want.argo {
				t.Errorf("Argo CD health = %s, want %s", got, f.want.argo)
			}
			if got := flux(t, u.Object); got != f.want.flux {
				t.Errorf("Flux health = %s, want %s", got, f.want.flux)
			}
		})
	}
}

// TestWaitForRunScript runs config/gitops/wait-for-run.sh, the kubectl
// recipe of the README, with the real kubectl against the API server: it
// waits while the run is in progress, and once the verdict is written it
// ends at once, 0 for a run that passed and 1 for one that did not.
func TestWaitForRunScript(t *testing.T) {
	c := needAPIServer(t)
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on PATH")
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, apiServer.kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(gitopsDir, "wait-for-run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, c)
	inBaseline := &chaosv1alpha1.ExperimentRunStatus{Phase: chaosv1alpha1.PhasePending}
	engine.Run{Spec: &chaosv1alpha1.ExperimentSpec{}, Status: inBaseline}.Start(t0)
	engine.SetReadiness(inBaseline, 1, t0)

	tests := map[string]struct {
		verdict  chaosv1alpha1.Verdict
		reason   string
		wantExit int
	}{
		"passed":                  {verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonPassed, wantExit: 0},
		"dry run passed":          {verdict: chaosv1alpha1.VerdictPassed, reason: chaosv1alpha1.ReasonDryRun, wantExit: 0},
		"failed":                  {verdict: chaosv1alpha1.VerdictFailed, reason: chaosv1alpha1.ReasonNotRecovered, wantExit: 1},
		"aborted":                 {verdict: chaosv1alpha1.VerdictAborted, reason: chaosv1alpha1.ReasonAborted, wantExit: 1},
		"inconclusive":            {verdict: chaosv1alpha1.VerdictInconclusive, reason: chaosv1alpha1.ReasonBaselineNotHeld, wantExit: 1},
		"error before any action": {verdict: chaosv1alpha1.VerdictError, reason: chaosv1alpha1.ReasonConfigError, wantExit: 1},
	}
	i := 0
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			run := createRun(t, c, ns, "wait-"+string(rune('a'+i)), inBaseline)

			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", script, run.Name, ns, "60s")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// The run is in progress: the script must still be waiting.
			select {
			case err := <-done:
				t.Fatalf("the script ended (%v) while the run was in progress:\n%s", err, out.String())
			case <-time.After(2 * time.Second):
			}

			finished := inBaseline.DeepCopy()
			engine.Run{Spec: &chaosv1alpha1.ExperimentSpec{}, Status: finished}.Fail(t0.Add(time.Minute), tc.verdict, tc.reason, "the verdict of "+name)
			engine.SetReadiness(finished, run.Generation, t0.Add(time.Minute))
			if err := c.Get(t.Context(), client.ObjectKeyFromObject(run), run); err != nil {
				t.Fatal(err)
			}
			writeStatus(t, c, run, finished)
			written := time.Now()

			var exitErr *exec.ExitError
			select {
			case err := <-done:
				code := 0
				if errors.As(err, &exitErr) {
					code = exitErr.ExitCode()
				} else if err != nil {
					t.Fatalf("running the script: %v", err)
				}
				if code != tc.wantExit {
					t.Errorf("exit code %d, want %d:\n%s", code, tc.wantExit, out.String())
				}
				// Well before the script's 60s timeout: the verdict ended the wait.
				if took := time.Since(written); took > 20*time.Second {
					t.Errorf("the script ended %s after the verdict, want at once", took)
				}
				if tc.wantExit != 0 && !bytes.Contains(out.Bytes(), []byte(string(tc.verdict)+": ")) {
					t.Errorf("the script's output does not name the verdict %s:\n%s", tc.verdict, out.String())
				}
			case <-ctx.Done():
				t.Fatalf("the script did not end after the verdict:\n%s", out.String())
			}
		})
	}
}
