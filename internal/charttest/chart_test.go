package charttest_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/faultline-dev/faultline/internal/testenv"
)

// root is the repository root, relative to this package.
const root = "../.."

// env is the package's API server, nil without KUBEBUILDER_ASSETS.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *envtest.Environment) error {
		// The chart's own copies of the CRDs, so the ChaosPolicy it
		// renders is checked against the schema it installs.
		e.CRDDirectoryPaths = append(e.CRDDirectoryPaths, filepath.Join(root, "charts", "faultline", "crds"))
		e.ErrorIfCRDPathMissing = true
		return nil
	}, func(e *testenv.Env) error {
		env = e
		return nil
	}))
}

// everything is a values file turning on every optional part of the chart.
var everything = filepath.Join("testdata", "everything.yaml")

func TestLintStrict(t *testing.T) {
	for name, args := range map[string][]string{
		"default values":            nil,
		"every part enabled":        {"-f", everything},
		"cert-manager, one replica": {"--set", "certManager.enabled=true", "--set", "replicas=1", "--set", "leaderElection.enabled=false"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir(t)}, args...)...)
			if err != nil {
				t.Fatalf("helm lint --strict failed: %v\n%s", err, out)
			}
		})
	}
}

func TestRefusesBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"two replicas without leader election refuse to render, saying to enable it": {
			args: []string{"--set", "replicas=2", "--set", "leaderElection.enabled=false"},
			want: "Enable leaderElection",
		},
		"the boolean form of chart 0.1.0 set to false with two replicas is refused the same way": {
			args: []string{"--set", "replicas=2", "--set", "leaderElection=false"},
			want: "Enable leaderElection",
		},
		"an unknown top-level value is refused by the schema": {
			args: []string{"--set", "replicaCount=3"},
			want: "additional properties 'replicaCount' not allowed",
		},
		"a misspelt nested value is refused by the schema": {
			args: []string{"--set", "serviceMonitor.enable=true"},
			want: "additional properties 'enable' not allowed",
		},
		"a value of the wrong type is refused by the schema": {
			args: []string{"--set", "pdb.enabled=yes-please"},
			want: "/pdb/enabled",
		},
		"a duration without a unit is refused by the schema": {
			args: []string{"--set-string", "leaderElection.leaseDuration=15"},
			want: "/leaderElection/leaseDuration",
		},
		"a log level the operator does not know is refused by the schema": {
			args: []string{"--set", "logLevel=verbose"},
			want: "/logLevel",
		},
		"a disruption budget that would block every drain is refused, saying what to set": {
			args: []string{"--set", "replicas=2", "--set", "pdb.minAvailable=2"},
			want: "Set pdb.minAvailable below replicas",
		},
		"a cluster older than the webhook configurations need is refused": {
			args: []string{"--kube-version", "1.29.0"},
			want: "requires kubeVersion",
		},
		"pod labels replacing the chart's selector labels are refused by the schema": {
			args: []string{"--set", `podLabels.app\.kubernetes\.io/name=other`},
			want: "/podLabels",
		},
		"an insecure alert receiver naming a token Secret is refused, saying to choose": {
			args: []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.insecure=true", "--set", "alertReceiver.tokenSecret=alertmanager-token"},
			want: "set one of them",
		},
		"an HTTPS alert receiver without a certificate is refused, saying where one comes from": {
			args: []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true"},
			want: "set alertReceiver.tls.secretName",
		},
		"an insecure value that is not a boolean is refused by the schema": {
			args: []string{"--set", "alertReceiver.insecure=only-on-tuesdays"},
			want: "/alertReceiver/insecure",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", "faultline", chartDir(t), "--namespace", "faultline-system"}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v rendered; want it refused with %q", tc.args, tc.want)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("helm template %v was refused without saying %q:\n%s", tc.args, tc.want, out)
			}
		})
	}
}

func TestRendersRestrictedPods(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		// kinds that must be rendered, and kinds that must not.
		kinds, noKinds []string
		// args the operator container must have, and must not.
		flags, noFlags []string
		// check looks at the Deployment's pod spec.
		check func(t *testing.T, pod *corev1.PodSpec)
	}{
		"default values": {
			kinds:   []string{"Deployment", "PodDisruptionBudget", "ChaosPolicy", "Secret"},
			noKinds: []string{"ServiceMonitor", "PrometheusRule", "Certificate", "ConfigMap"},
			flags: []string{"--leader-elect=true", "--leader-election-lease-duration=15s",
				"--leader-election-renew-deadline=10s", "--leader-election-retry-period=2s", "--zap-log-level=info"},
		},
		"every part enabled": {
			args:  []string{"-f", everything},
			kinds: []string{"Deployment", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule", "ClusterRoleBinding", "ConfigMap"},
			flags: []string{"--leader-elect=true", "--leader-election-lease-duration=20s", "--leader-election-renew-deadline=12s",
				"--leader-election-retry-period=3s", "--zap-log-level=debug", "--enable-http2=false", "--kube-api-qps=50",
				"--alert-receiver-token-file=/etc/faultline/alert-receiver/token", "--alert-receiver-tls-cert-file=/etc/faultline/alert-receiver-tls/tls.crt"},
			check: func(t *testing.T, pod *corev1.PodSpec) {
				if pod.PriorityClassName != "system-cluster-critical" {
					t.Errorf("priorityClassName = %q, want system-cluster-critical", pod.PriorityClassName)
				}
				if len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "regcred" {
					t.Errorf("imagePullSecrets = %v, want regcred", pod.ImagePullSecrets)
				}
				if len(pod.Tolerations) != 1 || pod.NodeSelector["kubernetes.io/os"] != "linux" || pod.Affinity == nil {
					t.Errorf("tolerations %v, nodeSelector %v, affinity %v: want the values file's", pod.Tolerations, pod.NodeSelector, pod.Affinity)
				}
				if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].LabelSelector == nil ||
					pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/name"] != "faultline" {
					t.Errorf("topologySpreadConstraints = %v, want one whose labelSelector is filled with the pods' labels", pod.TopologySpreadConstraints)
				}
				if !slices.ContainsFunc(pod.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }) {
					t.Errorf("env = %v, want extraEnv's GOMEMLIMIT", pod.Containers[0].Env)
				}
			},
		},
		"one replica without leader election": {
			args:    []string{"--set", "replicas=1", "--set", "leaderElection.enabled=false"},
			kinds:   []string{"Deployment"},
			noKinds: []string{"PodDisruptionBudget"},
			flags:   []string{"--leader-elect=false"},
			noFlags: []string{"--leader-election-lease-duration=15s"},
		},
		"the boolean leaderElection of chart 0.1.0": {
			args:  []string{"--set", "leaderElection=true"},
			kinds: []string{"Deployment", "PodDisruptionBudget"},
			flags: []string{"--leader-elect=true"},
		},
		"cert-manager issuing the webhook certificate": {
			args:    []string{"--set", "certManager.enabled=true"},
			kinds:   []string{"Deployment", "Certificate", "Issuer"},
			noKinds: []string{"Secret"},
			flags:   []string{"--webhook-cert-mode=external"},
		},
		"the alert receiver with the chart's token and cert-manager's certificate": {
			args:  []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.tls.enabled=true", "--set", "certManager.enabled=true"},
			kinds: []string{"Deployment", "Secret", "Certificate", "Service"},
			flags: []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-token-file=/etc/faultline/alert-receiver/token",
				"--alert-receiver-tls-cert-file=/etc/faultline/alert-receiver-tls/tls.crt", "--alert-receiver-tls-key-file=/etc/faultline/alert-receiver-tls/tls.key"},
			noFlags: []string{"--alert-receiver-insecure"},
		},
		"an insecure alert receiver": {
			args:    []string{"--set", "alertReceiver.enabled=true", "--set", "alertReceiver.insecure=true"},
			kinds:   []string{"Deployment", "Service"},
			flags:   []string{"--alert-receiver-bind-address=:9444", "--alert-receiver-insecure"},
			noFlags: []string{"--alert-receiver-token-file=/etc/faultline/alert-receiver/token"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ns := releaseNamespace(t)
			objs := render(t, ns, tc.args...)
			for _, k := range tc.kinds {
				if len(ofKind(objs, k)) == 0 {
					t.Errorf("no %s rendered", k)
				}
			}
			for _, k := range tc.noKinds {
				if n := len(ofKind(objs, k)); n > 0 {
					t.Errorf("%d %s rendered, want none", n, k)
				}
			}
			deploys := ofKind(objs, "Deployment")
			if len(deploys) != 1 {
				t.Fatalf("%d Deployments rendered, want 1", len(deploys))
			}
			pod := podTemplate(t, deploys[0])
			args := pod.Spec.Containers[0].Args
			for _, f := range tc.flags {
				if !slices.Contains(args, f) {
					t.Errorf("operator args lack %s: %v", f, args)
				}
			}
			for _, f := range tc.noFlags {
				if slices.Contains(args, f) {
					t.Errorf("operator args have %s: %v", f, args)
				}
			}
			if tc.check != nil {
				tc.check(t, &pod.Spec)
			}
			for _, rule := range ofKind(objs, "PrometheusRule") {
				checkRules(t, rule)
			}
			if env != nil {
				createDryRun(t, ns, objs, pod)
			}
		})
	}
}

// TestAlertsFire runs promtool's unit tests (testdata/alerts_test.yaml) on
// the PrometheusRule rendered from everything.yaml: each alert fires on the
// series a broken operator exports, and none fires on a healthy one.
func TestAlertsFire(t *testing.T) {
	rules := ofKind(render(t, "faultline-system", "-f", everything), "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(rules))
	}
	dir := t.TempDir()
	writeRules(t, rules[0], filepath.Join(dir, "rules.yaml"))
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), tool(t, "promtool"), "test", "rules", filepath.Join(dir, "alerts_test.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestServiceMonitorScrapesTheMetricsPort checks that the ServiceMonitor
// selects the metrics Service alone and names its port, with and without
// metrics.secure: a mismatch scrapes nothing and FaultlineDown fires.
func TestServiceMonitorScrapesTheMetricsPort(t *testing.T) {
	for name, args := range map[string][]string{
		"HTTPS metrics": {"--set", "serviceMonitor.enabled=true"},
		"HTTP metrics":  {"--set", "serviceMonitor.enabled=true", "--set", "metrics.secure=false"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "faultline-system", args...)
			monitors := ofKind(objs, "ServiceMonitor")
			if len(monitors) != 1 {
				t.Fatalf("%d ServiceMonitors rendered, want 1", len(monitors))
			}
			selector, _, _ := unstructured.NestedStringMap(monitors[0].Object, "spec", "selector", "matchLabels")
			endpoints, _, _ := unstructured.NestedSlice(monitors[0].Object, "spec", "endpoints")
			if len(selector) == 0 || len(endpoints) != 1 {
				t.Fatalf("ServiceMonitor selector %v, endpoints %v: want a selector and one endpoint", selector, endpoints)
			}
			port, _, _ := unstructured.NestedString(endpoints[0].(map[string]any), "port")
			var selected []string
			for _, svc := range ofKind(objs, "Service") {
				if !labels.SelectorFromSet(selector).Matches(labels.Set(svc.GetLabels())) {
					continue
				}
				selected = append(selected, svc.GetName())
				ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
				if !slices.ContainsFunc(ports, func(p any) bool { return p.(map[string]any)["name"] == port }) {
					t.Errorf("the ServiceMonitor scrapes port %q, which Service %s does not have: %v", port, svc.GetName(), ports)
				}
			}
			if !slices.Equal(selected, []string{"faultline-metrics"}) {
				t.Errorf("the ServiceMonitor selects Services %v, want faultline-metrics alone", selected)
			}
		})
	}
}

// releaseNamespace is the namespace the chart is rendered into: on the API
// server, a new one enforcing the restricted Pod Security level.
func releaseNamespace(t *testing.T) string {
	t.Helper()
	if env == nil {
		return "faultline-system"
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "faultline-chart-", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := env.Client.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating a restricted namespace: %v", err)
	}
	// The admission check must be live, or a refusal-free dry run below
	// proves nothing: a privileged pod has to be refused there.
	privileged := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns.Name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
	}
	err := env.Client.Create(t.Context(), privileged, client.DryRunAll)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a privileged pod in namespace %s gave %v; want it refused by Pod Security admission (is PodSecurity enabled on this kube-apiserver?)", ns.Name, err)
	}
	return ns.Name
}

// createDryRun creates every rendered object with dryRun=All, and the
// Deployment's pod template as a Pod, in the restricted namespace ns. Only
// the kinds of prometheus-operator and cert-manager, whose CRDs the test
// server does not have, are left out (checkRules covers the rules).
func createDryRun(t *testing.T, ns string, objs []*unstructured.Unstructured, pod *corev1.Pod) {
	t.Helper()
	ctx := t.Context()
	for _, o := range objs {
		switch o.GroupVersionKind().Group {
		case "monitoring.coreos.com", "cert-manager.io":
			continue
		}
		if o.GetKind() == "ServiceAccount" {
			// Created for real: the Pod below must find its ServiceAccount.
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("creating ServiceAccount %s: %v", o.GetName(), err)
			}
			continue
		}
		if err := env.Client.Create(ctx, o, client.DryRunAll); err != nil {
			t.Errorf("the API server refuses %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	pod.Namespace = ns
	pod.Name = "faultline-pod-template"
	if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the Deployment's pod template is refused in a namespace enforcing the restricted Pod Security level: %v", err)
	}
}

// checkRules validates a PrometheusRule's groups with promtool.
func checkRules(t *testing.T, rule *unstructured.Unstructured) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, rule, file)
	out, err := exec.CommandContext(t.Context(), tool(t, "promtool"), "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules refuses the PrometheusRule: %v\n%s", err, out)
	}
}

// writeRules writes a PrometheusRule's spec (its groups) as a Prometheus
// rule file.
func writeRules(t *testing.T, rule *unstructured.Unstructured, file string) {
	t.Helper()
	spec, ok := rule.Object["spec"]
	if !ok {
		t.Fatalf("PrometheusRule %s has no spec", rule.GetName())
	}
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// podTemplate is a Deployment's pod template as a Pod.
func podTemplate(t *testing.T, deploy *unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	tmpl, ok, err := unstructured.NestedMap(deploy.Object, "spec", "template")
	if err != nil || !ok {
		t.Fatalf("Deployment %s has no spec.template: %v", deploy.GetName(), err)
	}
	var template corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(tmpl, &template, true); err != nil {
		t.Fatalf("Deployment %s: the pod template is not a valid PodTemplateSpec: %v", deploy.GetName(), err)
	}
	if len(template.Spec.Containers) == 0 {
		t.Fatalf("Deployment %s has no containers", deploy.GetName())
	}
	return &corev1.Pod{ObjectMeta: template.ObjectMeta, Spec: template.Spec}
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// render runs helm template into namespace ns and parses what it prints.
func render(t *testing.T, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", "faultline", chartDir(t), "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template %v printed invalid YAML: %v\n%s", args, err, out)
		}
		if len(obj) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: obj})
	}
	if len(objs) == 0 {
		t.Fatalf("helm template %v rendered nothing", args)
	}
	return objs
}

// helm runs bin/helm with a home of its own, so neither the user's helm
// configuration nor repositories take part, and returns stdout and stderr
// together when it fails, stdout alone when it succeeds.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), tool(t, "helm"), args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func chartDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(root, "charts", "faultline"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// tool is bin/NAME. A missing tool fails the test with how to build it:
// skipping would let the chart go unchecked without anyone noticing.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(root, "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("%s is missing (%v): build it with `hack/tools.sh %s` (make unit and make envtest do)", path, err, name)
	}
	return path
}
