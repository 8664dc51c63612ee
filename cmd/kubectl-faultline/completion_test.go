package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// complete asks the plugin for completions as a shell does (the hidden
// __complete command) and returns the offered words, descriptions cut off.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := newApp(&stdout, &stderr, make(chan os.Signal))
	if code := a.execute(t.Context(), append([]string{"__complete"}, args...)); code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s", args, code, stderr.String())
	}
	var words []string
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, ":") || line == "" {
			continue // the directive
		}
		word, _, _ := strings.Cut(line, "\t")
		words = append(words, word)
	}
	return words
}

// TestCompletionListsNamesFromTheCluster: <TAB> after a command that takes
// an Experiment or a run offers the names in the namespace chosen with -n,
// through the kubeconfig, as a shell would get them.
func TestCompletionListsNamesFromTheCluster(t *testing.T) {
	c := needAPIServer(t)
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "complete-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "complete-other-"}}
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "chaos_v1alpha1_experiment_podkill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct{ namespace, name string }{
		{ns.Name, "checkout-pod-kill"}, {ns.Name, "checkout-drain"}, {ns.Name, "ledger-kill"}, {other.Name, "checkout-elsewhere"},
	} {
		var exp chaosv1alpha1.Experiment
		if err := yaml.Unmarshal(data, &exp); err != nil {
			t.Fatal(err)
		}
		exp.Namespace, exp.Name = e.namespace, e.name
		if err := c.Create(ctx, &exp); err != nil {
			t.Fatalf("creating Experiment %s: %v", e.name, err)
		}
	}
	runs := map[string]chaosv1alpha1.RunPhase{
		"checkout-pod-kill-done": chaosv1alpha1.PhaseCompleted,
		"checkout-pod-kill-live": chaosv1alpha1.PhaseObserving,
	}
	for name, phase := range runs {
		run := &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "checkout-pod-kill"}},
		}
		if err := c.Create(ctx, run); err != nil {
			t.Fatalf("creating run %s: %v", name, err)
		}
		run.Status.Phase = phase
		if phase == chaosv1alpha1.PhaseCompleted {
			run.Status.Verdict = chaosv1alpha1.VerdictPassed
		}
		if err := c.Status().Update(ctx, run); err != nil {
			t.Fatalf("writing the status of run %s: %v", name, err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, apiServer.kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--kubeconfig", kubeconfig, "-n", ns.Name}

	tests := map[string]struct {
		args []string
		want []string
	}{
		"run offers the Experiments starting with what was typed": {
			args: []string{"run", "checkout"}, want: []string{"checkout-drain", "checkout-pod-kill"},
		},
		"history offers every Experiment of the namespace": {
			args: []string{"history", ""}, want: []string{"checkout-drain", "checkout-pod-kill", "ledger-kill"},
		},
		"report offers every run": {
			args: []string{"report", "checkout-pod-kill-"}, want: []string{"checkout-pod-kill-done", "checkout-pod-kill-live"},
		},
		"abort offers only the runs in flight": {
			args: []string{"abort", ""}, want: []string{"checkout-pod-kill-live"},
		},
		"approve offers only the runs in flight": {
			args: []string{"approve", "checkout"}, want: []string{"checkout-pod-kill-live"},
		},
		"report --experiment offers Experiments": {
			args: []string{"report", "--experiment", "led"}, want: []string{"ledger-kill"},
		},
		"a second argument is not completed": {
			args: []string{"run", "checkout-pod-kill", ""}, want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{tc.args[0]}, flags...), tc.args[1:]...)
			got := complete(t, args...)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("completions of %q = %q, want %q", tc.args, got, tc.want)
			}
		})
	}

	// Commands added with a RUN argument complete runs too.
	for _, cmd := range newApp(nil, nil, nil).rootCommand().Commands() {
		fields := strings.Fields(cmd.Use)
		if len(fields) > 1 && strings.Trim(fields[1], "([])") == "RUN" && cmd.ValidArgsFunction == nil {
			t.Errorf("%s takes a RUN but does not complete it", cmd.Name())
		}
	}
}

// TestCompletionGivesUpQuicklyOnAHungCluster: an API server that never
// answers costs the shell the completion timeout, not the client's default
// of no timeout at all, and offers nothing rather than file names.
func TestCompletionGivesUpQuicklyOnAHungCluster(t *testing.T) {
	release := make(chan struct{})
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer server.Close()
	defer close(release)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	config := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server.URL + `", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: shop}}]
current-context: c
`
	if err := os.WriteFile(kubeconfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := complete(t, "abort", "--kubeconfig", kubeconfig, "")
	elapsed := time.Since(start)
	if elapsed < completionTimeout/2 {
		t.Errorf("completion returned after %s: the hung server was never asked", elapsed)
	}
	if elapsed > completionTimeout+3*time.Second {
		t.Errorf("completion took %s against a hung server; want about %s", elapsed, completionTimeout)
	}
	if len(got) != 0 {
		t.Errorf("completions from a hung server = %q, want none", got)
	}
}
