package webhooks

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The schema bounds a creation matcher's selector; the webhook refuses
// what its keys, values and operators would make match nothing.
func TestRemediationSelectorsAreChecked(t *testing.T) {
	tests := map[string]struct {
		selector metav1.LabelSelector
		want     string // empty: admitted
	}{
		"labels pass": {selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}}},
		"an expression passes": {selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"checkout"}}}}},
		"a key with a space is refused": {selector: metav1.LabelSelector{MatchLabels: map[string]string{"my app": "checkout"}},
			want: "spec.remediation.matchers[1].created.selector.matchLabels: Invalid value: \"my app\""},
		"an unknown operator is refused": {selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: "Matches", Values: []string{"checkout"}}}},
			want: "write matchLabels such as {app: checkout}"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := &chaosv1alpha1.ExperimentSpec{Remediation: &chaosv1alpha1.RemediationSpec{Matchers: []chaosv1alpha1.RemediationMatcher{
				{Event: &chaosv1alpha1.RemediationEvent{Reason: "SuccessfulCreate"}},
				{Created: &chaosv1alpha1.RemediationCreated{Kind: chaosv1alpha1.RemediationCreatedJob, Selector: tc.selector}},
			}}}
			var mine []string
			for _, e := range validateExperimentSpec(spec, "shop") {
				if strings.HasPrefix(e.Field, "spec.remediation.") {
					mine = append(mine, e.Error())
				}
			}
			switch {
			case tc.want == "" && len(mine) > 0:
				t.Fatalf("refused: %v", mine)
			case tc.want != "" && (len(mine) == 0 || !strings.Contains(strings.Join(mine, "\n"), tc.want)):
				t.Fatalf("problems %q, want one containing %q", mine, tc.want)
			}
		})
	}
}
