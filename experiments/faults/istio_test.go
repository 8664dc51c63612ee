package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	istionetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// istioClient talks to the envtest API server, into which TestMain installs
// Istio's CRDs. It is nil when the tests run without one.
var istioClient versioned.Interface

// istioCRDPath is Istio's CRD file, from the istio.io/api module this module
// builds against, so the schema the tests run on is the one the code is
// compiled with.
func istioCRDPath() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("go list -m istio.io/api: %w: %s", err, exitErr.Stderr)
		}
		return "", fmt.Errorf("go list -m istio.io/api: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("go list -m istio.io/api: module not downloaded (run go mod download istio.io/api)")
	}
	return filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml"), nil
}

// istioAPIServer returns the Istio client, or skips t without an API server.
func istioAPIServer(t *testing.T) versioned.Interface {
	t.Helper()
	apiServer(t)
	return istioClient
}

// istioEpoch is the fake clock's now; runs in these tests expire after it.
var istioEpoch = time.Date(2030, time.March, 4, 14, 0, 0, 0, time.UTC)

func newIstioFault(c versioned.Interface, spec chaosv1alpha1.IstioFault) *Istio {
	return NewIstio(c, spec).WithClock(clocktesting.NewFakePassiveClock(istioEpoch))
}

// delayAndAbort is the spec most tests inject: 2s delay to half the
// requests, 503 to a tenth.
func delayAndAbort(routes ...string) chaosv1alpha1.IstioFault {
	return chaosv1alpha1.IstioFault{
		Routes: routes,
		Delay:  &chaosv1alpha1.IstioDelay{FixedDelay: metav1.Duration{Duration: 2 * time.Second}, Percent: 50},
		Abort:  &chaosv1alpha1.IstioAbort{HTTPStatus: 503, Percent: 10},
	}
}

// wantFault is delayAndAbort's fault as Istio expresses it.
func wantFault() *istionetworking.HTTPFaultInjection {
	return &istionetworking.HTTPFaultInjection{
		Delay: &istionetworking.HTTPFaultInjection_Delay{
			HttpDelayType: &istionetworking.HTTPFaultInjection_Delay_FixedDelay{FixedDelay: durationpb.New(2 * time.Second)},
			Percentage:    &istionetworking.Percent{Value: 50},
		},
		Abort: &istionetworking.HTTPFaultInjection_Abort{
			ErrorType:  &istionetworking.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: 503},
			Percentage: &istionetworking.Percent{Value: 10},
		},
	}
}

// teapot is a fault some other writer sets.
func teapot() *istionetworking.HTTPFaultInjection {
	return &istionetworking.HTTPFaultInjection{Abort: &istionetworking.HTTPFaultInjection_Abort{
		ErrorType:  &istionetworking.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: 418},
		Percentage: &istionetworking.Percent{Value: 1},
	}}
}

func exact(s string) *istionetworking.StringMatch {
	return &istionetworking.StringMatch{MatchType: &istionetworking.StringMatch_Exact{Exact: s}}
}

func destination(subset string, weight int32) *istionetworking.HTTPRouteDestination {
	return &istionetworking.HTTPRouteDestination{Destination: &istionetworking.Destination{Host: "cart", Subset: subset}, Weight: weight}
}

// newIstioNamespace creates a namespace of the test's own (envtest never
// deletes namespaces, so names must not repeat).
func newIstioNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "istio-"}}
	if err := apiServer(t).Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// createCart creates the VirtualService most tests hurt: a "primary" route
// with two match blocks, a 90/10 split and retries, and an unmatched
// "fallback" route. edit adjusts it before creation.
func createCart(t *testing.T, c versioned.Interface, ns string, edit func(*networkingv1.VirtualService)) *networkingv1.VirtualService {
	t.Helper()
	vs := &networkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cart", Labels: map[string]string{"app": "cart"}},
		Spec: istionetworking.VirtualService{
			Hosts: []string{"cart"},
			Http: []*istionetworking.HTTPRoute{
				{
					Name: "primary",
					Match: []*istionetworking.HTTPMatchRequest{
						{Uri: &istionetworking.StringMatch{MatchType: &istionetworking.StringMatch_Prefix{Prefix: "/api"}}},
						{Headers: map[string]*istionetworking.StringMatch{"x-canary": exact("1")}},
					},
					Route:   []*istionetworking.HTTPRouteDestination{destination("v1", 90), destination("v2", 10)},
					Retries: &istionetworking.HTTPRetry{Attempts: 3},
				},
				{Name: "fallback", Route: []*istionetworking.HTTPRouteDestination{destination("v1", 0)}},
			},
		},
	}
	if edit != nil {
		edit(vs)
	}
	created, err := c.NetworkingV1().VirtualServices(ns).Create(t.Context(), vs, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating VirtualService: %v", err)
	}
	return created
}

func readVS(t *testing.T, c versioned.Interface, ns, name string) *networkingv1.VirtualService {
	t.Helper()
	vs, err := c.NetworkingV1().VirtualServices(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading VirtualService %s/%s: %v", ns, name, err)
	}
	return vs
}

// updateVS is another writer: it reads, edits and updates the VirtualService.
func updateVS(t *testing.T, c versioned.Interface, ns, name string, edit func(*networkingv1.VirtualService)) {
	t.Helper()
	vs := readVS(t, c, ns, name)
	edit(vs)
	if _, err := c.NetworkingV1().VirtualServices(ns).Update(t.Context(), vs, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating VirtualService %s/%s as another writer: %v", ns, name, err)
	}
}

func vsTarget(vs *networkingv1.VirtualService, run string) Target {
	return Target{
		Kind: chaosv1alpha1.TargetVirtualService, Namespace: vs.Namespace, Name: vs.Name, UID: vs.UID,
		Run: run, Expires: istioEpoch.Add(10 * time.Minute),
	}
}

func routeNamed(t *testing.T, vs *networkingv1.VirtualService, name string) *istionetworking.HTTPRoute {
	t.Helper()
	for _, r := range vs.Spec.GetHttp() {
		if r.GetName() == name {
			return r
		}
	}
	t.Fatalf("VirtualService has no route %q; routes: %v", name, routeNames(vs))
	return nil
}

func routeNames(vs *networkingv1.VirtualService) []string {
	var names []string
	for _, r := range vs.Spec.GetHttp() {
		names = append(names, r.GetName())
	}
	return names
}

// assertSameVS fails unless got equals want apart from server-managed
// metadata (resourceVersion, generation, managedFields).
func assertSameVS(t *testing.T, want, got *networkingv1.VirtualService) {
	t.Helper()
	if !proto.Equal(&want.Spec, &got.Spec) {
		w, _ := json.Marshal(&want.Spec)
		g, _ := json.Marshal(&got.Spec)
		t.Errorf("spec changed:\nwant %s\n got %s", w, g)
	}
	if got.UID != want.UID || got.Name != want.Name || got.Namespace != want.Namespace {
		t.Errorf("identity changed: want %s/%s %s, got %s/%s %s", want.Namespace, want.Name, want.UID, got.Namespace, got.Name, got.UID)
	}
	if !reflect.DeepEqual(want.Labels, got.Labels) {
		t.Errorf("labels: want %v, got %v", want.Labels, got.Labels)
	}
	if !reflect.DeepEqual(want.Annotations, got.Annotations) {
		t.Errorf("annotations: want %#v, got %#v", want.Annotations, got.Annotations)
	}
}

func assertFault(t *testing.T, route *istionetworking.HTTPRoute, want *istionetworking.HTTPFaultInjection) {
	t.Helper()
	if !sameFault(route.GetFault(), want) {
		t.Errorf("route %s fault: want %v, got %v", route.GetName(), want, route.GetFault())
	}
}

func assertUnmarkedVS(t *testing.T, vs *networkingv1.VirtualService) {
	t.Helper()
	for _, key := range []string{chaosv1alpha1.RunAnnotation, chaosv1alpha1.ExpiryAnnotation, IstioRestoreAnnotation} {
		if v, ok := vs.Annotations[key]; ok {
			t.Errorf("annotation %s=%s left behind", key, v)
		}
	}
	if v, ok := vs.Labels[chaosv1alpha1.InjectedLabel]; ok {
		t.Errorf("label %s=%s left behind", chaosv1alpha1.InjectedLabel, v)
	}
}

func prepareAndInjectIstio(t *testing.T, f *Istio, target Target) Restore {
	t.Helper()
	r, err := f.Prepare(t.Context(), target)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	r, err = f.Inject(t.Context(), target, r)
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return r
}

func TestIstioInjectAndRevertAreIdempotent(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, nil)
	target := vsTarget(before, "shop/run-1")
	f := newIstioFault(c, delayAndAbort("primary"))

	r, err := f.Prepare(t.Context(), target)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if got := readVS(t, c, ns, "cart"); got.ResourceVersion != before.ResourceVersion {
		t.Fatalf("Prepare wrote the VirtualService")
	}

	// Revert without inject: with the prepared data, and with none at all.
	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("Revert without Inject: %v", err)
	}
	if err := f.Revert(t.Context(), target, nil); err != nil {
		t.Fatalf("Revert without restore data: %v", err)
	}
	if got := readVS(t, c, ns, "cart"); got.ResourceVersion != before.ResourceVersion {
		t.Fatalf("Revert without Inject wrote the VirtualService")
	}

	if _, err := f.Inject(t.Context(), target, r); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	injected := readVS(t, c, ns, "cart")
	assertFault(t, routeNamed(t, injected, "primary"), wantFault())
	assertFault(t, routeNamed(t, injected, "fallback"), nil)
	if got := injected.Annotations[chaosv1alpha1.RunAnnotation]; got != "shop/run-1" {
		t.Errorf("run annotation: want shop/run-1, got %q", got)
	}
	if got := injected.Labels[chaosv1alpha1.InjectedLabel]; got != "true" {
		t.Errorf("label %s: want true, got %q", chaosv1alpha1.InjectedLabel, got)
	}
	if got := injected.Annotations[chaosv1alpha1.ExpiryAnnotation]; got != "2030-03-04T14:10:00Z" {
		t.Errorf("expiry annotation: want 2030-03-04T14:10:00Z, got %q", got)
	}

	if _, err := f.Inject(t.Context(), target, r); err != nil {
		t.Fatalf("second Inject: %v", err)
	}
	if again := readVS(t, c, ns, "cart"); again.ResourceVersion != injected.ResourceVersion {
		t.Errorf("second Inject wrote the VirtualService again")
	}
	// Preparing again (a run that lost its status write) must not take the
	// injected fault for the original.
	if again, err := f.Prepare(t.Context(), target); err != nil || !reflect.DeepEqual(again, r) {
		t.Errorf("Prepare after Inject: want the first restore data %+v, got %+v, %v", r.Istio, again, err)
	}

	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	reverted := readVS(t, c, ns, "cart")
	assertSameVS(t, before, reverted)
	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("second Revert: %v", err)
	}
	if again := readVS(t, c, ns, "cart"); again.ResourceVersion != reverted.ResourceVersion {
		t.Errorf("second Revert wrote the VirtualService again")
	}
}

func TestIstioRevertRestoresTheVirtualServiceAsItWas(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, func(vs *networkingv1.VirtualService) {
		vs.Annotations = map[string]string{"team": "shop"}
		// A fault of the team's own, which revert must put back.
		vs.Spec.Http[0].Fault = teapot()
	})
	target := vsTarget(before, "shop/run-1")
	f := newIstioFault(c, delayAndAbort()) // every http route

	r := prepareAndInjectIstio(t, f, target)
	if got := len(r.Istio.Routes); got != 2 {
		t.Fatalf("restore data: want 2 routes, got %d", got)
	}
	if r.Istio.Routes[0].OriginalFault == "" || r.Istio.Routes[1].OriginalFault != "" {
		t.Errorf("original faults: want primary's recorded and fallback's empty, got %q and %q", r.Istio.Routes[0].OriginalFault, r.Istio.Routes[1].OriginalFault)
	}
	injected := readVS(t, c, ns, "cart")
	assertFault(t, routeNamed(t, injected, "primary"), wantFault())
	assertFault(t, routeNamed(t, injected, "fallback"), wantFault())
	if got := injected.Annotations["team"]; got != "shop" {
		t.Errorf("the team's annotation: want shop, got %q", got)
	}

	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	assertSameVS(t, before, readVS(t, c, ns, "cart"))
}

func TestIstioAnotherWritersChangesSurviveRevert(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	vs := createCart(t, c, ns, nil)
	target := vsTarget(vs, "shop/run-1")
	f := newIstioFault(c, delayAndAbort("primary"))
	r := prepareAndInjectIstio(t, f, target)

	// During the fault, a rollout shifts weights, adds a timeout and a
	// route, and labels the VirtualService.
	updateVS(t, c, ns, "cart", func(vs *networkingv1.VirtualService) {
		primary := vs.Spec.Http[0]
		primary.Route[0].Weight, primary.Route[1].Weight = 50, 50
		primary.Timeout = durationpb.New(3 * time.Second)
		vs.Spec.Http = append([]*istionetworking.HTTPRoute{{Name: "admin", Route: []*istionetworking.HTTPRouteDestination{destination("admin", 0)}}}, vs.Spec.Http...)
		vs.Labels["rollout"] = "step-2"
	})
	want := readVS(t, c, ns, "cart")
	want.Spec.Http[1].Fault = nil
	delete(want.Annotations, chaosv1alpha1.RunAnnotation)
	delete(want.Annotations, chaosv1alpha1.ExpiryAnnotation)
	delete(want.Annotations, IstioRestoreAnnotation)
	if len(want.Annotations) == 0 {
		want.Annotations = nil
	}
	delete(want.Labels, chaosv1alpha1.InjectedLabel)

	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	got := readVS(t, c, ns, "cart")
	assertSameVS(t, want, got)
	if w := routeNamed(t, got, "primary").Route[0].Weight; w != 50 {
		t.Errorf("primary's v1 weight: want the other writer's 50, got %d", w)
	}
}

func TestIstioRevertLeavesAFaultAnotherWriterReplaced(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, nil)
	target := vsTarget(before, "shop/run-1")
	f := newIstioFault(c, delayAndAbort())
	r := prepareAndInjectIstio(t, f, target)

	updateVS(t, c, ns, "cart", func(vs *networkingv1.VirtualService) { vs.Spec.Http[0].Fault = teapot() })

	err := f.Revert(t.Context(), target, r)
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("Revert: want a *ConflictError, got %v", err)
	}
	if !strings.Contains(conflict.Message, "route primary's fault was changed by another writer; left as they wrote it") {
		t.Errorf("conflict message does not name the route: %q", conflict.Message)
	}
	got := readVS(t, c, ns, "cart")
	assertFault(t, routeNamed(t, got, "primary"), teapot())
	assertFault(t, routeNamed(t, got, "fallback"), nil)
	assertUnmarkedVS(t, got)

	// Reverting again reports the same conflict and changes nothing.
	err = f.Revert(t.Context(), target, r)
	if !errors.As(err, &conflict) {
		t.Errorf("second Revert: want a *ConflictError, got %v", err)
	}
	if again := readVS(t, c, ns, "cart"); again.ResourceVersion != got.ResourceVersion {
		t.Errorf("second Revert wrote the VirtualService")
	}
}

func TestIstioInjectRefusesARouteChangedSincePrepare(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	vs := createCart(t, c, ns, nil)
	target := vsTarget(vs, "shop/run-1")
	f := newIstioFault(c, delayAndAbort())
	r, err := f.Prepare(t.Context(), target)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	updateVS(t, c, ns, "cart", func(vs *networkingv1.VirtualService) { vs.Spec.Http[1].Fault = teapot() })
	changed := readVS(t, c, ns, "cart")

	_, err = f.Inject(t.Context(), target, r)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, ErrBlocked) {
		t.Fatalf("Inject: want a *ConflictError that is ErrBlocked, got %v", err)
	}
	if !strings.Contains(err.Error(), "route fallback's fault was changed by another writer") {
		t.Errorf("error does not name the route: %v", err)
	}
	if got := readVS(t, c, ns, "cart"); got.ResourceVersion != changed.ResourceVersion {
		t.Errorf("Inject wrote the VirtualService despite the conflict; primary fault now %v", routeNamed(t, got, "primary").GetFault())
	}
}

func TestIstioScopedFault(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, nil)
	target := vsTarget(before, "shop/run-1")
	spec := delayAndAbort()
	spec.Match = &chaosv1alpha1.IstioMatch{Headers: map[string]string{"X-Chaos": "yes"}, SourceLabels: map[string]string{"app": "web"}}
	f := newIstioFault(c, spec)

	r := prepareAndInjectIstio(t, f, target)
	insertedPrimary, insertedFallback := r.Istio.Routes[0].InsertedRoute, r.Istio.Routes[1].InsertedRoute
	if insertedPrimary != insertedRouteName("primary", "shop/run-1") || !strings.HasPrefix(insertedPrimary, "faultline-primary-") {
		t.Fatalf("inserted route name: got %q", insertedPrimary)
	}
	injected := readVS(t, c, ns, "cart")
	if got, want := routeNames(injected), []string{insertedPrimary, "primary", insertedFallback, "fallback"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("routes: want %v, got %v", want, got)
	}
	// The originals are untouched: only the copies carry the fault.
	for i, name := range []string{"primary", "fallback"} {
		if !proto.Equal(routeNamed(t, injected, name), before.Spec.Http[i]) {
			t.Errorf("original route %s changed: %v", name, routeNamed(t, injected, name))
		}
	}

	copyOfPrimary := routeNamed(t, injected, insertedPrimary)
	assertFault(t, copyOfPrimary, wantFault())
	if !proto.Equal(&istionetworking.HTTPRoute{Route: copyOfPrimary.Route, Retries: copyOfPrimary.Retries}, &istionetworking.HTTPRoute{Route: before.Spec.Http[0].Route, Retries: before.Spec.Http[0].Retries}) {
		t.Errorf("copy of primary routes elsewhere than primary: %v", copyOfPrimary)
	}
	wantMatch := []*istionetworking.HTTPMatchRequest{
		{
			Uri:          &istionetworking.StringMatch{MatchType: &istionetworking.StringMatch_Prefix{Prefix: "/api"}},
			Headers:      map[string]*istionetworking.StringMatch{"x-chaos": exact("yes")},
			SourceLabels: map[string]string{"app": "web"},
		},
		{
			Headers:      map[string]*istionetworking.StringMatch{"x-canary": exact("1"), "x-chaos": exact("yes")},
			SourceLabels: map[string]string{"app": "web"},
		},
	}
	assertMatch(t, copyOfPrimary, wantMatch)
	copyOfFallback := routeNamed(t, injected, insertedFallback)
	assertFault(t, copyOfFallback, wantFault())
	assertMatch(t, copyOfFallback, []*istionetworking.HTTPMatchRequest{{
		Headers:      map[string]*istionetworking.StringMatch{"x-chaos": exact("yes")},
		SourceLabels: map[string]string{"app": "web"},
	}})

	if _, err := f.Inject(t.Context(), target, r); err != nil {
		t.Fatalf("second Inject: %v", err)
	}
	if again := readVS(t, c, ns, "cart"); again.ResourceVersion != injected.ResourceVersion {
		t.Errorf("second Inject wrote the VirtualService again: routes %v", routeNames(again))
	}

	// Another writer adds a route ahead of everything during the fault; revert
	// removes only the inserted copies.
	admin := &istionetworking.HTTPRoute{Name: "admin", Route: []*istionetworking.HTTPRouteDestination{destination("admin", 0)}}
	updateVS(t, c, ns, "cart", func(vs *networkingv1.VirtualService) {
		vs.Spec.Http = append([]*istionetworking.HTTPRoute{admin}, vs.Spec.Http...)
	})
	if err := f.Revert(t.Context(), target, r); err != nil {
		t.Fatalf("Revert: %v", err)
	}
	want := before.DeepCopy()
	want.Spec.Http = append([]*istionetworking.HTTPRoute{admin}, want.Spec.Http...)
	assertSameVS(t, want, readVS(t, c, ns, "cart"))
}

func assertMatch(t *testing.T, route *istionetworking.HTTPRoute, want []*istionetworking.HTTPMatchRequest) {
	t.Helper()
	got := route.GetMatch()
	if len(got) != len(want) {
		t.Fatalf("route %s: want %d match blocks, got %d: %v", route.GetName(), len(want), len(got), got)
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("route %s match #%d:\nwant %v\n got %v", route.GetName(), i, want[i], got[i])
		}
	}
}

func TestIstioPrepareRefusesWhatItCannotRevertExactly(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	tests := map[string]struct {
		edit    func(*networkingv1.VirtualService)
		spec    chaosv1alpha1.IstioFault
		target  func(Target) Target
		wantErr string
		wantIs  error
	}{
		"named route missing, names the routes it has": {
			spec:    delayAndAbort("checkout"),
			wantErr: `VirtualService %s/%s has no http route named "checkout"; it has: primary, fallback`,
		},
		"only tcp routes": {
			edit: func(vs *networkingv1.VirtualService) {
				vs.Spec.Http = nil
				vs.Spec.Tcp = []*istionetworking.TCPRoute{{Route: []*istionetworking.RouteDestination{{Destination: &istionetworking.Destination{Host: "cart"}}}}}
			},
			spec:    delayAndAbort(),
			wantErr: "VirtualService %s/%s has no http routes, only tcp or tls ones; an Istio fault can only delay or abort http routes",
		},
		"an unnamed route when hurting every route": {
			edit:    func(vs *networkingv1.VirtualService) { vs.Spec.Http[1].Name = "" },
			spec:    delayAndAbort(),
			wantErr: "VirtualService %s/%s: http route #1 has no name",
		},
		"a match that contradicts the route's own": {
			spec: func() chaosv1alpha1.IstioFault {
				s := delayAndAbort("primary")
				s.Match = &chaosv1alpha1.IstioMatch{Headers: map[string]string{"x-canary": "2"}}
				return s
			}(),
			wantErr: `VirtualService %s/%s: http route "primary" match #1 already matches header "x-canary" with another condition`,
		},
		"gone": {
			spec:   delayAndAbort(),
			target: func(t Target) Target { t.Name = "nope"; return t },
			wantIs: ErrTargetGone,
		},
		"replaced by a same-named VirtualService": {
			spec:   delayAndAbort(),
			target: func(t Target) Target { t.UID = "another-uid"; return t },
			wantIs: ErrTargetGone,
		},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			vs := createCart(t, c, ns, func(vs *networkingv1.VirtualService) {
				vs.Name = fmt.Sprintf("cart-%d", i)
				if tc.edit != nil {
					tc.edit(vs)
				}
			})
			target := vsTarget(vs, "shop/run-1")
			if tc.target != nil {
				target = tc.target(target)
			}
			_, err := newIstioFault(c, tc.spec).Prepare(t.Context(), target)
			switch {
			case err == nil:
				t.Fatalf("Prepare: want an error, got none")
			case tc.wantIs != nil && !errors.Is(err, tc.wantIs):
				t.Errorf("Prepare: want %v, got %v", tc.wantIs, err)
			case tc.wantErr != "" && !strings.Contains(err.Error(), fmt.Sprintf(tc.wantErr, ns, vs.Name)):
				t.Errorf("Prepare error:\nwant %s\n got %s", fmt.Sprintf(tc.wantErr, ns, vs.Name), err)
			}
			if got := readVS(t, c, ns, vs.Name); got.ResourceVersion != vs.ResourceVersion {
				t.Errorf("Prepare wrote the VirtualService")
			}
		})
	}
}

func TestIstioOneRunAtATime(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, nil)
	scoped := delayAndAbort("primary")
	scoped.Match = &chaosv1alpha1.IstioMatch{Headers: map[string]string{"x-chaos": "yes"}}
	runA := newIstioFault(c, scoped)
	targetA := vsTarget(before, "shop/run-a")
	restoreA := prepareAndInjectIstio(t, runA, targetA)
	underA := readVS(t, c, ns, "cart")

	abort := chaosv1alpha1.IstioFault{Abort: &chaosv1alpha1.IstioAbort{HTTPStatus: 500, Percent: 100}}
	clock := clocktesting.NewFakePassiveClock(istioEpoch)
	runB := NewIstio(c, abort).WithClock(clock)
	targetB := vsTarget(before, "shop/run-b")
	targetB.Expires = istioEpoch.Add(time.Hour)

	// B prepares against the VirtualService as it will be without A's fault,
	// so its revert would never put A's fault back.
	restoreB, err := runB.Prepare(t.Context(), targetB)
	if err != nil {
		t.Fatalf("Prepare of run B: %v", err)
	}
	if got := len(restoreB.Istio.Routes); got != 2 {
		t.Errorf("run B prepared %d routes, want primary and fallback only (not A's inserted copy)", got)
	}

	t.Run("an unexpired fault of another run blocks", func(t *testing.T) {
		_, err := runB.Inject(t.Context(), targetB, restoreB)
		if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "is already under fault by run shop/run-a") {
			t.Fatalf("Inject of run B: want ErrBlocked naming run A, got %v", err)
		}
		if got := readVS(t, c, ns, "cart"); got.ResourceVersion != underA.ResourceVersion {
			t.Errorf("blocked Inject wrote the VirtualService")
		}
	})

	t.Run("an expired fault of another run is reverted and replaced", func(t *testing.T) {
		clock.SetTime(targetA.Expires)
		if _, err := runB.Inject(t.Context(), targetB, restoreB); err != nil {
			t.Fatalf("Inject of run B after A expired: %v", err)
		}
		got := readVS(t, c, ns, "cart")
		if names := routeNames(got); !reflect.DeepEqual(names, []string{"primary", "fallback"}) {
			t.Errorf("routes: want A's copy gone, got %v", names)
		}
		if run := got.Annotations[chaosv1alpha1.RunAnnotation]; run != "shop/run-b" {
			t.Errorf("run annotation: want shop/run-b, got %q", run)
		}
		// A's late revert must not touch B's fault.
		if err := runA.Revert(t.Context(), targetA, restoreA); err != nil {
			t.Fatalf("late Revert of run A: %v", err)
		}
		if late := readVS(t, c, ns, "cart"); late.ResourceVersion != got.ResourceVersion {
			t.Errorf("run A's late revert wrote the VirtualService that run B now holds")
		}
		if err := runB.Revert(t.Context(), targetB, restoreB); err != nil {
			t.Fatalf("Revert of run B: %v", err)
		}
		assertSameVS(t, before, readVS(t, c, ns, "cart"))
	})
}

func TestIstioLateRevertLeavesTheRunThatTookOver(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, nil)
	// Two runs of the same experiment: their faults are identical, so only
	// the marks tell whose fault is on the route.
	clock := clocktesting.NewFakePassiveClock(istioEpoch)
	runA := NewIstio(c, delayAndAbort("primary")).WithClock(clock)
	targetA := vsTarget(before, "shop/run-a")
	restoreA := prepareAndInjectIstio(t, runA, targetA)

	clock.SetTime(targetA.Expires.Add(time.Second))
	runB := NewIstio(c, delayAndAbort("primary")).WithClock(clock)
	targetB := vsTarget(before, "shop/run-b")
	targetB.Expires = targetA.Expires.Add(time.Hour)
	restoreB := prepareAndInjectIstio(t, runB, targetB)
	if got := restoreB.Istio.Routes[0].OriginalFault; got != "" {
		t.Errorf("run B recorded run A's fault as primary's original: %s", got)
	}
	underB := readVS(t, c, ns, "cart")

	if err := runA.Revert(t.Context(), targetA, restoreA); err != nil {
		t.Fatalf("late Revert of run A: %v", err)
	}
	got := readVS(t, c, ns, "cart")
	if got.ResourceVersion != underB.ResourceVersion {
		t.Errorf("run A's late revert wrote the VirtualService that run B holds; primary's fault is now %v", routeNamed(t, got, "primary").GetFault())
	}
	if err := runB.Revert(t.Context(), targetB, restoreB); err != nil {
		t.Fatalf("Revert of run B: %v", err)
	}
	assertSameVS(t, before, readVS(t, c, ns, "cart"))
}

func TestReapIstioRestoresFromTheAnnotationAlone(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	before := createCart(t, c, ns, func(vs *networkingv1.VirtualService) {
		vs.Annotations = map[string]string{"team": "shop"}
		vs.Spec.Http[1].Fault = teapot()
	})
	spec := delayAndAbort()
	scoped := delayAndAbort("primary")
	scoped.Match = &chaosv1alpha1.IstioMatch{SourceLabels: map[string]string{"app": "web"}}

	for name, spec := range map[string]chaosv1alpha1.IstioFault{"route faults": spec, "inserted routes": scoped} {
		t.Run(name, func(t *testing.T) {
			prepareAndInjectIstio(t, newIstioFault(c, spec), vsTarget(before, "shop/gone-run"))
			// The run and its status are gone: only the VirtualService is left.
			overdue := readVS(t, c, ns, "cart")
			changed, err := ReapIstio(t.Context(), c, overdue)
			if err != nil || !changed {
				t.Fatalf("ReapIstio: want changed and no error, got %v, %v", changed, err)
			}
			assertSameVS(t, before, readVS(t, c, ns, "cart"))

			changed, err = ReapIstio(t.Context(), c, overdue)
			if err != nil || changed {
				t.Errorf("second ReapIstio: want no change and no error, got %v, %v", changed, err)
			}
		})
	}

	t.Run("never reverts a run that took over since the reaper looked", func(t *testing.T) {
		runA := newIstioFault(c, spec)
		targetA := vsTarget(before, "shop/run-a")
		restoreA := prepareAndInjectIstio(t, runA, targetA)
		seenByReaper := readVS(t, c, ns, "cart")
		if err := runA.Revert(t.Context(), targetA, restoreA); err != nil {
			t.Fatalf("Revert of run A: %v", err)
		}
		prepareAndInjectIstio(t, newIstioFault(c, spec), vsTarget(before, "shop/run-b"))
		underB := readVS(t, c, ns, "cart")

		changed, err := ReapIstio(t.Context(), c, seenByReaper)
		if err != nil || changed {
			t.Fatalf("ReapIstio of run A's stale view: want no change, got %v, %v", changed, err)
		}
		if got := readVS(t, c, ns, "cart"); got.ResourceVersion != underB.ResourceVersion {
			t.Errorf("ReapIstio wrote over run B's live fault")
		}
		if changed, err := ReapIstio(t.Context(), c, underB); err != nil || !changed {
			t.Fatalf("ReapIstio of run B: want changed, got %v, %v", changed, err)
		}
		assertSameVS(t, before, readVS(t, c, ns, "cart"))
	})
}

func TestIstioNeverWritesAStaleView(t *testing.T) {
	c := istioAPIServer(t)
	ns := newIstioNamespace(t)
	stale := createCart(t, c, ns, nil)
	updateVS(t, c, ns, "cart", func(vs *networkingv1.VirtualService) { vs.Spec.Http[0].Route[0].Weight = 80 })

	ed := newVSEditor(stale)
	ed.setFault(0, wantFault())
	err := ed.write(t.Context(), c)
	if !apierrors.IsConflict(err) {
		t.Fatalf("writing edits computed from a stale VirtualService: want a Conflict, got %v", err)
	}
	got := readVS(t, c, ns, "cart")
	assertFault(t, got.Spec.Http[0], nil)
}

func TestSameFaultIgnoresEncoding(t *testing.T) {
	tests := map[string]struct {
		a, b string
		want bool
	}{
		"keys in another order": {
			a:    `{"delay":{"fixedDelay":"2s","percentage":{"value":50}},"abort":{"httpStatus":503,"percentage":{"value":10}}}`,
			b:    `{"abort":{"percentage":{"value":10},"httpStatus":503},"delay":{"percentage":{"value":50},"fixedDelay":"2s"}}`,
			want: true,
		},
		"a duration spelt another way": {
			a:    `{"delay":{"fixedDelay":"2s","percentage":{"value":50}}}`,
			b:    `{"delay":{"fixedDelay":"2.000s","percentage":{"value":50.0}}}`,
			want: true,
		},
		"an empty fault is no fault": {a: `{}`, b: ``, want: true},
		"another share": {
			a: `{"abort":{"httpStatus":503,"percentage":{"value":10}}}`,
			b: `{"abort":{"httpStatus":503,"percentage":{"value":20}}}`,
		},
		"a fault and none": {a: `{"abort":{"httpStatus":503,"percentage":{"value":10}}}`, b: ``},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, err := parseFault(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseFault(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := sameFault(a, b); got != tc.want {
				t.Errorf("sameFault(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestIstioInjectedFaultJSON(t *testing.T) {
	got, err := faultJSON(NewIstio(nil, delayAndAbort()).fault())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"delay":{"fixedDelay":"2s","percentage":{"value":50}},"abort":{"httpStatus":503,"percentage":{"value":10}}}`
	if got != want {
		t.Errorf("injected fault:\nwant %s\n got %s", want, got)
	}
}

func TestInsertedRouteNameIsPerRun(t *testing.T) {
	a, again, b := insertedRouteName("primary", "shop/run-a"), insertedRouteName("primary", "shop/run-a"), insertedRouteName("primary", "shop/run-b")
	if a != again || a == b || !strings.HasPrefix(a, "faultline-primary-") || len(a) != len("faultline-primary-")+8 {
		t.Errorf("inserted route names: %q, %q, %q", a, again, b)
	}
}
