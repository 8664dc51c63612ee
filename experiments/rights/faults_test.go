package rights_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// TestTheOperatorHoldsEveryRightAFaultDeclares reads the ClusterRole
// controller-gen writes from the RBAC markers: a fault whose declared
// rights the operator lacks would be admitted and then fail at run time.
func TestTheOperatorHoldsEveryRightAFaultDeclares(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(b, role); err != nil {
		t.Fatal(err)
	}
	holds := func(c rights.Check) bool {
		res := c.Resource
		if c.Subresource != "" {
			res += "/" + c.Subresource
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, c.Group) && slices.Contains(r.Resources, res) && slices.Contains(r.Verbs, c.Verb) {
				return true
			}
		}
		return false
	}
	specs := []*chaosv1alpha1.ExperimentSpec{
		{Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod}, Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}}},
		{Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod}, Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{Method: chaosv1alpha1.PodKillEvict}}},
		{Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetVirtualService}, Fault: chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{}}},
		{Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode}, Fault: chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}}},
	}
	declared := map[string]bool{}
	for _, f := range rights.Faults {
		for _, spec := range specs {
			if !f.Applies(spec) {
				continue
			}
			declared[f.Name] = true
			for _, c := range f.Rights(spec, []string{"shop"}) {
				if !holds(c) {
					t.Errorf("fault %s declares %s, which the operator's ClusterRole (config/rbac/role.yaml) does not hold: add the RBAC marker", f.Name, c.Describe())
				}
			}
		}
	}
	for _, f := range rights.Faults {
		if !declared[f.Name] {
			t.Errorf("fault %s applies to none of the test's specs: add one", f.Name)
		}
	}
}
