package experimentrun_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/internal/stored"
)

// A ChaosPolicy the operator cannot decode may be the one holding the kill
// switch: runs must be held, not started under no policy at all.
func TestAnUndecodablePolicyHoldsEveryRun(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	exp := e.createExperiment(experimentSpec())
	e.createPolicy(chaosv1alpha1.ChaosPolicySpec{})
	patchSpec := func(spec map[string]any, opts ...client.PatchOption) error {
		raw, err := json.Marshal(map[string]any{"spec": spec})
		if err != nil {
			t.Fatal(err)
		}
		u := stored.NewPolicy()
		u.SetName(chaosv1alpha1.DefaultPolicyName)
		return e.c.Patch(context.Background(), u, client.RawPatch(types.MergePatchType, raw), opts...)
	}
	storeBehindTheSchema(t, e.c, "chaospolicies.chaos.faultline.dev",
		func() error { return patchSpec(map[string]any{"paused": "no, go ahead"}) },
		func() error { return patchSpec(map[string]any{"paused": "still no"}, client.DryRunAll) })

	key := e.createRun(exp.Name, false)
	run := e.drive(key, released)
	if run.Status.Timeline.StartedAt != nil && run.Status.Timeline.InjectedAt != nil {
		t.Fatalf("the run injected at %s under a policy that cannot be read", at(run.Status.Timeline.InjectedAt))
	}
	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive || !strings.Contains(run.Status.Message, "kill switch") {
		t.Errorf("verdict %q, message %q; want Inconclusive, held as by the kill switch", run.Status.Verdict, run.Status.Message)
	}
	if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
		t.Errorf("pods = %v, want all of %v", got, want)
	}
}
