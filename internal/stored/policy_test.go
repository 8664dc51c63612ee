package stored_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

func TestThePolicyIsReadOneWay(t *testing.T) {
	// The kind is not registered: the fake client stores what it is given,
	// as an API server stores what an older schema let through.
	scheme := runtime.NewScheme()
	policy := func(spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": chaosv1alpha1.DefaultPolicyName}, "spec": spec}}
		u.SetGroupVersionKind(stored.PolicyGVK)
		return u
	}
	tests := map[string]struct {
		stored     *unstructured.Unstructured
		wantNil    bool
		wantPaused bool
		wantNote   string
	}{
		"no policy: nil, the defaults apply":    {wantNil: true},
		"a readable policy is read as it is":    {stored: policy(map[string]any{"paused": false, "allowedProviderAddresses": []any{"http://p:9090"}})},
		"a paused policy is paused":             {stored: policy(map[string]any{"paused": true}), wantPaused: true},
		"an undecodable policy holds every run": {stored: policy(map[string]any{"paused": "yes"}), wantPaused: true, wantNote: "spec.paused"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme)
			if tc.stored != nil {
				b = b.WithObjects(tc.stored)
			}
			p, note, err := stored.PolicyOrHold(t.Context(), b.Build())
			if err != nil {
				t.Fatal(err)
			}
			if (p == nil) != tc.wantNil {
				t.Fatalf("policy = %+v, want nil %v", p, tc.wantNil)
			}
			if p != nil && p.Spec.Paused != tc.wantPaused {
				t.Errorf("paused = %v, want %v", p.Spec.Paused, tc.wantPaused)
			}
			if (note == "") != (tc.wantNote == "") || !strings.Contains(note, tc.wantNote) {
				t.Errorf("note = %q, want one naming %q", note, tc.wantNote)
			}
		})
	}
}
