package access_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/access"
)

// withSLOs adds a probe on a Sloth SLO in the Experiment's namespace, a
// guard on a Pyrra SLO in namespace slos, and a probe on an OpenSLO
// ConfigMap.
func withSLOs(spec *chaosv1alpha1.ExperimentSpec) *chaosv1alpha1.ExperimentSpec {
	spec.SteadyState.Probes = append(spec.SteadyState.Probes,
		chaosv1alpha1.Probe{Name: "availability", SLO: &chaosv1alpha1.SLOProbe{SLORef: chaosv1alpha1.SLORef{
			Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests"}}}},
		chaosv1alpha1.Probe{Name: "latency", SLO: &chaosv1alpha1.SLOProbe{SLORef: chaosv1alpha1.SLORef{
			OpenSLO: &chaosv1alpha1.OpenSLORef{ConfigMap: "checkout-slos", Name: "checkout-latency"}}}},
	)
	spec.Abort = &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
		Name: "burn",
		SLO: &chaosv1alpha1.SLOGuard{SLORef: chaosv1alpha1.SLORef{
			Pyrra: &chaosv1alpha1.PyrraSLORef{Name: "checkout-availability", Namespace: "slos"}}},
	}}}
	return spec
}

// An SLO is read by the run with the operator's rights: the requester must
// be able to get the very object by hand.
func TestRequiredForSLOReferences(t *testing.T) {
	var got []string
	for _, c := range rights.Required("shop", withSLOs(podKill(""))) {
		got = append(got, right(c))
	}
	want := []string{"delete pods @shop", "list pods @shop",
		"get prometheusservicelevels.sloth.slok.dev checkout @shop",
		"get configmaps checkout-slos @shop",
		"get servicelevelobjectives.pyrra.dev checkout-availability @slos"}
	if !slices.Equal(got, want) {
		t.Errorf("Required() =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestSLOReferencesAgainstRBAC(t *testing.T) {
	c := needAPIServer(t)
	checker := &access.Checker{Client: c}
	create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "slo-team"}})
	// erin may kill pods and read the team's Sloth SLOs, but not its
	// ConfigMaps.
	create(t, c, bindRole("slo-team", "slo-reader", "erin",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"sloth.slok.dev"}, Resources: []string{"prometheusservicelevels"}, Verbs: []string{"get"}},
	)...)
	erin := rights.Requester{Username: "erin", Groups: []string{"system:authenticated"}}

	sloth := podKill("", "slo-team")
	sloth.SteadyState.Probes = append(sloth.SteadyState.Probes, chaosv1alpha1.Probe{Name: "availability",
		SLO: &chaosv1alpha1.SLOProbe{SLORef: chaosv1alpha1.SLORef{Sloth: &chaosv1alpha1.SlothSLORef{Name: "checkout", SLO: "requests"}}}})
	eventually(t, "erin referencing a Sloth SLO she may read", func(ctx context.Context) error {
		return checker.CheckExperiment(ctx, erin, "slo-team", sloth)
	})

	err := checker.CheckExperiment(t.Context(), erin, "slo-team", withSLOs(podKill("", "slo-team")))
	if !rights.IsDenied(err) {
		t.Fatalf("CheckExperiment = %v; want the ConfigMap and the Pyrra SLO refused", err)
	}
	for _, want := range []string{
		`user "erin" may not get configmaps checkout-slos in namespace slo-team`, "OpenSLO document",
		`may not get servicelevelobjectives.pyrra.dev checkout-availability in namespace slos`, "Pyrra SLO",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "prometheusservicelevels") {
		t.Errorf("refusal %q names the Sloth SLO erin may read", err)
	}
}
