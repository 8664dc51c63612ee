package rightstest_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// The users of the four-eyes tests, beside setUp's:
//   - erin: may annotate Experiments and kill pods in a, but may not create
//     runs (the triggerer RBAC keeps from starting runs);
//   - the ServiceAccount a/minted, made by a namespace admin and bound to
//     the approve verb (a second identity);
//   - frank: holds every verb on every chaos.faultline.dev resource in a,
//     status subresources included (resources ["*"]), and approves nothing.
const (
	erinName   = "erin"
	mintedName = "system:serviceaccount:a:minted"
	frankName  = "frank"
)

func fourEyesUsers(t *testing.T) (erin, minted, frank client.Client) {
	t.Helper()
	admin := cluster.admin
	ctx := t.Context()
	var objs []client.Object
	objs = append(objs, role("a", "erin", []string{erinName},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"experiments"}, Verbs: []string{"get", "list", "patch", "update"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	)...)
	objs = append(objs, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "minted-approver"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{faultlineGroup}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "list", "update", "patch", "approve"}}}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "minted-approver"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "minted-approver"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "a", Name: "minted"}},
		})
	objs = append(objs, role("a", "frank", []string{frankName},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"*"}, Verbs: []string{"get", "list", "create", "update", "patch"}},
	)...)
	// The operator creates run-now runs, as the Experiment controller does.
	objs = append(objs, role("a", "operator-runs", []string{operatorUsername},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "create"}},
	)...)
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	for _, want := range []struct{ user, verb, resource string }{
		{erinName, "patch", "experiments"},
		{mintedName, "approve", "experimentruns"},
		{frankName, "patch", "experimentruns"},
		{operatorUsername, "create", "experimentruns"},
	} {
		if err := waitAllowed(ctx, admin, want.user, want.verb, faultlineGroup, want.resource, "a"); err != nil {
			t.Fatal(err)
		}
	}
	return userClient(t, erinName), userClient(t, mintedName, "system:serviceaccounts", "system:serviceaccounts:a"), userClient(t, frankName)
}

// runNow sets the run-now annotation of Experiment name in a as c.
func runNow(ctx context.Context, c client.Client, name, token string) error {
	exp := &chaosv1alpha1.Experiment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "a", Name: name}, exp); err != nil {
		return err
	}
	before := exp.DeepCopy()
	if exp.Annotations == nil {
		exp.Annotations = map[string]string{}
	}
	exp.Annotations[chaosv1alpha1.RunNowAnnotation] = token
	return c.Patch(ctx, exp, client.MergeFrom(before))
}

// TestFourEyesHold covers the ways around "a run starts only with the
// right to start it, and is approved by another person": starting runs
// without create on experimentruns, approving a run one triggered,
// approving with a minted ServiceAccount, approving when the ChaosPolicy
// names other approvers, and writing a run's status by hand.
func TestFourEyesHold(t *testing.T) {
	u := setUp(t)
	erin, minted, frank := fourEyesUsers(t)
	admin := cluster.admin
	ctx := t.Context()
	var table outcomes
	defer table.log(t)

	exp := experiment("four-eyes", gated)
	if err := u.alice.Create(ctx, exp); err != nil {
		t.Fatalf("creating alice's gated Experiment: %v", err)
	}
	// A run the operator creates for bob's run-now request, as the
	// Experiment controller does: named for the token, carrying it.
	operatorRun := func(name, token string) *chaosv1alpha1.ExperimentRun {
		return &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name, Annotations: map[string]string{chaosv1alpha1.RunNowAnnotation: token}},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "four-eyes"}},
		}
	}
	operator := userClient(t, operatorUsername)
	plainRun := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "four-eyes-alice"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "four-eyes"}},
	}
	if err := u.alice.Create(ctx, plainRun); err != nil {
		t.Fatalf("alice creating a run: %v", err)
	}

	steps := []struct {
		name, user string
		do         func(context.Context) error
		refusal    []string
		// invalidAt is the field an Invalid refusal names; "" means a
		// refusal over who asks (Forbidden).
		invalidAt string
		after     func(t *testing.T)
	}{
		{
			name:    "erin, who may kill pods but not create runs, asking for a run with run-now, is refused",
			user:    erinName,
			do:      func(ctx context.Context) error { return runNow(ctx, erin, "four-eyes", "erin-1") },
			refusal: []string{`user "erin" may not create experimentruns.chaos.faultline.dev in namespace a`},
		},
		{
			name: "erin writing run-now-by by hand, is refused",
			user: erinName,
			do: func(ctx context.Context) error {
				e := &chaosv1alpha1.Experiment{}
				if err := erin.Get(ctx, client.ObjectKeyFromObject(exp), e); err != nil {
					return err
				}
				before := e.DeepCopy()
				e.Annotations[chaosv1alpha1.RunNowByAnnotation] = `{"token":"x","requester":{"username":"carol"}}`
				return erin.Patch(ctx, e, client.MergeFrom(before))
			},
			refusal:   []string{chaosv1alpha1.RunNowByAnnotation, "remove it"},
			invalidAt: "metadata.annotations[" + chaosv1alpha1.RunNowByAnnotation + "]",
		},
		{
			name: "carol asking alice's Experiment to run now, is stored, and the run records carol as its requester",
			user: "carol",
			do: func(ctx context.Context) error {
				if err := runNow(ctx, u.carol, "four-eyes", "carol-1"); err != nil {
					return err
				}
				return operator.Create(ctx, operatorRun("four-eyes-carol-1", "carol-1"))
			},
			after: func(t *testing.T) {
				run := &chaosv1alpha1.ExperimentRun{}
				if err := admin.Get(t.Context(), client.ObjectKey{Namespace: "a", Name: "four-eyes-carol-1"}, run); err != nil {
					t.Fatal(err)
				}
				if got := requesterOf(t, run); got != "carol" {
					t.Errorf("run-now run records requester %q, want carol who asked, not the author alice", got)
				}
			},
		},
		{
			name:    "carol approving the run her run-now started, is refused",
			user:    "carol",
			do:      func(ctx context.Context) error { return approve(ctx, u.carol, "four-eyes-carol-1") },
			refusal: []string{`user "carol" asked for this run`},
		},
		{
			name:    "alice approving a run of her own spec that carol asked for, is refused",
			user:    "alice",
			do:      func(ctx context.Context) error { return approve(ctx, u.alice, "four-eyes-carol-1") },
			refusal: []string{`user "alice"`},
		},
		{
			name:    "the minted ServiceAccount a/minted, holding the approve verb, approving alice's run, is refused",
			user:    mintedName,
			do:      func(ctx context.Context) error { return approve(ctx, minted, "four-eyes-alice") },
			refusal: []string{"is a ServiceAccount", "spec.approvers.serviceAccounts"},
		},
		{
			name: "frank, with patch on experimentruns/status, dropping the approval the snapshot requires, is refused",
			user: frankName,
			do: func(ctx context.Context) error {
				run := &chaosv1alpha1.ExperimentRun{}
				if err := frank.Get(ctx, client.ObjectKeyFromObject(plainRun), run); err != nil {
					return err
				}
				before := run.DeepCopy()
				run.Status.Phase = chaosv1alpha1.PhaseBaseline
				run.Status.Experiment = exp.Spec.DeepCopy()
				run.Status.Experiment.Approval = nil
				return frank.Status().Patch(ctx, run, client.MergeFrom(before))
			},
			refusal: []string{"is written only by the Faultline operator", `user "frank" may not write it`},
		},
		{
			name: "frank writing the operator's snapshot record by hand, is refused",
			user: frankName,
			do: func(ctx context.Context) error {
				run := &chaosv1alpha1.ExperimentRun{}
				if err := frank.Get(ctx, client.ObjectKeyFromObject(plainRun), run); err != nil {
					return err
				}
				before := run.DeepCopy()
				if run.Annotations == nil {
					run.Annotations = map[string]string{}
				}
				run.Annotations[chaosv1alpha1.SpecHashAnnotation] = "sha256:forged"
				return frank.Patch(ctx, run, client.MergeFrom(before))
			},
			refusal:   []string{chaosv1alpha1.SpecHashAnnotation, "cannot be changed"},
			invalidAt: "metadata.annotations[" + chaosv1alpha1.SpecHashAnnotation + "]",
		},
		{
			name: "bob approving while the ChaosPolicy names only release-managers, is refused",
			user: "bob",
			do: func(ctx context.Context) error {
				setApprovers(t, &chaosv1alpha1.Approvers{Groups: []string{"release-managers"}})
				return approve(ctx, u.bob, "four-eyes-alice")
			},
			refusal: []string{`user "bob" is not an approver the ChaosPolicy names`},
		},
		{
			name: "bob approving once the ChaosPolicy names him, is stored and pinned to the spec",
			user: "bob",
			do: func(ctx context.Context) error {
				setApprovers(t, &chaosv1alpha1.Approvers{Users: []string{"bob"}})
				return approve(ctx, u.bob, "four-eyes-alice")
			},
			after: func(t *testing.T) {
				run := &chaosv1alpha1.ExperimentRun{}
				if err := admin.Get(t.Context(), client.ObjectKeyFromObject(plainRun), run); err != nil {
					t.Fatal(err)
				}
				if got := run.Annotations[chaosv1alpha1.ApprovedSpecAnnotation]; len(got) != len("sha256:")+64 {
					t.Errorf("approval pinned to %q, want the sha256 of the spec bob approved", got)
				}
			},
		},
	}
	t.Cleanup(func() { setApprovers(t, nil) })
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.do(t.Context())
			table.add(s.name, s.user, err)
			if s.refusal != nil {
				refused(t, err, s.invalidAt, s.refusal...)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.after != nil {
				s.after(t)
			}
		})
	}
}

// setApprovers sets the ChaosPolicy's spec.approvers (nil removes it).
func setApprovers(t *testing.T, a *chaosv1alpha1.Approvers) {
	t.Helper()
	p := &chaosv1alpha1.ChaosPolicy{}
	if err := cluster.admin.Get(context.Background(), client.ObjectKey{Name: chaosv1alpha1.DefaultPolicyName}, p); err != nil {
		t.Fatalf("reading the ChaosPolicy: %v", err)
	}
	p.Spec.Approvers = a
	if err := cluster.admin.Update(context.Background(), p); err != nil {
		t.Fatalf("setting spec.approvers: %v", err)
	}
}
