package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/rights"
	"github.com/faultline-dev/faultline/internal/access"
)

// podKill is a minimal Experiment spec whose run kills pods in namespaces
// (the Experiment's own when none are given).
func podKill(method chaosv1alpha1.PodKillMethod, namespaces ...string) *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod, Namespaces: namespaces},
		Fault:  chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{Method: method}},
	}
}

func istio(namespaces ...string) *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetVirtualService, Namespaces: namespaces},
		Fault:  chaosv1alpha1.FaultSpec{Istio: &chaosv1alpha1.IstioFault{}},
	}
}

func nodeDrain(namespaces ...string) *chaosv1alpha1.ExperimentSpec {
	return &chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode, Namespaces: namespaces},
		Fault:  chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}},
	}
}

func withProbes(spec *chaosv1alpha1.ExperimentSpec, probes ...chaosv1alpha1.Probe) *chaosv1alpha1.ExperimentSpec {
	spec.SteadyState.Probes = probes
	return spec
}

func workloadProbe(name string, kind chaosv1alpha1.WorkloadKind, workload, namespace string) chaosv1alpha1.Probe {
	return chaosv1alpha1.Probe{Name: name, Workload: &chaosv1alpha1.WorkloadProbe{Kind: kind, Name: workload, Namespace: namespace}}
}

func withAuthSecret(spec *chaosv1alpha1.ExperimentSpec, secret string) *chaosv1alpha1.ExperimentSpec {
	spec.Provider = &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{
		Address: "http://prometheus.monitoring:9090",
		Auth:    &chaosv1alpha1.PrometheusAuth{Type: chaosv1alpha1.AuthBearer, SecretName: secret},
	}}
	return spec
}

// right renders a check without its reason, for comparing lists.
func right(c rights.Check) string {
	res := c.Resource
	if c.Subresource != "" {
		res += "/" + c.Subresource
	}
	if c.Group != "" {
		res += "." + c.Group
	}
	if c.Name != "" {
		res += " " + c.Name
	}
	where := "*"
	if c.Namespace != "" {
		where = c.Namespace
	}
	return fmt.Sprintf("%s %s @%s", c.Verb, res, where)
}

func TestRequired(t *testing.T) {
	cases := map[string]struct {
		spec *chaosv1alpha1.ExperimentSpec
		want []string
	}{
		"no spec, needs nothing": {
			spec: nil,
			want: nil,
		},
		"pod kill without namespaces, deletes and lists pods in the Experiment's namespace": {
			spec: podKill(""),
			want: []string{"delete pods @shop", "list pods @shop"},
		},
		"pod kill by eviction, creates evictions instead of deleting, in each target namespace": {
			spec: podKill(chaosv1alpha1.PodKillEvict, "a", "b"),
			want: []string{"create pods/eviction @a", "list pods @a", "create pods/eviction @b", "list pods @b"},
		},
		"pod kill in another namespace, needs nothing in the Experiment's own": {
			spec: podKill(chaosv1alpha1.PodKillDelete, "b"),
			want: []string{"delete pods @b", "list pods @b"},
		},
		"a namespace named twice, is checked once": {
			spec: podKill(chaosv1alpha1.PodKillDelete, "a", "b", "a"),
			want: []string{"delete pods @a", "list pods @a", "delete pods @b", "list pods @b"},
		},
		"istio fault, patches and lists VirtualServices in each target namespace": {
			spec: istio("a", "b"),
			want: []string{
				"patch virtualservices.networking.istio.io @a", "list virtualservices.networking.istio.io @a",
				"patch virtualservices.networking.istio.io @b", "list virtualservices.networking.istio.io @b",
			},
		},
		"node drain, patches nodes and evicts pods cluster-wide whatever namespaces say": {
			spec: nodeDrain("shop"),
			want: []string{"patch nodes @*", "create pods/eviction @*", "list pods @*", "list nodes @*"},
		},
		"target kind and fault that disagree, are both held to their rights": {
			spec: &chaosv1alpha1.ExperimentSpec{
				Target: chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetPod},
				Fault:  chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{}},
			},
			want: []string{"delete pods @shop", "list pods @shop", "patch nodes @*", "create pods/eviction @*", "list pods @*", "list nodes @*"},
		},
		"workload probes, read their workload by name, in the Experiment's namespace unless they name one": {
			spec: withProbes(podKill(""),
				workloadProbe("web", chaosv1alpha1.WorkloadDeployment, "checkout", ""),
				workloadProbe("db", chaosv1alpha1.WorkloadStatefulSet, "postgres", "data"),
				workloadProbe("agent", chaosv1alpha1.WorkloadDaemonSet, "fluent-bit", "logging"),
				chaosv1alpha1.Probe{Name: "rate", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: "up"}},
			),
			want: []string{
				"delete pods @shop", "list pods @shop",
				"get deployments.apps checkout @shop",
				"get statefulsets.apps postgres @data",
				"get daemonsets.apps fluent-bit @logging",
			},
		},
		"two probes of one workload, read it once": {
			spec: withProbes(podKill(""),
				workloadProbe("ready", chaosv1alpha1.WorkloadDeployment, "checkout", ""),
				workloadProbe("also-ready", chaosv1alpha1.WorkloadDeployment, "checkout", "shop"),
			),
			want: []string{"delete pods @shop", "list pods @shop", "get deployments.apps checkout @shop"},
		},
		"prometheus auth, reads the Secret by name in the Experiment's namespace": {
			spec: withAuthSecret(podKill("", "a"), "prom-token"),
			want: []string{"delete pods @a", "list pods @a", "get secrets prom-token @shop"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			checks := rights.Required("shop", tc.spec)
			var got []string
			for _, c := range checks {
				got = append(got, right(c))
				if c.Why == "" {
					t.Errorf("%s has no reason; a refusal must say why Faultline needs the right", right(c))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Required() =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// reviewer answers SubjectAccessReviews in place of an API server, from a
// set of granted rights, and records what it was asked.
type reviewer struct {
	mu       sync.Mutex
	granted  map[string]bool // right() keys
	asked    []authorizationv1.SubjectAccessReviewSpec
	deadline []time.Duration // time left before each review's deadline
	fail     error
}

func (r *reviewer) client(t *testing.T) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar, ok := obj.(*authorizationv1.SubjectAccessReview)
			if !ok {
				return fmt.Errorf("unexpected create of %T", obj)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.asked = append(r.asked, sar.Spec)
			if dl, ok := ctx.Deadline(); ok {
				r.deadline = append(r.deadline, time.Until(dl))
			} else {
				r.deadline = append(r.deadline, -1)
			}
			if r.fail != nil {
				return r.fail
			}
			a := sar.Spec.ResourceAttributes
			sar.Status.Allowed = r.granted[right(rights.Check{Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace, Name: a.Name})]
			return nil
		},
	}).Build()
}

var alice = rights.Requester{
	Username: "alice",
	UID:      "u-1",
	Groups:   []string{"team-a", "system:authenticated"},
	Extra:    map[string][]string{"scopes": {"chaos"}},
}

func TestCheckExperimentWithAllRightsAllows(t *testing.T) {
	r := &reviewer{granted: map[string]bool{
		"delete pods @a": true, "list pods @a": true, "get deployments.apps checkout @shop": true, "get secrets token @shop": true,
	}}
	c := &access.Checker{Client: r.client(t), Timeout: 2 * time.Second}
	spec := withAuthSecret(withProbes(podKill("", "a"), workloadProbe("ready", chaosv1alpha1.WorkloadDeployment, "checkout", "")), "token")

	if err := c.CheckExperiment(t.Context(), alice, "shop", spec); err != nil {
		t.Fatalf("CheckExperiment() = %v, want nil", err)
	}
	if len(r.asked) != 4 {
		t.Fatalf("asked %d reviews, want 4", len(r.asked))
	}
	for i, spec := range r.asked {
		if spec.User != "alice" || spec.UID != "u-1" || !slices.Equal(spec.Groups, alice.Groups) || !slices.Equal([]string(spec.Extra["scopes"]), []string{"chaos"}) {
			t.Errorf("review %d asked about %+v, want the requester's user, uid, groups and extra", i, spec)
		}
		if spec.ResourceAttributes == nil || spec.NonResourceAttributes != nil {
			t.Errorf("review %d is not a resource review: %+v", i, spec)
		}
		if d := r.deadline[i]; d <= 0 || d > 2*time.Second {
			t.Errorf("review %d had %v left before its deadline, want at most the Checker's 2s timeout", i, d)
		}
	}
}

func TestCheckExperimentDenialsNameEveryMissingRightInOrder(t *testing.T) {
	r := &reviewer{granted: map[string]bool{"list pods @a": true, "delete pods @a": true, "list pods @b": true}}
	c := &access.Checker{Client: r.client(t)}
	spec := withAuthSecret(podKill("", "a", "b"), "token")

	err := c.CheckExperiment(t.Context(), alice, "a", spec)
	if !rights.IsDenied(err) {
		t.Fatalf("CheckExperiment() = %v, want a denial", err)
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`user "alice" may not delete pods in namespace b (a podKill run deletes the pods it selects)`,
		`user "alice" may not get secrets token in namespace a (`,
	}
	if len(lines) != len(want) {
		t.Fatalf("denial has %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], want[i])
		}
	}
	var denied *rights.Denied
	if !errors.As(err, &denied) || denied.Verb != "delete" || denied.Resource != "pods" || denied.Namespace != "b" || denied.User != "alice" {
		t.Errorf("first *Denied = %+v, want delete pods in b for alice", denied)
	}
}

func TestCheckExperimentAPIServerFailureIsTransientNotDenied(t *testing.T) {
	unavailable := errors.New("the server is currently unable to handle the request")
	r := &reviewer{fail: unavailable}
	c := &access.Checker{Client: r.client(t)}

	err := c.CheckExperiment(t.Context(), alice, "a", podKill(""))
	if err == nil || rights.IsDenied(err) {
		t.Fatalf("CheckExperiment() = %v, want a transient error that is no denial", err)
	}
	if !errors.Is(err, unavailable) {
		t.Errorf("CheckExperiment() = %v, want it to wrap the API server's error", err)
	}
	if !strings.Contains(err.Error(), `user "alice"`) {
		t.Errorf("CheckExperiment() = %v, want it to say whose rights were being checked", err)
	}
}

func TestCheckExperimentWithoutRequesterAsksNothing(t *testing.T) {
	r := &reviewer{}
	c := &access.Checker{Client: r.client(t)}
	err := c.CheckExperiment(t.Context(), rights.Requester{}, "a", podKill(""))
	if !errors.Is(err, rights.ErrNoRequester) {
		t.Errorf("CheckExperiment() = %v, want ErrNoRequester", err)
	}
	if len(r.asked) != 0 {
		t.Errorf("asked %d reviews for nobody, want none (the API server refuses a review without a user)", len(r.asked))
	}
}

func TestCheckExperimentRefusesSpecsNeedingTooManyReviews(t *testing.T) {
	r := &reviewer{}
	c := &access.Checker{Client: r.client(t)}
	var namespaces []string
	for i := range rights.MaxChecks {
		namespaces = append(namespaces, fmt.Sprintf("ns-%d", i))
	}
	err := c.CheckExperiment(t.Context(), alice, "a", podKill("", namespaces...))
	if !errors.Is(err, rights.ErrTooManyChecks) || rights.IsDenied(err) {
		t.Errorf("CheckExperiment() = %v, want ErrTooManyChecks", err)
	}
	if len(r.asked) != 0 {
		t.Errorf("asked %d reviews, want none", len(r.asked))
	}
}

// TestCheckExperimentReviewsConcurrentlyButBounded holds every review until
// several are in flight: a checker that asks one at a time never gets
// there, and one that asks all at once goes past the bound.
func TestCheckExperimentReviewsConcurrentlyButBounded(t *testing.T) {
	const wantInFlight = 8
	var (
		mu       sync.Mutex
		inFlight int
		most     int
		asked    int
		reached  = make(chan struct{})
		once     sync.Once
	)
	// One bound for the whole test, so a checker that asks one review at a
	// time fails in seconds rather than waiting out every review.
	wait, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	cl := fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			mu.Lock()
			inFlight++
			asked++
			most = max(most, inFlight)
			if inFlight == wantInFlight {
				once.Do(func() { close(reached) })
			}
			mu.Unlock()
			defer func() {
				mu.Lock()
				inFlight--
				mu.Unlock()
			}()
			select {
			case <-reached:
			case <-wait.Done():
				return fmt.Errorf("never %d reviews in flight at once", wantInFlight)
			}
			obj.(*authorizationv1.SubjectAccessReview).Status.Allowed = true
			return nil
		},
	}).Build()
	c := &access.Checker{Client: cl, Timeout: 10 * time.Second}
	var namespaces []string
	for i := range 64 {
		namespaces = append(namespaces, fmt.Sprintf("ns-%d", i))
	}

	if err := c.CheckExperiment(t.Context(), alice, "a", podKill("", namespaces...)); err != nil {
		t.Fatalf("CheckExperiment() = %v, want nil (reviews never ran %d at a time)", err, wantInFlight)
	}
	if asked != 128 {
		t.Errorf("asked %d reviews, want 128 (delete and list in 64 namespaces)", asked)
	}
	if most != wantInFlight {
		t.Errorf("at most %d reviews were in flight, want %d", most, wantInFlight)
	}
}

func TestCheckApproveAsksTheApproveVerbOnTheRun(t *testing.T) {
	r := &reviewer{granted: map[string]bool{"approve experimentruns.chaos.faultline.dev nightly-1 @shop": true}}
	c := &access.Checker{Client: r.client(t)}

	if err := c.CheckApprove(t.Context(), rights.Requester{Username: "bob"}, "shop", "nightly-1"); err != nil {
		t.Errorf("CheckApprove(nightly-1) = %v, want nil", err)
	}
	err := c.CheckApprove(t.Context(), rights.Requester{Username: "bob"}, "shop", "nightly-2")
	var denied *rights.Denied
	if !errors.As(err, &denied) {
		t.Fatalf("CheckApprove(nightly-2) = %v, want a *Denied", err)
	}
	want := `user "bob" may not approve experimentruns.chaos.faultline.dev nightly-2 in namespace shop`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckApprove(nightly-2) = %q, want it to start with %q", err, want)
	}
}
