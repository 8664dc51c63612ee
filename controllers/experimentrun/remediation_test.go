package experimentrun_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/controllers/experimentrun"
	"github.com/faultline-dev/faultline/experiments/faults"
	"github.com/faultline-dev/faultline/experiments/remediation"
)

// The API server dates objects by the wall clock, and remediation compares
// those dates with the run's instants: these tests put the run's fake clock
// on the wall clock, at the start of a second after every pre-existing pod
// was created, so none of those can pass for a replacement. envtest has no
// ReplicaSet controller, no scheduler and no kubelet: the tests create the
// replacement pods themselves.

// webHash is the pod-template-hash of createWeb's ReplicaSet.
const webHash = "7d4b9c"

// alignClock restarts the operator on a fake clock set to the wall clock,
// early in the second after the current one.
func alignClock(e *env) {
	waitForSecondAfter(time.Now())
	e.clock = clocktesting.NewFakeClock(time.Now())
	e.r = e.newReconciler(e.clock, 1)
}

// waitForSecondAfter sleeps until early in the wall-clock second after the
// one t falls in, so an object created then is dated (in whole seconds)
// after t.
func waitForSecondAfter(t time.Time) {
	time.Sleep(time.Until(t.Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
}

// webPod is a pod of createWeb's ReplicaSet, on node.
func webPod(ns, name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{"app": "web", "pod-template-hash": webHash},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-" + webHash,
				UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
}

func remediationSpec(within time.Duration) chaosv1alpha1.ExperimentSpec {
	spec := experimentSpec()
	// A short baseline (a zero one is left out and defaults to 30s): the
	// fake clock runs ahead of the wall clock only by it, which the tests
	// wait out before creating a replacement.
	spec.SteadyState.Baseline = metav1.Duration{Duration: time.Second}
	spec.Objectives.RemediateWithin = &metav1.Duration{Duration: within}
	return spec
}

func TestPodKillRemediationStartsWhenTheReplicaSetCreatesTheReplacement(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	alignClock(e)
	exp := e.createExperiment(remediationSpec(5 * time.Second))
	key := e.createRun(exp.Name, false)

	run := e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	injectedAt := run.Status.Timeline.InjectedAt.Time
	if len(run.Status.Targets) != 1 || run.Status.Targets[0].OwnerKind != "Deployment" || run.Status.Targets[0].OwnerName != "web" {
		t.Fatalf("targets = %+v, want one pod target recording its workload Deployment web", run.Status.Targets)
	}

	// The ReplicaSet's replacement, created in a later second than the
	// kill so its whole-second creationTimestamp is after the injection;
	// and a pod of another workload, created earlier, that must not count.
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "cart-1f-z9", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "cart-1f", UID: "00000000-0000-0000-0000-000000000002", Controller: ptr.To(true),
		}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "cart", Image: "registry.example/cart:1"}}},
	}
	if err := e.c.Create(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	waitForSecondAfter(injectedAt)
	replacement := webPod(e.ns, "web-"+webHash+"-r4", "")
	if err := e.c.Create(t.Context(), replacement); err != nil {
		t.Fatalf("creating the replacement pod: %v", err)
	}

	run = e.drive(key, released)
	tl := run.Status.Timeline
	if tl.RemediationStartedAt == nil {
		t.Fatalf("no remediationStartedAt; remediation %+v, message %q", run.Status.Remediation, run.Status.Message)
	}
	if !tl.RemediationStartedAt.Time.Equal(replacement.CreationTimestamp.Time) {
		t.Errorf("remediationStartedAt = %s, want the replacement's creationTimestamp %s",
			tl.RemediationStartedAt.Format(time.RFC3339Nano), replacement.CreationTimestamp.Format(time.RFC3339Nano))
	}
	if tl.RemediationStartedAt.Before(tl.InjectedAt) {
		t.Errorf("remediationStartedAt %s is before injectedAt %s", tl.RemediationStartedAt, tl.InjectedAt)
	}
	var res *chaosv1alpha1.InstantResolution
	for i := range tl.Resolutions {
		if tl.Resolutions[i].Instant == "remediationStartedAt" {
			res = &tl.Resolutions[i]
		}
	}
	if res == nil || res.Source != chaosv1alpha1.ResolutionEvent || res.Within.Duration != time.Second {
		t.Errorf("remediationStartedAt resolution = %+v, want Event within 1s (whole-second creationTimestamp)", res)
	}
	wantBy := "ReplicaSet " + e.ns + "/web-" + webHash + " created pod " + replacement.Name
	if r := run.Status.Remediation; r == nil || r.StartedBy != wantBy || r.Rule != "default for podKill" {
		t.Errorf("remediation = %+v, want startedBy %q by rule \"default for podKill\"", r, wantBy)
	}
	want := replacement.CreationTimestamp.Sub(injectedAt).Round(time.Millisecond)
	if got := run.Status.Result.TimeToRemediate; got == nil || got.Duration != want {
		t.Errorf("timeToRemediate = %v, want %s", got, want)
	}
	if obj := objective(run, "remediateWithin"); obj == nil || obj.Status != chaosv1alpha1.ObjectiveMet {
		t.Errorf("remediateWithin objective = %+v, want Met", obj)
	}
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed || !strings.Contains(run.Status.Message, wantBy) {
		t.Errorf("verdict %s, message %q; want Passed, naming %q", run.Status.Verdict, run.Status.Message, wantBy)
	}
	if !hasEvent(e.eventList(), "Normal", chaosv1alpha1.ReasonRemediationStarted) {
		t.Errorf("no Normal %s event; events: %q", chaosv1alpha1.ReasonRemediationStarted, e.eventList())
	}
}

func TestPodKillWithoutReplacementMissesRemediateWithin(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	alignClock(e)
	exp := e.createExperiment(remediationSpec(3 * time.Second))
	key := e.createRun(exp.Name, false)

	run := e.drive(key, released)
	if run.Status.Timeline.RemediationStartedAt != nil {
		t.Fatalf("remediationStartedAt = %s although no pod replaced the killed one (remediation %+v)",
			run.Status.Timeline.RemediationStartedAt, run.Status.Remediation)
	}
	if obj := objective(run, "remediateWithin"); obj == nil || obj.Status != chaosv1alpha1.ObjectiveMissed {
		t.Errorf("remediateWithin objective = %+v, want Missed", obj)
	}
	if run.Status.Verdict != chaosv1alpha1.VerdictFailed {
		t.Errorf("verdict = %s, want Failed", run.Status.Verdict)
	}
	// The run says what it looked for: a new pod of the killed pod's workload.
	for _, want := range []string{"no remediation seen", "Deployment " + e.ns + "/web", "default for podKill"} {
		if !strings.Contains(run.Status.Message, want) {
			t.Errorf("message %q does not say %q", run.Status.Message, want)
		}
	}
	if r := run.Status.Remediation; r == nil || !strings.Contains(r.NotObserved, "Deployment "+e.ns+"/web") {
		t.Errorf("remediation = %+v, want notObserved naming the workload", r)
	}
}

func TestNodeDrainRemediationStartsWhenAReplacementIsScheduledElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	drained := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "drained-", Labels: map[string]string{"remediation-test": e.ns}}}
	if err := e.c.Create(ctx, drained); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.Delete(t.Context(), drained) })
	e.createWeb()
	evicted := webPod(e.ns, "web-"+webHash+"-d1", drained.Name)
	if err := e.c.Create(ctx, evicted); err != nil {
		t.Fatal(err)
	}
	alignClock(e)
	sel := e.r.Targets.(*experimentrun.Selector)
	e.r.Faults = faults.Registry{NodeDrain: func(spec chaosv1alpha1.NodeDrainFault) faults.Fault {
		return faults.NewNodeDrain(e.c, e.clock, spec).WithEvictionScope(sel)
	}}

	spec := remediationSpec(20 * time.Second)
	spec.Target = chaosv1alpha1.TargetSpec{Kind: chaosv1alpha1.TargetNode, Mode: chaosv1alpha1.SelectOne,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"remediation-test": e.ns}}}
	spec.Fault = chaosv1alpha1.FaultSpec{NodeDrain: &chaosv1alpha1.NodeDrainFault{GracePeriodSeconds: ptr.To[int64](0)}}
	spec.Duration = &metav1.Duration{Duration: 10 * time.Second}
	spec.SteadyState.Probes = spec.SteadyState.Probes[:1] // web-ready
	spec.Provider = nil
	exp := e.createExperiment(spec)
	key := e.createRun(exp.Name, false)

	run := e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	injectedAt := run.Status.Timeline.InjectedAt.Time
	if r := run.Status.Targets[0].Restore; r == nil || r.Node == nil || len(r.Node.EvictedPods) != 1 {
		t.Fatalf("drain restore = %+v, want the one web pod evicted", r)
	}

	// The ReplicaSet's new pod: first unscheduled, then back on the
	// drained node (neither counts), then scheduled onto another node.
	waitForSecondAfter(injectedAt)
	pending := webPod(e.ns, "web-"+webHash+"-p0", "")
	if err := e.c.Create(ctx, pending); err != nil {
		t.Fatal(err)
	}
	back := webPod(e.ns, "web-"+webHash+"-b1", drained.Name)
	if err := e.c.Create(ctx, back); err != nil {
		t.Fatal(err)
	}
	markScheduled(t, e.c, back, metav1.Now())
	reconciles := 0
	e.drive(key, func(*chaosv1alpha1.ExperimentRun) bool { reconciles++; return reconciles == 5 })
	if run := e.getRun(key); run.Status.Timeline.RemediationStartedAt != nil {
		t.Fatalf("remediationStartedAt = %s from %+v, before any pod was scheduled onto another node",
			run.Status.Timeline.RemediationStartedAt, run.Status.Remediation)
	}
	waitForSecondAfter(time.Now())
	moved := webPod(e.ns, "web-"+webHash+"-m2", "other-node")
	if err := e.c.Create(ctx, moved); err != nil {
		t.Fatal(err)
	}
	scheduledAt := metav1.NewTime(time.Now().Truncate(time.Second))
	markScheduled(t, e.c, moved, scheduledAt)

	run = e.drive(key, released)
	tl := run.Status.Timeline
	if tl.RemediationStartedAt == nil || !tl.RemediationStartedAt.Time.Equal(scheduledAt.Time) {
		t.Fatalf("remediationStartedAt = %v, want the replacement's PodScheduled transition %s (remediation %+v)",
			tl.RemediationStartedAt, scheduledAt.Format(time.RFC3339), run.Status.Remediation)
	}
	wantBy := "pod " + e.ns + "/" + moved.Name + " of ReplicaSet " + e.ns + "/web-" + webHash + " was scheduled onto node other-node"
	if r := run.Status.Remediation; r == nil || r.StartedBy != wantBy || r.Rule != "default for nodeDrain" {
		t.Errorf("remediation = %+v, want startedBy %q by rule \"default for nodeDrain\"", r, wantBy)
	}
	if obj := objective(run, "remediateWithin"); obj == nil || obj.Status != chaosv1alpha1.ObjectiveMet {
		t.Errorf("remediateWithin objective = %+v, want Met", obj)
	}
}

// markScheduled sets pod's PodScheduled condition True at at, as the
// scheduler would.
func markScheduled(t *testing.T, c client.Client, pod *corev1.Pod, at metav1.Time) {
	t.Helper()
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at}}
	if err := c.Status().Update(t.Context(), pod); err != nil {
		t.Fatalf("marking pod %s scheduled: %v", pod.Name, err)
	}
}

// objective is the run's judged objective name, or nil.
func objective(run *chaosv1alpha1.ExperimentRun, name string) *chaosv1alpha1.ObjectiveResult {
	if run.Status.Result == nil {
		return nil
	}
	for i := range run.Status.Result.Objectives {
		if run.Status.Result.Objectives[i].Name == name {
			return &run.Status.Result.Objectives[i]
		}
	}
	return nil
}

// The provider lists, from a real API server, only what declared matchers
// name: Events by reason and kind (field selectors the API server must
// accept), and objects of a kind by label selector (metadata only).
func TestRemediationProviderListsDeclaredMatchers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	since := time.Now()
	waitForSecondAfter(since)
	now := metav1.Now()

	events := []*corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "rs-create"}, Reason: "SuccessfulCreate", Message: "Created pod: web-" + webHash + "-x2k",
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: e.ns, Name: "web-" + webHash}, FirstTimestamp: now, LastTimestamp: now, Type: corev1.EventTypeNormal},
		{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "job-create"}, Reason: "SuccessfulCreate",
			InvolvedObject: corev1.ObjectReference{Kind: "Job", Namespace: e.ns, Name: "web-fix"}, FirstTimestamp: now, LastTimestamp: now, Type: corev1.EventTypeNormal},
		{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "rs-delete"}, Reason: "SuccessfulDelete",
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: e.ns, Name: "web-" + webHash}, FirstTimestamp: now, LastTimestamp: now, Type: corev1.EventTypeNormal},
	}
	for _, ev := range events {
		if err := e.c.Create(ctx, ev); err != nil {
			t.Fatalf("creating Event %s: %v", ev.Name, err)
		}
	}
	labels := map[string]string{"app": "web", "track": "rollback"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "web-rollback", Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}}},
		},
	}
	if err := e.c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}

	rules := []remediation.Rule{
		{Name: "remediation.matchers[0]", Namespaces: []string{e.ns},
			Event: &chaosv1alpha1.RemediationEvent{Reason: "SuccessfulCreate", InvolvedKind: "ReplicaSet", NamePattern: "web-*"}},
		{Name: "remediation.matchers[1]", Namespaces: []string{e.ns},
			Created: &chaosv1alpha1.RemediationCreated{Kind: chaosv1alpha1.RemediationCreatedReplicaSet,
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"track": "rollback"}}}},
	}
	obs, err := (&experimentrun.Remediation{Reader: e.c, PageSize: 1}).Observe(ctx, rules, since)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(obs.Events) != 1 || obs.Events[0].InvolvedKind != "ReplicaSet" || obs.Events[0].Reason != "SuccessfulCreate" {
		t.Errorf("events = %+v, want only the ReplicaSet's SuccessfulCreate", obs.Events)
	}
	if len(obs.Objects) != 1 || obs.Objects[0].Name != "web-rollback" {
		t.Errorf("objects = %+v, want the ReplicaSet web-rollback", obs.Objects)
	}
	start, ok := remediation.First(rules, since, obs)
	// The API keeps the Event's firstTimestamp in whole seconds.
	if !ok || !start.At.Equal(now.Truncate(time.Second)) || !strings.Contains(start.StartedBy, "Created pod: web-"+webHash+"-x2k") {
		t.Errorf("First = %+v, %v; want the Event at %s", start, ok, now.Format(time.RFC3339))
	}
	// Nothing from before since's second is gathered.
	obs, err = (&experimentrun.Remediation{Reader: e.c}).Observe(ctx, rules, time.Now().Add(time.Hour))
	if err != nil || len(obs.Events)+len(obs.Objects) != 0 {
		t.Errorf("Observe an hour ahead = %+v, %v; want nothing", obs, err)
	}
}
