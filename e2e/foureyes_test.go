//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/e2e/harness"
)

// The limited users of the four-eyes tests: ServiceAccounts of the shop
// namespace with Roles of their own, as a platform team would grant them,
// each with a token as its pod would have.
//   - fe-author writes Experiments and runs and may kill shop pods;
//   - fe-trigger may annotate Experiments and kill pods, but may not create
//     runs;
//   - fe-approver may annotate Experiments, create runs and kill pods, and
//     holds the approve verb; the ChaosPolicy names it an approver;
//   - fe-minted holds the approve verb, as a ServiceAccount a namespace
//     admin mints would, and is not named;
//   - fe-status holds every verb on chaos.faultline.dev resources in shop,
//     status subresources included (resources ["*"]).
var fourEyesUsers = map[string][]rbacv1.PolicyRule{
	"fe-author": {
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"experiments", "experimentruns"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	},
	"fe-trigger": {
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"experiments"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	},
	"fe-approver": {
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"experiments"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "list", "create", "patch", "approve"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	},
	"fe-minted": {
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "list", "patch", "approve"}},
	},
	"fe-status": {
		{APIGroups: []string{"chaos.faultline.dev"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "create", "update", "patch"}},
	},
}

// limitedClients creates the ServiceAccounts, Roles and RoleBindings of
// fourEyesUsers in shop (removed when the test ends) and returns a client
// for each, authenticated with its own token.
func limitedClients(t *testing.T) map[string]client.Client {
	t.Helper()
	ctx := t.Context()
	out := map[string]client.Client{}
	for name, rules := range fourEyesUsers {
		objs := []client.Object{
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: harness.ShopNamespace, Name: name}},
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: harness.ShopNamespace, Name: name}, Rules: rules},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: harness.ShopNamespace, Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: harness.ShopNamespace, Name: name}},
			},
		}
		for _, o := range objs {
			if err := tb.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating %T %s: %v", o, name, err)
			}
			t.Cleanup(func() { _ = tb.Client.Delete(context.Background(), o) })
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", tb.ServiceAccountKubeconfig(t, harness.ShopNamespace, name))
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(cfg, client.Options{Scheme: tb.Client.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = c
	}
	// RBAC answers from an informer: wait until the last grant is seen.
	harness.WaitFor(t, 30*time.Second, "the four-eyes users' rights", func(ctx context.Context) (bool, error) {
		runs := &chaosv1alpha1.ExperimentRunList{}
		return out["fe-minted"].List(ctx, runs, client.InNamespace(harness.ShopNamespace)) == nil &&
			out["fe-status"].List(ctx, runs, client.InNamespace(harness.ShopNamespace)) == nil, nil
	})
	return out
}

// setApprovers sets the ChaosPolicy's spec.approvers, put back as it was
// when the test ends.
func setApprovers(t *testing.T, a *chaosv1alpha1.Approvers) {
	t.Helper()
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := tb.Client.Get(t.Context(), client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
		t.Fatal(err)
	}
	was := p.Spec.Approvers
	base := p.DeepCopy()
	p.Spec.Approvers = a
	if err := tb.Client.Patch(t.Context(), p, client.MergeFrom(base)); err != nil {
		t.Fatalf("setting spec.approvers: %v", err)
	}
	t.Cleanup(func() {
		p := &chaosv1alpha1.ChaosPolicy{}
		if err := tb.Client.Get(context.Background(), client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
			return
		}
		base := p.DeepCopy()
		p.Spec.Approvers = was
		_ = tb.Client.Patch(context.Background(), p, client.MergeFrom(base))
	})
}

func annotateObject(ctx context.Context, c client.Client, obj client.Object, kv map[string]string) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	base := obj.DeepCopyObject().(client.Object)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range kv {
		ann[k] = v
	}
	obj.SetAnnotations(ann)
	return c.Patch(ctx, obj, client.MergeFrom(base))
}

// requireRefused asserts err refuses who asked: every refusal of this
// test is over rights or the four-eyes rule, which the webhooks answer
// Forbidden, as RBAC does.
func requireRefused(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want a refusal naming %q", what, fragments)
	}
	if !apierrors.IsForbidden(err) {
		t.Fatalf("%s: refused as %s, want Forbidden: %v", what, apierrors.ReasonForError(err), err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("%s: refusal %q does not say %q", what, err, f)
		}
	}
	t.Logf("%s: refused: %v", what, err)
}

// TestFourEyesOnTheTestbed tries, as limited users with the webhooks
// served, every way around "who may start and approve a run", then runs
// the approved run, and voids an approval by editing the Experiment after
// it.
func TestFourEyesOnTheTestbed(t *testing.T) {
	tb.RequireSteadyState(t)
	tb.RestoreShopOnCleanup(t)
	users := limitedClients(t)
	setApprovers(t, &chaosv1alpha1.Approvers{ServiceAccounts: []string{harness.ShopNamespace + "/fe-approver"}})
	ctx := t.Context()

	exp := tb.PodKillExperiment("four-eyes")
	exp.Spec.Approval = &chaosv1alpha1.ApprovalSpec{Required: true}
	if err := users["fe-author"].Create(ctx, exp); err != nil {
		t.Fatalf("fe-author creating the gated Experiment: %v", err)
	}
	t.Cleanup(func() { _ = tb.Client.Delete(context.Background(), exp) })

	requireRefused(t, "fe-trigger, who may not create runs, setting run-now",
		annotateObject(ctx, users["fe-trigger"], &chaosv1alpha1.Experiment{ObjectMeta: exp.ObjectMeta},
			map[string]string{chaosv1alpha1.RunNowAnnotation: "trigger-1"}),
		`may not create experimentruns.chaos.faultline.dev in namespace shop`)

	// fe-approver asks for a run itself: the operator records it as the
	// requester, and it may then not approve that run.
	if err := annotateObject(ctx, users["fe-approver"], &chaosv1alpha1.Experiment{ObjectMeta: exp.ObjectMeta},
		map[string]string{chaosv1alpha1.RunNowAnnotation: "approver-1"}); err != nil {
		t.Fatalf("fe-approver setting run-now: %v", err)
	}
	triggered := &chaosv1alpha1.ExperimentRun{}
	harness.WaitFor(t, 30*time.Second, "the run-now run", func(ctx context.Context) (bool, error) {
		runs := &chaosv1alpha1.ExperimentRunList{}
		if err := tb.Client.List(ctx, runs, client.InNamespace(harness.ShopNamespace)); err != nil {
			return false, err
		}
		for _, r := range runs.Items {
			if r.Spec.ExperimentRef.Name == exp.Name && r.Annotations[chaosv1alpha1.RunNowAnnotation] == "approver-1" {
				*triggered = r
				return true, nil
			}
		}
		return false, nil
	})
	if got := requesterName(t, triggered); got != "system:serviceaccount:shop:fe-approver" {
		t.Fatalf("the run-now run records requester %q, want fe-approver who asked", got)
	}
	requireRefused(t, "fe-approver approving the run its own run-now started",
		annotateObject(ctx, users["fe-approver"], triggered, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}),
		"asked for this run")
	_ = tb.Client.Delete(ctx, triggered)

	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: harness.ShopNamespace, Name: "four-eyes-1"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
	}
	if err := users["fe-author"].Create(ctx, run); err != nil {
		t.Fatalf("fe-author creating a run: %v", err)
	}
	t.Cleanup(func() { _ = tb.Client.Delete(context.Background(), run) })
	harness.WaitFor(t, 30*time.Second, "the run to wait for approval", runWaiting(run, "waiting for approval"))

	requireRefused(t, "fe-author approving its own run",
		annotateObject(ctx, users["fe-author"], &chaosv1alpha1.ExperimentRun{ObjectMeta: run.ObjectMeta}, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}),
		"asked for this run")
	requireRefused(t, "fe-minted, a ServiceAccount with the approve verb the policy does not name, approving",
		annotateObject(ctx, users["fe-minted"], &chaosv1alpha1.ExperimentRun{ObjectMeta: run.ObjectMeta}, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}),
		"not listed in the ChaosPolicy's spec.approvers.serviceAccounts")
	forged := &chaosv1alpha1.ExperimentRun{}
	if err := users["fe-status"].Get(ctx, client.ObjectKeyFromObject(run), forged); err != nil {
		t.Fatal(err)
	}
	base := forged.DeepCopy()
	forged.Status.Experiment.Approval = nil
	requireRefused(t, "fe-status dropping the approval from the run's snapshot",
		users["fe-status"].Status().Patch(ctx, forged, client.MergeFrom(base)),
		"is written only by the Faultline operator")

	if err := annotateObject(ctx, users["fe-approver"], &chaosv1alpha1.ExperimentRun{ObjectMeta: run.ObjectMeta}, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}); err != nil {
		t.Fatalf("fe-approver approving fe-author's run: %v", err)
	}
	done := tb.WaitRunCompleted(t, run, 3*time.Minute)
	if done.Status.Verdict != chaosv1alpha1.VerdictPassed || done.Status.Approval == nil || done.Status.Approval.ApprovedBy != "system:serviceaccount:shop:fe-approver" {
		t.Fatalf("approved run: verdict %q, approval %+v, message %q; want Passed, approved by fe-approver", done.Status.Verdict, done.Status.Approval, done.Status.Message)
	}

	// A scheduled run, staged ahead of its schedule time and approved
	// before it takes its snapshot, then the Experiment edited: the
	// approval was for the spec before the edit, and the run waits for a
	// new one instead of injecting the edited spec.
	tb.RequireSteadyState(t)
	cron := tb.PodKillExperiment("four-eyes-cron")
	cron.Spec.Approval = &chaosv1alpha1.ApprovalSpec{Required: true}
	cron.Spec.Schedule = "* * * * *"
	if err := users["fe-author"].Create(ctx, cron); err != nil {
		t.Fatalf("fe-author creating a scheduled gated Experiment: %v", err)
	}
	t.Cleanup(func() { _ = tb.Client.Delete(context.Background(), cron) })
	staged := &chaosv1alpha1.ExperimentRun{}
	harness.WaitFor(t, 90*time.Second, "a staged run of the schedule", func(ctx context.Context) (bool, error) {
		runs := &chaosv1alpha1.ExperimentRunList{}
		if err := tb.Client.List(ctx, runs, client.InNamespace(harness.ShopNamespace)); err != nil {
			return false, err
		}
		for _, r := range runs.Items {
			at, err := time.Parse(time.RFC3339, r.Annotations[chaosv1alpha1.ScheduledAtAnnotation])
			// Room to approve and edit before it falls due.
			if r.Spec.ExperimentRef.Name == cron.Name && err == nil && r.Status.Experiment == nil && time.Until(at) > 5*time.Second {
				*staged = r
				return true, nil
			}
		}
		return false, nil
	})
	if err := annotateObject(ctx, users["fe-approver"], &chaosv1alpha1.ExperimentRun{ObjectMeta: staged.ObjectMeta}, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}); err != nil {
		t.Fatalf("fe-approver approving the staged run: %v", err)
	}
	edited := &chaosv1alpha1.Experiment{}
	if err := users["fe-author"].Get(ctx, client.ObjectKeyFromObject(cron), edited); err != nil {
		t.Fatal(err)
	}
	edited.Spec.SteadyState.Baseline = metav1.Duration{Duration: 4 * time.Second}
	if err := users["fe-author"].Update(ctx, edited); err != nil {
		t.Fatalf("fe-author editing the Experiment after approval: %v", err)
	}
	harness.WaitFor(t, time.Minute, "the staged run to void its approval", func(ctx context.Context) (bool, error) {
		got := &chaosv1alpha1.ExperimentRun{}
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(staged), got); err != nil {
			return false, err
		}
		if got.Status.Timeline.StartedAt != nil {
			return false, fmt.Errorf("%w: the run started on an approval of the spec before the edit", harness.ErrGiveUp)
		}
		_, approved := got.Annotations[chaosv1alpha1.ApprovedAnnotation]
		return got.Status.Experiment != nil && !approved && got.Status.Phase == chaosv1alpha1.PhasePending &&
			strings.Contains(got.Status.Message, "waiting for approval"), fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
	})
	if err := annotateObject(ctx, users["fe-approver"], &chaosv1alpha1.ExperimentRun{ObjectMeta: staged.ObjectMeta}, map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}); err != nil {
		t.Fatalf("fe-approver approving the edited spec: %v", err)
	}
	done = tb.WaitRunCompleted(t, staged, 3*time.Minute)
	if done.Status.Verdict != chaosv1alpha1.VerdictPassed || done.Status.Experiment.SteadyState.Baseline.Duration != 4*time.Second {
		t.Fatalf("re-approved scheduled run: verdict %q, baseline %s; want Passed with the edited spec", done.Status.Verdict, done.Status.Experiment.SteadyState.Baseline.Duration)
	}
	// No further scheduled run waits for approval after the test.
	if err := tb.Client.Delete(ctx, cron); err != nil {
		t.Fatal(err)
	}
}

// runWaiting is true once run is Pending with a message containing msg.
func runWaiting(run *chaosv1alpha1.ExperimentRun, msg string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		got := &chaosv1alpha1.ExperimentRun{}
		if err := tb.Client.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
			return false, err
		}
		return got.Status.Phase == chaosv1alpha1.PhasePending && strings.Contains(got.Status.Message, msg), fmt.Errorf("phase %q: %s", got.Status.Phase, got.Status.Message)
	}
}

func requesterName(t *testing.T, obj metav1.Object) string {
	t.Helper()
	var who struct {
		Username string `json:"username"`
	}
	if err := json.Unmarshal([]byte(obj.GetAnnotations()[chaosv1alpha1.RequestedByAnnotation]), &who); err != nil {
		t.Fatalf("%s: requested-by: %v", obj.GetName(), err)
	}
	return who.Username
}
