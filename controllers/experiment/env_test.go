package experiment_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experiment"
	"github.com/faultline-dev/faultline/internal/stored"
)

// env is one test's namespace, fake clock and Reconciler. The Reconciler is
// driven directly, without a manager: the test sets the clock, reconciles,
// and asserts what the API server then holds.
type env struct {
	t      *testing.T
	ns     string
	clock  *clocktesting.FakeClock
	events *events.FakeRecorder
	r      *experiment.Reconciler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	requireAPIServer(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "exp-"}}
	if err := apiClient.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	e := &env{t: t, ns: ns.Name, clock: clocktesting.NewFakeClock(time.Time{}), events: events.NewFakeRecorder(1000)}
	e.restart()
	return e
}

// restart replaces the Reconciler, as a restarted operator or a new leader
// would: nothing is kept in memory between the two.
func (e *env) restart() {
	e.r = &experiment.Reconciler{Client: cachedClient, Experiments: informers, Clock: e.clock, Recorder: e.events}
}

// baseSpec is a minimal valid Experiment, due every ten minutes.
func baseSpec() chaosv1alpha1.ExperimentSpec {
	return chaosv1alpha1.ExperimentSpec{
		Schedule: "*/10 * * * *",
		Target: chaosv1alpha1.TargetSpec{
			Kind:     chaosv1alpha1.TargetPod,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
		Fault: chaosv1alpha1.FaultSpec{PodKill: &chaosv1alpha1.PodKillFault{}},
		// Set, not left to the CRD defaults: a zero metav1.Duration may be
		// sent as "0s", which validation rejects.
		SteadyState: chaosv1alpha1.SteadyStateSpec{
			Interval: metav1.Duration{Duration: 5 * time.Second},
			Baseline: metav1.Duration{Duration: 30 * time.Second},
			Probes: []chaosv1alpha1.Probe{{
				Name:     "web-ready",
				Workload: &chaosv1alpha1.WorkloadProbe{Kind: chaosv1alpha1.WorkloadDeployment, Name: "web"},
			}},
		},
	}
}

// createExperiment creates an Experiment from baseSpec changed by edit, and
// returns it as stored (with its creationTimestamp, from the API server's
// real clock, which the schedule counts from).
func (e *env) createExperiment(name string, edit func(*chaosv1alpha1.ExperimentSpec)) *chaosv1alpha1.Experiment {
	e.t.Helper()
	exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}, Spec: baseSpec()}
	if edit != nil {
		edit(&exp.Spec)
	}
	if err := apiClient.Create(e.t.Context(), exp); err != nil {
		e.t.Fatalf("creating experiment: %v", err)
	}
	return exp
}

// firstDue is the first ten-minute mark after exp was created: when
// baseSpec's schedule first asks for a run.
func firstDue(exp *chaosv1alpha1.Experiment) time.Time {
	return exp.CreationTimestamp.UTC().Truncate(10 * time.Minute).Add(10 * time.Minute)
}

// reconcile waits for the cache to hold what the API server holds in the
// namespace, as it would by the time a watch event triggers a reconcile,
// then reconciles exp at the fake clock's instant.
func (e *env) reconcile(exp *chaosv1alpha1.Experiment) (ctrl.Result, error) {
	e.t.Helper()
	e.sync()
	return e.r.Reconcile(e.t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)})
}

// mustReconcile reconciles and fails the test on an error. When the
// reconcile created a run, it reconciles once more, as the run's creation
// event makes the manager do: that reconcile records the run in status. The
// first reconcile's result is returned.
func (e *env) mustReconcile(exp *chaosv1alpha1.Experiment) ctrl.Result {
	e.t.Helper()
	before := len(e.runs())
	res, err := e.reconcile(exp)
	if err != nil {
		e.t.Fatalf("reconcile at %s: %v", e.clock.Now().UTC().Format(time.RFC3339), err)
	}
	if len(e.runs()) > before {
		if _, err := e.reconcile(exp); err != nil {
			e.t.Fatalf("reconcile after creating a run, at %s: %v", e.clock.Now().UTC().Format(time.RFC3339), err)
		}
	}
	return res
}

// sync waits until the cache has every Experiment and run of the namespace
// at the resourceVersion the API server has.
func (e *env) sync() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, cached := e.versions(apiClient), e.versions(informers)
		if live == cached {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("cache did not catch up with the API server:\n live   %s\n cached %s", live, cached)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// versions lists the namespace's Experiments and runs with their
// resourceVersions, read unstructured through c, as the Reconciler reads them.
func (e *env) versions(c client.Reader) string {
	e.t.Helper()
	var out []string
	exps := &unstructured.UnstructuredList{}
	exps.SetGroupVersionKind(chaosv1alpha1.GroupVersion.WithKind("ExperimentList"))
	runs := stored.NewRunList()
	if err := c.List(e.t.Context(), exps, client.InNamespace(e.ns)); err != nil {
		e.t.Fatalf("listing experiments: %v", err)
	}
	if err := c.List(e.t.Context(), runs, client.InNamespace(e.ns)); err != nil {
		e.t.Fatalf("listing runs: %v", err)
	}
	for _, x := range exps.Items {
		out = append(out, "exp/"+x.GetName()+"@"+x.GetResourceVersion())
	}
	for _, x := range runs.Items {
		out = append(out, "run/"+x.GetName()+"@"+x.GetResourceVersion())
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// get returns exp as the API server has it now.
func (e *env) get(exp *chaosv1alpha1.Experiment) *chaosv1alpha1.Experiment {
	e.t.Helper()
	got := &chaosv1alpha1.Experiment{}
	if err := apiClient.Get(e.t.Context(), client.ObjectKeyFromObject(exp), got); err != nil {
		e.t.Fatalf("reading experiment: %v", err)
	}
	return got
}

// runs returns the namespace's runs as the API server has them, by name.
func (e *env) runs() []chaosv1alpha1.ExperimentRun {
	e.t.Helper()
	list := &chaosv1alpha1.ExperimentRunList{}
	if err := apiClient.List(e.t.Context(), list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatalf("listing runs: %v", err)
	}
	slices.SortFunc(list.Items, func(a, b chaosv1alpha1.ExperimentRun) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func (e *env) runNames() []string {
	var out []string
	for _, r := range e.runs() {
		out = append(out, r.Name)
	}
	return out
}

// createRun creates a run of experiment as `kubectl create` would: no
// label, no owner.
func (e *env) createRun(name, experimentName string) *chaosv1alpha1.ExperimentRun {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec:       chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: experimentName}},
	}
	if err := apiClient.Create(e.t.Context(), run); err != nil {
		e.t.Fatalf("creating run %s: %v", name, err)
	}
	return run
}

// finish writes a Completed status to the run named name, through the
// status subresource, as the run controller would.
func (e *env) finish(name string, verdict chaosv1alpha1.Verdict, started, finished time.Time, timeToRecover time.Duration) {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{}
	if err := apiClient.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, run); err != nil {
		e.t.Fatalf("reading run %s: %v", name, err)
	}
	s, f := metav1.NewMicroTime(started), metav1.NewMicroTime(finished)
	run.Status.Phase = chaosv1alpha1.PhaseCompleted
	run.Status.Verdict = verdict
	run.Status.Timeline = chaosv1alpha1.Timeline{StartedAt: &s, FinishedAt: &f}
	run.Status.Result = &chaosv1alpha1.RunResult{
		TimeToDetect:  &metav1.Duration{Duration: 4 * time.Second},
		TimeToRecover: &metav1.Duration{Duration: timeToRecover},
	}
	if err := apiClient.Status().Update(e.t.Context(), run); err != nil {
		e.t.Fatalf("finishing run %s: %v", name, err)
	}
}

// setPhase writes an unfinished phase to the run named name.
func (e *env) setPhase(name string, phase chaosv1alpha1.RunPhase) {
	e.t.Helper()
	run := &chaosv1alpha1.ExperimentRun{}
	if err := apiClient.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: name}, run); err != nil {
		e.t.Fatalf("reading run %s: %v", name, err)
	}
	run.Status.Phase = phase
	if err := apiClient.Status().Update(e.t.Context(), run); err != nil {
		e.t.Fatalf("setting phase of run %s: %v", name, err)
	}
}

// annotate sets an annotation on exp in the API server.
func (e *env) annotate(exp *chaosv1alpha1.Experiment, key, value string) {
	e.t.Helper()
	live := e.get(exp)
	patch := client.MergeFrom(live.DeepCopy())
	metav1.SetMetaDataAnnotation(&live.ObjectMeta, key, value)
	if err := apiClient.Patch(e.t.Context(), live, patch); err != nil {
		e.t.Fatalf("annotating experiment: %v", err)
	}
}

// editSpec changes exp's spec in the API server.
func (e *env) editSpec(exp *chaosv1alpha1.Experiment, edit func(*chaosv1alpha1.ExperimentSpec)) {
	e.t.Helper()
	live := e.get(exp)
	edit(&live.Spec)
	if err := apiClient.Update(e.t.Context(), live); err != nil {
		e.t.Fatalf("editing experiment: %v", err)
	}
}

// takeEvents returns the events recorded since the last call, as
// "<type> <reason> <note>".
func (e *env) takeEvents() []string {
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

// eventsWith returns the events of type and reason among evs.
func eventsWith(evs []string, eventType, reason string) []string {
	var out []string
	for _, ev := range evs {
		if strings.HasPrefix(ev, eventType+" "+reason+" ") {
			out = append(out, ev)
		}
	}
	return out
}

// condition returns exp's condition typ, failing the test if it is absent.
func condition(t *testing.T, exp *chaosv1alpha1.Experiment, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(exp.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition; conditions: %+v", typ, exp.Status.Conditions)
	}
	return *c
}

// at formats an optional instant for messages.
func at(t *metav1.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.UTC().Format(time.RFC3339)
}

func same(t *metav1.Time, want time.Time) bool { return t != nil && t.Time.Equal(want) }

func describe(exp *chaosv1alpha1.Experiment) string {
	return fmt.Sprintf("lastScheduleTime %s, nextScheduleTime %s, active %v, conditions %+v",
		at(exp.Status.LastScheduleTime), at(exp.Status.NextScheduleTime), exp.Status.Active, exp.Status.Conditions)
}

// pause engages the kill switch: the default ChaosPolicy with paused set,
// removed when the test ends. It waits until the Reconciler's cache has it.
func (e *env) pause() {
	e.t.Helper()
	p := &chaosv1alpha1.ChaosPolicy{ObjectMeta: metav1.ObjectMeta{Name: chaosv1alpha1.DefaultPolicyName}, Spec: chaosv1alpha1.ChaosPolicySpec{Paused: true}}
	if err := apiClient.Create(e.t.Context(), p); err != nil {
		e.t.Fatalf("creating the paused ChaosPolicy: %v", err)
	}
	e.t.Cleanup(func() {
		if err := apiClient.Delete(context.Background(), p); err != nil {
			e.t.Errorf("deleting the ChaosPolicy: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		cached := &chaosv1alpha1.ChaosPolicy{}
		if err := cachedClient.Get(e.t.Context(), client.ObjectKeyFromObject(p), cached); err == nil && cached.Spec.Paused {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the cache never saw the paused ChaosPolicy")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
