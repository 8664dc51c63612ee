package experimentrun_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/experiments/probes"
	"github.com/faultline-dev/faultline/experiments/providers"
)

// The Reconciler is driven directly, without a manager: each test calls
// Reconcile, steps a fake clock by the RequeueAfter it returns, and changes
// the world in between by a script. There is no kubelet and no Deployment
// controller in envtest, so the script plays them: it reports the web
// Deployment's ready replicas and answers Prometheus queries, both as
// functions of the fake clock and of the instant the fault really killed a pod.

const (
	// successRateQuery is the steady-state Prometheus probe of the tests.
	successRateQuery = `sum(rate(http_requests_total{app="web",code!~"5.."}[30s])) / sum(rate(http_requests_total{app="web"}[30s]))`
	// guardQuery is the abort guard's query, when a test declares one.
	guardQuery = `faultline_test:error_budget_remaining`
	// interval is the probe interval of the tests' Experiments.
	interval = time.Second
	// maxSteps caps the reconciles of one drive, so a run that never
	// finishes fails the test instead of hanging it.
	maxSteps = 300
)

// t0 is when every test's fake clock starts.
var t0 = time.Date(2026, time.March, 10, 14, 0, 0, 0, time.UTC)

// env is one test's cluster, clock, scripted world and reconciler.
type env struct {
	t  *testing.T
	c  client.Client
	ns string

	// clock and r are replaced together to simulate a restarted operator.
	clock *clocktesting.FakeClock
	r     *experimentrun.Reconciler

	events *events.FakeRecorder

	// readyReplicas is the web Deployment's status.readyReplicas at now,
	// given when the fault killed a pod (zero: not yet). It plays the
	// Deployment controller.
	readyReplicas func(now, killedAt time.Time) int32
	// metric answers a Prometheus query at an instant, given the kill instant.
	metric func(query string, at, killedAt time.Time) (float64, error)
	// beforeInject, when set, runs inside Fault.Inject before the pod is killed.
	beforeInject func(ctx context.Context, t faults.Target)
	// injectErr, when set, is returned by Inject instead of killing, as if
	// the operator died between writing the targets and killing the pod.
	injectErr error

	// lastReady is the ready count last written, to skip needless writes.
	lastReady int32

	// mu guards what the sampler's goroutines and the fault share.
	mu sync.Mutex
	// killedAt is the fake-clock instant the first pod was killed.
	killedAt time.Time
	// killed lists every pod the fault actually deleted, as namespace/name.
	killed []string
}

// newEnv creates a namespace enabled for chaos and a reconciler on a fake clock at t0.
func newEnv(t *testing.T) *env {
	t.Helper()
	c := apiServer(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "run-",
		Labels:       map[string]string{chaosv1alpha1.EnabledNamespaceLabel: "true"},
	}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	e := &env{
		t: t, c: c, ns: ns.Name,
		events:        events.NewFakeRecorder(1000),
		readyReplicas: defaultReadyReplicas,
		metric:        defaultMetric,
		lastReady:     -1,
	}
	e.clock = clocktesting.NewFakeClock(t0)
	e.r = e.newReconciler(e.clock, 1)
	return e
}

// webRecoversAfter is how long after the kill the web Deployment is fully
// ready again in the default script: the ground truth of time-to-recover. It
// falls between two samples on purpose, so the measured figure is rounded up
// to the next sample and the test checks the stated resolution.
const webRecoversAfter = 4500 * time.Millisecond

// successRateRecoversAfter is how long after the kill the success rate is
// back above 0.99 in the default script, earlier than the Deployment.
const successRateRecoversAfter = 3 * time.Second

// defaultReadyReplicas: 3 of 3, but 2 from the kill until webRecoversAfter.
func defaultReadyReplicas(now, killedAt time.Time) int32 {
	if !killedAt.IsZero() && !now.Before(killedAt) && now.Before(killedAt.Add(webRecoversAfter)) {
		return 2
	}
	return 3
}

// defaultMetric: the success rate is 1, but 0.95 from the kill until
// successRateRecoversAfter; the guard reads 1 (a full error budget).
func defaultMetric(query string, at, killedAt time.Time) (float64, error) {
	switch query {
	case successRateQuery:
		if !killedAt.IsZero() && !at.Before(killedAt) && at.Before(killedAt.Add(successRateRecoversAfter)) {
			return 0.95, nil
		}
		return 1, nil
	case guardQuery:
		return 1, nil
	}
	return 0, probes.ErrNoData
}

// newReconciler builds a Reconciler as main does, with the tests' fault
// wrapper, scripted Prometheus and a seeded selector.
func (e *env) newReconciler(clk *clocktesting.FakeClock, seed uint64) *experimentrun.Reconciler {
	return &experimentrun.Reconciler{
		Client:    e.c,
		APIReader: e.c,
		Clock:     clk,
		Recorder:  e.events,
		Faults: faults.Registry{PodKill: func(spec chaosv1alpha1.PodKillFault) faults.Fault {
			return &recordingFault{inner: faults.NewPodKill(e.c, spec), env: e}
		}},
		Samplers: scriptedSamplers{env: e},
		Targets:  experimentrun.NewSelector(e.c, rand.New(rand.NewPCG(seed, seed+1)), "faultline-system", nil),
	}
}

// restart replaces the operator: a new Reconciler, a new Selector seeded
// differently (so a re-selection would likely pick another pod), and a new
// fake clock at the same instant.
func (e *env) restart() {
	e.clock = clocktesting.NewFakeClock(e.clock.Now())
	e.r = e.newReconciler(e.clock, 99)
}

// kill returns the instant of the first kill, zero if none.
func (e *env) kill() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.killedAt
}

// killedPods lists every pod the fault deleted.
func (e *env) killedPods() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.killed)
}

// recordingFault wraps the real PodKill and records which pods it actually
// killed and when, on the fake clock: the ground truth of the failure onset.
type recordingFault struct {
	inner faults.Fault
	env   *env
}

func (f *recordingFault) Prepare(ctx context.Context, t faults.Target) (faults.Restore, error) {
	return f.inner.Prepare(ctx, t)
}

func (f *recordingFault) Inject(ctx context.Context, t faults.Target, r faults.Restore) (faults.Restore, error) {
	e := f.env
	if e.beforeInject != nil {
		e.beforeInject(ctx, t)
	}
	if e.injectErr != nil {
		return r, e.injectErr
	}
	existed := podExists(ctx, e.c, t)
	restore, err := f.inner.Inject(ctx, t, r)
	if err == nil && existed && !podExists(ctx, e.c, t) {
		e.mu.Lock()
		if e.killedAt.IsZero() {
			e.killedAt = e.clock.Now()
		}
		e.killed = append(e.killed, t.Namespace+"/"+t.Name)
		e.mu.Unlock()
	}
	return restore, err
}

func (f *recordingFault) Revert(ctx context.Context, t faults.Target, r faults.Restore) error {
	return f.inner.Revert(ctx, t, r)
}

// podExists reports whether the target pod, with its UID, is in the API server.
func podExists(ctx context.Context, c client.Reader, t faults.Target) bool {
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, pod); err != nil {
		return false
	}
	return pod.UID == t.UID
}

// scriptedSamplers gives every run a sampler on the scripted Prometheus and
// the real API server (for workload probes).
type scriptedSamplers struct{ env *env }

func (s scriptedSamplers) For(context.Context, string, *chaosv1alpha1.ExperimentSpec) (*providers.Sampler, error) {
	return &providers.Sampler{Metrics: scriptedMetrics{script: s.env}, Reader: s.env.c}, nil
}

// scriptedMetrics is a MetricsProvider answering from env.metric.
type scriptedMetrics struct{ script *env }

func (m scriptedMetrics) Query(_ context.Context, query string, at time.Time) (float64, error) {
	return m.script.metric(query, at, m.script.kill())
}

// createWeb creates the web Deployment (3 replicas, all ready) and its three
// Running pods, as the Deployment controller and kubelet would have.
func (e *env) createWeb() []*corev1.Pod {
	t := e.t
	t.Helper()
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			},
		},
	}
	if err := e.c.Create(t.Context(), dep); err != nil {
		t.Fatalf("creating deployment: %v", err)
	}
	e.setReady(3)

	const hash = "7d4b9c"
	var pods []*corev1.Pod
	for _, name := range []string{"web-" + hash + "-a1", "web-" + hash + "-b2", "web-" + hash + "-c3"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: e.ns, Name: name,
				Labels: map[string]string{"app": "web", "pod-template-hash": hash},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + hash,
					UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true),
				}},
			},
			Spec: corev1.PodSpec{
				NodeName:   "node-1",
				Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}},
			},
		}
		if err := e.c.Create(t.Context(), pod); err != nil {
			t.Fatalf("creating pod %s: %v", name, err)
		}
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if err := e.c.Status().Update(t.Context(), pod); err != nil {
			t.Fatalf("marking pod %s running: %v", name, err)
		}
		pods = append(pods, pod)
	}
	return pods
}

// setReady writes the web Deployment's ready replicas through the status
// subresource, as the Deployment controller would.
func (e *env) setReady(ready int32) {
	t := e.t
	t.Helper()
	if ready == e.lastReady {
		return
	}
	dep := &appsv1.Deployment{}
	if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "web"}, dep); err != nil {
		if apierrors.IsNotFound(err) {
			return
		}
		t.Fatalf("reading deployment: %v", err)
	}
	dep.Status.ObservedGeneration = dep.Generation
	dep.Status.Replicas = 3
	dep.Status.UpdatedReplicas = 3
	dep.Status.ReadyReplicas = ready
	dep.Status.AvailableReplicas = ready
	dep.Status.UnavailableReplicas = 3 - ready
	if err := e.c.Status().Update(t.Context(), dep); err != nil {
		t.Fatalf("setting deployment ready replicas to %d: %v", ready, err)
	}
	e.lastReady = ready
}

// experimentSpec is a pod kill of one web pod, probed by the Deployment's
// readiness and the success rate.
func experimentSpec() chaosv1alpha1.ExperimentSpec {
	return chaosv1alpha1.ExperimentSpec{
		Target: chaosv1alpha1.TargetSpec{
			Kind:     chaosv1alpha1.TargetPod,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Mode:     chaosv1alpha1.SelectOne,
		},
		Fault:    chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{GracePeriodSeconds: ptr.To[int64](0)}},
		Provider: &chaosv1alpha1.ProviderSpec{Prometheus: &chaosv1alpha1.PrometheusProvider{Address: "http://prometheus.monitoring:9090"}},
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval:      metav1.Duration{Duration: interval},
			Baseline:      metav1.Duration{Duration: 3 * time.Second},
			Stabilization: 2,
			// Set explicitly: RecoveryTimeout is a non-pointer metav1.Duration,
			// so a Go client sends "0s" for it and the CRD's 5m default never
			// applies (reported against api/v1alpha1).
			RecoveryTimeout: metav1.Duration{Duration: 5 * time.Minute},
			Probes: []chaosv1alpha1.Probe{
				{Name: "web-ready", Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web", MinReadyPercent: 100}},
				{Name: "success-rate", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: successRateQuery},
					Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.99"}},
			},
		},
		Objectives: &chaosv1alpha1.ObjectivesSpec{
			DetectWithin:  &metav1.Duration{Duration: 5 * time.Second},
			RecoverWithin: &metav1.Duration{Duration: 20 * time.Second},
		},
	}
}

// createExperiment creates the Experiment web-pod-kill from spec.
func (e *env) createExperiment(spec chaosv1alpha1.ExperimentSpec) *chaosv1alpha1.Experiment {
	e.t.Helper()
	exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web-pod-kill"}, Spec: spec}
	if err := e.c.Create(e.t.Context(), exp); err != nil {
		e.t.Fatalf("creating experiment: %v", err)
	}
	return exp
}

// createRun creates a run of the named Experiment.
func (e *env) createRun(experiment string, dryRun bool) client.ObjectKey {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "run-1"},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experiment}, DryRun: dryRun},
	}
	if err := e.c.Create(e.t.Context(), run); err != nil {
		e.t.Fatalf("creating run: %v", err)
	}
	return client.ObjectKeyFromObject(run)
}

// getRun reads the run from the API server; nil when it is gone.
func (e *env) getRun(key client.ObjectKey) *chaosv1alpha1.ExperimentRun {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{}
	err := e.c.Get(e.t.Context(), key, run)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("reading run %s: %v", key, err)
	}
	return run
}

// driveOptions adjusts drive.
type driveOptions struct {
	// allowErrors lets Reconcile fail (the manager would retry with backoff)
	// instead of failing the test.
	allowErrors bool
}

// drive reconciles the run as the manager would: before each reconcile it
// plays the world at the clock's instant; after it, it steps the fake clock
// by the RequeueAfter returned. It stops when until holds for the run as read
// back from the API server (nil once the run is gone) and fails the test
// after maxSteps. Throughout, it checks the safety invariant that a run that
// may have a fault applied carries the revert finalizer.
func (e *env) drive(key client.ObjectKey, until func(*chaosv1alpha1.ExperimentRun) bool, opts ...driveOptions) *chaosv1alpha1.ExperimentRun {
	t := e.t
	t.Helper()
	var o driveOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	for range maxSteps {
		now := e.clock.Now()
		e.setReady(e.readyReplicas(now, e.kill()))
		res, err := e.r.Reconcile(t.Context(), ctrl.Request{NamespacedName: key})
		if err != nil && !o.allowErrors {
			t.Fatalf("reconcile at %s: %v", now.Sub(t0), err)
		}
		run := e.getRun(key)
		if run != nil {
			switch run.Status.Phase {
			case chaosv1alpha1.PhaseInjecting, chaosv1alpha1.PhaseObserving, chaosv1alpha1.PhaseReverting, chaosv1alpha1.PhaseRecovering:
				if !controllerutil.ContainsFinalizer(run, chaosv1alpha1.RunFinalizer) {
					t.Fatalf("run in phase %s has no %s finalizer: a deletion now could not revert", run.Status.Phase, chaosv1alpha1.RunFinalizer)
				}
			}
		}
		if until(run) {
			return run
		}
		if res.RequeueAfter > 0 {
			e.clock.Step(res.RequeueAfter)
		}
	}
	run := e.getRun(key)
	if run == nil {
		t.Fatalf("run %s did not reach the expected state in %d reconciles; it is gone", key, maxSteps)
	}
	t.Fatalf("run %s did not reach the expected state in %d reconciles; phase %q, message %q", key, maxSteps, run.Status.Phase, run.Status.Message)
	return nil
}

// inPhase holds once the run is in phase p.
func inPhase(p chaosv1alpha1.RunPhase) func(*chaosv1alpha1.ExperimentRun) bool {
	return func(run *chaosv1alpha1.ExperimentRun) bool { return run != nil && run.Status.Phase == p }
}

// released holds once the run is Completed and its finalizer is removed.
func released(run *chaosv1alpha1.ExperimentRun) bool {
	return run != nil && run.Status.Phase == chaosv1alpha1.PhaseCompleted &&
		!controllerutil.ContainsFinalizer(run, chaosv1alpha1.RunFinalizer)
}

// gone holds once the run is no longer in the API server.
func gone(run *chaosv1alpha1.ExperimentRun) bool { return run == nil }

// podNames lists the names of the web pods in the API server, sorted.
func (e *env) podNames() []string {
	e.t.Helper()
	pods := &corev1.PodList{}
	if err := e.c.List(e.t.Context(), pods, client.InNamespace(e.ns), client.MatchingLabels{"app": "web"}); err != nil {
		e.t.Fatalf("listing pods: %v", err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

// names of pods, sorted.
func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// eventList drains the recorded events and returns them, one string each
// ("Warning SLOBreached guard ...").
func (e *env) eventList() []string {
	var out []string
	for {
		select {
		case ev := <-e.events.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// hasEvent reports whether events hold one of type typ with reason.
func hasEvent(events []string, typ, reason string) bool {
	return slices.ContainsFunc(events, func(ev string) bool { return strings.HasPrefix(ev, typ+" "+reason+" ") })
}

// setPolicy creates the ChaosPolicy default with paused as given, and
// deletes it when the test ends: it is cluster-scoped and would leak into
// the next test.
func (e *env) setPolicy(paused bool) {
	t := e.t
	t.Helper()
	policy := &chaosv1alpha1.ChaosPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName},
		Spec:       chaosv1alpha1.ChaosPolicySpec{Paused: paused},
	}
	if err := e.c.Create(t.Context(), policy); err != nil {
		t.Fatalf("creating ChaosPolicy: %v", err)
	}
	t.Cleanup(func() {
		if err := e.c.Delete(context.Background(), policy); client.IgnoreNotFound(err) != nil {
			t.Errorf("deleting ChaosPolicy: %v", err)
		}
	})
}

// at renders an instant as the time since t0, for failure messages.
func at(m *metav1.MicroTime) string {
	if m == nil {
		return "<nil>"
	}
	return m.Sub(t0).String()
}
