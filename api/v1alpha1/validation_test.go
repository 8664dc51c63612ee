package v1alpha1_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// The tests in this file install the generated CRDs into a real etcd and
// kube-apiserver and prove what a user sees on `kubectl apply`: samples are
// accepted, and each invalid shape is refused with a message that says what
// is wrong.

var (
	k8sClient client.Client
	restCfg   *rest.Config
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.FaultlineCRDs("../.."), func(e *testenv.Env) error {
		k8sClient, restCfg = e.Client, e.Config
		return nil
	}))
}

func needAPIServer(t *testing.T) {
	t.Helper()
	if k8sClient == nil {
		t.Skip("needs a kube-apiserver: run with KUBEBUILDER_ASSETS set (make test)")
	}
}

func loadSample(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return u
}

func ensureNamespace(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8sClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "shop")
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			u := loadSample(t, filepath.Base(f))
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatalf("sample refused: %v", err)
			}
		})
	}
}

// set walks path in obj, creating maps as needed, and sets the last key to v.
// A nil v deletes the key.
func set(obj map[string]any, v any, path ...string) {
	m := obj
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	if v == nil {
		delete(m, path[len(path)-1])
		return
	}
	m[path[len(path)-1]] = v
}

func firstProbe(u *unstructured.Unstructured, i int) map[string]any {
	probes := u.Object["spec"].(map[string]any)["steadyState"].(map[string]any)["probes"].([]any)
	return probes[i].(map[string]any)
}

func TestInvalidExperimentsAreRefused(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "invalid")
	tests := map[string]struct {
		sample string
		mutate func(u *unstructured.Unstructured)
		want   string
		// notWant is a message of another rule that must not fire: the
		// refusal leads with the actual problem.
		notWant []string
	}{
		"no fault at all": {
			sample:  "chaos_v1alpha1_experiment_podkill.yaml",
			mutate:  func(u *unstructured.Unstructured) { set(u.Object, map[string]any{}, "spec", "fault") },
			want:    "fault must set exactly one of podKill, istio or nodeDrain",
			notWant: []string{"held for spec.duration", "needs target.kind"},
		},
		"two faults at once": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, map[string]any{"gracePeriodSeconds": int64(0)}, "spec", "fault", "nodeDrain")
			},
			want:    "fault must set exactly one of podKill, istio or nodeDrain",
			notWant: []string{"held for spec.duration", "needs target.kind"},
		},
		"empty istio match": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, map[string]any{}, "spec", "fault", "istio", "match")
			},
			want:    "fault.istio.match needs headers or sourceLabels",
			notWant: []string{"no such key", "evaluation error"},
		},
		"percent above 100": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, "Percent", "spec", "target", "mode")
				set(u.Object, int64(150), "spec", "target", "value")
			},
			want: "target.value must be between 1 and 100 when target.mode is Percent",
		},
		"percent of zero": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, "Percent", "spec", "target", "mode")
				set(u.Object, int64(0), "spec", "target", "value")
			},
			want: "target.value must be between 1 and 100 when target.mode is Percent",
		},
		"percent without a value": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "Percent", "spec", "target", "mode") },
			want:   "target.value is required when target.mode is Count or Percent",
		},
		"count of zero": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, "Count", "spec", "target", "mode")
				set(u.Object, int64(0), "spec", "target", "value")
			},
			want: "target.value must be at least 1 when target.mode is Count",
		},
		"maxTargets of zero": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, int64(0), "spec", "target", "maxTargets") },
			want:   "spec.target.maxTargets in body should be greater than or equal to 1",
		},
		"no selector and no names": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, nil, "spec", "target", "selector") },
			want:   "target needs a selector with matchLabels or matchExpressions, or names",
		},
		"interval below one second": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "500ms", "spec", "steadyState", "interval") },
			want:   `steadyState.interval must be a duration between 1s and 1h, such as "5s"`,
		},
		"podKill on nodes": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "Node", "spec", "target", "kind") },
			want:   "fault.podKill needs target.kind Pod",
		},
		"nodeDrain on pods": {
			sample: "chaos_v1alpha1_experiment_nodedrain.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "Pod", "spec", "target", "kind") },
			want:   "fault.nodeDrain needs target.kind Node",
		},
		"istio on pods": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "Pod", "spec", "target", "kind") },
			want:   "fault.istio needs target.kind VirtualService",
		},
		"istio without delay or abort": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, nil, "spec", "fault", "istio", "abort") },
			want:   "fault.istio needs a delay, an abort or both",
		},
		"sustained fault without duration": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, nil, "spec", "duration") },
			want:   "istio and nodeDrain faults are held for spec.duration",
		},
		"unknown condition operator": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "=~", "condition", "op") },
			want:   `Unsupported value: "=~": supported values: ">", ">=", "<", "<=", "==", "!="`,
		},
		"threshold that is not a number": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "ninety-nine", "condition", "value") },
			want:   `condition.value must be a number written as a string, such as "0.99"`,
		},
		"guard threshold that is not a number": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				guards := u.Object["spec"].(map[string]any)["abort"].(map[string]any)["guards"].([]any)
				set(guards[0].(map[string]any), "50%", "condition", "value")
			},
			want: `condition.value must be a number written as a string`,
		},
		"probe with both prometheus and workload": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(firstProbe(u, 0), map[string]any{"query": "up"}, "prometheus")
			},
			want: "a probe must set exactly one of prometheus, workload or slo",
		},
		"prometheus probe without condition": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), nil, "condition") },
			want:   "a prometheus probe needs a condition",
		},
		"prometheus probe without a provider": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, nil, "spec", "provider") },
			want:   "prometheus probes, guards and detection alerts need provider.prometheus.address",
		},
		"window hour out of range": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) {
				w := u.Object["spec"].(map[string]any)["windows"].([]any)[0].(map[string]any)
				w["start"] = "25:00"
			},
			want: `start must be a 24-hour time "HH:MM"`,
		},
		"unknown target kind": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "Deployment", "spec", "target", "kind") },
			want:   `Unsupported value: "Deployment": supported values: "Pod", "Node", "VirtualService"`,
		},
		"a relative condition of -100%": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "-100%", "condition", "value") },
			want:   "condition.value relative to the baseline must be above -100%",
		},
		"a relative condition below -100%": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "-250.5%", "condition", "value") },
			want:   "condition.value relative to the baseline must be above -100%",
		},
		"comparison with an empty experiment label value": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, map[string]any{"canary": ""}, "spec", "comparison", "experiment")
			},
			want: "comparison.experiment values must not be empty",
		},
		"comparison with an empty control label value": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(u.Object, map[string]any{"canary": ""}, "spec", "comparison", "control")
			},
			want: "comparison.control values must not be empty",
		},
		"comparison minSamples above the samples kept": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, int64(513), "spec", "comparison", "minSamples") },
			want:   "spec.comparison.minSamples: Invalid value: 513: spec.comparison.minSamples in body should be less than or equal to 512",
		},
		"comparison alpha of zero": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "0", "spec", "comparison", "alpha") },
			want:   "comparison.alpha must be a decimal between 0.0001 and 0.2",
		},
		"comparison alpha above one half": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "0.6", "spec", "comparison", "alpha") },
			want:   "comparison.alpha must be a decimal between 0.0001 and 0.2",
		},
		"comparison tolerance above 100%": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "150%", "spec", "comparison", "tolerance") },
			want:   "comparison.tolerance must be a percentage from 0% to 100%",
		},
		"comparison tolerance negative": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "-1%", "spec", "comparison", "tolerance") },
			want:   "comparison.tolerance must be a percentage from 0% to 100%",
		},
		"a probe name holding a Markdown link": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "[ok](https://attacker.example)", "name") },
			want:   "probe name must be a DNS-1123 label",
		},
		"a probe name holding a zero-width space": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(firstProbe(u, 1), "success\u200brate", "name") },
			want:   "probe name must be a DNS-1123 label",
		},
		"a guard name holding an HTML tag": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				guards := u.Object["spec"].(map[string]any)["abort"].(map[string]any)["guards"].([]any)
				set(guards[0].(map[string]any), "<img src=x>", "name")
			},
			want: "guard name must be a DNS-1123 label",
		},
		"a Sloth SLO name holding a Markdown link": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(firstProbe(u, 1), "[budget](https://attacker.example)", "slo", "sloth", "slo")
			},
			want: "slo.sloth.slo must be the name of one of the PrometheusServiceLevel's slos",
		},
		"a Sloth SLO name holding a soft hyphen": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(firstProbe(u, 1), "requests\u00adavailability", "slo", "sloth", "slo")
			},
			want: "slo.sloth.slo must be the name of one of the PrometheusServiceLevel's slos",
		},
		"an OpenSLO name holding an HTML tag": {
			sample: "chaos_v1alpha1_experiment_slo_canary.yaml",
			mutate: func(u *unstructured.Unstructured) {
				set(firstProbe(u, 1), map[string]any{"configMap": "slos", "name": "<b>web</b>"}, "slo", "openSLO")
				set(firstProbe(u, 1), nil, "slo", "sloth")
			},
			want: "slo.openSLO.name must be the metadata.name of an SLO document",
		},
		"no probes": {
			sample: "chaos_v1alpha1_experiment_nodedrain.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, []any{}, "spec", "steadyState", "probes") },
			want:   "spec.steadyState.probes in body should have at least 1 items",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := loadSample(t, tc.sample)
			u.SetNamespace("invalid")
			u.SetName("invalid-" + strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(name, " ", "-"), "'", "")))
			tc.mutate(u)
			err := k8sClient.Create(ctx, u)
			if err == nil {
				t.Fatalf("accepted; want refusal containing %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not say what is wrong:\n got: %v\nwant: %q", err, tc.want)
			}
			for _, other := range tc.notWant {
				if strings.Contains(err.Error(), other) {
					t.Fatalf("error leads with an unrelated rule %q:\n got: %v", other, err)
				}
			}
		})
	}
}

func TestChaosPolicyMustBeNamedDefault(t *testing.T) {
	needAPIServer(t)
	u := loadSample(t, "chaos_v1alpha1_chaospolicy.yaml")
	u.SetName("strict")
	err := k8sClient.Create(t.Context(), u)
	if err == nil || !strings.Contains(err.Error(), "there is one ChaosPolicy and it must be named default") {
		t.Fatalf("want refusal naming the rule, got %v", err)
	}
}

func TestExperimentRunSpecIsImmutable(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "immutable")
	u := loadSample(t, "chaos_v1alpha1_experimentrun.yaml")
	u.SetNamespace("immutable")
	if err := k8sClient.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	set(u.Object, "another-experiment", "spec", "experimentRef", "name")
	err := k8sClient.Update(ctx, u)
	if err == nil || !strings.Contains(err.Error(), "ExperimentRun spec is immutable; create a new ExperimentRun instead") {
		t.Fatalf("want immutability refusal, got %v", err)
	}
}

// TestPrinterColumns asks the apiserver for a Table, as kubectl get does, and
// checks the columns users read.
func TestPrinterColumns(t *testing.T) {
	needAPIServer(t)
	tests := map[string]struct {
		resource string
		want     []string
	}{
		"experiments show schedule and the newest run's results": {
			resource: "experiments",
			want:     []string{"Name", "Schedule", "Suspended", "Last Verdict", "Last Recover", "Next Run", "Age"},
		},
		"experimentruns show measured times": {
			resource: "experimentruns",
			want:     []string{"Name", "Experiment", "Phase", "Verdict", "Detect", "Recover", "Age", "Message"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := rest.CopyConfig(restCfg)
			cfg.GroupVersion = &schema.GroupVersion{Group: "chaos.faultline.dev", Version: "v1alpha1"}
			cfg.APIPath = "/apis"
			cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
			rc, err := rest.RESTClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			body, err := rc.Get().Resource(tc.resource).
				SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
				DoRaw(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var table metav1.Table
			if err := json.Unmarshal(body, &table); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range table.ColumnDefinitions {
				got = append(got, c.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("columns:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestExperimentColumnsShowTheNewestRun: LAST VERDICT and LAST RECOVER are
// the newest finished run's, status.recent[0], and blank before any run
// finished.
func TestExperimentColumnsShowTheNewestRun(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "columns")
	exp := loadSample(t, "chaos_v1alpha1_experiment_podkill.yaml")
	exp.SetNamespace("columns")
	exp.SetName("newest-run")
	if err := k8sClient.Create(ctx, exp); err != nil {
		t.Fatal(err)
	}
	cells := func() map[string]any {
		t.Helper()
		cfg := rest.CopyConfig(restCfg)
		cfg.GroupVersion = &schema.GroupVersion{Group: "chaos.faultline.dev", Version: "v1alpha1"}
		cfg.APIPath = "/apis"
		cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
		rc, err := rest.RESTClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		body, err := rc.Get().Namespace("columns").Resource("experiments").Name("newest-run").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var table metav1.Table
		if err := json.Unmarshal(body, &table); err != nil {
			t.Fatal(err)
		}
		if len(table.Rows) != 1 {
			t.Fatalf("rows = %d, want 1", len(table.Rows))
		}
		out := map[string]any{}
		for i, c := range table.ColumnDefinitions {
			out[c.Name] = table.Rows[0].Cells[i]
		}
		return out
	}
	if got := cells(); got["Last Verdict"] != nil || got["Last Recover"] != nil {
		t.Errorf("before any run finished: Last Verdict %v, Last Recover %v; want both blank", got["Last Verdict"], got["Last Recover"])
	}

	patch := []byte(`{"status":{"recent":[
		{"name":"tuesday","verdict":"Failed","timeToRecover":"3m0s"},
		{"name":"monday","verdict":"Passed","timeToRecover":"40s"}]}}`)
	if err := k8sClient.Status().Patch(ctx, exp, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	if got := cells(); got["Last Verdict"] != "Failed" || got["Last Recover"] != "3m0s" {
		t.Errorf("Last Verdict %v, Last Recover %v; want recent[0]'s, Failed and 3m0s", got["Last Verdict"], got["Last Recover"])
	}
}

// corpusDir holds malformed manifests shared with the admission webhook's
// tests; the schema-* files are the ones the CRD schema and CEL alone refuse.
var corpusDir = filepath.Join("..", "..", "webhooks", "testdata", "corpus")

// corpusCase is one malformed manifest and what its refusal must say.
type corpusCase struct {
	file string
	want string
	why  string
	obj  *unstructured.Unstructured
}

// loadCorpusCase reads a corpus file: "# want:" and "# why:" comment lines,
// then one manifest.
func loadCorpusCase(t *testing.T, path string) corpusCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := corpusCase{file: filepath.Base(path), obj: &unstructured.Unstructured{}}
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		line = strings.TrimRight(line, "\n")
		if v, ok := strings.CutPrefix(line, "# want: "); ok {
			c.want = v
		}
		if v, ok := strings.CutPrefix(line, "# why: "); ok {
			c.why = v
		}
	}
	if c.want == "" || c.why == "" {
		t.Fatalf("%s: needs '# want: ' and '# why: ' comment lines before the manifest", c.file)
	}
	if err := yaml.Unmarshal(data, &c.obj.Object); err != nil {
		t.Fatalf("%s: %v", c.file, err)
	}
	switch c.obj.GetKind() {
	case "Experiment", "ExperimentRun":
		if c.obj.GetNamespace() != "corpus" {
			t.Fatalf("%s: namespaced manifests of the corpus belong in namespace corpus, not %q", c.file, c.obj.GetNamespace())
		}
	case "ChaosPolicy":
	default:
		t.Fatalf("%s: kind %q is not one of Faultline's", c.file, c.obj.GetKind())
	}
	return c
}

// TestSchemaCorpusIsRefused creates every schema-* corpus manifest against
// the real apiserver with the CRDs alone (no webhook) and asserts that each is
// refused with the message its want line names, and for one reason only: a
// manifest refused for two reasons would not prove the intended rule works.
func TestSchemaCorpusIsRefused(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "corpus")
	files, err := filepath.Glob(filepath.Join(corpusDir, "schema-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 75 {
		t.Fatalf("the schema corpus has %d manifests; want at least 75", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			c := loadCorpusCase(t, f)
			err := k8sClient.Create(ctx, c.obj)
			if err == nil {
				// Leave nothing behind that would make the next
				// ChaosPolicy case fail for AlreadyExists instead.
				_ = k8sClient.Delete(ctx, c.obj)
				t.Fatalf("accepted (%s); want a refusal containing %q", c.why, c.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error containing %q, got %v", c.want, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refusal does not name the rule:\n got: %v\nwant: %q", err, c.want)
			}
			// Every cause must be about one field: a manifest refused for
			// a second field proves nothing about the first. Causes
			// without a field ("<nil>") are notes: rules skipped after a
			// schema error, an integer's format.
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Details == nil {
				t.Fatalf("refusal carries no causes: %v", err)
			}
			fields := map[string]bool{}
			for _, cause := range status.Status().Details.Causes {
				if cause.Field != "" && cause.Field != "<nil>" {
					fields[cause.Field] = true
				}
			}
			if len(fields) > 1 {
				t.Fatalf("refused for %d fields; the manifest must be valid but for one:\n%v", len(fields), err)
			}
		})
	}
}

// typedClient talks to the apiserver with Faultline's Go types, as the
// operator does: fields the operator's types omit when empty are not sent.
func typedClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRunWrittenWithDryRunFalseCanBeFinalized is the stuck-run case: a run
// whose manifest writes out dryRun: false must still take the operator's
// finalizer, written by a client that drops the omitempty field, while a
// real change of the spec stays refused.
func TestRunWrittenWithDryRunFalseCanBeFinalized(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "dryrun")
	typed := typedClient(t)

	tests := map[string]struct {
		dryRun any // written out by the manifest; nil leaves it out
		change func(run *chaosv1alpha1.ExperimentRun) client.Patch
		usePut bool
		// refused is empty when the write must be accepted.
		refused string
	}{
		"dryRun false written out, finalizer added by update": {
			dryRun: false,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				run.Finalizers = append(run.Finalizers, chaosv1alpha1.RunFinalizer)
				return nil
			},
			usePut: true,
		},
		"dryRun false written out, finalizer added by merge patch": {
			dryRun: false,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				base := run.DeepCopy()
				run.Finalizers = append(run.Finalizers, chaosv1alpha1.RunFinalizer)
				return client.MergeFrom(base)
			},
		},
		"dryRun left out, update writes dryRun false": {
			dryRun: nil,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				return client.RawPatch(types.MergePatchType, []byte(`{"spec":{"dryRun":false},"metadata":{"finalizers":["`+chaosv1alpha1.RunFinalizer+`"]}}`))
			},
		},
		"dryRun false written out, experimentRef changed by update": {
			dryRun: false,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				run.Spec.ExperimentRef.Name = "another-experiment"
				return nil
			},
			usePut:  true,
			refused: "ExperimentRun spec is immutable; create a new ExperimentRun instead",
		},
		"dryRun false written out, dryRun turned on by update": {
			dryRun: false,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				run.Spec.DryRun = true
				return nil
			},
			usePut:  true,
			refused: "ExperimentRun spec is immutable; create a new ExperimentRun instead",
		},
		"dryRun true written out, dryRun dropped by update": {
			dryRun: true,
			change: func(run *chaosv1alpha1.ExperimentRun) client.Patch {
				run.Spec.DryRun = false
				return nil
			},
			usePut:  true,
			refused: "ExperimentRun spec is immutable; create a new ExperimentRun instead",
		},
	}
	i := 0
	for name, tc := range tests {
		i++
		t.Run(name, func(t *testing.T) {
			u := loadSample(t, "chaos_v1alpha1_experimentrun.yaml")
			u.SetNamespace("dryrun")
			u.SetGenerateName("")
			u.SetName(fmt.Sprintf("dry-run-case-%d", i))
			if tc.dryRun != nil {
				set(u.Object, tc.dryRun, "spec", "dryRun")
			}
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// Remove the finalizer so the namespace can be reused.
				_ = k8sClient.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
				_ = k8sClient.Delete(ctx, u)
			})
			run := &chaosv1alpha1.ExperimentRun{}
			if err := typed.Get(ctx, client.ObjectKeyFromObject(u), run); err != nil {
				t.Fatal(err)
			}
			want := run.Spec
			patch := tc.change(run)
			var err error
			if tc.usePut {
				err = typed.Update(ctx, run)
			} else {
				err = typed.Patch(ctx, run, patch)
			}
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("want refusal %q, got %v", tc.refused, err)
				}
				got := &chaosv1alpha1.ExperimentRun{}
				if err := typed.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
					t.Fatal(err)
				}
				if got.Spec != want {
					t.Fatalf("refused write changed the stored spec: %+v, was %+v", got.Spec, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("the operator's write was refused: %v", err)
			}
			got := &chaosv1alpha1.ExperimentRun{}
			if err := typed.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(got.Finalizers, chaosv1alpha1.RunFinalizer) {
				t.Fatalf("finalizer not stored: %v", got.Finalizers)
			}
			if got.Spec != want {
				t.Fatalf("spec changed: %+v, was %+v", got.Spec, want)
			}
		})
	}
}

// TestComparisonBoundsAreTheSamplesKept reads the generated CRDs: the
// markers must repeat MaxComparisonValues, the samples a run keeps of each
// comparison group, as the cap on values and on minSamples. A minSamples
// above the cap could never be met, and every run would end Inconclusive.
func TestComparisonBoundsAreTheSamplesKept(t *testing.T) {
	schemaOf := func(file string) map[string]any {
		data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", file))
		if err != nil {
			t.Fatal(err)
		}
		var crd map[string]any
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		versions := crd["spec"].(map[string]any)["versions"].([]any)
		return versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	}
	walk := func(s map[string]any, path ...string) map[string]any {
		for _, p := range path {
			s = s["properties"].(map[string]any)[p].(map[string]any)
		}
		return s
	}
	exp := schemaOf("chaos.faultline.dev_experiments.yaml")
	if got := walk(exp, "spec", "comparison", "minSamples")["maximum"]; got != float64(chaosv1alpha1.MaxComparisonValues) {
		t.Errorf("comparison.minSamples maximum is %v, want MaxComparisonValues %d", got, chaosv1alpha1.MaxComparisonValues)
	}
	run := schemaOf("chaos.faultline.dev_experimentruns.yaml")
	for _, group := range []string{"experiment", "control"} {
		if got := walk(run, "status", "comparison", group, "values")["maxItems"]; got != float64(chaosv1alpha1.MaxComparisonValues) {
			t.Errorf("status.comparison.%s.values maxItems is %v, want MaxComparisonValues %d", group, got, chaosv1alpha1.MaxComparisonValues)
		}
	}
}
