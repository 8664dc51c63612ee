package v1alpha1_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// matchers sets spec.remediation.matchers.
func matchers(u *unstructured.Unstructured, ms ...map[string]any) {
	list := make([]any, 0, len(ms))
	for _, m := range ms {
		list = append(list, m)
	}
	set(u.Object, list, "spec", "remediation", "matchers")
}

func TestRemediationMatchersAreAdmittedOrRefusedSayingWhatToWrite(t *testing.T) {
	needAPIServer(t)
	ctx := t.Context()
	ensureNamespace(ctx, t, "invalid")
	event := func(fields map[string]any) map[string]any { return map[string]any{"event": fields} }
	created := func(kind string, selector map[string]any) map[string]any {
		return map[string]any{"created": map[string]any{"kind": kind, "selector": selector}}
	}
	app := map[string]any{"matchLabels": map[string]any{"app": "checkout"}}
	tests := map[string]struct {
		sample string
		mutate func(u *unstructured.Unstructured)
		want   string // empty: admitted
	}{
		"an Event matcher and a creation matcher, with remediateWithin": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				matchers(u, event(map[string]any{"reason": "SuccessfulCreate", "involvedKind": "ReplicaSet", "namePattern": "checkout-*"}),
					created("ReplicaSet", app))
				set(u.Object, "30s", "spec", "objectives", "remediateWithin")
			},
		},
		"istio with remediateWithin and matchers": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) {
				matchers(u, event(map[string]any{"reason": "RolloutAborted", "involvedKind": "Rollout"}))
				set(u.Object, "1m", "spec", "objectives", "remediateWithin")
			},
		},
		"istio with remediateWithin and nothing declared": {
			sample: "chaos_v1alpha1_experiment_istio.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "1m", "spec", "objectives", "remediateWithin") },
			want:   "objectives.remediateWithin needs remediation.matchers for an istio fault",
		},
		"a matcher with both event and created": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				m := event(map[string]any{"reason": "SuccessfulCreate"})
				m["created"] = created("Pod", app)["created"]
				matchers(u, m)
			},
			want: "a remediation matcher sets exactly one of event or created",
		},
		"an empty matcher": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { matchers(u, map[string]any{}) },
			want:   "a remediation matcher sets exactly one of event or created",
		},
		"an Event reason that is a sentence": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { matchers(u, event(map[string]any{"reason": "created a pod"})) },
			want:   `remediation event reason must be an Event reason in CamelCase`,
		},
		"a name pattern that is a regular expression": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				matchers(u, event(map[string]any{"reason": "SuccessfulCreate", "namePattern": "checkout-.+"}))
			},
			want: `remediation event namePattern must be an object name where * stands for any characters`,
		},
		"a lowercase involved kind": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				matchers(u, event(map[string]any{"reason": "SuccessfulCreate", "involvedKind": "replicaset"}))
			},
			want: `remediation event involvedKind must be a Kubernetes kind`,
		},
		"a creation matcher with an empty selector": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { matchers(u, created("Pod", map[string]any{})) },
			want:   "remediation created.selector needs matchLabels or matchExpressions",
		},
		"a creation matcher of a kind Faultline does not list": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { matchers(u, created("Deployment", app)) },
			want:   `Unsupported value: "Deployment"`,
		},
		"nine matchers": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) {
				var ms []map[string]any
				for range 9 {
					ms = append(ms, event(map[string]any{"reason": "SuccessfulCreate"}))
				}
				matchers(u, ms...)
			},
			want: "must have at most 8 items",
		},
		"remediateWithin below a second": {
			sample: "chaos_v1alpha1_experiment_podkill.yaml",
			mutate: func(u *unstructured.Unstructured) { set(u.Object, "500ms", "spec", "objectives", "remediateWithin") },
			want:   `objectives.remediateWithin must be a duration between 1s and 24h, such as "30s"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			u := loadSample(t, tc.sample)
			u.SetNamespace("invalid")
			u.SetName("")
			u.SetGenerateName("remediation-")
			tc.mutate(u)
			err := k8sClient.Create(ctx, u)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("admitted; want a refusal saying %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("refused with %q; want it to say %q", err.Error(), tc.want)
			}
		})
	}
}
