package experimentrun_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/policy"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// These tests run without the admission webhook, as a cluster would where
// it was removed or bypassed: a user who may write a run's status
// (experimentruns/status, which any rule on resources ["*"] grants) writes
// it by hand. The run controller must not take that status at its word.

// forgeStatus writes change into the stored run's status, as a user with
// the status subresource would.
func forgeStatus(e *env, key client.ObjectKey, change func(*chaosv1alpha1.ExperimentRun)) {
	e.t.Helper()
	run := e.getRun(key)
	before := run.DeepCopy()
	change(run)
	if err := e.c.Status().Patch(e.t.Context(), run, client.MergeFrom(before)); err != nil {
		e.t.Fatalf("forging status: %v", err)
	}
}

func gatedSpec() chaosv1alpha1.ExperimentSpec {
	s := experimentSpec()
	s.Approval = &chaosv1alpha1.ApprovalSpec{Required: true}
	return s
}

func pendingWith(msg string) func(*chaosv1alpha1.ExperimentRun) bool {
	return func(run *chaosv1alpha1.ExperimentRun) bool {
		return run != nil && run.Status.Phase == chaosv1alpha1.PhasePending && strings.Contains(run.Status.Message, msg)
	}
}

func TestAForgedStatusDoesNotStartAnUnapprovedRun(t *testing.T) {
	t.Run("dropping the approval the snapshot requires: the snapshot is taken again and the run still waits", func(t *testing.T) {
		e := newEnv(t)
		pods := e.createWeb()
		exp := e.createExperiment(gatedSpec())
		e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{prometheusAddress}})
		e.r.Access = &fakeRights{}
		key := e.createAnnotatedRun(exp.Name, map[string]string{chaosv1alpha1.RequestedByAnnotation: alice.Annotation()})
		e.drive(key, pendingWith("waiting for approval"))

		forgeStatus(e, key, func(run *chaosv1alpha1.ExperimentRun) { run.Status.Experiment.Approval = nil })
		run := e.drive(key, func(run *chaosv1alpha1.ExperimentRun) bool {
			return run.Status.Experiment != nil && run.Status.Experiment.Approval != nil && pendingWith("waiting for approval")(run)
		})
		if run.Status.Timeline.StartedAt != nil {
			t.Fatalf("the run started at %s after its snapshot was forged", at(run.Status.Timeline.StartedAt))
		}
		if n := countEvents(e.eventList(), corev1.EventTypeWarning, chaosv1alpha1.ReasonStatusTampered); n != 1 {
			t.Errorf("%d StatusTampered events, want 1", n)
		}
		if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
			t.Errorf("pods = %v, want all of %v", got, want)
		}
	})

	t.Run("moving an unapproved run past Pending: it is aborted and nothing is killed", func(t *testing.T) {
		e := newEnv(t)
		pods := e.createWeb()
		exp := e.createExperiment(gatedSpec())
		e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{prometheusAddress}})
		e.r.Access = &fakeRights{}
		key := e.createAnnotatedRun(exp.Name, map[string]string{chaosv1alpha1.RequestedByAnnotation: alice.Annotation()})
		e.drive(key, pendingWith("waiting for approval"))

		forgeStatus(e, key, func(run *chaosv1alpha1.ExperimentRun) {
			run.Status.Phase = chaosv1alpha1.PhaseBaseline
			now := metav1.NewMicroTime(e.clock.Now())
			run.Status.Timeline.StartedAt = &now
		})
		run := e.drive(key, released)
		if run.Status.Verdict != chaosv1alpha1.VerdictAborted || run.Status.Abort == nil || run.Status.Abort.Reason != chaosv1alpha1.AbortStatusTampered {
			t.Fatalf("verdict %q, abort %+v; want Aborted for StatusTampered", run.Status.Verdict, run.Status.Abort)
		}
		if len(run.Status.Targets) != 0 {
			t.Errorf("targets %+v, want none selected", run.Status.Targets)
		}
		if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
			t.Errorf("pods = %v, want all of %v", got, want)
		}
	})
}

func TestAnApprovalIsPinnedToTheSpecItApproved(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(gatedSpec())
	e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{prometheusAddress}})
	e.r.Access = &fakeRights{}
	key := e.createAnnotatedRun(exp.Name, map[string]string{chaosv1alpha1.RequestedByAnnotation: alice.Annotation()})
	e.drive(key, pendingWith("waiting for approval"))

	// Approved for another spec than the snapshot (as the webhook records
	// when a staged run is approved and its Experiment edited afterwards).
	other := gatedSpec()
	other.Target.Value = ptrInt32(2)
	run := e.getRun(key)
	before := run.DeepCopy()
	metav1.SetMetaDataAnnotation(&run.ObjectMeta, chaosv1alpha1.ApprovedAnnotation, "true")
	metav1.SetMetaDataAnnotation(&run.ObjectMeta, chaosv1alpha1.ApprovedByAnnotation, rights.Requester{Username: "bob"}.Annotation())
	metav1.SetMetaDataAnnotation(&run.ObjectMeta, chaosv1alpha1.ApprovedSpecAnnotation, policy.SpecHash(&other))
	if err := e.c.Patch(t.Context(), run, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}

	run = e.drive(key, func(run *chaosv1alpha1.ExperimentRun) bool {
		return run.Annotations[chaosv1alpha1.ApprovedAnnotation] == "" && pendingWith("waiting for approval")(run)
	})
	if run.Status.Timeline.StartedAt != nil {
		t.Fatalf("the run started at %s on an approval of another spec", at(run.Status.Timeline.StartedAt))
	}
	for _, k := range []string{chaosv1alpha1.ApprovedByAnnotation, chaosv1alpha1.ApprovedSpecAnnotation} {
		if v, ok := run.Annotations[k]; ok {
			t.Errorf("annotation %s = %q kept after the approval was voided", k, v)
		}
	}
	if n := countEvents(e.eventList(), corev1.EventTypeWarning, chaosv1alpha1.ReasonApprovalVoided); n != 1 {
		t.Errorf("%d ApprovalVoided events, want 1", n)
	}
}

func TestStartingARunNeedsTheRightToCreateRuns(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	e.createPolicy(chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{prometheusAddress}})
	e.r.Access = &fakeRights{denyStart: &rights.Denied{User: "alice", Verb: "create", Group: "chaos.faultline.dev", Resource: "experimentruns", Namespace: e.ns}}
	key := e.createAnnotatedRun(exp.Name, map[string]string{chaosv1alpha1.RequestedByAnnotation: alice.Annotation()})

	run := e.drive(key, released)
	if run.Status.Verdict != chaosv1alpha1.VerdictError || !strings.Contains(run.Status.Message, `user "alice" may not create experimentruns.chaos.faultline.dev`) {
		t.Fatalf("verdict %q, message %q; want Error saying alice may not create runs", run.Status.Verdict, run.Status.Message)
	}
}

func ptrInt32(v int32) *int32 { return &v }
