package experimentrun_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
	"github.com/faultline-dev/faultline/experiments/faults"
)

// TestPodKillOfOnePodPassesWithMeasuredFigures runs a whole pod-kill
// experiment and checks the report against the script's ground truth.
func TestPodKillOfOnePodPassesWithMeasuredFigures(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)

	run := e.drive(key, inPhase(chaosv1alpha1.PhaseBaseline))
	if !controllerutil.ContainsFinalizer(run, chaosv1alpha1.RunFinalizer) {
		t.Fatalf("run started its baseline without the %s finalizer", chaosv1alpha1.RunFinalizer)
	}
	run = e.drive(key, released)

	assertPassedPodKill(t, e, run, pods)

	// The snapshot is the Experiment as the API server stored it (defaults included).
	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(exp), exp); err != nil {
		t.Fatalf("reading experiment: %v", err)
	}
	if run.Status.ExperimentGeneration != exp.Generation {
		t.Errorf("experimentGeneration = %d, want the Experiment's %d", run.Status.ExperimentGeneration, exp.Generation)
	}
	if run.Status.Experiment == nil || !equality.Semantic.DeepEqual(*run.Status.Experiment, exp.Spec) {
		t.Errorf("status.experiment is not a snapshot of the Experiment's spec:\n got %+v\nwant %+v", run.Status.Experiment, exp.Spec)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonPassed {
		t.Errorf("Completed condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonPassed)
	}
	for _, typ := range []string{chaosv1alpha1.ConditionDetected, chaosv1alpha1.ConditionRecovered} {
		if c := meta.FindStatusCondition(run.Status.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s condition = %+v, want True", typ, c)
		}
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionAborted); c != nil && c.Status == metav1.ConditionTrue {
		t.Errorf("Aborted condition is True on a run nothing aborted: %+v", c)
	}
	var success *chaosv1alpha1.ProbeStatus
	for i := range run.Status.Probes {
		if run.Status.Probes[i].Name == "success-rate" {
			success = &run.Status.Probes[i]
		}
	}
	if success == nil || success.Baseline != "1" || success.Worst != "0.95" {
		t.Errorf("success-rate probe status = %+v, want baseline 1 and worst 0.95", success)
	}
	events := e.eventList()
	for _, reason := range []string{chaosv1alpha1.ReasonBaselineHeld, chaosv1alpha1.ReasonFaultInjected, chaosv1alpha1.ReasonRecovered, chaosv1alpha1.ReasonPassed} {
		if !hasEvent(events, "Normal", reason) {
			t.Errorf("no Normal %s event; events: %q", reason, events)
		}
	}
}

// assertPassedPodKill checks a finished run of experimentSpec under the
// default script: one pod killed, the rest intact, a consistent timeline and
// figures within one interval of the ground truth, verdict Passed.
func assertPassedPodKill(t *testing.T, e *env, run *chaosv1alpha1.ExperimentRun, pods []*corev1.Pod) {
	t.Helper()
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Fatalf("verdict = %q, want Passed; message %q", run.Status.Verdict, run.Status.Message)
	}
	if len(run.Status.Targets) != 1 {
		t.Fatalf("status.targets = %+v, want exactly one target", run.Status.Targets)
	}
	target := run.Status.Targets[0]
	if target.UID == "" {
		t.Errorf("target %s has no uid", target.Name)
	}
	if target.InjectedAt == nil {
		t.Errorf("target %s has no injectedAt", target.Name)
	}
	// A pod kill is over once the pod is gone, and Injected still says
	// the fault was applied: `kubectl wait --for=condition=Injected` must
	// not read a finished kill as "never injected".
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionInjected); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonFaultReverted {
		t.Errorf("Injected condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonFaultReverted)
	}

	// The target, and only the target, is gone.
	var want []string
	found := false
	for _, p := range pods {
		if p.Name == target.Name {
			found = true
			if p.UID != target.UID {
				t.Errorf("target %s has uid %s, the pod had %s", target.Name, target.UID, p.UID)
			}
			continue
		}
		want = append(want, p.Name)
	}
	if !found {
		t.Fatalf("target %s is not one of the web pods %v", target.Name, names(pods))
	}
	if got := e.podNames(); !slices.Equal(got, want) {
		t.Errorf("pods left = %v, want %v (all but the target %s)", got, want, target.Name)
	}
	if killed := e.killedPods(); !slices.Equal(killed, []string{e.ns + "/" + target.Name}) {
		t.Errorf("pods killed = %v, want only the target %s", killed, target.Name)
	}

	// Timeline: startedAt < baselineVerifiedAt <= injectedAt < deviatedAt < recoveredAt <= finishedAt.
	tl := run.Status.Timeline
	for name, m := range map[string]*metav1.MicroTime{"startedAt": tl.StartedAt, "baselineVerifiedAt": tl.BaselineVerifiedAt,
		"injectedAt": tl.InjectedAt, "deviatedAt": tl.DeviatedAt, "recoveredAt": tl.RecoveredAt, "finishedAt": tl.FinishedAt} {
		if m == nil {
			t.Fatalf("timeline.%s is not set: %+v", name, tl)
		}
	}
	ordered := tl.StartedAt.Before(tl.BaselineVerifiedAt) &&
		!tl.InjectedAt.Before(tl.BaselineVerifiedAt) &&
		tl.InjectedAt.Before(tl.DeviatedAt) &&
		tl.DeviatedAt.Before(tl.RecoveredAt) &&
		!tl.FinishedAt.Before(tl.RecoveredAt)
	if !ordered {
		t.Errorf("timeline out of order: started %s, baselineVerified %s, injected %s, deviated %s, recovered %s, finished %s",
			at(tl.StartedAt), at(tl.BaselineVerifiedAt), at(tl.InjectedAt), at(tl.DeviatedAt), at(tl.RecoveredAt), at(tl.FinishedAt))
	}
	if got := tl.BaselineVerifiedAt.Sub(tl.StartedAt.Time); got < 3*time.Second {
		t.Errorf("baseline verified %s after the start, before the 3s baseline could have held", got)
	}

	// Figures against the ground truth: the kill instant and the scripted recovery.
	killedAt := e.kill()
	if !tl.InjectedAt.Time.Equal(killedAt) {
		t.Errorf("injectedAt = %s, the pod was killed at %s", at(tl.InjectedAt), killedAt.Sub(t0))
	}
	res := run.Status.Result
	if res == nil || res.TimeToRecover == nil || res.TimeToDetect == nil {
		t.Fatalf("result = %+v, want timeToDetect and timeToRecover", res)
	}
	truth := webRecoversAfter
	if got := res.TimeToRecover.Duration; got < truth || got > truth+interval {
		t.Errorf("timeToRecover = %s, want within one interval (%s) after the true %s", got, interval, truth)
	}
	if got := res.TimeToDetect.Duration; got <= 0 || got > interval {
		t.Errorf("timeToDetect = %s, want within one interval of the kill", got)
	}
	if res.DetectedBy != chaosv1alpha1.DetectedByProbe {
		t.Errorf("detectedBy = %q, want Probe", res.DetectedBy)
	}
	for _, figure := range []string{"timeToDetect", "timeToRecover"} {
		i := slices.IndexFunc(res.Resolutions, func(fr chaosv1alpha1.FigureResolution) bool { return fr.Figure == figure })
		if i < 0 || res.Resolutions[i].Source != chaosv1alpha1.ResolutionProbeInterval || res.Resolutions[i].Within.Duration > interval {
			t.Errorf("resolutions = %+v, want %s known to the probe interval %s", res.Resolutions, figure, interval)
		}
	}
	for _, o := range res.Objectives {
		if o.Status != chaosv1alpha1.ObjectiveMet {
			t.Errorf("objective %s = %s (measured %v), want Met", o.Name, o.Status, o.Measured)
		}
	}
	if len(res.Objectives) != 2 {
		t.Errorf("objectives = %+v, want detectWithin and recoverWithin", res.Objectives)
	}
}

// TestTargetsAreWrittenAheadOfTheKill checks invariant 1: when the fault is
// applied, the API server already has the target in the run's status.
func TestTargetsAreWrittenAheadOfTheKill(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)

	type observation struct {
		target    faults.Target
		listed    []chaosv1alpha1.TargetStatus
		podExists bool
		err       error
	}
	var (
		mu   sync.Mutex
		seen []observation
	)
	e.beforeInject = func(ctx context.Context, target faults.Target) {
		live := &chaosv1alpha1.ExperimentRun{}
		err := e.c.Get(ctx, key, live)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, observation{target: target, listed: live.Status.Targets, podExists: podExists(ctx, e.c, target), err: err})
	}
	run := e.drive(key, released)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("the fault was asked to inject %d times, want once", len(seen))
	}
	o := seen[0]
	if o.err != nil {
		t.Fatalf("reading the run inside Inject: %v", o.err)
	}
	if !o.podExists {
		t.Errorf("pod %s was already gone when Inject was called", o.target.Name)
	}
	listed := slices.ContainsFunc(o.listed, func(ts chaosv1alpha1.TargetStatus) bool {
		return ts.Kind == o.target.Kind && ts.Namespace == o.target.Namespace && ts.Name == o.target.Name &&
			ts.UID == o.target.UID && ts.Phase == chaosv1alpha1.TargetSelected
	})
	if !listed {
		t.Errorf("when %s/%s (uid %s) was injected the API server's status.targets was %+v; want it listed with phase Selected",
			o.target.Namespace, o.target.Name, o.target.UID, o.listed)
	}
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Errorf("verdict = %q, want Passed; message %q", run.Status.Verdict, run.Status.Message)
	}
}

// TestBaselineNotHeldIsInconclusiveAndKillsNothing: a steady state that
// breaks during the baseline ends the run before any target is touched.
func TestBaselineNotHeldIsInconclusiveAndKillsNothing(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)
	e.metric = func(query string, at, killedAt time.Time) (float64, error) {
		// Healthy for the first two samples, then errors creep in.
		if query == successRateQuery && !at.Before(t0.Add(2*time.Second)) {
			return 0.5, nil
		}
		return defaultMetric(query, at, killedAt)
	}

	run := e.drive(key, released)

	if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive {
		t.Errorf("verdict = %q, want Inconclusive; message %q", run.Status.Verdict, run.Status.Message)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonBaselineNotHeld {
		t.Errorf("Completed condition = %+v, want reason %s", c, chaosv1alpha1.ReasonBaselineNotHeld)
	}
	if !strings.Contains(run.Status.Message, "success-rate") {
		t.Errorf("message %q does not name the failing probe success-rate", run.Status.Message)
	}
	if len(run.Status.Targets) != 0 {
		t.Errorf("targets = %+v, want none selected", run.Status.Targets)
	}
	if tl := run.Status.Timeline; tl.BaselineVerifiedAt != nil || tl.InjectedAt != nil {
		t.Errorf("timeline = baselineVerified %s, injected %s; want neither", at(tl.BaselineVerifiedAt), at(tl.InjectedAt))
	}
	if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
		t.Errorf("pods = %v, want all of %v", got, want)
	}
	if killed := e.killedPods(); len(killed) != 0 {
		t.Errorf("pods killed = %v, want none", killed)
	}
}

// TestGuardBreachAborts: a guard breached after injection, with no window,
// aborts the run at the first breaching sample.
func TestGuardBreachAborts(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	spec := experimentSpec()
	spec.Abort = &chaosv1alpha1.AbortSpec{Guards: []chaosv1alpha1.Guard{{
		Name:       "error-budget",
		Prometheus: chaosv1alpha1.PrometheusQuery{Query: guardQuery},
		Condition:  chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreaterEqual, Value: "0.9"},
		For:        &metav1.Duration{Duration: 0},
	}}}
	exp := e.createExperiment(spec)
	key := e.createRun(exp.Name, false)
	e.metric = func(query string, at, killedAt time.Time) (float64, error) {
		if query == guardQuery && !killedAt.IsZero() && !at.Before(killedAt) {
			return 0.5, nil
		}
		return defaultMetric(query, at, killedAt)
	}

	run := e.drive(key, released)

	if run.Status.Verdict != chaosv1alpha1.VerdictAborted {
		t.Fatalf("verdict = %q, want Aborted; message %q", run.Status.Verdict, run.Status.Message)
	}
	a := run.Status.Abort
	if a == nil || a.Reason != chaosv1alpha1.AbortSLOBreached || a.Guard != "error-budget" || a.Value != "0.5" {
		t.Fatalf("abort = %+v, want reason SLOBreached by guard error-budget at value 0.5", a)
	}
	// The first sample after the kill breaches, and for: 0 aborts on it.
	firstSample := e.kill().Add(interval)
	if a.FirstBreachAt == nil || !a.FirstBreachAt.Time.Equal(firstSample) {
		t.Errorf("abort.firstBreachAt = %s, want the first sample after the kill, %s", at(a.FirstBreachAt), firstSample.Sub(t0))
	}
	tl := run.Status.Timeline
	if a.DecidedAt == nil || tl.RevertedAt == nil || tl.RevertedAt.Before(a.DecidedAt) {
		t.Errorf("abort decided %s, reverted %s; want both, reverted not before the decision", at(a.DecidedAt), at(tl.RevertedAt))
	}
	if res := run.Status.Result; res == nil || res.AbortLatency == nil || res.AbortLatency.Duration < 0 || res.AbortLatency.Duration > interval {
		t.Errorf("result = %+v, want abortLatency set, within one interval", res)
	} else {
		// With no window the decision is the first breaching sample; the
		// latency runs from it to the revert.
		if a.DecidedAt == nil || !a.DecidedAt.Equal(a.FirstBreachAt) {
			t.Errorf("abort.decidedAt = %s, want the first breaching sample %s", at(a.DecidedAt), at(a.FirstBreachAt))
		} else if want := tl.RevertedAt.Sub(a.DecidedAt.Time).Round(time.Millisecond); res.AbortLatency.Duration != want {
			t.Errorf("abortLatency = %s, want decidedAt → revertedAt = %s", res.AbortLatency.Duration, want)
		}
		if res.BreachToDecision == nil || res.BreachToDecision.Duration != 0 {
			t.Errorf("breachToDecision = %v, want 0s for a guard with no window", res.BreachToDecision)
		}
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonSLOBreached {
		t.Errorf("Aborted condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonSLOBreached)
	}
	for _, ts := range run.Status.Targets {
		if ts.Phase != chaosv1alpha1.TargetReverted || ts.RevertedAt == nil {
			t.Errorf("target %s: phase %s, revertedAt %s; want Reverted", ts.Name, ts.Phase, at(ts.RevertedAt))
		}
	}
	if !hasEvent(e.eventList(), "Warning", chaosv1alpha1.ReasonSLOBreached) {
		t.Errorf("no Warning %s event", chaosv1alpha1.ReasonSLOBreached)
	}
}

// TestProbeErrorsAbortWithProbeUnavailable checks invariant 4: a run that
// cannot see the system stops hurting it after probeErrorThreshold samples.
func TestProbeErrorsAbortWithProbeUnavailable(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	spec := experimentSpec()
	spec.Abort = &chaosv1alpha1.AbortSpec{ProbeErrorThreshold: 2}
	exp := e.createExperiment(spec)
	key := e.createRun(exp.Name, false)
	e.metric = func(query string, at, killedAt time.Time) (float64, error) {
		if !killedAt.IsZero() && !at.Before(killedAt) {
			return 0, errors.New("prometheus.monitoring:9090: connection refused")
		}
		return defaultMetric(query, at, killedAt)
	}

	run := e.drive(key, released)

	if run.Status.Verdict != chaosv1alpha1.VerdictAborted {
		t.Fatalf("verdict = %q, want Aborted; message %q", run.Status.Verdict, run.Status.Message)
	}
	a := run.Status.Abort
	if a == nil || a.Reason != chaosv1alpha1.AbortProbeUnavailable {
		t.Fatalf("abort = %+v, want reason ProbeUnavailable", a)
	}
	// Two erroring samples: the first right after the kill, the abort on the second.
	if want := e.kill().Add(interval); a.FirstErrorAt == nil || !a.FirstErrorAt.Time.Equal(want) {
		t.Errorf("abort.firstErrorAt = %s, want the first erroring sample, %s", at(a.FirstErrorAt), want.Sub(t0))
	}
	if a.FirstBreachAt != nil {
		t.Errorf("abort.firstBreachAt = %s, want none: no guard fired", at(a.FirstBreachAt))
	}
	if want := e.kill().Add(2 * interval); a.DecidedAt == nil || !a.DecidedAt.Time.Equal(want) {
		t.Errorf("abort.decidedAt = %s, want the second erroring sample, %s", at(a.DecidedAt), want.Sub(t0))
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonProbeUnavailable {
		t.Errorf("Aborted condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonProbeUnavailable)
	}
	if !strings.Contains(a.Message, "connection refused") {
		t.Errorf("abort message %q does not carry the probe's error", a.Message)
	}
}

// TestDeletingARunMidObservationRevertsAndReleasesTheFinalizer checks that a
// run deleted while its fault is active is reverted, then let go.
func TestDeletingARunMidObservationRevertsAndReleasesTheFinalizer(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)

	run := e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
	if err := e.c.Delete(t.Context(), run); err != nil {
		t.Fatalf("deleting run: %v", err)
	}
	if still := e.getRun(key); still == nil || still.DeletionTimestamp.IsZero() {
		t.Fatalf("the run was deleted at once; the finalizer should have held it for revert")
	}
	e.drive(key, gone)

	events := e.eventList()
	if !hasEvent(events, "Warning", chaosv1alpha1.ReasonDeleted) || !hasEvent(events, "Normal", chaosv1alpha1.ReasonFaultReverted) {
		t.Errorf("want a Warning %s and a Normal %s event; events: %q", chaosv1alpha1.ReasonDeleted, chaosv1alpha1.ReasonFaultReverted, events)
	}
	if killed := e.killedPods(); len(killed) != 1 {
		t.Errorf("pods killed = %v, want exactly one", killed)
	}
	if got := e.podNames(); len(got) != 2 {
		t.Errorf("pods left = %v, want the two that were not targeted", got)
	}
}

// TestMissingExperimentEndsInError: a run of an Experiment that does not
// exist ends at once with verdict Error and says which one it looked for.
func TestMissingExperimentEndsInError(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	key := e.createRun("no-such-experiment", false)

	run := e.drive(key, released)

	if run.Status.Verdict != chaosv1alpha1.VerdictError {
		t.Errorf("verdict = %q, want Error", run.Status.Verdict)
	}
	if !strings.Contains(run.Status.Message, `"no-such-experiment"`) || !strings.Contains(run.Status.Message, e.ns) {
		t.Errorf("message %q does not name the experiment no-such-experiment in namespace %s", run.Status.Message, e.ns)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonExperimentNotFound {
		t.Errorf("Completed condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonExperimentNotFound)
	}
	if run.Status.Experiment != nil || len(run.Status.Targets) != 0 {
		t.Errorf("snapshot %v, targets %+v; want neither", run.Status.Experiment, run.Status.Targets)
	}
	if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
		t.Errorf("pods = %v, want all of %v", got, want)
	}
}

// TestKillSwitch covers the ChaosPolicy's paused flag.
func TestKillSwitch(t *testing.T) {
	t.Run("turned on mid-observation, it aborts the active run", func(t *testing.T) {
		e := newEnv(t)
		e.createWeb()
		exp := e.createExperiment(experimentSpec())
		key := e.createRun(exp.Name, false)

		e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
		e.setPolicy(true)
		run := e.drive(key, released)

		if run.Status.Verdict != chaosv1alpha1.VerdictAborted {
			t.Fatalf("verdict = %q, want Aborted; message %q", run.Status.Verdict, run.Status.Message)
		}
		if a := run.Status.Abort; a == nil || a.Reason != chaosv1alpha1.AbortKillSwitch {
			t.Errorf("abort = %+v, want reason KillSwitch", a)
		} else if a.FirstBreachAt != nil || a.FirstErrorAt != nil || a.DecidedAt == nil {
			t.Errorf("abort: firstBreachAt %s, firstErrorAt %s, decidedAt %s; want only decidedAt: no sample caused it",
				at(a.FirstBreachAt), at(a.FirstErrorAt), at(a.DecidedAt))
		}
		if !strings.Contains(run.Status.Message, "after the kill switch was seen") || strings.Contains(run.Status.Message, "sample") {
			t.Errorf("message %q: want the revert timed from the kill switch, and no sample named", run.Status.Message)
		}
		if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonKillSwitch {
			t.Errorf("Aborted condition = %+v, want True with reason %s", c, chaosv1alpha1.ReasonKillSwitch)
		}
		if run.Status.Timeline.RevertedAt == nil {
			t.Errorf("timeline.revertedAt is not set: the aborted run did not revert")
		}
	})

	t.Run("a run created while it is on ends Inconclusive without selecting targets", func(t *testing.T) {
		e := newEnv(t)
		pods := e.createWeb()
		exp := e.createExperiment(experimentSpec())
		e.setPolicy(true)
		key := e.createRun(exp.Name, false)

		run := e.drive(key, released)

		if run.Status.Verdict != chaosv1alpha1.VerdictInconclusive {
			t.Errorf("verdict = %q, want Inconclusive; message %q", run.Status.Verdict, run.Status.Message)
		}
		if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonKillSwitch {
			t.Errorf("Completed condition = %+v, want reason %s", c, chaosv1alpha1.ReasonKillSwitch)
		}
		if len(run.Status.Targets) != 0 || run.Status.Timeline.StartedAt != nil {
			t.Errorf("targets %+v, startedAt %s; want none, not started", run.Status.Targets, at(run.Status.Timeline.StartedAt))
		}
		if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
			t.Errorf("pods = %v, want all of %v", got, want)
		}
	})
}

// TestRestartedOperatorResumesFromStatus checks invariant 1's "works from
// status alone": a new operator, with no memory but the run's status,
// finishes the run without killing again.
func TestRestartedOperatorResumesFromStatus(t *testing.T) {
	t.Run("restarted while observing, it finishes the run with one kill", func(t *testing.T) {
		e := newEnv(t)
		pods := e.createWeb()
		exp := e.createExperiment(experimentSpec())
		key := e.createRun(exp.Name, false)

		e.drive(key, inPhase(chaosv1alpha1.PhaseObserving))
		e.restart()
		run := e.drive(key, released)

		assertPassedPodKill(t, e, run, pods)
	})

	t.Run("restarted between writing the targets and the kill, it kills the target it wrote", func(t *testing.T) {
		e := newEnv(t)
		pods := e.createWeb()
		exp := e.createExperiment(experimentSpec())
		key := e.createRun(exp.Name, false)

		e.injectErr = errors.New("operator killed before the pod was")
		written := e.drive(key, func(run *chaosv1alpha1.ExperimentRun) bool {
			return run.Status.Phase == chaosv1alpha1.PhaseInjecting && len(run.Status.Targets) > 0
		}, driveOptions{allowErrors: true})
		if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
			t.Fatalf("pods = %v before the restart, want all of %v", got, want)
		}
		e.injectErr = nil
		e.restart()
		run := e.drive(key, released)

		if !equality.Semantic.DeepEqual(run.Status.Targets[0].UID, written.Status.Targets[0].UID) {
			t.Errorf("the restarted operator targeted %s, the one before it wrote %s", run.Status.Targets[0].Name, written.Status.Targets[0].Name)
		}
		assertPassedPodKill(t, e, run, pods)
	})
}

// TestDryRunSelectsAndInjectsNothing: a dry run reports the targets it would
// hit and leaves them alone.
func TestDryRunSelectsAndInjectsNothing(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, true)

	run := e.drive(key, released)

	// The baseline held and the target resolved: the dry run did all it
	// set out to do, so it passes (a pipeline gates on exit code 0).
	if run.Status.Verdict != chaosv1alpha1.VerdictPassed {
		t.Errorf("verdict = %q, want Passed; message %q", run.Status.Verdict, run.Status.Message)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonDryRun {
		t.Errorf("Completed condition = %+v, want reason %s", c, chaosv1alpha1.ReasonDryRun)
	}
	if c := meta.FindStatusCondition(run.Status.Conditions, chaosv1alpha1.ConditionInjected); c == nil ||
		c.Status != metav1.ConditionFalse || c.Reason != chaosv1alpha1.ReasonDryRun {
		t.Errorf("Injected condition = %+v, want False with reason %s", c, chaosv1alpha1.ReasonDryRun)
	}
	if want := "nothing was injected"; !strings.Contains(run.Status.Message, want) {
		t.Errorf("message = %q, want it to say %q", run.Status.Message, want)
	}
	if len(run.Status.Targets) != 1 || run.Status.Targets[0].UID == "" || run.Status.Targets[0].InjectedAt != nil {
		t.Errorf("targets = %+v, want the one that would be hit, with its uid, not injected", run.Status.Targets)
	}
	if run.Status.Timeline.InjectedAt != nil {
		t.Errorf("timeline.injectedAt = %s on a dry run", at(run.Status.Timeline.InjectedAt))
	}
	if got, want := e.podNames(), names(pods); !slices.Equal(got, want) {
		t.Errorf("pods = %v, want all of %v", got, want)
	}
	if killed := e.killedPods(); len(killed) != 0 {
		t.Errorf("pods killed = %v, want none", killed)
	}
}

// TestExperimentEditsDuringARunDoNotChangeIt: the run keeps the spec it
// started with, so an edit mid-run cannot change what is being measured.
func TestExperimentEditsDuringARunDoNotChangeIt(t *testing.T) {
	e := newEnv(t)
	pods := e.createWeb()
	exp := e.createExperiment(experimentSpec())
	key := e.createRun(exp.Name, false)
	const unhealthyQuery = `faultline_test:always_failing`
	e.metric = func(query string, at, killedAt time.Time) (float64, error) {
		if query == unhealthyQuery {
			return 0, nil
		}
		return defaultMetric(query, at, killedAt)
	}

	before := e.drive(key, inPhase(chaosv1alpha1.PhaseBaseline))
	snapshot := before.Status.Experiment.DeepCopy()

	// Edit the probes: had the run used them, its baseline would not hold.
	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(exp), exp); err != nil {
		t.Fatalf("reading experiment: %v", err)
	}
	exp.Spec.SteadyState.Probes[1].Prometheus.Query = unhealthyQuery
	exp.Spec.SteadyState.Probes = append(exp.Spec.SteadyState.Probes, chaosv1alpha1.Probe{
		Name: "added-mid-run", Prometheus: &chaosv1alpha1.PrometheusQuery{Query: unhealthyQuery},
		Condition: &chaosv1alpha1.Hypothesis{Op: chaosv1alpha1.OpGreater, Value: "0.5"},
	})
	if err := e.c.Update(t.Context(), exp); err != nil {
		t.Fatalf("editing experiment: %v", err)
	}
	if exp.Generation == before.Status.ExperimentGeneration {
		t.Fatalf("editing the probes did not change the Experiment's generation (%d)", exp.Generation)
	}

	run := e.drive(key, released)

	if !equality.Semantic.DeepEqual(run.Status.Experiment, snapshot) {
		t.Errorf("status.experiment changed during the run:\n got %+v\nwant %+v", run.Status.Experiment, snapshot)
	}
	if run.Status.ExperimentGeneration != before.Status.ExperimentGeneration {
		t.Errorf("experimentGeneration = %d, want the generation the run started with, %d", run.Status.ExperimentGeneration, before.Status.ExperimentGeneration)
	}
	for _, p := range run.Status.Probes {
		if p.Name == "added-mid-run" {
			t.Errorf("the run sampled probe %s, added to the Experiment after it started", p.Name)
		}
	}
	assertPassedPodKill(t, e, run, pods)
}

// TestAStagedRunStartsAtItsScheduleTime: a run created ahead of the time
// in its scheduled-at annotation reads nothing and decides nothing until
// then, and starts at that instant.
func TestAStagedRunStartsAtItsScheduleTime(t *testing.T) {
	e := newEnv(t)
	e.createWeb()
	exp := e.createExperiment(experimentSpec())
	due := t0.Add(7 * time.Second)
	run := &chaosv1alpha1.ExperimentRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "staged", Annotations: map[string]string{
			chaosv1alpha1.ScheduledAtAnnotation: due.Format(time.RFC3339),
		}},
		Spec: chaosv1alpha1.ExperimentRunSpec{ExperimentRef: chaosv1alpha1.ExperimentReference{Name: exp.Name}},
	}
	if err := e.c.Create(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(run)

	res, err := e.r.Reconcile(t.Context(), ctrl.Request{NamespacedName: key})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if res.RequeueAfter != 7*time.Second {
		t.Errorf("RequeueAfter = %s, want 7s (until its schedule time)", res.RequeueAfter)
	}
	got := e.getRun(key)
	if got.Status.Experiment != nil || got.Status.Timeline.StartedAt != nil {
		t.Fatalf("the staged run snapshotted or started before its time: phase %q, startedAt %s", got.Status.Phase, at(got.Status.Timeline.StartedAt))
	}
	// Nothing is held before the snapshot: the finalizer goes on with it.
	if !strings.Contains(got.Status.Message, "staged") || controllerutil.ContainsFinalizer(got, chaosv1alpha1.RunFinalizer) {
		t.Errorf("staged run: message %q, finalizers %v; want it to say it is staged, with no finalizer before its snapshot", got.Status.Message, got.Finalizers)
	}

	e.clock.Step(res.RequeueAfter)
	got = e.drive(key, func(r *chaosv1alpha1.ExperimentRun) bool { return r.Status.Timeline.StartedAt != nil })
	if !got.Status.Timeline.StartedAt.Time.Equal(due) {
		t.Errorf("startedAt = %s, want its schedule time %s", at(got.Status.Timeline.StartedAt), due)
	}
	if !controllerutil.ContainsFinalizer(got, chaosv1alpha1.RunFinalizer) {
		t.Errorf("started run: finalizers %v, want %s", got.Finalizers, chaosv1alpha1.RunFinalizer)
	}
}
