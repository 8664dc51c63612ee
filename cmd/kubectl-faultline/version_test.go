package main

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

func TestPluginVersion(t *testing.T) {
	tests := map[string]struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		"no build information is a development build": {want: "(devel)"},
		"a tagged build shows its version, commit and commit time": {
			info: &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "6512d5d"}, {Key: "vcs.time", Value: "2026-03-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"},
			}},
			ok:   true,
			want: "v0.4.0 (commit 6512d5d, built from a commit of 2026-03-01T10:00:00Z)",
		},
		"a build from a modified tree says so": {
			info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "6512d5d"}, {Key: "vcs.modified", Value: "true"},
			}},
			ok:   true,
			want: "(devel) (commit 6512d5d-dirty)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := pluginVersion(tc.info, tc.ok); got != tc.want {
				t.Errorf("pluginVersion = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Run("a reachable cluster lists the served API versions", func(t *testing.T) {
		h := newHarness(t, nil)
		// The fake client's own mapper knows no kinds: give it discovery's
		// answer for a cluster with Faultline's CRDs installed.
		mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{chaosv1alpha1.GroupVersion})
		for _, kind := range []string{"Experiment", "ExperimentRun"} {
			mapper.Add(chaosv1alpha1.GroupVersion.WithKind(kind), meta.RESTScopeNamespace)
		}
		mapper.Add(chaosv1alpha1.GroupVersion.WithKind("ChaosPolicy"), meta.RESTScopeRoot)
		c := fake.NewClientBuilder().WithScheme(h.client.Scheme()).WithRESTMapper(mapper).Build()
		h.app.connect = func() (client.WithWatch, string, error) { return c, "shop", nil }
		if code := h.execute("version"); code != 0 {
			t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
		}
		out := h.stdout.String()
		for _, want := range []string{"Plugin:  ", "Go:      go", "Cluster: chaos.faultline.dev v1alpha1\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout does not contain %q:\n%s", want, out)
			}
		}
	})
	t.Run("a cluster without Faultline's CRDs says so", func(t *testing.T) {
		h := newHarness(t, nil)
		if code := h.execute("version"); code != 0 {
			t.Fatalf("exit code %d\nstderr: %s", code, h.stderr.String())
		}
		if want := "Cluster: chaos.faultline.dev none (Faultline's CRDs are not installed)"; !strings.Contains(h.stdout.String(), want) {
			t.Errorf("stdout does not contain %q:\n%s", want, h.stdout.String())
		}
	})
	t.Run("an unreachable cluster is a note, not a failure", func(t *testing.T) {
		h := newHarness(t, nil)
		h.app.connect = func() (client.WithWatch, string, error) { return nil, "", errors.New("no kubeconfig") }
		if code := h.execute("version"); code != 0 {
			t.Fatalf("exit code %d, want 0\nstderr: %s", code, h.stderr.String())
		}
		if !strings.Contains(h.stdout.String(), "Plugin:  ") || strings.Contains(h.stdout.String(), "Cluster:") {
			t.Errorf("stdout:\n%s\nwant the plugin's version and no cluster line", h.stdout.String())
		}
		if !strings.Contains(h.stderr.String(), "note: cannot read the API versions the cluster serves: no kubeconfig") {
			t.Errorf("stderr does not note the cluster error:\n%s", h.stderr.String())
		}
	})
}
