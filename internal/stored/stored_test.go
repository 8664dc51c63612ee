package stored_test

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/faultline-dev/faultline/internal/stored"
)

// experiment returns a stored Experiment with spec as given.
func experiment(name string, spec map[string]any) *unstructured.Unstructured {
	u := stored.NewExperiment()
	u.SetNamespace("shop")
	u.SetName(name)
	u.Object["spec"] = spec
	return u
}

func validSpec() map[string]any {
	return map[string]any{
		"duration":    "2m",
		"target":      map[string]any{"kind": "Pod", "mode": "One", "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}},
		"fault":       map[string]any{"podKill": map[string]any{}},
		"steadyState": map[string]any{"interval": "5s", "baseline": "10s"},
	}
}

func with(spec map[string]any, path []string, v any) map[string]any {
	m := spec
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = v
	return spec
}

func TestDecodeExperiment(t *testing.T) {
	cases := map[string]struct {
		spec      map[string]any
		wantField string // "" means it decodes
		wantText  string
	}{
		"a well-formed spec decodes": {spec: validSpec()},
		"a duration in years is malformed at spec.duration": {
			spec: with(validSpec(), []string{"duration"}, "1y"), wantField: "spec.duration: ", wantText: `"1y"`,
		},
		"a bad nested duration names the nested field": {
			spec: with(validSpec(), []string{"steadyState", "interval"}, "soon"), wantField: "spec.steadyState.interval: ",
		},
		"a string where a number belongs names the field": {
			spec: with(validSpec(), []string{"target", "value"}, "thirty"), wantField: "spec.target.value: ",
		},
		"a bad list element names its index": {
			spec: with(validSpec(), []string{"abort"}, map[string]any{"guards": []any{
				map[string]any{"name": "ok", "for": "10s"},
				map[string]any{"name": "bad", "for": "1y"},
			}}), wantField: "spec.abort.guards[1].for: ",
		},
		"a huge value with escapes is quoted bounded and without control characters": {
			spec: with(validSpec(), []string{"duration"}, "\x1b[31m"+strings.Repeat("9", 100000)+"y"), wantField: "spec.duration: ",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			exp, err := stored.DecodeExperiment(experiment("x", tc.spec))
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("DecodeExperiment: %v", err)
				}
				if exp.Spec.Duration == nil || exp.Spec.Duration.Duration.String() != "2m0s" {
					t.Fatalf("spec.duration decoded as %v, want 2m", exp.Spec.Duration)
				}
				return
			}
			var m *stored.MalformedError
			if !errors.As(err, &m) {
				t.Fatalf("DecodeExperiment error = %v, want a *MalformedError", err)
			}
			if m.Kind != "Experiment" || m.Namespace != "shop" || m.Name != "x" {
				t.Errorf("MalformedError names %s %s/%s, want Experiment shop/x", m.Kind, m.Namespace, m.Name)
			}
			msg := m.Err.Error()
			if !strings.HasPrefix(msg, tc.wantField) || !strings.Contains(msg, tc.wantText) {
				t.Errorf("reason = %q, want it to start with %q and contain %q", msg, tc.wantField, tc.wantText)
			}
			if len(msg) > 600 || strings.ContainsAny(msg, "\x1b\n") {
				t.Errorf("reason is %d bytes or holds control characters: %q", len(msg), msg[:min(len(msg), 80)])
			}
			if !strings.Contains(m.Error(), "shop/x") {
				t.Errorf("Error() = %q, want it to name shop/x", m.Error())
			}
		})
	}
}

func TestGetAndListExperiments(t *testing.T) {
	// The fake client decodes objects of registered kinds and would refuse
	// to hold the malformed one: without the Faultline types registered it
	// keeps Experiments as they are written, like the API server does.
	scheme := runtime.NewScheme()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		experiment("good", validSpec()),
		experiment("bad", with(validSpec(), []string{"duration"}, "1y")),
	).Build()
	ctx := t.Context()

	good, bad, err := stored.ListExperiments(ctx, c, client.InNamespace("shop"))
	if err != nil {
		t.Fatalf("ListExperiments: %v", err)
	}
	if len(good) != 1 || good[0].Name != "good" {
		t.Errorf("good = %v, want only shop/good", good)
	}
	if len(bad) != 1 || bad[0].Name != "bad" || !strings.HasPrefix(bad[0].Err.Error(), "spec.duration") {
		t.Errorf("bad = %v, want only shop/bad at spec.duration", bad)
	}

	if _, err := stored.GetExperiment(ctx, c, client.ObjectKey{Namespace: "shop", Name: "good"}); err != nil {
		t.Errorf("GetExperiment(good): %v", err)
	}
	var m *stored.MalformedError
	if _, err := stored.GetExperiment(ctx, c, client.ObjectKey{Namespace: "shop", Name: "bad"}); !errors.As(err, &m) {
		t.Errorf("GetExperiment(bad) error = %v, want a *MalformedError", err)
	}
	if _, err := stored.GetExperiment(ctx, c, client.ObjectKey{Namespace: "shop", Name: "gone"}); !apierrors.IsNotFound(err) {
		t.Errorf("GetExperiment(gone) error = %v, want NotFound", err)
	}
}
