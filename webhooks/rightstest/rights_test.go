package rightstest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
)

// The cluster every test here shares: namespaces a and b opted in, a
// ChaosPolicy allowing one Prometheus, and four users.
//   - alice: may write Experiments and runs, kill pods and read Deployments
//     in namespace a only; no approve verb, no Secrets.
//   - bob: may read and patch runs in a, and holds the approve verb there.
//   - dave: may read and patch runs in a, without the approve verb.
//   - carol: cluster-admin.
const (
	allowedProvider = "http://prometheus.monitoring:9090"
	faultlineGroup  = "chaos.faultline.dev"
)

type users struct {
	alice, bob, dave, carol client.Client
}

var (
	setupOnce sync.Once
	setupErr  error
	theUsers  users
)

// setUp builds the shared cluster once, and waits until RBAC answers with
// every grant: the authorizer reads Roles from an informer, and a refusal
// seen before it caught up would prove nothing.
func setUp(t *testing.T) users {
	t.Helper()
	admin := needCluster(t)
	setupOnce.Do(func() { setupErr = buildCluster(t, admin) })
	if setupErr != nil {
		t.Fatalf("setting up the cluster: %v", setupErr)
	}
	return theUsers
}

func buildCluster(t *testing.T, admin client.Client) error {
	ctx := t.Context()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"}}},
		&chaosv1alpha1.ChaosPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
			Spec:       chaosv1alpha1.ChaosPolicySpec{AllowedProviderAddresses: []string{allowedProvider}},
		},
	}
	objs = append(objs, role("a", "alice", []string{"alice"},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"experiments", "experimentruns"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
	)...)
	objs = append(objs, role("a", "approver", []string{"bob"},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "list", "update", "patch", "approve"}},
	)...)
	objs = append(objs, role("a", "run-editor", []string{"dave"},
		rbacv1.PolicyRule{APIGroups: []string{faultlineGroup}, Resources: []string{"experimentruns"}, Verbs: []string{"get", "list", "update", "patch"}},
	)...)
	objs = append(objs, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "carol-cluster-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "carol"}},
	})
	for _, o := range objs {
		if err := admin.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	theUsers = users{
		alice: userClient(t, "alice", "team-a"),
		bob:   userClient(t, "bob"),
		dave:  userClient(t, "dave"),
		carol: userClient(t, "carol"),
	}
	for _, want := range []struct {
		user                         string
		verb, group, resource, where string
	}{
		{"alice", "create", faultlineGroup, "experiments", "a"},
		{"alice", "delete", "", "pods", "a"},
		{"alice", "get", "apps", "deployments", "a"},
		{"bob", "approve", faultlineGroup, "experimentruns", "a"},
		{"dave", "patch", faultlineGroup, "experimentruns", "a"},
		{"carol", "patch", "", "nodes", ""},
	} {
		if err := waitAllowed(ctx, admin, want.user, want.verb, want.group, want.resource, want.where); err != nil {
			return err
		}
	}
	return nil
}

// role is a Role in ns with rules, bound to users.
func role(ns, name string, users []string, rules ...rbacv1.PolicyRule) []client.Object {
	var subjects []rbacv1.Subject
	for _, u := range users {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u})
	}
	return []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   subjects,
		},
	}
}

func waitAllowed(ctx context.Context, admin client.Client, user, verb, group, resource, ns string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: ns},
		}}
		if err := admin.Create(ctx, sar); err != nil {
			return fmt.Errorf("asking whether %s may %s %s: %w", user, verb, resource, err)
		}
		if sar.Status.Allowed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("RBAC never allowed %s to %s %s in %q", user, verb, resource, ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// experiment is a valid Experiment in namespace a that kills a web pod in
// a, probes the web Deployment and the allowed Prometheus; change adjusts it.
func experiment(name string, change func(*chaosv1alpha1.ExperimentSpec)) *chaosv1alpha1.Experiment {
	exp := &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name},
		Spec: chaosv1alpha1.ExperimentSpec{
			Target: chaosv1alpha1.TargetSpec{
				Kind:     chaosv1alpha1.TargetPod,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			},
			Fault:    chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
			Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{Address: allowedProvider}},
			SteadyState: chaosv1alpha1.SteadyStateSpec{Probes: []chaosv1alpha1.Probe{
				{Name: "web-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web"}},
				{Name: "up", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: `up{job="web"}`},
					Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "1"}},
			}},
		},
	}
	if change != nil {
		change(&exp.Spec)
	}
	return exp
}

func targeting(namespaces ...string) func(*chaosv1alpha1.ExperimentSpec) {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.Target.Namespaces = namespaces }
}

func drain(s *chaosv1alpha1.ExperimentSpec) {
	s.Target.Kind = chaosv1alpha1.TargetNode
	s.Target.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "chaos"}}
	s.Fault = chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}}
	s.Duration = &metav1.Duration{Duration: 2 * time.Minute}
}

func withSecret(s *chaosv1alpha1.ExperimentSpec) {
	s.Provider.Prometheus.Auth = &chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBearer, SecretName: "prom-token"}
}

func atProvider(address string) func(*chaosv1alpha1.ExperimentSpec) {
	return func(s *chaosv1alpha1.ExperimentSpec) { s.Provider.Prometheus.Address = address }
}

func gated(s *chaosv1alpha1.ExperimentSpec) {
	s.Approval = &chaosv1alpha1.ApprovalSpec{Required: true}
}

// outcomes collects what each case did, for the table the test prints.
type outcomes struct {
	mu   sync.Mutex
	rows [][3]string
}

func (o *outcomes) add(name, user string, err error) {
	got := "stored"
	if err != nil {
		// The API server's prefix names the webhook; the table shows what
		// the user is told.
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, "denied the request: "); ok {
			msg = after
		}
		if len(msg) > 120 {
			msg = msg[:120] + "..."
		}
		got = "refused: " + msg
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rows = append(o.rows, [3]string{name, user, got})
}

func (o *outcomes) log(t *testing.T) {
	t.Helper()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "\nCASE\tUSER\tOUTCOME")
	for _, r := range o.rows {
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	_ = w.Flush()
	t.Log(b.String())
}

// refused asserts err is the API server passing on a webhook's refusal and
// that its message holds every fragment. A refusal over who asks (a right
// the user lacks, an approval they may not give) is Forbidden; one over
// what the object holds is Invalid, with a cause on the field invalidAt
// names. invalidAt is "" for the first kind.
func refused(t *testing.T, err error, invalidAt string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("stored, want a refusal naming %q", fragments)
	}
	switch {
	case invalidAt == "" && !apierrors.IsForbidden(err):
		t.Fatalf("got %v (%s), want a webhook refusal over rights (Forbidden)", err, apierrors.ReasonForError(err))
	case invalidAt != "" && !apierrors.IsInvalid(err):
		t.Fatalf("got %v (%s), want a webhook refusal of %s (Invalid)", err, apierrors.ReasonForError(err), invalidAt)
	case invalidAt != "":
		var status apierrors.APIStatus
		var fields []string
		if errors.As(err, &status) && status.Status().Details != nil {
			for _, c := range status.Status().Details.Causes {
				fields = append(fields, c.Field)
			}
		}
		if !slices.Contains(fields, invalidAt) {
			t.Errorf("refusal names %q, want %s: %v", fields, invalidAt, err)
		}
	}
	if !strings.Contains(err.Error(), "admission webhook") {
		t.Errorf("refusal %q does not come from an admission webhook: RBAC, not Faultline, refused it", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal %q does not contain %q", err, f)
		}
	}
}

// requesterOf reads the recorded requester of a stored object.
func requesterOf(t *testing.T, obj metav1.Object) string {
	t.Helper()
	r, err := rights.RequesterOf(obj)
	if err != nil {
		t.Fatalf("stored %s: %v", obj.GetName(), err)
	}
	return r.Username
}

// TestNamespaceUserCannotReachFurtherThanTheirRights creates Experiments as
// alice and as a cluster admin, through the API server and the webhooks.
func TestNamespaceUserCannotReachFurtherThanTheirRights(t *testing.T) {
	u := setUp(t)
	admin := cluster.admin
	var table outcomes
	defer table.log(t)

	cases := []struct {
		name string
		user string
		as   client.Client
		exp  *chaosv1alpha1.Experiment
		// refusal holds the fragments the refusal must contain; nil
		// means the Experiment is stored. invalidAt is the field an
		// Invalid refusal names; "" means a refusal over rights.
		refusal   []string
		invalidAt string
	}{
		{
			name: "alice targeting her own namespace, is stored",
			user: "alice", as: u.alice,
			exp: experiment("alice-in-a", targeting("a")),
		},
		{
			name: "alice targeting namespace b from a, is refused delete pods in b",
			user: "alice", as: u.alice,
			exp:     experiment("alice-in-b", targeting("b")),
			refusal: []string{`user "alice" may not delete pods in namespace b`, "list pods in namespace b"},
		},
		{
			name: "alice targeting a and b, is refused for b alone",
			user: "alice", as: u.alice,
			exp:     experiment("alice-in-a-and-b", targeting("a", "b")),
			refusal: []string{`may not delete pods in namespace b`},
		},
		{
			name: "alice draining a node, is refused patch nodes",
			user: "alice", as: u.alice,
			exp:     experiment("alice-drain", drain),
			refusal: []string{`user "alice" may not patch nodes cluster-wide`, "may not create pods/eviction cluster-wide"},
		},
		{
			name: "alice naming a Secret she cannot read, is refused get secrets",
			user: "alice", as: u.alice,
			exp:     experiment("alice-secret", withSecret),
			refusal: []string{`user "alice" may not get secrets prom-token in namespace a`},
		},
		{
			name: "alice pointing the provider outside the policy, is told the allowed addresses",
			user: "alice", as: u.alice,
			exp:       experiment("alice-attacker", atProvider("http://attacker.example:80")),
			refusal:   []string{`Unsupported value: "http://attacker.example:80": is not allowed`, allowedProvider},
			invalidAt: "spec.provider.prometheus.address",
		},
		{
			name: "carol the cluster admin targeting namespace b, is stored",
			user: "carol", as: u.carol,
			exp: experiment("carol-in-b", targeting("b")),
		},
		{
			name: "carol the cluster admin draining a node, is stored",
			user: "carol", as: u.carol,
			exp: experiment("carol-drain", drain),
		},
		{
			name: "carol the cluster admin naming a Secret, is stored",
			user: "carol", as: u.carol,
			exp: experiment("carol-secret", withSecret),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.as.Create(t.Context(), tc.exp.DeepCopy())
			table.add(tc.name, tc.user, err)
			if tc.refusal != nil {
				refused(t, err, tc.invalidAt, tc.refusal...)
				stored := &chaosv1alpha1.Experiment{}
				if err := admin.Get(t.Context(), client.ObjectKeyFromObject(tc.exp), stored); !apierrors.IsNotFound(err) {
					t.Errorf("refused Experiment is in the cluster anyway (get: %v)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			stored := &chaosv1alpha1.Experiment{}
			if err := admin.Get(t.Context(), client.ObjectKeyFromObject(tc.exp), stored); err != nil {
				t.Fatalf("reading the stored Experiment: %v", err)
			}
			if got := requesterOf(t, stored); got != tc.user {
				t.Errorf("stored Experiment records requester %q, want %q", got, tc.user)
			}
			if !slices.Equal(stored.Spec.Target.Namespaces, tc.exp.Spec.Target.Namespaces) || stored.Spec.Target.Kind != tc.exp.Spec.Target.Kind {
				t.Errorf("stored target %+v, want %+v", stored.Spec.Target, tc.exp.Spec.Target)
			}
		})
	}
}

// TestApprovalComesFromAnotherUserWithTheApproveVerb walks one gated run
// through the ways approval is refused to the one it is given.
func TestApprovalComesFromAnotherUserWithTheApproveVerb(t *testing.T) {
	u := setUp(t)
	admin := cluster.admin
	ctx := t.Context()
	var table outcomes
	defer table.log(t)

	exp := experiment("gated", gated)
	err := u.alice.Create(ctx, exp)
	table.add("alice creating an Experiment that requires approval", "alice", err)
	if err != nil {
		t.Fatalf("creating the gated Experiment: %v", err)
	}

	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "gated-1"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: "gated"}},
	}
	err = u.alice.Create(ctx, run)
	table.add("alice creating a run of it", "alice", err)
	if err != nil {
		t.Fatalf("creating the run: %v", err)
	}

	steps := []struct {
		name      string
		user      string
		do        func(context.Context) error
		refusal   []string
		invalidAt string
	}{
		{
			name: "alice creating a run already approved, is refused",
			user: "alice",
			do: func(ctx context.Context) error {
				pre := &chaosv1alpha1.ExperimentRun{
					ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "gated-pre", Annotations: map[string]string{chaosv1alpha1.ApprovedAnnotation: "true"}},
					Spec:       run.Spec,
				}
				return u.alice.Create(ctx, pre)
			},
			refusal:   []string{chaosv1alpha1.ApprovedAnnotation, "cannot be given when the run is created"},
			invalidAt: "metadata.annotations[" + chaosv1alpha1.ApprovedAnnotation + "]",
		},
		{
			name:    "alice approving her own run, is refused",
			user:    "alice",
			do:      func(ctx context.Context) error { return approve(ctx, u.alice, "gated-1") },
			refusal: []string{`user "alice" asked for this run`, "another person"},
		},
		{
			name:    "dave approving without the approve verb, is refused",
			user:    "dave",
			do:      func(ctx context.Context) error { return approve(ctx, u.dave, "gated-1") },
			refusal: []string{`user "dave" may not approve experimentruns.chaos.faultline.dev gated-1 in namespace a`},
		},
		{
			name: "bob approving with the approve verb, is stored",
			user: "bob",
			do:   func(ctx context.Context) error { return approve(ctx, u.bob, "gated-1") },
		},
	}
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
		})
	}

	pre := &chaosv1alpha1.ExperimentRun{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "a", Name: "gated-pre"}, pre); !apierrors.IsNotFound(err) {
		t.Errorf("the run created approved is in the cluster anyway (get: %v)", err)
	}
	stored := &chaosv1alpha1.ExperimentRun{}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(run), stored); err != nil {
		t.Fatalf("reading the run: %v", err)
	}
	if got := requesterOf(t, stored); got != "alice" {
		t.Errorf("run records requester %q, want alice", got)
	}
	if got := stored.Annotations[chaosv1alpha1.ApprovedAnnotation]; got != "true" {
		t.Errorf("run annotation %s = %q, want \"true\"", chaosv1alpha1.ApprovedAnnotation, got)
	}
	approver, err := rights.RequesterOf(&metav1.ObjectMeta{Annotations: map[string]string{
		chaosv1alpha1.RequestedByAnnotation: stored.Annotations[chaosv1alpha1.ApprovedByAnnotation],
	}})
	if err != nil || approver.Username != "bob" {
		t.Errorf("run annotation %s = %q, want a record naming bob (%v)", chaosv1alpha1.ApprovedByAnnotation, stored.Annotations[chaosv1alpha1.ApprovedByAnnotation], err)
	}
}

// approve sets the approved annotation as `kubectl faultline approve` does:
// a merge patch of that one annotation.
func approve(ctx context.Context, c client.Client, name string) error {
	run := &chaosv1alpha1.ExperimentRun{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "a", Name: name}, run); err != nil {
		return errors.Join(errors.New("reading the run to approve"), err)
	}
	before := run.DeepCopy()
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[chaosv1alpha1.ApprovedAnnotation] = "true"
	return c.Patch(ctx, run, client.MergeFrom(before))
}

// TestNamespaceUserCannotBorrowAnotherUsersExperiment covers the ways
// alice could make Faultline act on an Experiment whose spec she could not
// have written: running a cluster admin's Experiment, asking it to run now,
// and changing her own Experiment after it was stored.
func TestNamespaceUserCannotBorrowAnotherUsersExperiment(t *testing.T) {
	u := setUp(t)
	admin := cluster.admin
	ctx := t.Context()
	var table outcomes
	defer table.log(t)

	adminExp := experiment("admin-in-b", targeting("b"))
	err := u.carol.Create(ctx, adminExp)
	table.add("carol creating an Experiment that targets b", "carol", err)
	if err != nil {
		t.Fatalf("creating carol's Experiment: %v", err)
	}
	own := experiment("alice-own", targeting("a"))
	err = u.alice.Create(ctx, own)
	table.add("alice creating an Experiment that targets a", "alice", err)
	if err != nil {
		t.Fatalf("creating alice's Experiment: %v", err)
	}

	runOf := func(name, experiment string) *chaosv1alpha1.ExperimentRun {
		return &chaosv1alpha1.ExperimentRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name},
			Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}},
		}
	}
	steps := []struct {
		name    string
		user    string
		do      func(context.Context) error
		refusal []string
		// stored, when set, is checked to hold the change afterwards.
		stored func(t *testing.T)
	}{
		{
			name:    "alice running carol's Experiment that targets b, is refused delete pods in b",
			user:    "alice",
			do:      func(ctx context.Context) error { return u.alice.Create(ctx, runOf("borrowed-1", "admin-in-b")) },
			refusal: []string{`user "alice" may not delete pods in namespace b`},
		},
		{
			name: "carol running her own Experiment, is stored",
			user: "carol",
			do:   func(ctx context.Context) error { return u.carol.Create(ctx, runOf("admin-1", "admin-in-b")) },
			stored: func(t *testing.T) {
				run := &chaosv1alpha1.ExperimentRun{}
				if err := admin.Get(t.Context(), client.ObjectKey{Namespace: "a", Name: "admin-1"}, run); err != nil {
					t.Fatalf("reading the run: %v", err)
				}
				if got := requesterOf(t, run); got != "carol" {
					t.Errorf("run records requester %q, want carol", got)
				}
			},
		},
		{
			name: "alice changing her Experiment to target b, is refused delete pods in b",
			user: "alice",
			do: func(ctx context.Context) error {
				exp := &chaosv1alpha1.Experiment{}
				if err := u.alice.Get(ctx, client.ObjectKeyFromObject(own), exp); err != nil {
					return err
				}
				exp.Spec.Target.Namespaces = []string{"b"}
				return u.alice.Update(ctx, exp)
			},
			refusal: []string{`user "alice" may not delete pods in namespace b`},
		},
		{
			// The operator starts a run-now run with the Experiment's
			// recorded requester, carol: asking for one is asking Faultline
			// to kill pods in b, which alice may not do herself.
			name: "alice asking carol's Experiment that targets b to run now, is refused delete pods in b",
			user: "alice",
			do: func(ctx context.Context) error {
				exp := &chaosv1alpha1.Experiment{}
				if err := u.alice.Get(ctx, client.ObjectKeyFromObject(adminExp), exp); err != nil {
					return err
				}
				before := exp.DeepCopy()
				if exp.Annotations == nil {
					exp.Annotations = map[string]string{}
				}
				exp.Annotations[chaosv1alpha1.RunNowAnnotation] = "alice-1"
				return u.alice.Patch(ctx, exp, client.MergeFrom(before))
			},
			refusal: []string{`user "alice" may not delete pods in namespace b`},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.do(t.Context())
			table.add(s.name, s.user, err)
			if s.refusal != nil {
				refused(t, err, "", s.refusal...)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.stored != nil {
				s.stored(t)
			}
		})
	}

	stored := &chaosv1alpha1.Experiment{}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(own), stored); err != nil {
		t.Fatalf("reading alice's Experiment: %v", err)
	}
	if !slices.Equal(stored.Spec.Target.Namespaces, []string{"a"}) {
		t.Errorf("alice's Experiment targets %v after the refused change, want [a]", stored.Spec.Target.Namespaces)
	}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "a", Name: "borrowed-1"}, &chaosv1alpha1.ExperimentRun{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused run is in the cluster anyway (get: %v)", err)
	}
}
