package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// TestCapsMatchTheCRD pins every bound the code keeps a run's status within
// to the maxItems the CRD enforces: a code cap above the CRD's would make
// status writes fail (and the run retry forever), one below would leave the
// CRD's bound untested.
func TestCapsMatchTheCRD(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "chaos.faultline.dev_experimentruns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	tests := map[string]struct {
		path string
		code int
	}{
		"targets a run records":           {"status.targets", chaosv1alpha1.MaxRunTargets},
		"evicted pods a node lists":       {"status.targets[].restore.node.evictedPods", chaosv1alpha1.MaxRecordedEvictedPods},
		"spared pods a node lists":        {"status.targets[].restore.node.sparedPods", chaosv1alpha1.MaxRecordedNodePods},
		"blocked pods a node lists":       {"status.targets[].restore.node.blockedPods", chaosv1alpha1.MaxRecordedNodePods},
		"sampling gaps a run lists":       {"status.timeline.gaps", MaxGaps},
		"values a comparison group keeps": {"status.comparison.experiment.values", maxGroupValues},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			node := root
			for _, part := range strings.Split(tc.path, ".") {
				items := strings.HasSuffix(part, "[]")
				props, _ := node["properties"].(map[string]any)
				next, ok := props[strings.TrimSuffix(part, "[]")].(map[string]any)
				if !ok {
					t.Fatalf("the CRD has no %s (stopped at %q)", tc.path, part)
				}
				node = next
				if items {
					node, _ = node["items"].(map[string]any)
				}
			}
			got, ok := node["maxItems"].(float64)
			if !ok {
				t.Fatalf("%s has no maxItems in the CRD; the code caps it at %d", tc.path, tc.code)
			}
			if int(got) != tc.code {
				t.Errorf("%s: the CRD's maxItems is %d, the code caps it at %d", tc.path, int(got), tc.code)
			}
		})
	}
}
