package access_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/access"
	"github.com/faultline-dev/faultline/internal/testenv"
)

// adminClient talks to the package's envtest API server (a real etcd and
// kube-apiserver authorizing with RBAC) as a cluster administrator. It is
// nil when the tests run without one, and needAPIServer then skips.
var adminClient client.Client

// TestMain starts one envtest API server for the package's RBAC tests.
// Without KUBEBUILDER_ASSETS (or with -short) nothing is started and those
// tests skip; the pure tests run either way.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, nil, func(e *testenv.Env) error {
		adminClient = e.Client
		return nil
	}))
}

func needAPIServer(t *testing.T) client.Client {
	t.Helper()
	if adminClient == nil {
		t.Skip("no API server: set KUBEBUILDER_ASSETS to a directory holding etcd and kube-apiserver (hack/tools.sh --print-k8s-dir), and do not pass -short")
	}
	return adminClient
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// eventually retries f until it returns nil: RBAC authorizes from an
// informer, so a Role just created takes a moment to count.
func eventually(t *testing.T, what string, f func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func bindRole(ns, name, user string, rules ...rbacv1.PolicyRule) []client.Object {
	return []client.Object{
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		},
	}
}

// TestRightsAgainstRBAC asks a real API server about users with an RBAC
// Role in one namespace only, a cluster administrator, and approvers.
func TestRightsAgainstRBAC(t *testing.T) {
	c := needAPIServer(t)
	checker := &access.Checker{Client: c}
	for _, ns := range []string{"a", "b"} {
		create(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	// alice may kill pods and read one Deployment in a, and nothing
	// else. Her group's binding proves groups reach the review too.
	create(t, c, bindRole("a", "pod-killer", "alice",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
	)...)
	create(t, c,
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "workload-reader"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
		}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "workload-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "workload-reader"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "team-a"}},
		},
	)
	// carol is a cluster administrator by the bootstrap cluster-admin role.
	create(t, c, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "carol-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "carol"}},
	})
	// bob may approve runs in a; dave only the run named nightly-1.
	create(t, c, bindRole("a", "approver", "bob",
		rbacv1.PolicyRule{APIGroups: []string{chaosv1alpha1.GroupVersion.Group}, Resources: []string{"experimentruns"}, Verbs: []string{"approve"}},
	)...)
	create(t, c, bindRole("a", "nightly-approver", "dave",
		rbacv1.PolicyRule{APIGroups: []string{chaosv1alpha1.GroupVersion.Group}, Resources: []string{"experimentruns"}, Verbs: []string{"approve"}, ResourceNames: []string{"nightly-1"}},
	)...)

	alice := rights.Requester{Username: "alice", Groups: []string{"team-a", "system:authenticated"}}
	carol := rights.Requester{Username: "carol", Groups: []string{"system:authenticated"}}
	bob := rights.Requester{Username: "bob", Groups: []string{"system:authenticated"}}
	dave := rights.Requester{Username: "dave", Groups: []string{"system:authenticated"}}

	inA := withProbes(podKill("", "a"), workloadProbe("ready", chaosv1alpha1.WorkloadDeployment, "checkout", ""))
	// Wait until every binding counts before asserting any denial: a denial
	// seen earlier could be the informer lagging rather than RBAC.
	eventually(t, "alice killing pods in a", func(ctx context.Context) error {
		return checker.CheckExperiment(ctx, alice, "a", inA)
	})
	eventually(t, "carol the cluster admin", func(ctx context.Context) error {
		return checker.CheckApprove(ctx, carol, "a", "x")
	})
	eventually(t, "bob approving", func(ctx context.Context) error {
		return checker.CheckApprove(ctx, bob, "a", "nightly-1")
	})
	eventually(t, "dave approving nightly-1", func(ctx context.Context) error {
		return checker.CheckApprove(ctx, dave, "a", "nightly-1")
	})

	everything := withAuthSecret(withProbes(podKill(chaosv1alpha1.PodKillEvict, "a", "b"),
		workloadProbe("ready", chaosv1alpha1.WorkloadStatefulSet, "db", "b")), "prom-token")

	cases := map[string]struct {
		check func(context.Context) error
		// denied lists fragments the refusal must hold, one group per
		// denied right; nil means allowed.
		denied [][]string
	}{
		"alice killing pods in her namespace, is allowed": {
			check: func(ctx context.Context) error { return checker.CheckExperiment(ctx, alice, "a", inA) },
		},
		"alice killing pods in namespace b, is refused naming delete pods and the namespace": {
			check: func(ctx context.Context) error {
				return checker.CheckExperiment(ctx, alice, "a", podKill("", "b"))
			},
			denied: [][]string{
				{`user "alice" may not delete pods in namespace b`, "deletes the pods it selects"},
				{`user "alice" may not list pods in namespace b`},
			},
		},
		"alice draining a node, is refused patch nodes and evictions cluster-wide": {
			check: func(ctx context.Context) error { return checker.CheckExperiment(ctx, alice, "a", nodeDrain()) },
			denied: [][]string{
				{`may not patch nodes cluster-wide`, "cordons"},
				{`may not create pods/eviction cluster-wide`},
				{`may not list pods cluster-wide`},
				{`may not list nodes cluster-wide`},
			},
		},
		"alice referencing a Secret she cannot get, is refused naming it": {
			check: func(ctx context.Context) error {
				return checker.CheckExperiment(ctx, alice, "a", withAuthSecret(podKill(""), "prom-token"))
			},
			denied: [][]string{{`user "alice" may not get secrets prom-token in namespace a`, "provider.prometheus.auth"}},
		},
		"alice evicting instead of deleting, is refused the eviction she was not granted": {
			check: func(ctx context.Context) error {
				return checker.CheckExperiment(ctx, alice, "a", podKill(chaosv1alpha1.PodKillEvict))
			},
			denied: [][]string{{`may not create pods/eviction in namespace a`}},
		},
		"carol the cluster admin, may do all of it": {
			check: func(ctx context.Context) error {
				for _, spec := range []*chaosv1alpha1.ExperimentSpec{everything, nodeDrain(), istio("b")} {
					if err := checker.CheckExperiment(ctx, carol, "a", spec); err != nil {
						return err
					}
				}
				return nil
			},
		},
		"alice approving, without the approve verb, is refused": {
			check:  func(ctx context.Context) error { return checker.CheckApprove(ctx, alice, "a", "nightly-1") },
			denied: [][]string{{`user "alice" may not approve experimentruns.chaos.faultline.dev nightly-1 in namespace a`}},
		},
		"bob approving in a, with the approve verb, is allowed": {
			check: func(ctx context.Context) error { return checker.CheckApprove(ctx, bob, "a", "nightly-2") },
		},
		"bob approving in b, where he holds no verb, is refused": {
			check:  func(ctx context.Context) error { return checker.CheckApprove(ctx, bob, "b", "nightly-1") },
			denied: [][]string{{`may not approve experimentruns.chaos.faultline.dev nightly-1 in namespace b`}},
		},
		"dave approving a run other than the one named in his rule, is refused": {
			check:  func(ctx context.Context) error { return checker.CheckApprove(ctx, dave, "a", "nightly-2") },
			denied: [][]string{{`may not approve experimentruns.chaos.faultline.dev nightly-2`}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.check(t.Context())
			if tc.denied == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !rights.IsDenied(err) {
				t.Fatalf("got %v, want a denial", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.denied) {
				t.Fatalf("refusal names %d rights, want %d:\n%v", len(lines), len(tc.denied), err)
			}
			for i, fragments := range tc.denied {
				for _, f := range fragments {
					if !strings.Contains(lines[i], f) {
						t.Errorf("refusal line %d = %q, want it to contain %q", i, lines[i], f)
					}
				}
			}
		})
	}
}
