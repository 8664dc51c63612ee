//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// chartRBACKinds are the kinds of the chart's identity: its ServiceAccount
// and every right the chart grants it.
var chartRBACKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// chartOperatorFlags are the prefixes of the chart's Deployment flags this
// test passes on to the operator it runs: leader election (which needs the
// chart's Role for Leases and events), the log level and the worker counts.
// Addresses, metrics TLS and the webhook certificates are the suite's,
// since the operator runs on this machine and the apiserver calls its
// webhooks here.
var chartOperatorFlags = []string{"--leader-elect", "--leader-election-", "--zap-log-level=", "--run-workers=", "--experiment-workers=", "--target-workers="}

// TestChartServiceAccountRunsEveryFaultKind runs the operator as the chart's
// ServiceAccount, holding exactly the rights the chart renders (default
// values) and no others, and drives a pod kill, an Istio abort and a node
// drain to their verdicts and reverts. The operator's log must never say
// "forbidden": a right the chart lacks shows there first (a watch that
// never syncs, an event rejected, a reaper sweep that fails) even when the
// runs still pass.
//
// The suite's operator is stopped for the test and this one serves the
// webhooks on the same address, so no other operator acts on these runs;
// the suite's operator and its rights are restored afterwards. The chart's
// certificate rotator is not exercised: the webhook certificate is the
// suite's (--webhook-cert-mode=external).
func TestChartServiceAccountRunsEveryFaultKind(t *testing.T) {
	tb.RequireOperator(t)
	// Every template, not a list of them: a right a new template grants
	// is part of the identity under test without anyone adding it here.
	rendered := tb.RenderChart(t, harness.OperatorNamespace)
	var identity []*unstructured.Unstructured
	var deployment *unstructured.Unstructured
	for _, o := range rendered {
		switch {
		case slices.Contains(chartRBACKinds, o.GetKind()):
			identity = append(identity, o)
		case o.GetKind() == "Deployment":
			deployment = o
		}
	}
	if deployment == nil {
		t.Fatal("the chart rendered no Deployment")
	}
	serviceAccount, _, _ := unstructured.NestedString(deployment.Object, "spec", "template", "spec", "serviceAccountName")
	if serviceAccount != harness.OperatorServiceAccount {
		t.Fatalf("the chart's pods run as ServiceAccount %q; this test (and e2e/harness/identity.go) expects %q", serviceAccount, harness.OperatorServiceAccount)
	}
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		if !slices.ContainsFunc(identity, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind }) {
			t.Fatalf("the chart rendered no %s; its identity is incomplete", kind)
		}
	}

	// Cleanups run last-in first-out: this operator stops, then the
	// suite's rights are put back, then the suite's operator starts again.
	// The suite's operator stops first, so it never runs with rights
	// half replaced.
	t.Cleanup(func() { tb.StartOperator(t) })
	if err := tb.Operator.Stop(); err != nil {
		t.Fatalf("stopping the suite's operator: %v", err)
	}
	applyChartIdentity(t, identity)
	requireOnlyChartBindings(t, identity)
	waitForChartRights(t, identity)
	kubeconfig := tb.ServiceAccountKubeconfig(t, harness.OperatorNamespace, harness.OperatorServiceAccount)

	args := slices.Clone(tb.Operator.Args)
	for _, a := range harness.ContainerArgs(t, deployment) {
		if slices.ContainsFunc(chartOperatorFlags, func(p string) bool { return strings.HasPrefix(a, p) }) {
			args = append(args, a)
		}
	}
	// What the chart's pod learns from its environment (POD_NAMESPACE).
	args = append(args, "--leader-election-namespace="+harness.OperatorNamespace, "--operator-namespace="+harness.OperatorNamespace,
		// Sweeps every 2s, so the reaper's rights are used all along.
		"--reap-period=2s")
	if !slices.Contains(args, "--leader-elect=true") {
		t.Fatalf("the chart's default values do not turn leader election on (flags %v); the test would not exercise its Role", args)
	}
	logPath := filepath.Join(tb.StateDir, "chart-rbac-operator.log")
	_ = os.Remove(logPath) // only this test's lines are judged
	op := &harness.Operator{
		Bin:         tb.Operator.Bin,
		Kubeconfig:  kubeconfig,
		MetricsAddr: tb.Operator.MetricsAddr,
		HealthAddr:  tb.Operator.HealthAddr,
		WebhookAddr: tb.Operator.WebhookAddr,
		Args:        args,
		LogPath:     logPath,
		PIDPath:     filepath.Join(tb.StateDir, "chart-rbac-operator.pid"),
	}
	// Registered first: a start that fails half way may leave it running.
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("stopping the chart-identity operator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := op.Start(ctx); err != nil {
		t.Fatalf("starting the operator as the chart's ServiceAccount: %v", err)
	}
	if err := tb.Webhooks.WaitAnswering(ctx, tb.Client, 30*time.Second); err != nil {
		t.Fatalf("the apiserver does not reach the webhooks of the chart-identity operator: %v", err)
	}

	t.Run("pod kill", func(t *testing.T) {
		tb.RequireSteadyState(t)
		tb.RestoreShopOnCleanup(t)
		before := podUIDs(t)
		run := tb.RunExperiment(t, tb.PodKillExperiment("e2e-chart-pod-kill"), 3*time.Minute)
		t.Logf("report: %s", run.Status.Message)
		if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
		}
		if killed, _ := killedAndReplacement(t, before); killed != 1 {
			t.Errorf("%d checkout pods were killed, want 1", killed)
		}
	})
	t.Run("istio abort", func(t *testing.T) {
		tb.RequireSteadyState(t)
		before := virtualService(t, "cart")
		run := tb.RunExperiment(t, tb.IstioExperiment("e2e-chart-istio-abort", harness.AbortFault(50), 15*time.Second), 3*time.Minute)
		t.Logf("report: %s", run.Status.Message)
		if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
		}
		if run.Status.Timeline.InjectedAt == nil || run.Status.Timeline.RevertedAt == nil {
			t.Errorf("the run does not record the fault applied and reverted: %+v", run.Status.Timeline)
		}
		after := virtualService(t, "cart")
		if !equality.Semantic.DeepEqual(vsSpec(before), vsSpec(after)) {
			t.Errorf("the VirtualService differs after the run:\nbefore %v\nafter  %v", vsSpec(before), vsSpec(after))
		}
		requireNoFaultlineMarks(t, after.GetAnnotations(), after.GetLabels())
	})
	t.Run("node drain", func(t *testing.T) {
		tb.RequireSteadyState(t)
		tb.RestoreShopOnCleanup(t)
		_, target := nodeOf(t, "payments") // a node without payments: its PDB does not block
		if target == "" {
			t.Fatal("every node runs a payments pod; the PDB would block any drain")
		}
		run := tb.RunExperiment(t, tb.DrainExperiment("e2e-chart-drain", target, 15*time.Second, 30*time.Second), 3*time.Minute)
		t.Logf("report: %s", run.Status.Message)
		if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
			t.Errorf("verdict %s, want Passed: %s", run.Status.Verdict, run.Status.Message)
		}
		if len(run.Status.Targets) != 1 || run.Status.Targets[0].Restore == nil || run.Status.Targets[0].Restore.Node == nil ||
			len(run.Status.Targets[0].Restore.Node.EvictedPods) == 0 {
			t.Errorf("no evicted pods recorded: %+v", run.Status.Targets)
		}
		n := node(t, target)
		if n.Spec.Unschedulable {
			t.Errorf("node %s left cordoned", target)
		}
		requireNoFaultlineMarks(t, n.Annotations, n.Labels)
	})

	// The reaper swept all along with the chart's rights: some sweeps, and
	// not one failed.
	ok, failed := reaperSweeps(t, "http://"+op.MetricsAddr+"/metrics")
	if ok == 0 || failed != 0 {
		t.Errorf("the reaper ran %v clean sweeps and %v failed ones as the chart's ServiceAccount; want some, and none failed", ok, failed)
	}
	if lines := forbiddenLines(t, logPath); len(lines) > 0 {
		t.Errorf("the operator running as the chart's ServiceAccount was refused %d time(s); the chart lacks these rights:\n%s",
			len(lines), strings.Join(lines, "\n"))
	}
}

// applyChartIdentity puts the chart's ServiceAccount and rights in place of
// those of the same names (the suite's identity has the same
// ServiceAccount, ClusterRole and ClusterRoleBinding names), and restores
// what was there when the test ends. The ServiceAccount itself is kept, not
// recreated: the suite's operator holds a token for it.
func applyChartIdentity(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// With FAULTLINE_E2E_OPERATOR_ADMIN=1 the suite made no namespace for
	// the operator's identity; it is left in place, empty, afterwards.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: harness.OperatorNamespace}}
	if err := tb.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatalf("creating namespace %s: %v", harness.OperatorNamespace, err)
	}
	type previous struct {
		obj    *unstructured.Unstructured // what was there, nil if nothing
		placed *unstructured.Unstructured // what the test put there
	}
	var changed []previous
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, p := range slices.Backward(changed) {
			if err := tb.Client.Delete(ctx, p.placed.DeepCopy()); client.IgnoreNotFound(err) != nil {
				t.Errorf("removing the chart's %s %s: %v", p.placed.GetKind(), p.placed.GetName(), err)
				continue
			}
			if p.obj == nil {
				continue
			}
			if err := tb.Client.Create(ctx, p.obj); err != nil {
				t.Errorf("restoring the suite's %s %s: %v", p.obj.GetKind(), p.obj.GetName(), err)
			}
		}
	})
	for _, o := range objs {
		o = o.DeepCopy()
		if o.GetNamespace() == "" && o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" {
			o.SetNamespace(harness.OperatorNamespace)
		}
		existing := &unstructured.Unstructured{}
		existing.SetGroupVersionKind(o.GroupVersionKind())
		err := tb.Client.Get(ctx, client.ObjectKeyFromObject(o), existing)
		switch {
		case err == nil && o.GetKind() == "ServiceAccount":
			continue
		case err == nil:
			if err := tb.Client.Delete(ctx, existing.DeepCopy()); client.IgnoreNotFound(err) != nil {
				t.Fatalf("replacing %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"} {
				unstructured.RemoveNestedField(existing.Object, "metadata", f)
			}
		case client.IgnoreNotFound(err) != nil:
			t.Fatalf("reading %s %s: %v", o.GetKind(), o.GetName(), err)
		default:
			existing = nil
		}
		if err := tb.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating the chart's %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		changed = append(changed, previous{obj: existing, placed: o})
	}
}

// requireOnlyChartBindings fails the test when the operator's
// ServiceAccount is a subject of any binding the chart did not render: its
// rights would then not be the chart's alone, and the test would prove
// nothing about them.
func requireOnlyChartBindings(t *testing.T, chart []*unstructured.Unstructured) {
	t.Helper()
	ours := func(kind, namespace, name string) bool {
		return slices.ContainsFunc(chart, func(o *unstructured.Unstructured) bool {
			ns := o.GetNamespace()
			if ns == "" && kind == "RoleBinding" {
				ns = harness.OperatorNamespace
			}
			return o.GetKind() == kind && ns == namespace && o.GetName() == name
		})
	}
	isOperator := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Namespace == harness.OperatorNamespace && s.Name == harness.OperatorServiceAccount
		})
	}
	ctx := t.Context()
	var others []string
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := tb.Client.List(ctx, crbs); err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		if isOperator(b.Subjects) && !ours("ClusterRoleBinding", "", b.Name) {
			others = append(others, "ClusterRoleBinding "+b.Name)
		}
	}
	rbs := &rbacv1.RoleBindingList{}
	if err := tb.Client.List(ctx, rbs); err != nil {
		t.Fatal(err)
	}
	for _, b := range rbs.Items {
		if isOperator(b.Subjects) && !ours("RoleBinding", b.Namespace, b.Name) {
			others = append(others, "RoleBinding "+b.Namespace+"/"+b.Name)
		}
	}
	if len(others) > 0 {
		t.Fatalf("ServiceAccount %s/%s also holds rights the chart does not grant, through %v; delete them, or the test proves nothing",
			harness.OperatorNamespace, harness.OperatorServiceAccount, others)
	}
}

// waitForChartRights waits until the API server's authorizer grants the
// operator's ServiceAccount the first right of every rule the chart binds to
// it: RBAC objects just replaced take a moment to reach the authorizer, and
// the operator started before then would log forbidden requests the chart
// is not to blame for.
func waitForChartRights(t *testing.T, chart []*unstructured.Unstructured) {
	t.Helper()
	var checks []authorizationv1.ResourceAttributes
	for _, b := range chart {
		if b.GetKind() != "ClusterRoleBinding" && b.GetKind() != "RoleBinding" {
			continue
		}
		roleKind, _, _ := unstructured.NestedString(b.Object, "roleRef", "kind")
		roleName, _, _ := unstructured.NestedString(b.Object, "roleRef", "name")
		for _, r := range chart {
			if r.GetKind() != roleKind || r.GetName() != roleName {
				continue
			}
			role := &rbacv1.ClusterRole{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(r.Object, role); err != nil {
				t.Fatalf("%s %s: %v", roleKind, roleName, err)
			}
			for _, rule := range role.Rules {
				if len(rule.APIGroups) == 0 || len(rule.Resources) == 0 || len(rule.Verbs) == 0 {
					continue
				}
				attrs := authorizationv1.ResourceAttributes{Namespace: b.GetNamespace(), Group: rule.APIGroups[0], Resource: rule.Resources[0], Verb: rule.Verbs[0]}
				if len(rule.ResourceNames) > 0 {
					attrs.Name = rule.ResourceNames[0]
				}
				attrs.Resource, attrs.Subresource, _ = strings.Cut(attrs.Resource, "/")
				checks = append(checks, attrs)
			}
		}
	}
	if len(checks) == 0 {
		t.Fatal("the chart binds no rules to the operator's ServiceAccount")
	}
	user := "system:serviceaccount:" + harness.OperatorNamespace + ":" + harness.OperatorServiceAccount
	harness.WaitFor(t, 30*time.Second, "the chart's rights to reach the authorizer", func(ctx context.Context) (bool, error) {
		for _, attrs := range checks {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + harness.OperatorNamespace, "system:authenticated"},
				ResourceAttributes: &attrs,
			}}
			if err := tb.Client.Create(ctx, sar); err != nil {
				return false, err
			}
			if !sar.Status.Allowed {
				return false, fmt.Errorf("%s may not yet %s %s/%s in %q", user, attrs.Verb, attrs.Group, attrs.Resource, attrs.Namespace)
			}
		}
		return true, nil
	})
}

// requireNoFaultlineMarks fails the test when a reverted object still
// carries one of Faultline's annotations or labels.
func requireNoFaultlineMarks(t *testing.T, annotations, labels map[string]string) {
	t.Helper()
	for _, m := range []map[string]string{annotations, labels} {
		for k := range m {
			if strings.HasPrefix(k, "chaos.faultline.dev/") {
				t.Errorf("%s left behind after the revert", k)
			}
		}
	}
}

// reaperSweeps reads faultline_reaper_sweeps_total from the operator's
// metrics endpoint: the clean sweeps and the failed ones.
func reaperSweeps(t *testing.T, url string) (ok, failed float64) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reading the operator's metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for result, into := range map[string]*float64{"ok": &ok, "error": &failed} {
			value, matched := strings.CutPrefix(sc.Text(), `faultline_reaper_sweeps_total{result="`+result+`"} `)
			if !matched {
				continue
			}
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("faultline_reaper_sweeps_total{result=%q}: %v", result, err)
			}
			*into = v
			found++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if found != 2 {
		t.Fatalf("the operator's metrics at %s have %d of the two faultline_reaper_sweeps_total series", url, found)
	}
	return ok, failed
}

// forbiddenLines are the lines of the operator's log that say a request was
// forbidden.
func forbiddenLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the operator's log: %v", err)
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(strings.ToLower(line), "forbidden") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}
