package access_test

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

func withMatchers(spec *chaosv1alpha1.ExperimentSpec, ms ...chaosv1alpha1.RemediationMatcher) *chaosv1alpha1.ExperimentSpec {
	spec.Remediation = &chaosv1alpha1.RemediationSpec{Matchers: ms}
	return spec
}

// Remediation matchers read Events and new objects where they look: the
// requester must be able to list them there by hand.
func TestRequiredForRemediationMatchers(t *testing.T) {
	event := chaosv1alpha1.RemediationMatcher{Event: &chaosv1alpha1.RemediationEvent{Reason: "SuccessfulCreate"}}
	jobs := chaosv1alpha1.RemediationMatcher{Created: &chaosv1alpha1.RemediationCreated{Kind: chaosv1alpha1.RemediationCreatedJob,
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "fixer"}}}}
	cases := map[string]struct {
		spec *chaosv1alpha1.ExperimentSpec
		want []string
	}{
		"the defaults read only the pods a fault already lists": {
			spec: podKill(""),
			want: []string{"delete pods @shop", "list pods @shop"},
		},
		"matchers on a pod kill, list Events and Jobs in each target namespace": {
			spec: withMatchers(podKill(chaosv1alpha1.PodKillDelete, "a", "b"), event, jobs),
			want: []string{"delete pods @a", "list pods @a", "delete pods @b", "list pods @b",
				"list events @a", "list events @b", "list jobs.batch @a", "list jobs.batch @b"},
		},
		"matchers on a drain, list cluster-wide: it evicts pods of any namespace": {
			spec: withMatchers(nodeDrain("shop"), event),
			want: []string{"patch nodes @*", "create pods/eviction @*", "list pods @*", "list nodes @*", "list events @*"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, c := range rights.Required("shop", tc.spec) {
				got = append(got, right(c))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Required() =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
